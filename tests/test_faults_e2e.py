"""End to end: deploys killed the way the world kills them, and the invariants that hold after.

The real jupyterhub chart on kwok's fake nodes; a hub's pod that waits for a node label nobody
gives keeps helm waiting, so a signal can come mid-upgrade. After every fault (SIGKILL of the
deploy alone at each step, as the OOM killer or a runner's hard cancel does; SIGTERM to a
`--jobs` run, as a CI cancel does) the same invariants are checked:

- at most one revision of each release is `deployed`, and it serves the previous inputs or the
  new ones, never a config whose pods do not become ready;
- no program of ours is left running (helm dies with the deploy);
- no plaintext secret is on disk, and none is left in memory past the next task's start;
- one clear line says what happened.

`FAULTS` is the table of what was tried; the README's table is written from it.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from generated import GeneratedRepo, left_in, local_repo, read_until, scratch_folders

from toolchain import kwok, procs, registry, stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

HUBS = ("lambda", "mu")
ENV = "staging"
POOL = "e2e.example.org/fault-pool"
# The steps of a deploy a SIGKILL is tried at (fleet.deploy's step lines).
KILL_STEPS = ("secrets", "chart dependencies", "lock", "recover", "helm upgrade")

# Where private folders went before they moved to memory (fleet.private): the temp folder.
OLD_PLACES = tuple(Path("/tmp").glob("fleet-*"))

FAULTS = {
    # fault -> the test that tries it (here unless named); the README's table is this one.
    "SIGKILL of the deploy alone at each step, secrets to helm's wait (OOM killer, hard cancel)": "test_sigkill_of_the_deploy_at_each_step_leaves_no_secret_and_no_helm",
    "SIGTERM to `invoke deploy --jobs 2` while both upgrades wait (a CI cancel)": "test_sigterm_to_a_jobs_run_stops_every_helm_rolls_back_and_exits_in_seconds",
    "An older commit deployed over a newer one (a slower CI run finishing last)": "test_an_older_commit_is_refused_over_a_newer_one_unless_allow_older",
    "A `helm upgrade` by hand, pending, with no lock of ours": "test_a_pending_upgrade_by_hand_is_not_rolled_back_while_it_may_run",
    "The Lease annotated, then deleted, by someone else mid-deploy": "test_lock_e2e.py::test_a_lease_written_or_deleted_by_someone_else_stays_the_holders",
    "SIGKILL of the whole process group (the machine gone) mid-upgrade": "test_lock_e2e.py::test_a_holder_killed_with_sigkill_leaves_a_lock_that_expires_and_the_next_deploy_recovers",
    "SIGINT mid-upgrade from a parent that ignores SIGINT (nohup, a script's job)": "test_deploy_e2e.py::test_ctrl_c_mid_deploy_cleans_up_and_next_deploy_recovers",
    "SIGTERM mid-upgrade of one hub": "test_deploy_e2e.py::test_sigterm_mid_upgrade_says_so_and_returns_to_the_revision_that_served",
    "A user's server that cannot pull its image, started mid-deploy": "test_realhub_e2e.py::test_a_users_broken_server_during_a_deploy_does_not_stop_it",
    "Ctrl-C at the terminal (the whole process group) during the health check": "test_realhub_e2e.py::test_ctrl_c_at_the_terminal_leaves_the_port_forward_to_the_cleanup",
    "The health check's port-forward killed mid-check": "test_realhub_e2e.py::test_a_port_forward_that_dies_mid_check_is_started_again",
    "A hub that prints a secret as it crashes": "test_realhub_e2e.py::test_an_extra_config_that_raises_fails_fast_quotes_the_traceback_and_rolls_back",
    "The API server paused (SIGSTOP) for 30 s while helm waits": "test_an_api_server_paused_30s_mid_upgrade_and_the_deploy_goes_on_when_it_answers",
    "The fleet's registry hanging (SIGSTOP), then down (killed), at deploy time": "test_a_registry_hanging_or_down_stops_the_deploy_before_helm_in_one_line",
    "A staging revision deployed unchecked, rolled back, checked too long ago, or its tag re-pushed": "test_realhub_e2e.py::test_the_canary_takes_only_a_recent_check_of_the_staging_revision_itself_and_its_image",
}


@pytest.fixture(scope="module")
def ops(tmp_path_factory, local_stack):
    repo = local_repo(
        tmp_path_factory.mktemp("faults-e2e"), local_stack, org="Faults", hubs=",".join(HUBS)
    )
    repo.unpulled_image(*HUBS)
    repo.commit("e2e: sqlite-memory hub database, an image nothing pulls")
    with repo.own_releases():
        for hub in HUBS:
            repo.invoke("deploy", "--hub", hub, "--env", ENV)
        yield repo


def secret_of(ops: GeneratedRepo, hub: str) -> str:
    """A value of the hub's decrypted secrets (the proxy's token), to look for afterwards."""
    out = ops.invoke("secrets.decrypt", "--hub", hub, "--env", ENV).stdout
    token = next(
        line.split(":", 1)[1].strip() for line in out.splitlines() if "secretToken" in line
    )
    assert len(token) >= 32
    return token


def files_holding(text: str, *folders: Path) -> list[str]:
    """Every file under `folders` whose bytes hold `text` (git's objects are compressed: skipped)."""
    found = []
    for folder in folders:
        for path in folder.rglob("*"):
            if ".git" in path.parts or not path.is_file():
                continue
            try:
                if text.encode() in path.read_bytes():
                    found.append(str(path))
            except OSError:
                continue
    return found


def programs_of(release: str) -> list[str]:
    """Command lines of helm or kubectl processes still working on `release`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if words and Path(words[0]).name.startswith(("helm", "kubectl")) and release in words:
            found.append(" ".join(words))
    return found


def waiting(ops: GeneratedRepo, hubs: tuple[str, ...], value: str) -> str:
    """Commit a change that keeps each hub's pod waiting for a node in pool `value`."""
    for hub in hubs:
        ops.edit_values(hub, lambda v: v["hub"].update(nodeSelector={POOL: value}))
    return ops.commit(f"e2e: {', '.join(hubs)} wait for a node in pool {value}")


def assert_invariants(ops: GeneratedRepo, release: str, serving_commit: str | None = None) -> None:
    history = ops.history(release)
    deployed = [r for r in history if r["status"] == "deployed"]
    assert len(deployed) <= 1, history
    if serving_commit:
        labels = ops.release_labels(release, deployed[-1]["revision"])
        assert labels["fleet-commit"] == serving_commit, (labels, history)
    assert programs_of(release) == []


@pytest.mark.parametrize("step", KILL_STEPS)
def test_sigkill_of_the_deploy_at_each_step_leaves_no_secret_and_no_helm(ops, step):
    hub = HUBS[0]
    release = f"{hub}-{ENV}"
    secret = secret_of(ops, hub)
    before = ops.git("rev-parse", "HEAD").strip()
    waiting(ops, (hub,), "never")
    fresh, (disk, memory) = scratch_folders(ops.tmp, f"kill-{step.replace(' ', '-')}")
    child = ops.start("deploy", "--hub", hub, "--env", ENV, "--timeout", "3m", env=fresh)
    read_until(child, f"==> [{hub}/{ENV}] {step}")
    if step == "helm upgrade":  # helm is waiting for the pod now
        deadline = time.monotonic() + 30
        while ops.history(release)[-1]["status"] != "pending-upgrade":
            assert time.monotonic() < deadline, "the upgrade never started"
            time.sleep(0.5)
    os.kill(child.pid, signal.SIGKILL)  # the deploy alone: its children are not signalled
    child.communicate(timeout=30)

    # helm died with it, not orphaned; no plaintext anywhere on disk.
    deadline = time.monotonic() + 10
    while programs_of(release) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert programs_of(release) == []
    assert files_holding(secret, disk, ops.path, *OLD_PLACES) == []
    ops.revert()
    # The next task of any kind removes what the killed one left in memory.
    ops.invoke("status", env=fresh)
    assert left_in([disk, memory]) == []
    # The next deploy recovers (after the dead holder's lock expires, when it held one).
    proc = ops.invoke("deploy", "--hub", hub, "--env", ENV, "--timeout", "2m", env=fresh)
    if step == "helm upgrade":
        assert "was left in pending-upgrade" in proc.stderr
    assert left_in([disk, memory]) == []
    assert_invariants(ops, release, ops.git("rev-parse", "HEAD").strip())
    assert before != ops.git("rev-parse", "HEAD").strip()


def test_sigterm_to_a_jobs_run_stops_every_helm_rolls_back_and_exits_in_seconds(ops):
    """Before: the handler removed the workers' secrets while their helm went on; no rollback;
    the process stayed until --timeout."""
    releases = [f"{hub}-{ENV}" for hub in HUBS]
    serving = {
        r: ops.release_labels(r, ops.serving(r)["revision"])["fleet-commit"] for r in releases
    }
    secrets = [secret_of(ops, hub) for hub in HUBS]
    waiting(ops, HUBS, "never")
    fresh, (disk, memory) = scratch_folders(ops.tmp, "jobs-sigterm")
    argv = ["deploy", "--all", "--env", ENV, "--jobs", "2", "--timeout", "5m"]
    child = ops.start(*argv, env=fresh)
    deadline = time.monotonic() + 90
    while not all(ops.history(r)[-1]["status"] == "pending-upgrade" for r in releases):
        assert time.monotonic() < deadline, "the upgrades never started"
        time.sleep(0.5)
    began = time.monotonic()
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=60)
    took = time.monotonic() - began
    assert child.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert took < 30, f"{took:.0f}s to stop"
    assert err.strip().splitlines()[-1] == "terminated (SIGTERM)"
    for hub in HUBS:
        assert (
            f"==> [{hub}/{ENV}] interrupted: returning {hub}-{ENV} to its last good revision" in err
        )
    for release in releases:
        assert_invariants(ops, release, serving[release])
        assert not ops.history(release)[-1]["status"].startswith("pending-")
    assert left_in([disk, memory]) == []
    assert files_holding(secrets[0], disk, ops.path, *OLD_PLACES) == []
    assert files_holding(secrets[1], disk, ops.path, *OLD_PLACES) == []
    ops.revert()


