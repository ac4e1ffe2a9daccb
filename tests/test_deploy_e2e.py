"""End to end: a generated repo's own `invoke build/deploy/diff/status/rollback`, run as an operator
would, against the real local kwok cluster, docker registry, chart repository and sops.

The tests of this module share one generated repo and build on each other's releases, in order.
Its hubs (delta, epsilon) are its own: no other module deploys them, and they are removed at the end.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from generated import (
    GeneratedRepo,
    assert_clean,
    decrypted,
    left_in,
    local_repo,
    read_until,
    run_in,
    scratch_folders,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

HUB, ENV = "delta", "staging"
RELEASE = f"{HUB}-{ENV}"
DEPLOY_120S = ("deploy", "--hub", HUB, "--env", ENV, "--timeout", "120s")
UPGRADE_STEP = f"==> [{HUB}/{ENV}] helm upgrade"


def built_image(ops: GeneratedRepo) -> str:
    """The reference `invoke build` gives the default image (already pushed, so it only checks)."""
    proc = ops.invoke("build", "--image", "default")
    line = next(line for line in proc.stderr.splitlines() if ": already in the registry" in line)
    return line.split(": already in the registry")[0]


def hub_secret_values(ops: GeneratedRepo, release: str = RELEASE) -> str:
    """The values the chart put into the hub Secret, as the cluster has them."""
    secret = ops.kubectl_json("get", "secret", "hub", "-n", release)
    return base64.b64decode(secret["data"]["values.yaml"]).decode()


def error_line(proc) -> str:
    """The one line of a failed task's message: the last line, starting with `error:`."""
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), proc.stderr[-3000:]
    return lines[-1]


@pytest.fixture(scope="module")
def secrets_of(age_key):
    def decrypt(repo: Path, hub: str = HUB, env: str = ENV) -> dict:
        path = repo / "hubs" / hub / "secrets" / f"{env}.yaml"
        return decrypted(path, age_key.key_file)["jupyterhub"]

    return decrypt


@pytest.fixture(scope="module")
def ops(tmp_path_factory, local_stack):
    repo = local_repo(
        tmp_path_factory.mktemp("deploy-e2e"),
        local_stack,
        org="E2E",
        hubs="delta,epsilon",
    )
    repo.commit("e2e: sqlite-memory hub database")
    with repo.own_releases():
        yield repo


def test_build_pushes_then_skips(ops, registry):
    first = ops.invoke("build", "--push")
    assert "Step 1/" in first.stderr and ": pushed" in first.stderr
    tag_line = next(line for line in first.stderr.splitlines() if line.endswith(": pushed"))
    ref = tag_line.split(": pushed")[0]
    tag = ref.rsplit(":", 1)[1]
    with urllib.request.urlopen(f"http://{registry}/v2/e2e/default/tags/list") as response:
        assert tag in json.load(response)["tags"]

    again = ops.invoke("build", "--image", "default", "--push")
    assert f"{ref}: already in the registry; build and push skipped" in again.stderr
    assert "Step 1/" not in again.stderr


