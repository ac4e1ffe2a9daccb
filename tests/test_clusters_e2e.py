"""End to end: one fleet on two local clusters, `a` and `a-2` (names that share a prefix).

A many-hub deploy goes cluster by cluster: staging, then prod; a staging hub that fails skips
the prod hubs of its own cluster only, and names are matched exactly (a failure on `a` never
holds back `a-2`). Hubs run on kwok's fake nodes, so the canary's health record cannot exist:
these deploys pass --skip-canary, which the canary's own test (on the real node) covers.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from conftest import SESSION_DIR
from generated import GeneratedRepo, assert_clean, local_repo

from toolchain import chartrepo

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
    for name in ("a", "a-2"):  # support values and secrets, as `invoke new-cluster` makes them
        for part in ("support.yaml", "secrets/support.yaml"):
            (repo.path / "clusters" / name / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(repo.path / "clusters/main" / part, repo.path / "clusters" / name / part)
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
    started = re.findall(r"==> \[(\S+)\] credentials: ", proc.stderr)
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


def test_the_workflows_jobs_skip_prod_only_on_the_cluster_whose_staging_failed(ops):
    """What deploy.yaml runs, job by job, from the plan's matrices: staging per cluster writes its
    results; prod per cluster reads its own cluster's (`--after`) in a separate process."""
    ops.edit_values("ha", lambda v: v.setdefault("hub", {}).update(nodeSelector={"pool": "none"}))
    ops.commit("e2e: ha cannot be scheduled")
    plan = ops.path / "plan.json"
    plan.write_text(ops.invoke("plan", "--label", "deploy:all", "--json").stdout)
    jobs = json.loads(plan.read_text())["jobs"]
    assert jobs == {
        "staging": [
            {"cluster": "a", "provider": "kubeconfig", "after": ""},
            {"cluster": "a-2", "provider": "kubeconfig", "after": ""},
        ],
        "prod": [
            {"cluster": "a", "provider": "kubeconfig", "after": "staging"},
            {"cluster": "a-2", "provider": "kubeconfig", "after": "staging"},
        ],
    }
    done = {}
    for env in ("staging", "prod"):
        for job in jobs[env]:
            cluster, after = job["cluster"], job["after"]
            args = ["--env", env, "--plan", str(plan), "--cluster", cluster]
            args += ["--results", f"results-{env}-{cluster}.json"]
            if after:
                args += ["--after", f"results-{after}-{cluster}.json"]
            done[(env, cluster)] = ops.invoke(
                "deploy", *args, "--skip-canary", "--timeout", "20s", check=False
            )
    assert done[("staging", "a")].returncode == 1
    assert "FAILED  ha/staging" in done[("staging", "a")].stdout
    assert done[("staging", "a-2")].returncode == 0
    prod_a = done[("prod", "a")]
    assert prod_a.returncode == 1
    for hub in ("ha", "hc"):
        assert (
            f"SKIPPED {hub}/prod: skipped: staging hub ha of cluster a failed "
            "(results-staging-a.json)" in prod_a.stdout
        ), prod_a.stdout
    assert "==> [" not in prod_a.stderr  # nothing of cluster a's prod was tried
    prod_a2 = done[("prod", "a-2")]
    assert prod_a2.returncode == 0, prod_a2.stdout[-2000:] + prod_a2.stderr[-2000:]
    assert "ok      hb/prod: deployed" in prod_a2.stdout
    results = json.loads((ops.path / "results-prod-a.json").read_text())["results"]
    assert {(r["hub"], r["result"]) for r in results} == {("ha", "skipped"), ("hc", "skipped")}
    for name in ops.path.glob("results-*.json"):
        name.unlink()
    plan.unlink()
    ops.revert()