def test_an_older_commit_is_refused_over_a_newer_one_unless_allow_older(ops):
    """A slower CI run finishing last, or a stale checkout: before, it undid newer deploys
    without a word."""
    hub = HUBS[1]
    release = f"{hub}-{ENV}"
    ops.edit_values(hub, lambda v: v["hub"].setdefault("extraEnv", {}).update(ORDER="one"))
    older = ops.commit("e2e: an older change")
    ops.edit_values(hub, lambda v: v["hub"]["extraEnv"].update(ORDER="two"))
    newer = ops.commit("e2e: a newer change")
    ops.invoke("deploy", "--hub", hub, "--env", ENV)
    ops.git("checkout", "-q", older)
    try:
        refused = ops.invoke("deploy", "--hub", hub, "--env", ENV, check=False)
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines()[-1] == (
            f"error: deploy {hub}/{ENV} failed at step helm upgrade: release {release}: this "
            f"deploy's commit {older[:12]} is older than the one serving, {newer[:12]} (revision "
            f"{ops.serving(release)['revision']}): it would undo what was deployed since. Deploy "
            "the newer commit, or pass --allow-older to go back on purpose"
        )
        assert (
            ops.release_labels(release, ops.serving(release)["revision"])["fleet-commit"] == newer
        )
        ops.invoke("deploy", "--hub", hub, "--env", ENV, "--allow-older")
        assert (
            ops.release_labels(release, ops.serving(release)["revision"])["fleet-commit"] == older
        )
    finally:
        ops.git("checkout", "-q", "-")
    ops.invoke("deploy", "--hub", hub, "--env", ENV)  # the newer one, forward again
    assert_invariants(ops, release, newer)


