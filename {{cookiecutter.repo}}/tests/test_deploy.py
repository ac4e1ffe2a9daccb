"""Unit tests of fleet.deploy's pure parts and of its early, tool-free failures, and fleet.status rows."""

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import write

from fleet.core import config
from fleet.core.errors import FleetError
from fleet.core.runner import Runner
from fleet.core.target import Target
from fleet.ops import status
from fleet.release import deploy, release, rollout
from fleet.tools import images


def test_options_from_env_and_flags():
    env = {
        "FLEET_TIMEOUT": "45s",
        "FLEET_KUBECONFIG": "/k",
        "FLEET_CONTEXT": "c",
        "FLEET_HELM": "helm3",
    }
    options = release.DeployOptions.from_env(env)
    assert (options.timeout, options.kubeconfig, options.context, options.helm) == (
        "45s",
        "/k",
        "c",
        "helm3",
    )
    options = release.DeployOptions.from_env(env, timeout="2m", kubeconfig=None, rollback=False)
    assert (options.timeout, options.kubeconfig, options.rollback) == ("2m", "/k", False)
    assert release.DeployOptions.from_env({}).timeout == "10m"
    assert release.DeployOptions.from_env({}).helm == "helm"


def test_split_image():
    assert images.split_image("127.0.0.1:5000/x/y:abc") == ("127.0.0.1:5000/x/y", "abc")
    assert images.split_image("quay.io/a/b:1.0") == ("quay.io/a/b", "1.0")
    name, tag = images.split_image("quay.io/a/b@sha256:" + "0" * 64)
    assert name == "quay.io/a/b" and f"{name}:{tag}".endswith("@sha256:" + "0" * 64)


@pytest.fixture
def fleet(tmp_path: Path):
    write(
        tmp_path / "fleet.yaml",
        "registry: 127.0.0.1:9/org\ndomain: hubs.example.org\nsecrets_backend: age\n",
    )
    write(
        tmp_path / "clusters/main/cluster.yaml",
        "provider: kubeconfig\nkubeconfig: {path: /nonexistent}\n",
    )
    write(tmp_path / "images/default/Dockerfile", "FROM x\n")
    write(tmp_path / "hubs/alpha/hub.yaml", "cluster: main\nimage: default\n")
    write(tmp_path / "hubs/alpha/secrets/staging.yaml", "sops: {}\n")
    write(
        tmp_path / "hubs/beta/hub.yaml",
        "cluster: main\nexternal_image: quay.io/a/b:1.0\nenvironments: [staging]\n",
    )
    write(
        tmp_path / "hubs/gamma/hub.yaml",
        "cluster: main\nexternal_image: quay.io/a/b:1.0\nsecrets: false\n",
    )
    return config.load(tmp_path)


@pytest.mark.parametrize(
    ("hub", "env", "message"),
    [
        ("delta", "staging", "unknown hub 'delta'; valid hubs: alpha, beta, gamma"),
        ("beta", "prod", "unknown env 'prod' for hub 'beta'; valid envs: staging"),
    ],
)
def test_a_target_the_fleet_lacks_is_refused_before_any_step(fleet, hub, env, message):
    with pytest.raises(FleetError, match=re.escape(message)):
        Target.of_hub(fleet, hub, env)


@pytest.mark.parametrize(
    ("hub", "env", "step", "message"),
    [
        ("alpha", "staging", "credentials", "kubeconfig /nonexistent not found"),
        ("alpha", "prod", "validate", "hub alpha: no secrets file for prod ("),
        ("gamma", "prod", "credentials", "kubeconfig /nonexistent not found"),
    ],
)
def test_failures_name_the_step_and_never_raise(fleet, hub, env, step, message):
    target = Target.of_hub(fleet, hub, env)
    result = deploy.deploy(target, release.DeployOptions(), Runner(echo=False))
    assert not result.ok
    assert result.step == step
    assert message in result.error
    assert "\n" not in result.error
    assert f"FAILED at step {step}" in result.summary()


