"""End to end on the real node: a deploy whose pods cannot run fails at once, not at its timeout.

A generated repo's own `invoke deploy`, with `--timeout 10m`, against a hub whose container
crashes on start, a proxy whose image no registry has, and a user image no registry has (caught
in the real chart's pre-upgrade hook, before any workload changes). Each is stopped as soon as its pod is
hopeless, named with its events, and rolled back to the revision that served before.
"""

from __future__ import annotations

import time

import pytest
import yaml
from generated import GeneratedRepo, local_repo, pin_to_real_node

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

HUB, ENV = "omega", "staging"
RELEASE = f"{HUB}-{ENV}"
# Far longer than the test may take: a pass proves the deploy did not wait for it.
TIMEOUT = "10m"
FAIL_FAST_SECONDS = 60


@pytest.fixture(scope="module")
def ops(tmp_path_factory, local_stack, real_node):
    repo = local_repo(
        tmp_path_factory.mktemp("failfast-e2e"),
        local_stack,
        org="FailFast",
        hubs=HUB,
    )
    repo.commit("e2e: sqlite-memory hub database")
    with repo.own_releases():
        repo.invoke("build", "--push")
        repo.invoke("deploy", "--hub", HUB, "--env", ENV)
        yield repo


def deploy_broken(ops: GeneratedRepo, change, message: str):
    """Commit a breaking change, deploy it with a long timeout; returns (proc, seconds)."""
    good = ops.serving(RELEASE)
    ops.edit_values(HUB, change)
    ops.commit(message)
    started = time.monotonic()
    proc = ops.invoke("deploy", "--hub", HUB, "--env", ENV, "--timeout", TIMEOUT, check=False)
    elapsed = time.monotonic() - started
    ops.revert()
    return proc, elapsed, good


def assert_rolled_back_to(ops: GeneratedRepo, good: dict) -> None:
    history = ops.history(RELEASE)
    serving = ops.serving(RELEASE)
    assert serving["revision"] > good["revision"]
    assert (
        ops.release_labels(RELEASE, serving["revision"])["fleet-commit"]
        == (ops.release_labels(RELEASE, good["revision"])["fleet-commit"])
    )
    assert all(not r["status"].startswith("pending") for r in history)


def test_a_hub_that_crashes_on_start_fails_fast_and_is_rolled_back(ops, base_image):
    name, tag = base_image.rsplit(":", 1)

    def crash(values):
        # The base image has no `jupyterhub`: the hub's container cannot start.
        pin_to_real_node(values["hub"])
        values["hub"]["image"] = {"name": name, "tag": tag}

    proc, elapsed, good = deploy_broken(ops, crash, "e2e: a hub that cannot start")
    assert proc.returncode == 1, proc.output[-3000:]
    assert elapsed < FAIL_FAST_SECONDS, f"took {elapsed:.0f}s with --timeout {TIMEOUT}"
    assert "stopped early: a pod cannot become ready" in proc.stderr
    assert "container hub" in proc.stderr
    assert any(r in proc.stderr for r in ("CrashLoopBackOff", "RunContainerError", "restarted"))
    assert "serving now (rolled back)" in proc.stderr
    assert_rolled_back_to(ops, good)
    deployment = ops.kubectl_json("get", "deployment", "hub", "-n", RELEASE)
    assert "nodeSelector" not in deployment["spec"]["template"]["spec"]


def test_a_proxy_image_no_registry_has_fails_fast_naming_the_pull_error(ops, registry):
    def missing(values):
        chp = values.setdefault("proxy", {}).setdefault("chp", {})
        pin_to_real_node(chp)
        chp["image"] = {"name": f"{registry}/nowhere/proxy", "tag": "1"}

    proc, elapsed, good = deploy_broken(ops, missing, "e2e: a proxy image that does not exist")
    assert proc.returncode == 1, proc.output[-3000:]
    assert elapsed < FAIL_FAST_SECONDS, f"took {elapsed:.0f}s with --timeout {TIMEOUT}"
    assert "container chp" in proc.stderr
    assert "ErrImagePull" in proc.stderr or "ImagePullBackOff" in proc.stderr
    assert "nowhere/proxy" in proc.stderr
    assert_rolled_back_to(ops, good)


def test_a_user_image_no_registry_has_fails_in_the_pre_upgrade_hook_and_is_rolled_back(
    ops, registry, node_images
):
    """The real chart pulls the user image on every node in its pre-upgrade hook (the hook image
    puller, awaited by image-awaiter) before any workload changes: helm waits inside the hook."""
    missing = f"{registry}/nowhere/user:404"
    hub_yaml = ops.path / "hubs" / HUB / "hub.yaml"
    before = hub_yaml.read_text()

    def pulled_on_the_real_node(values):
        pin_to_real_node(values.setdefault("singleuser", {}), tolerations="extraTolerations")
        pin_to_real_node(values.setdefault("prePuller", {}).setdefault("hook", {}))

    doc = yaml.safe_load(before)
    doc.pop("image", None)
    doc["external_image"] = missing
    hub_yaml.write_text(yaml.safe_dump(doc))
    proc, elapsed, good = deploy_broken(
        ops, pulled_on_the_real_node, "e2e: a user image that does not exist"
    )
    assert proc.returncode == 1, proc.output[-3000:]
    assert elapsed < FAIL_FAST_SECONDS, f"took {elapsed:.0f}s with --timeout {TIMEOUT}"
    assert "stopped early: a pod cannot become ready" in proc.stderr
    assert "pod hook-image-puller-" in proc.stderr
    assert "ErrImagePull" in proc.stderr or "ImagePullBackOff" in proc.stderr
    assert "nowhere/user:404" in proc.stderr
    assert "serving now (rolled back)" in proc.stderr
    assert_rolled_back_to(ops, good)
    # The revision serving again is the one before, and nothing of the bad one runs.
    deployment = ops.kubectl_json("get", "deployment", "hub", "-n", RELEASE)
    assert deployment["status"].get("readyReplicas") == 1
