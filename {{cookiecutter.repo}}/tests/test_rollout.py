"""Unit tests of fleet.rollout's pure parts: which workload owns a pod, and why a pod is not ready."""

import pytest

from fleet.release import rollout

NAMES = [
    "deployment/hub",
    "deployment/proxy",
    "deployment/hub-extra",
    "statefulset/db",
    "daemonset/puller",
]


def test_owner_workload():
    assert rollout.owner_workload("hub-5d8f9c7b6-x2k4q", NAMES) == "deployment/hub"
    assert rollout.owner_workload("hub-extra-5d8f9c7b6-x2k4q", NAMES) == "deployment/hub-extra"
    assert rollout.owner_workload("db-0", NAMES) == "statefulset/db"
    assert rollout.owner_workload("puller-abcde", NAMES) == "daemonset/puller"
    assert rollout.owner_workload("other-1", NAMES) is None


def test_not_ready_container_is_named():
    pod = {
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "chp", "ready": True, "state": {"running": {}}},
                {
                    "name": "hub",
                    "ready": False,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}},
                },
            ],
        }
    }
    assert rollout.not_ready_containers(pod) == [
        "container hub not ready (CrashLoopBackOff: back-off 10s)"
    ]


def test_unschedulable_pod_gives_the_scheduler_message():
    pod = {
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.",
                }
            ],
        }
    }
    (reason,) = rollout.not_ready_containers(pod)
    assert reason.startswith("PodScheduled=False (Unschedulable: 0/2 nodes")


def test_ready_pod_has_no_reasons():
    pod = {
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "hub", "ready": True, "state": {"running": {}}}],
        }
    }
    assert rollout.not_ready_containers(pod) == []


def container(name="hub", ready=False, restarts=0, waiting=None):
    state = {"waiting": waiting} if waiting else {"running": {}}
    return {"name": name, "ready": ready, "restartCount": restarts, "state": state}


@pytest.mark.parametrize(
    "reason", ["CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "InvalidImageName"]
)
def test_a_container_waiting_for_a_hopeless_reason_is_hopeless(reason):
    pod = {"status": {"containerStatuses": [container(waiting={"reason": reason, "message": "x"})]}}
    assert rollout._hopeless_containers(pod) == [("hub", f"{reason}: x")]


def test_restarts_make_a_container_hopeless_only_when_it_is_not_ready():
    assert rollout._hopeless_containers(
        {"status": {"containerStatuses": [container(restarts=2)]}}
    ) == [("hub", "restarted 2 times")]
    assert (
        rollout._hopeless_containers(
            {"status": {"containerStatuses": [container(restarts=5, ready=True)]}}
        )
        == []
    )


def test_starting_and_pulling_containers_are_not_hopeless():
    for reason in ("ContainerCreating", "PodInitializing"):
        pod = {"status": {"containerStatuses": [container(waiting={"reason": reason})]}}
        assert rollout._hopeless_containers(pod) == []
    assert rollout._hopeless_containers({"status": {"phase": "Pending"}}) == []


def test_init_containers_count_too():
    pod = {
        "status": {"initContainerStatuses": [container("init", waiting={"reason": "ErrImagePull"})]}
    }
    assert rollout._hopeless_containers(pod) == [("init", "ErrImagePull")]


def workload(kind, generation=2, spec=None, **status):
    return {
        "kind": kind,
        "metadata": {"name": "hub", "generation": generation},
        "spec": spec or {},
        "status": {"observedGeneration": 2, **status},
    }


@pytest.mark.parametrize(
    ("item", "done"),
    [
        (workload("Deployment", updatedReplicas=1, replicas=1, availableReplicas=1), True),
        (workload("Deployment", 3, updatedReplicas=1, replicas=1, availableReplicas=1), False),
        (workload("Deployment", updatedReplicas=1, replicas=2, availableReplicas=1), False),
        (workload("Deployment", updatedReplicas=1, replicas=1, availableReplicas=0), False),
        (workload("Deployment", spec={"replicas": 0}), True),
        (
            workload("StatefulSet", readyReplicas=1, currentRevision="a", updateRevision="a"),
            True,
        ),
        (
            workload("StatefulSet", readyReplicas=1, currentRevision="a", updateRevision="b"),
            False,
        ),
        (workload("StatefulSet", readyReplicas=0, currentRevision="a", updateRevision="a"), False),
        (
            workload(
                "StatefulSet",
                spec={"replicas": 3, "updateStrategy": {"rollingUpdate": {"partition": 2}}},
                readyReplicas=3,
                updatedReplicas=1,
            ),
            True,
        ),
        (
            workload(
                "DaemonSet",
                desiredNumberScheduled=2,
                updatedNumberScheduled=2,
                numberAvailable=1,
            ),
            False,
        ),
        (
            workload(
                "DaemonSet",
                desiredNumberScheduled=2,
                updatedNumberScheduled=2,
                numberAvailable=2,
            ),
            True,
        ),
    ],
)
def test_rolled_out_reads_what_rollout_status_waits_for(item, done):
    assert rollout.rolled_out(item) is done


def test_a_users_server_is_told_apart_from_the_releases_own_pods():
    user = {"metadata": {"labels": {"component": "singleuser-server", "app": "jupyterhub"}}}
    hub = {"metadata": {"labels": {"component": "hub"}}}
    puller = {"metadata": {"labels": {"component": "hook-image-puller"}}}
    assert rollout.is_user_server(user)
    assert not rollout.is_user_server(hub) and not rollout.is_user_server(puller)
    assert not rollout.is_user_server({"metadata": {}})
