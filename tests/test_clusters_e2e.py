"""End to end: one fleet on two local clusters, `a` and `a-2` (names that share a prefix).

A many-hub deploy goes cluster by cluster: staging, then prod; a staging hub that fails skips
the prod hubs of its own cluster only, and names are matched exactly (a failure on `a` never
holds back `a-2`). Hubs run on kwok's fake nodes, so the canary's health record cannot exist:
these deploys pass --skip-canary, which the canary's own test (on the real node) covers.
"""

from __future__ import annotations

import json
import re

import pytest
from generated import GeneratedRepo, local_repo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ON = {"ha": "a", "hc": "a", "hb": "a-2"}


def on_cluster(repo: GeneratedRepo, name: str, kubeconfig) -> None:
    folder = repo.path / "clusters" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cluster.yaml").write_text(
        f"provider: kubeconfig\nkubeconfig:\n  path: {kubeconfig}\n"
    )


@pytest.fixture(scope="module")
def ops(tmp_path_factory, local_stack, second_kubeconfig):
    repo = local_repo(
        tmp_path_factory.mktemp("clusters-e2e"), local_stack, org="Clusters", hubs=",".join(ON)
    )
    on_cluster(repo, "a", local_stack.kubeconfig)
    on_cluster(repo, "a-2", second_kubeconfig)
    for hub, cluster in ON.items():
        repo.unpulled_image(hub)
        path = repo.path / "hubs" / hub / "hub.yaml"
        path.write_text(path.read_text().replace("cluster: main", f"cluster: {cluster}"))
    repo.git("rm", "-r", "-q", "clusters/main")
    # Each cluster's own kubeconfig, from its cluster.yaml: no override for all of them.
    del repo.env["FLEET_KUBECONFIG"]
    repo.commit("e2e: clusters a and a-2")
    with repo.own_releases():
        yield repo


def deploy_everything(ops: GeneratedRepo, *args: str):
    plan = ops.path / "plan.json"
    plan.write_text(ops.invoke("plan", "--label", "deploy:all", "--json").stdout)
    assert {e["env"] for e in json.loads(plan.read_text())["deploy"]} == {"staging", "prod"}
    return ops.invoke(
        "deploy", "--plan", str(plan), "--skip-canary", "--timeout", "20s", *args, check=False
    )


def test_everything_deploys_cluster_by_cluster_staging_before_prod(ops):
    proc = deploy_everything(ops)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "6 deployed, 0 failed, 0 skipped" in proc.stdout
    started = re.findall(r"==> \[(\S+)\] credentials", proc.stderr)
    assert sorted(started) == sorted(f"{h}/{e}" for h in ON for e in ("staging", "prod"))
    assert started.index("ha/prod") > started.index("ha/staging")
    assert max(started.index(f"{h}/staging") for h in ON) < min(
        started.index(f"{h}/prod") for h in ON
    )


def test_a_staging_hub_failing_on_a_skips_the_prod_hubs_of_a_only(ops):
    """`a` and `a-2` share a prefix: the reference deployer's substring match held back both."""
    ops.edit_values("ha", lambda v: v.setdefault("hub", {}).update(nodeSelector={"pool": "none"}))
    ops.commit("e2e: ha cannot be scheduled")
    proc = deploy_everything(ops)
    assert proc.returncode == 1
    out = proc.stdout
    assert "FAILED  ha/staging: FAILED at step helm upgrade" in out
    for hub in ("ha", "hc"):
        assert f"SKIPPED {hub}/prod: skipped: staging hub ha of cluster a failed" in out, out
    assert "ok      hc/staging: deployed" in out
    assert "ok      hb/staging: deployed" in out and "ok      hb/prod: deployed" in out
    assert "3 deployed, 1 failed, 2 skipped" in out
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: deploy failed for ha/staging; skipped: ha/prod, hc/prod (of 6)"
    )
    ops.revert()