def test_a_pending_upgrade_by_hand_is_not_rolled_back_while_it_may_run(ops):
    """A `helm upgrade` by hand holds no lock of ours: before, the next deploy rolled its pending
    revision back at once, while it ran."""
    hub = HUBS[0]
    release = f"{hub}-{ENV}"
    chart = ops.path / "chart"
    selector = "jupyterhub.hub.nodeSelector." + POOL.replace(".", "\\.")
    manual = subprocess.Popen(
        [
            str(ops.helm),
            "--kubeconfig",
            str(ops.kubeconfig),
            "upgrade",
            release,
            str(chart),
            "--namespace",
            release,
            "--reuse-values",
            "--wait",
            "--timeout",
            "5m",
            "--set",
            f"{selector}=never",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while ops.history(release)[-1]["status"] != "pending-upgrade":
            assert time.monotonic() < deadline, "the manual upgrade never started"
            time.sleep(0.5)
        refused = ops.invoke("deploy", "--hub", hub, "--env", ENV, check=False)
        assert refused.returncode == 1
        line = refused.stderr.strip().splitlines()[-1]
        assert f"release {release}: revision" in line and "is pending-upgrade (written" in line
        assert "no deploy of ours holds its lock: another helm" in line
        assert manual.poll() is None  # still running, not rolled back under it
        assert ops.history(release)[-1]["status"] == "pending-upgrade"
    finally:
        manual.kill()
        manual.communicate()
    # Gone and silent for longer than the deploy's --timeout: then it is recovered.
    time.sleep(46)
    proc = ops.invoke("deploy", "--hub", hub, "--env", ENV, "--timeout", "45s")
    assert "is pending-upgrade, untouched for" in proc.stderr
    assert "was left in pending-upgrade" in proc.stderr
    assert_invariants(ops, f"{hub}-{ENV}", ops.git("rev-parse", "HEAD").strip())


# Faults of the services a deploy talks to, each on a service of the test's own: the session's
# cluster and registry are shared by every other test.


def own_cluster_repo(tmp: Path, local_stack, name: str, hub: str) -> tuple[GeneratedRepo, Path]:
    """A repo deploying `hub` to a kwok cluster of its own (in `tmp`), and the cluster's folder."""
    cluster = stack.start_cluster(tmp / "cluster", f"hubfleet-test-{os.getpid()}-{name}")
    repo = local_repo(
        tmp, dataclasses.replace(local_stack, kubeconfig=cluster.kubeconfig), org=name, hubs=hub
    )
    return repo, kwok.cluster_dir(cluster.name)


@pytest.fixture(scope="module")
def paused(tmp_path_factory, local_stack):
    tmp = tmp_path_factory.mktemp("pause-e2e")
    try:
        repo, directory = own_cluster_repo(tmp, local_stack, "pause", "omicron")
        repo.unpulled_image("omicron")
        repo.commit("e2e: sqlite-memory hub database, an image nothing pulls")
        repo.invoke("deploy", "--hub", "omicron", "--env", ENV)
        yield repo, directory
    finally:
        stack.stop_cluster(tmp / "cluster")


def pid_of(directory: Path, component: str) -> int:
    return int((directory / "pids" / f"{component}.pid").read_text().strip())


def test_an_api_server_paused_30s_mid_upgrade_and_the_deploy_goes_on_when_it_answers(paused):
    """A paused API server accepts connections and answers none: helm's wait, fail-fast and the
    lock's renewals all stall. When it answers again the deploy carries on and ends as it would
    have, holding its lock throughout."""
    repo, directory = paused
    hub = "omicron"
    release = f"{hub}-{ENV}"
    secret = secret_of(repo, hub)
    commit = waiting(repo, (hub,), "after-the-pause")
    fresh, (disk, memory) = scratch_folders(repo.tmp, "api-paused")
    child = repo.start("deploy", "--hub", hub, "--env", ENV, "--timeout", "4m", env=fresh)
    deadline = time.monotonic() + 60
    while repo.history(release)[-1]["status"] != "pending-upgrade":
        assert time.monotonic() < deadline, "the upgrade never started"
        time.sleep(0.5)
    apiserver = pid_of(directory, "kube-apiserver")
    os.kill(apiserver, signal.SIGSTOP)
    try:
        time.sleep(30)
    finally:
        os.kill(apiserver, signal.SIGCONT)
    # The pool's node appears once the API server is back: only then can the hub's pod start.
    node = repo.kubectl_json("get", "nodes")["items"][0]["metadata"]["name"]
    subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(repo.kubeconfig),
            "label",
            "node",
            node,
            f"{POOL}=after-the-pause",
        ],
        check=True,
        capture_output=True,
    )
    try:
        out, err = child.communicate(timeout=300)
    finally:
        child.kill()
    assert child.returncode == 0, err[-3000:]
    assert f"{hub}/{ENV}: deployed revision" in out + err
    history = repo.history(release)
    assert history[-1]["status"] == "deployed", history
    assert_invariants(repo, release, commit)
    # The lock was held throughout and released at the end; the controllers outlived the pause.
    leases = repo.kubectl_json("get", "leases", "--namespace", release)["items"]
    assert [lease["metadata"]["name"] for lease in leases] == [], leases
    for component in ("kube-controller-manager", "kube-scheduler", "kwok-controller"):
        os.kill(pid_of(directory, component), 0)
    assert left_in([disk, memory]) == []
    assert files_holding(secret, disk, repo.path) == []


