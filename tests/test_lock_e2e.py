"""End to end: one deploy per release at a time, between real processes from two clones.

A deploy holds a Lease in its release's namespace while it upgrades, waits and checks; a second
deploy of the same release waits for it (naming the holder), or gives up after --lock-timeout;
a holder killed with SIGKILL stops renewing, its lock expires, and the next deploy recovers the
release it left pending. On kwok's fake nodes: the hub's pod waits for a node label the test
adds when it wants the first deploy to finish.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from generated import GeneratedRepo, assert_clean, left_in, local_repo, read_until, scratch_folders

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

HUB, ENV = "kappa", "staging"
RELEASE = f"{HUB}-{ENV}"
POOL = "e2e.example.org/lock-pool"


@pytest.fixture(scope="module")
def ops(tmp_path_factory, local_stack):
    repo = local_repo(tmp_path_factory.mktemp("lock-e2e"), local_stack, org="Lock", hubs=HUB)
    repo.unpulled_image(HUB)
    repo.commit("e2e: sqlite-memory hub database, an image nothing pulls")
    with repo.own_releases():
        repo.invoke("deploy", "--hub", HUB, "--env", ENV)
        yield repo


@pytest.fixture
def second(ops, tmp_path):
    """A second clone of the same repo, as another person or CI run would have it."""
    return ops.copy(tmp_path / "second")


@pytest.fixture
def a_node(ops):
    """One of kwok's fake nodes; the label the tests give it is removed after."""
    nodes = ops.kubectl_json("get", "nodes")["items"]
    name = next(
        n["metadata"]["name"]
        for n in nodes
        if n["metadata"].get("annotations", {}).get("kwok.x-k8s.io/node") == "fake"
    )
    yield name
    label_node(ops, name, f"{POOL}-")


def label_node(ops: GeneratedRepo, node: str, label: str) -> None:
    argv = ["kubectl", "--kubeconfig", str(ops.kubeconfig), "label", "node", node, label]
    subprocess.run([*argv, "--overwrite"], check=True, capture_output=True)


def waiting_deploy(
    ops: GeneratedRepo, value: str, env: dict | None = None
) -> tuple[subprocess.Popen, str]:
    """A deploy (in its own process group) whose hub pod waits for a node labelled POOL=value."""
    ops.edit_values(HUB, lambda v: v["hub"].update(nodeSelector={POOL: value}))
    commit = ops.commit(f"e2e: a hub that waits for a node in pool {value}")
    child = ops.start(
        "deploy", "--hub", HUB, "--env", ENV, "--timeout", "3m", env=env, start_new_session=True
    )
    read_until(child, f"==> [{HUB}/{ENV}] helm upgrade")
    deadline = time.monotonic() + 30
    while ops.history(RELEASE)[-1]["status"] != "pending-upgrade":  # helm is waiting now
        assert time.monotonic() < deadline, "the upgrade never started"
        time.sleep(0.5)
    return child, commit


def test_a_second_deploy_waits_for_the_first_and_never_rolls_it_back(ops, second, a_node):
    """Before the lock, the second deploy took the first one's pending upgrade for abandoned,
    rolled it back while it ran, and the first then reported a revision that was not its own."""
    first, first_commit = waiting_deploy(ops, "first")
    other = second.start("deploy", "--hub", HUB, "--env", ENV)
    seen = read_until(other, "waiting for the deploy lock of kappa-staging, held by")
    assert f"pid {first.pid}: invoke deploy --hub kappa --env staging" in seen[-1]
    status = ops.invoke("status", "--hub", HUB).stdout
    assert "deploy lock held by" in status and f"pid {first.pid}" in status

    label_node(ops, a_node, f"{POOL}=first")  # the first deploy's pod can run now
    out, err = first.communicate(timeout=180)
    assert first.returncode == 0, err[-3000:]
    rest_out, rest_err = other.communicate(timeout=180)
    assert other.returncode == 0, rest_err[-3000:]
    said = "".join(seen) + rest_err
    assert "was left in pending" not in said
    assert "deploy lock of kappa-staging held" in said

    history = ops.history(RELEASE)
    assert [r["status"] for r in history].count("deployed") == 1
    first_revision = int(out.split("deployed revision ")[1].split(",")[0])
    second_revision = int(rest_out.split("deployed revision ")[1].split(",")[0])
    assert second_revision == first_revision + 1 == history[-1]["revision"]
    assert ops.release_labels(RELEASE, first_revision)["fleet-commit"] == first_commit
    second_commit = second.git("rev-parse", "HEAD").strip()
    assert ops.release_labels(RELEASE, second_revision)["fleet-commit"] == second_commit
    ops.revert()


