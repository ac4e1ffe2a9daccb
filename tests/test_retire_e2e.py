"""End to end: hubs removed or renamed in the repository are found live, and retired on request.

Before the fleet labels, `status` no longer showed a removed hub's release, the plan said only
"hub 'x' is not in the fleet (removed?)", and nothing said how to remove the release.
"""

from __future__ import annotations

import pytest
from generated import assert_clean, local_repo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ENV = "staging"


@pytest.fixture(scope="module")
def ops(tmp_path_factory, local_stack):
    repo = local_repo(
        tmp_path_factory.mktemp("retire-e2e"), local_stack, org="Retire", hubs="rho,tau"
    )
    repo.unpulled_image("rho", "tau")
    repo.commit("e2e: sqlite-memory hub database, an image nothing pulls")
    with repo.own_releases():
        repo.invoke("deploy", "--hub", "rho", "--hub", "tau", "--env", ENV)
        yield repo


def test_releases_carry_the_fleet_hub_env_and_cluster_labels(ops):
    labels = ops.release_labels("tau-staging", ops.serving("tau-staging")["revision"])
    assert labels["fleet-name"] == "retire-hubs"
    assert (labels["fleet-hub"], labels["fleet-env"], labels["fleet-cluster"]) == (
        "tau",
        "staging",
        "main",
    )


def test_a_removed_hub_is_listed_once_by_status_with_what_to_do(ops):
    ops.git("rm", "-r", "-q", "hubs/tau")
    ops.commit("e2e: hub tau is gone")
    out = ops.invoke("status").stdout
    line = (
        "release tau-staging on cluster main: hub tau is not in the repository (removed or "
        "renamed); `invoke retire --hub tau --env staging --cluster main`"
    )
    assert out.count(line) == 1, out
    assert "rho-staging" not in out.split("belong to no hub")[1]

    # The plan of the commit that removed it says so once (not once per file of the hub) ...
    planned = ops.invoke("plan", "--base", "HEAD~1").stdout
    assert planned.count("hub 'tau' is not in the repository (removed or renamed)") == 1, planned
    assert "invoke retire --hub tau --env ENV" in planned
    # ... and the plan against what is deployed lists the release, once, with the command.
    data = ops.plan("--base", "deployed")
    assert data["orphans"] == [
        {
            "cluster": "main",
            "release": "tau-staging",
            "hub": "tau",
            "env": "staging",
            "why": "hub tau is not in the repository (removed or renamed)",
            "retire": "invoke retire --hub tau --env staging --cluster main",
        }
    ]


def test_retire_refuses_a_hub_the_repository_still_deploys(ops):
    proc = ops.invoke("retire", "--hub", "rho", "--env", ENV, "--yes", check=False)
    assert proc.returncode == 1
    assert "hub rho is still in the repository for staging on cluster main" in proc.stderr
    assert ops.serving("rho-staging")["status"] == "deployed"


def test_retire_shows_what_goes_and_asks_unless_told_not_to(ops):
    dry = ops.invoke("retire", "--hub", "tau", "--env", ENV, "--delete-namespace", "--dry-run")
    assert "retire tau/staging removes:" in dry.stdout
    assert "release tau-staging on cluster main: revision 1 (deployed)" in dry.stdout
    assert "namespace tau-staging and everything in it" in dry.stdout
    assert "dry run: nothing removed" in dry.stdout
    unasked = ops.invoke("retire", "--hub", "tau", "--env", ENV, check=False)
    assert unasked.returncode == 1
    assert "stdin is not a terminal: pass --yes" in unasked.stderr
    assert ops.serving("tau-staging")["status"] == "deployed"


def test_retire_removes_the_release_and_its_namespace(ops):
    proc = ops.invoke("retire", "--hub", "tau", "--env", ENV, "--delete-namespace", "--yes")
    assert "tau/staging: retired with its namespace" in proc.stdout
    assert "tau-staging" not in ops.namespaces()
    assert "belong to no hub" not in ops.invoke("status").stdout
    assert_clean(proc)


def test_a_renamed_hub_leaves_an_orphan_under_its_old_name(ops):
    ops.git("mv", "hubs/rho", "hubs/rhoo")
    ops.commit("e2e: hub rho renamed rhoo")
    out = ops.invoke("status").stdout
    assert "release rho-staging on cluster main: hub rho is not in the repository" in out
    assert "rhoo" in out and "not installed" in out
    ops.invoke("retire", "--hub", "rho", "--env", ENV, "--yes")
    assert ops.namespaces(also=["rho-staging"]) == ["rho-staging"]  # kept: no --delete-namespace
    assert "belong to no hub" not in ops.invoke("status").stdout