@pytest.fixture(scope="module")
def outage(tmp_path_factory, local_stack):
    """A repo whose fleet registry is one of its own, holding the hub's image (an empty one)."""
    tmp = tmp_path_factory.mktemp("outage-e2e")
    state = tmp / "registry-state"
    own = registry.start(state)
    try:
        repo = local_repo(
            tmp, dataclasses.replace(local_stack, registry=own.address), org="Outage", hubs="xi"
        )
        ref = subprocess.run(
            [
                "python",
                "-c",
                "from fleet.core import config; from fleet.tools import images; "
                "print(images.image_ref(config.load(), 'default'))",
            ],
            cwd=repo.path,
            env=repo.env_for_python(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert ref.startswith(own.address + "/"), ref
        # Kwok's fake nodes run any image: an empty one under the hub image's name is enough.
        subprocess.run(
            ["docker", "import", "-", ref], input=b"\0" * 1024, check=True, capture_output=True
        )
        subprocess.run(["docker", "push", "--quiet", ref], check=True, capture_output=True)
        repo.commit("e2e: sqlite-memory hub database")
        with repo.own_releases():
            repo.invoke("deploy", "--hub", "xi", "--env", ENV)
            yield repo, own, ref
    finally:
        registry.stop(state)
        subprocess.run(["docker", "image", "rm", "--force", ref], capture_output=True, check=False)


def test_a_registry_hanging_or_down_stops_the_deploy_before_helm_in_one_line(outage):
    """The deploy checks that the registry has the hub's image before it changes anything: a
    registry that hangs or is down ends it within its timeout, in one line naming the
    registry, the release untouched and nothing left behind."""
    repo, own, ref = outage
    hub = "xi"
    release = f"{hub}-{ENV}"
    secret = secret_of(repo, hub)
    before = repo.history(release)
    repo.edit_values(hub, lambda v: v["hub"].setdefault("extraEnv", {}).update(OUTAGE="yes"))
    commit = repo.commit("e2e: a change to deploy while the registry is out")
    fresh, (disk, memory) = scratch_folders(repo.tmp, "registry-out")
    pid = procs.recorded_pid(own.pid_file)
    assert pid is not None, f"the test's registry is not running ({own.pid_file})"
    expected = f"registry {own.address} unreachable while checking {ref}: "

    os.kill(pid, signal.SIGSTOP)  # hanging: the kernel accepts connections, nobody answers
    try:
        began = time.monotonic()
        hung = repo.invoke("deploy", "--hub", hub, "--env", ENV, env=fresh, check=False)
        took = time.monotonic() - began
    finally:
        os.kill(pid, signal.SIGCONT)
    assert hung.returncode == 1, hung.stderr[-3000:]
    last = hung.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and expected + "timed out" in last, last
    assert took < 90, f"{took:.0f}s"
    assert repo.history(release) == before
    assert left_in([disk, memory]) == []

    os.kill(pid, signal.SIGKILL)  # down: nothing listens on its port
    host, port = own.address.split(":")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
        except ConnectionRefusedError:
            break
        time.sleep(0.1)
    down = repo.invoke("deploy", "--hub", hub, "--env", ENV, env=fresh, check=False)
    assert down.returncode == 1, down.stderr[-3000:]
    last = down.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and expected in last and "refused" in last, last
    assert repo.history(release) == before
    serving = repo.release_labels(release, before[-1]["revision"])["fleet-commit"]
    assert serving != commit
    assert_invariants(repo, release, serving)
    assert left_in([disk, memory]) == []
    assert files_holding(secret, disk, repo.path) == []