def test_a_deploy_gives_up_after_its_lock_timeout_naming_the_holder(ops, second):
    first, _ = waiting_deploy(ops, "never")
    try:
        proc = second.invoke(
            "deploy", "--hub", HUB, "--env", ENV, "--lock-timeout", "3s", check=False
        )
        assert proc.returncode == 1
        error = proc.stderr.strip().splitlines()[-1]
        assert error.startswith("error: deploy kappa/staging failed at step lock: ")
        assert "release kappa-staging is being deployed by " in error
        assert f"pid {first.pid}: invoke deploy" in error
        assert "--lock-timeout" in error
        assert_clean(proc)
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=180)
    assert ops.history(RELEASE)[-1]["status"] == "deployed"
    ops.revert()


def test_a_holder_killed_with_sigkill_leaves_a_lock_that_expires_and_the_next_deploy_recovers(
    ops,
):
    fresh, folders = scratch_folders(ops.tmp, "killed")
    first, _ = waiting_deploy(ops, "never", env=fresh)
    os.killpg(first.pid, signal.SIGKILL)  # the whole machine gone: invoke, helm, its renewals
    first.communicate(timeout=30)
    assert ops.history(RELEASE)[-1]["status"] == "pending-upgrade"
    assert list(folders[0].iterdir()) == []  # nothing on disk: its secrets were in memory
    left = sorted(p.name for p in folders[1].iterdir())
    assert any(name.startswith(f"fleet-{first.pid}-") for name in left), left
    ops.revert()

    started = time.monotonic()
    proc = ops.invoke("deploy", "--hub", HUB, "--env", ENV, "--timeout", "2m", env=fresh)
    # The next task removed what the killed one could not: nothing of it is left.
    assert left_in(folders) == []
    waited = time.monotonic() - started
    assert "waiting for the deploy lock of kappa-staging, held by" in proc.stderr
    assert f"pid {first.pid}" in proc.stderr
    assert "was left in pending-upgrade" in proc.stderr
    assert waited < 90, f"took {waited:.0f}s to take over a dead holder's lock"
    history = ops.history(RELEASE)
    assert history[-1]["status"] == "deployed"
    assert [r["status"] for r in history].count("deployed") == 1
    assert "deploy lock" not in ops.invoke("status", "--hub", HUB).stdout
    assert_clean(proc)


def test_a_lease_written_or_deleted_by_someone_else_stays_the_holders(ops, second, a_node):
    """Before: any write to the Lease made the holder give up after its upgrade, and deleting
    it let a second deploy in at once."""
    first, _ = waiting_deploy(ops, "tamper")
    kubectl = ["kubectl", "--kubeconfig", str(ops.kubeconfig), "--namespace", RELEASE]
    subprocess.run(
        [*kubectl, "annotate", "lease", "fleet-deploy", "someone=was-here", "--overwrite"],
        check=True,
        capture_output=True,
    )
    time.sleep(12)  # two renewals
    subprocess.run([*kubectl, "delete", "lease", "fleet-deploy"], check=True, capture_output=True)
    deadline = time.monotonic() + 15
    while True:
        lease = subprocess.run(
            [*kubectl, "get", "lease", "fleet-deploy", "-o", "jsonpath={.spec.holderIdentity}"],
            capture_output=True,
            text=True,
        ).stdout
        if f"pid {first.pid}:" in lease:
            break
        assert time.monotonic() < deadline, "the deleted lock was not taken again"
        time.sleep(0.5)
    other = second.invoke("deploy", "--hub", HUB, "--env", ENV, "--lock-timeout", "3s", check=False)
    assert other.returncode == 1
    assert f"pid {first.pid}: invoke deploy" in other.stderr.strip().splitlines()[-1]

    label_node(ops, a_node, f"{POOL}=tamper")  # the first deploy's pod can run now
    _, err = first.communicate(timeout=180)
    assert first.returncode == 0, err[-3000:]
    assert "was written by someone else; this deploy still holds it" in err
    # (The API server takes the renewal's replace of a deleted Lease as a create: held again
    # within one renewal, as the loop above saw, whether or not the holder had to notice.)
    assert "taken over" not in err
    assert [r["status"] for r in ops.history(RELEASE)].count("deployed") == 1
    ops.revert()