def test_bad_timeout_is_a_validation_error(fleet):
    target = Target.of_hub(fleet, "alpha", "staging")
    result = deploy.deploy(target, release.DeployOptions(timeout="soon"), Runner())
    assert (result.ok, result.step) == (False, "validate")
    assert "timeout 'soon'" in result.error


def test_status_row():
    latest = {
        "revision": 4,
        "status": "failed",
        "commit": "a" * 40,
        "image": "r/i:t",
        "updated": "2025-01-02T03:04:05.1Z",
    }
    serving = {"revision": 3, "status": "deployed"}
    row = status.row("alpha", "staging", "alpha-staging", latest, serving)
    assert row.cells() == [
        "alpha",
        "staging",
        "alpha-staging",
        "4",
        "failed (serving 3)",
        "-",
        "",
        "r/i:t",
        "a" * 12,
        "2025-01-02 03:04:05",
    ]
    assert status.row("beta", "prod", "beta-prod", None, None).status == "not installed"


def test_status_row_says_which_workloads_are_not_ready_and_who_holds_the_lock():
    latest = {"revision": 2, "status": "deployed", "commit": "b" * 40, "image": "i"}
    row = status.row("a", "prod", "a-prod", latest, None, "ci pid 7", ["deployment/hub 0/1"])
    assert row.status == "deployed; deploy lock held by ci pid 7"
    assert row.ready == "no: deployment/hub 0/1"
    assert status.row("a", "prod", "a-prod", latest, None, None, []).ready == "yes"


def test_not_ready_names_each_lagging_workload_with_its_counts():
    workloads = {"deployment/hub": (1, 1), "deployment/user-scheduler": (1, 2)}
    assert rollout.not_ready(workloads) == ["deployment/user-scheduler 1/2"]
    latest = {"revision": 2, "status": "deployed", "commit": "b" * 40, "image": "i"}
    row = status.row("a", "prod", "a-prod", latest, None, users="scheduler 1/2, placeholders 0/0")
    assert row.cells()[6] == "scheduler 1/2, placeholders 0/0"


@pytest.mark.parametrize(
    ("revisions", "before", "said"),
    [
        # helm refused the upgrade (another operation in progress): no revision was made.
        ([{"revision": 4, "status": "deployed"}], 4, "serving now (unchanged, the upgrade made"),
        (
            [
                {"revision": 4, "status": "superseded"},
                {"revision": 5, "status": "failed"},
                {"revision": 6, "status": "deployed", "description": "Rollback to 4"},
            ],
            4,
            "serving now (rolled back): revision 6",
        ),
        # --no-rollback and a rollout that failed: the new revision is deployed, not serving well.
        (
            [{"revision": 4, "status": "superseded"}, {"revision": 5, "status": "deployed"}],
            4,
            "revision 5 of alpha-staging is deployed, but it did not roll out",
        ),
    ],
)
def test_what_serves_after_a_failure_says_rolled_back_only_after_a_rollback(
    revisions, before, said
):
    """Before, any deployed newest revision was reported as "serving now (rolled back)"."""
    line = deploy._serving_after_failure(
        revisions, "alpha-staging", release.DeployOptions(), before
    )
    assert line.startswith(said), line


def test_steps_time_each_step_with_the_cpu_of_the_commands_it_ran():
    steps = release.Steps("alpha", "staging")
    steps("burn", "a child process that computes")
    subprocess.run([sys.executable, "-c", "sum(range(4 * 10**7))"], check=True)
    steps("wait", "sleeping costs no CPU")
    time.sleep(0.3)
    timings = steps.finish()
    assert [name for name, _, _ in timings] == ["validate", "burn", "wait"]
    _, burn_wall, burn_cpu = timings[1]
    _, wait_wall, wait_cpu = timings[2]
    assert burn_cpu >= 0.3 and burn_cpu <= burn_wall + 0.05
    assert wait_wall >= 0.3 and wait_cpu < 0.1