def crds_on(kubeconfig) -> set[str]:
    argv = ["kubectl", "--kubeconfig", str(kubeconfig), "get", "crds", "-o", "name"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return {line.split("/", 1)[1] for line in out.split()}


def test_support_deploys_first_on_each_cluster_with_its_crds(ops, local_stack, second_kubeconfig):
    proc = ops.invoke(
        "deploy", "--all", "--env", "staging", "--support", "--timeout", "60s", check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "ok      a/support: deployed revision 1" in proc.stdout
    assert "ok      a-2/support: deployed revision 1" in proc.stdout
    started = re.findall(r"==> \[(\S+)\] credentials: ", proc.stderr)
    assert max(started.index("a/support"), started.index("a-2/support")) < min(
        started.index(f"{hub}/staging") for hub in ON
    )
    # Each cluster's credentials are made once for the run (2 clusters, 5 releases), then removed.
    reused = re.findall(r"\] credentials of cluster (\S+): made earlier in this run", proc.stderr)
    assert sorted(reused) == ["a", "a", "a-2"], proc.stderr
    assert "progress: 5/5 done (5 deployed, 0 failed, 0 skipped); 0 running" in proc.stderr
    assert_clean(proc)
    for kubeconfig in (local_stack.kubeconfig, second_kubeconfig):
        assert "certificates.cert-manager.io" in crds_on(kubeconfig)
    status = ops.invoke("status").stdout
    assert re.search(r"│ a-2\s+│ 1\s+│ deployed\s+│ yes", status), status


def test_a_failed_support_deploy_skips_the_hubs_of_its_cluster_only(ops):
    support = ops.path / "clusters/a/support.yaml"
    support.write_text(support.read_text() + "grafana:\n  enabled: maybe\n")
    ops.commit("e2e: support values helm refuses on cluster a")
    proc = ops.invoke("deploy", "--all", "--env", "staging", "--support", check=False)
    assert proc.returncode == 1
    out = proc.stdout
    assert "FAILED  a/support: FAILED at step helm upgrade" in out
    for hub in ("ha", "hc"):
        assert f"SKIPPED {hub}/staging: skipped: the support deploy of cluster a failed" in out, out
    assert "ok      a-2/support" in out and "ok      hb/staging" in out
    assert "progress: 5/5 done (2 deployed, 1 failed, 2 skipped); 0 running" in proc.stderr
    ops.revert()


def test_a_crd_change_in_a_support_dependency_reaches_the_cluster_on_upgrade(
    ops, local_stack, chart_repo, tmp_path
):
    """helm installs a dependency's crds/ once and never upgrades them: the deploy applies them."""
    changed = tmp_path / "cert-manager"
    shutil.copytree(chartrepo.SUPPORT_DIR / "cert-manager", changed)
    orders = (changed / "crds/issuers.yaml").read_text().replace("Issuer", "Order")
    (changed / "crds/orders.yaml").write_text(orders.replace("issuer", "order"))
    serving = SESSION_DIR / "charts"
    chartrepo.package_support(local_stack.helm, "cert-manager", "v1.17.3", serving, changed)
    helm = str(local_stack.helm)
    subprocess.run([helm, "repo", "index", str(serving), "--url", chart_repo], check=True)
    chart = ops.path / "support/Chart.yaml"
    chart.write_text(chart.read_text().replace('"v1.17.2"', '"v1.17.3"'))
    subprocess.run([helm, "dependency", "update", str(ops.path / "support")], check=True)
    ops.commit("e2e: cert-manager v1.17.3, with a new CRD")
    assert "orders.cert-manager.io" not in crds_on(local_stack.kubeconfig)
    proc = ops.invoke("deploy", "--support", "--cluster", "a")
    assert "a/support: deployed revision" in proc.stdout
    assert "orders.cert-manager.io" in crds_on(local_stack.kubeconfig)


@pytest.mark.parametrize(
    ("path", "support", "hubs"),
    [
        ("support/values.yaml", {"a", "a-2"}, set()),
        ("clusters/a/support.yaml", {"a"}, set()),
        ("clusters/a-2/cluster.yaml", {"a-2"}, {("hb", "staging"), ("hb", "prod")}),
    ],
)
def test_the_plan_of_a_support_or_cluster_change(ops, path, support, hubs):
    target = ops.path / path
    target.write_text(target.read_text() + "\n# e2e: a change\n")
    ops.commit(f"e2e: change {path}")
    data = ops.plan("--base", "HEAD~1")
    assert {entry["cluster"] for entry in data["support"]} == support
    assert {(entry["hub"], entry["env"]) for entry in data["deploy"]} == hubs
    ops.revert()


def test_the_plan_against_the_live_support_releases(ops):
    """What the deploy workflow plans (--base deployed): each cluster's support against the
    commit its live support release records."""
    proc = ops.invoke("deploy", "--all", "--env", "staging", "--support", "--skip-canary")
    assert "ok      a/support" in proc.stdout and "ok      a-2/support" in proc.stdout
    data = ops.plan("--base", "deployed")
    assert data["support"] == []
    target = ops.path / "clusters/a-2/support.yaml"
    target.write_text(target.read_text() + "\n# e2e: a change\n")
    ops.commit("e2e: a-2's support values")
    data = ops.plan("--base", "deployed")
    assert [(e["cluster"], e["reasons"]) for e in data["support"]] == [
        ("a-2", ["support values of a-2 changed: clusters/a-2/support.yaml"])
    ]
    # Every live release records a clean commit (the plan file these deploys read is not a
    # change): nothing but a-2's support is planned.
    assert data["deploy"] == [] and data["jobs"]["prod"] == [], data
    # With a prod-only change on each cluster too: staging is live everywhere, so only a-2's
    # support runs in the first level; each cluster's prod job runs, a-2's after its first level.
    for hub in ("ha", "hb"):
        prod = ops.path / "hubs" / hub / "prod.yaml"
        prod.write_text(prod.read_text() + "\n# e2e: a prod change\n")
    ops.commit("e2e: prod changes of ha (on a) and hb (on a-2)")
    data = ops.plan("--base", "deployed")
    assert {(e["hub"], e["env"]) for e in data["deploy"]} == {("ha", "prod"), ("hb", "prod")}
    assert data["jobs"]["staging"] == [{"cluster": "a-2", "provider": "kubeconfig", "after": ""}]
    assert data["jobs"]["prod"] == [
        {"cluster": "a", "provider": "kubeconfig", "after": ""},
        {"cluster": "a-2", "provider": "kubeconfig", "after": "staging"},
    ]
    ops.revert()
    ops.git("revert", "--no-edit", "HEAD~2")