def test_deploy_with_helm4_then_helm3(ops, helm3, helm4, secrets_of):
    secrets = secrets_of(ops.path)
    commit = subprocess.run(
        ["git", "-C", str(ops.path), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for helm, flag in ((helm4, "--rollback-on-failure"), (helm3, "--atomic")):
        before = len(ops.history(RELEASE)) if helm == helm3 else 0
        proc = ops.invoke("deploy", "--hub", HUB, "--env", ENV, env={"FLEET_HELM": str(helm)})
        assert flag in proc.stderr
        assert_clean(proc)
        serving = ops.serving(RELEASE)
        assert serving["revision"] == before + 1
        assert f"{HUB}/{ENV}: deployed revision {serving['revision']}" in proc.stdout
        labels = ops.release_labels(RELEASE, serving["revision"])
        assert labels["fleet-commit"] == commit
        assert f"image {built_image(ops)}" in proc.stdout
        values = yaml.safe_load(hub_secret_values(ops))
        assert values["hub"]["cookieSecret"] == secrets["hub"]["cookieSecret"]
        image = values["singleuser"]["image"]
        assert f"{image['name']}:{image['tag']}" == built_image(ops)
        assert labels["fleet-image-tag"] == image["tag"]
        assert secrets["hub"]["cookieSecret"] not in proc.output
        assert secrets["proxy"]["secretToken"] not in proc.output

    status = ops.invoke("status", "--hub", HUB, "--env", ENV)
    assert RELEASE in status.stdout and "deployed" in status.stdout and commit[:12] in status.stdout


def test_diff_shows_exactly_the_change_then_deploy(ops, secrets_of):
    secrets = secrets_of(ops.path)
    revision = ops.serving(RELEASE)["revision"]
    assert (
        ops.invoke("diff", "--hub", HUB, "--env", ENV).stdout.strip() == f"{HUB}/{ENV}: no changes"
    )

    ops.edit_values(
        HUB,
        lambda v: (
            v.setdefault("proxy", {})
            .setdefault("service", {})
            .update(annotations={"e2e.example.org/touched": "yes"})
        ),
    )
    commit = ops.commit("e2e: annotate the proxy service")
    diff = ops.invoke("diff", "--hub", HUB, "--env", ENV)
    changed = [
        line
        for line in diff.stdout.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    added = {line for line in changed if line.startswith("+")}
    assert "+  annotations:" in added and "+    e2e.example.org/touched: 'yes'" in added
    # The hub Secret holds the values, shown decoded (its secret leaves masked): the annotation
    # shows there too. The only other change is the hub pods' checksum of that Secret.
    assert sum("e2e.example.org/touched: 'yes'" in line for line in added) == 2, diff.stdout
    others = [
        line for line in changed if "annotations:" not in line and "e2e.example.org" not in line
    ]
    assert len(others) == 2, diff.stdout
    assert sum("checksum/secret:" in line for line in others) == 2
    for secret in (secrets["hub"]["cookieSecret"], secrets["proxy"]["secretToken"]):
        assert secret not in diff.output
        assert base64.b64encode(secret.encode()).decode() not in diff.output

    ops.invoke("deploy", "--hub", HUB, "--env", ENV)
    serving = ops.serving(RELEASE)
    assert serving["revision"] == revision + 1
    assert ops.release_labels(RELEASE, serving["revision"])["fleet-commit"] == commit
    service = ops.kubectl_json("get", "service", "proxy-public", "-n", RELEASE)
    assert service["metadata"]["annotations"]["e2e.example.org/touched"] == "yes"
    assert (
        ops.invoke("diff", "--hub", HUB, "--env", ENV).stdout.strip() == f"{HUB}/{ENV}: no changes"
    )


def test_dry_run_prints_commands_without_secrets_and_changes_nothing(ops, secrets_of):
    secrets = secrets_of(ops.path)
    history = ops.history(RELEASE)
    proc = ops.invoke("deploy", "--hub", HUB, "--env", ENV, "--dry-run")
    assert (
        "[dry-run] " in proc.stderr and "helm" in proc.stderr and "upgrade --install" in proc.stderr
    )
    assert "--dry-run=server" in proc.stderr
    assert "kind: Secret" in proc.stdout and "<redacted hmac:" in proc.stdout
    # The hub's values are printed decoded, each value from its secrets file masked.
    assert "cookieSecret: <redacted hmac:" in proc.stdout
    assert "secretToken: <redacted hmac:" in proc.stdout
    for secret in (secrets["hub"]["cookieSecret"], secrets["proxy"]["secretToken"]):
        assert secret not in proc.output
        assert base64.b64encode(secret.encode()).decode() not in proc.output
    assert ops.history(RELEASE) == history
    assert_clean(proc)


def test_pods_never_ready_fails_in_time_names_workload_and_rolls_back(ops):
    good = ops.serving(RELEASE)
    ops.edit_values(
        HUB, lambda v: v["hub"].update(nodeSelector={"e2e.example.org/pool": "nowhere"})
    )
    ops.commit("e2e: a hub that cannot be scheduled")
    started = time.monotonic()
    proc = ops.invoke("deploy", "--hub", HUB, "--env", ENV, "--timeout", "30s", check=False)
    elapsed = time.monotonic() - started
    assert proc.returncode != 0
    # The upgrade fails at its timeout; helm's rollback then waits (at most) as long again.
    assert elapsed < 2 * 30 + 30, f"took {elapsed:.0f}s for a 30s timeout"
    assert "failed at step helm upgrade" in proc.stderr
    assert "deployment/hub: pod hub-" in proc.stderr
    assert "node(s) didn't match" in proc.stderr
    assert f"serving now (rolled back): revision {good['revision'] + 2}" in proc.stderr
    assert_clean(proc)

    history = ops.history(RELEASE)
    assert [r["status"] for r in history[-2:]] == ["failed", "deployed"]
    # The revision serving now runs the good revision's config, and its pods are ready.
    deployment = ops.kubectl_json("get", "deployment", "hub", "-n", RELEASE)
    assert not deployment["spec"]["template"]["spec"].get("nodeSelector")
    assert deployment["status"].get("readyReplicas") == 1
    assert (
        ops.release_labels(RELEASE, history[-1]["revision"])["fleet-commit"]
        == ops.release_labels(RELEASE, good["revision"])["fleet-commit"]
    )
    # The same failure again: its report names its own pod, not the one of the deploy before
    # (whose events outlive it). Before, both were listed as "(gone now) had warnings".
    first_pod = proc.stderr.split("deployment/hub: pod ")[1].split()[0]
    again = ops.invoke("deploy", "--hub", HUB, "--env", ENV, "--timeout", "20s", check=False)
    assert again.returncode != 0
    assert "deployment/hub: pod hub-" in again.stderr
    assert first_pod not in again.stderr, again.stderr[-3000:]
    ops.revert()


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_ctrl_c_mid_deploy_cleans_up_and_next_deploy_recovers(ops):
    """Started as `nohup` or a script's background job would start it: with SIGINT ignored."""
    ops.edit_values(
        HUB, lambda v: v["hub"].update(nodeSelector={"e2e.example.org/pool": "nowhere"})
    )
    ops.commit("e2e: a deploy that waits long enough to interrupt")
    fresh, folders = scratch_folders(ops.tmp, "sigint")
    child = ops.start(*DEPLOY_120S, env=fresh, preexec_fn=_ignore_sigint)
    seen = read_until(child, UPGRADE_STEP)
    time.sleep(4)
    child.send_signal(signal.SIGINT)
    _, rest = child.communicate(timeout=60)
    assert child.returncode != 0, "".join(seen) + rest
    assert "interrupted" in rest
    assert left_in(folders) == []

    ops.revert()
    stuck = ops.history(RELEASE)[-1]["status"]
    proc = ops.invoke("deploy", "--hub", HUB, "--env", ENV, "--timeout", "120s")
    if stuck.startswith("pending-"):
        assert f"was left in {stuck}" in proc.stderr
    assert ops.history(RELEASE)[-1]["status"] == "deployed"
    assert_clean(proc)


def test_sigterm_mid_upgrade_says_so_and_returns_to_the_revision_that_served(ops):
    """Before: exit 143 and no message, the revision left pending, and `status` said the one
    before was serving while the hub's pod (Recreate strategy) was Pending."""
    good = ops.serving(RELEASE)
    ops.edit_values(
        HUB, lambda v: v["hub"].update(nodeSelector={"e2e.example.org/pool": "nowhere"})
    )
    ops.commit("e2e: a deploy that waits long enough to terminate")
    child = ops.start(*DEPLOY_120S)
    seen = read_until(child, UPGRADE_STEP)
    time.sleep(4)
    child.terminate()
    _, rest = child.communicate(timeout=180)
    said = "".join(seen) + rest
    assert child.returncode == 143, said[-3000:]
    assert "interrupted: returning delta-staging to its last good revision" in said
    assert "serving now (rolled back): revision" in said
    assert said.strip().splitlines()[-1] == "terminated (SIGTERM)"
    ops.revert()
    history = ops.history(RELEASE)
    assert history[-1]["status"] == "deployed" and history[-1]["revision"] > good["revision"]
    row = next(
        line for line in ops.invoke("status", "--hub", HUB).stdout.splitlines() if RELEASE in line
    )
    assert "│ deployed" in row and "│ yes" in row, row


def test_rollback_to_previous_good_revision(ops):
    history = ops.history(RELEASE)
    serving = history[-1]["revision"]
    previous = [r["revision"] for r in history if r["status"] == "superseded"][-1]
    proc = ops.invoke("rollback", "--hub", HUB, "--env", ENV, "--timeout", "120s")
    assert f"to revision {previous}" in proc.stderr
    assert "deployment/hub: rolled out" in proc.stderr
    now = ops.serving(RELEASE)
    assert now["revision"] == serving + 1
    assert (
        ops.release_labels(RELEASE, now["revision"])["fleet-commit"]
        == ops.release_labels(RELEASE, previous)["fleet-commit"]
    )
    status = ops.invoke("status")
    assert RELEASE in status.stdout and "not installed" in status.stdout  # epsilon is not deployed


@pytest.fixture
def scratch(ops, tmp_path):
    """A copy of the generated repo to break on purpose."""
    return ops.copy(tmp_path / "repo")


def test_unknown_hub(ops):
    proc = ops.invoke("deploy", "--hub", "zeta", "--env", ENV, check=False)
    assert proc.returncode == 1
    assert error_line(proc).endswith("unknown hub 'zeta'; valid hubs: delta, epsilon")


def test_unknown_env(ops):
    proc = ops.invoke("deploy", "--hub", HUB, "--env", "dev", check=False)
    assert proc.returncode == 1
    assert error_line(proc).endswith("unknown env 'dev' for hub 'delta'; valid envs: staging, prod")


def test_a_missing_secrets_file_fails_before_anything_is_deployed(scratch):
    """It used to deploy without secrets, exit 0, the hub without its cookie secret and token."""
    (scratch.path / "hubs" / "epsilon" / "secrets" / "staging.yaml").unlink()
    proc = scratch.invoke("deploy", "--hub", "epsilon", "--env", ENV, check=False)
    assert proc.returncode == 1
    line = error_line(proc)
    assert "failed at step validate: hub epsilon: no secrets file for staging (" in line
    assert "hubs/epsilon/secrets/staging.yaml" in line and "secrets: false" in line
    assert "\n$ " not in "\n" + proc.stderr  # no command was run
    assert "epsilon-staging" not in scratch.namespaces()
    lint = run_in(scratch.path, ["nox", "-s", "lint"], env=scratch.env, check=False)
    assert lint.returncode != 0 and "no secrets file for staging" in lint.stdout + lint.stderr


def test_plaintext_secrets_file(scratch):
    path = scratch.path / "hubs" / "epsilon" / "secrets" / "staging.yaml"
    path.write_text("jupyterhub:\n  hub:\n    cookieSecret: plaintext-oops\n")
    proc = scratch.invoke("deploy", "--hub", "epsilon", "--env", ENV, check=False)
    assert proc.returncode == 1
    line = error_line(proc)
    assert (
        "step secrets" in line
        and "hubs/epsilon/secrets/staging.yaml" in line
        and "no sops metadata" in line
    )
    assert "plaintext-oops" not in proc.output


def test_secrets_file_sops_cannot_decrypt(ops, tmp_path):
    other = tmp_path / "other-age.txt"
    subprocess.run(["age-keygen", "-o", str(other)], check=True, capture_output=True)
    proc = ops.invoke(
        "deploy",
        "--hub",
        "epsilon",
        "--env",
        ENV,
        check=False,
        env={"SOPS_AGE_KEY_FILE": str(other)},
    )
    assert proc.returncode == 1
    line = error_line(proc)
    assert "hubs/epsilon/secrets/staging.yaml: sops cannot decrypt it" in line
    assert_clean(proc)


def test_missing_image_tag_in_registry(scratch):
    (scratch.path / "images" / "default" / "requirements.txt").write_text("pytest==8.3.4\n")
    proc = scratch.invoke("deploy", "--hub", "epsilon", "--env", ENV, check=False)
    assert proc.returncode == 1
    line = error_line(proc)
    assert "step image" in line and "hub epsilon: image default tag" in line
    assert "invoke build --image default --push" in line and "--build" in line


def test_unreachable_cluster(ops, tmp_path):
    config = yaml.safe_load(ops.kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = "https://127.0.0.1:9"
    bad = tmp_path / "unreachable.yaml"
    bad.write_text(yaml.safe_dump(config))
    proc = ops.invoke(
        "deploy", "--hub", HUB, "--env", ENV, check=False, env={"FLEET_KUBECONFIG": str(bad)}
    )
    assert proc.returncode == 1
    line = error_line(proc)
    assert "step credentials: cluster main unreachable" in line
    assert_clean(proc)
