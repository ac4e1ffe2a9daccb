"""Unit tests of fleet.logs: which pods are a user's, which containers have logs, how a state reads."""

from fleet.ops import logs


def pod(name, *, labels=None, annotations=None, containers=("c",), statuses=(), init=()):
    return {
        "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}},
        "spec": {"containers": [{"name": c} for c in containers]},
        "status": {"containerStatuses": list(statuses), "initContainerStatuses": list(init)},
    }


def test_a_users_server_is_found_by_kubespawners_annotation_or_label():
    by_annotation = pod("jupyter-ada", annotations={logs.USERNAME: "ada@uni.edu"})
    by_label = pod("jupyter-bob", labels={logs.USERNAME: "bob"})
    assert logs.is_users(by_annotation, "ada@uni.edu")
    assert logs.is_users(by_label, "bob")
    assert not logs.is_users(by_label, "ada@uni.edu")
    assert logs.selector("hub", "bob") == "component=singleuser-server"
    assert logs.selector("proxy", None) == "component=proxy"


def test_init_containers_that_ran_come_first_and_waiting_ones_are_left_out():
    ran = {"name": "block-metadata", "state": {"terminated": {"exitCode": 0}}}
    waiting = {"name": "later", "state": {"waiting": {"reason": "PodInitializing"}}}
    found = logs.containers(pod("p", containers=("notebook",), init=(ran, waiting)))
    assert [name for name, _ in found] == ["block-metadata", "notebook"]


def test_a_restarted_container_says_how_often_and_how_its_last_run_ended():
    status = {
        "restartCount": 2,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}},
    }
    assert logs.describe(status) == (
        "waiting (CrashLoopBackOff), restarted 2 times, last exit code 3 (Error)"
    )
    assert logs.describe({"restartCount": 0, "state": {"running": {}}}) == "running"
    assert logs.describe({}) == "not started"
