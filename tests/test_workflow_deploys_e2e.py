"""The generated deploy workflow (deploy.yaml, deploy-cluster.yaml), run by act on pushes, against
the session's clusters, registry, chart repository and real node (`workflowrun.py`).

One fleet on two clusters: `main` (the session cluster, with its real node) and `two` (the
second kwok cluster). Hub alpha runs on the real node; beta (on main) and gamma (on two) on kwok's
fake nodes. Each cluster's kubeconfig is sops-encrypted in the repo, read with the repository's
SOPS_AGE_KEY secret, as a real repository holds it. An operator deployed everything once
(`invoke deploy`, at the first commit); then, as the workflow on GitHub would:

1. a push to `staging` changing alpha's image and values plans alpha alone, builds its image into
   the registry, deploys main's support, then alpha, whose health check runs code on the real
   node; beta and gamma keep their revisions;
2. a push to `staging` breaking gamma's values fails cluster two's staging job only;
3. the merge of `staging` into `prod` deploys alpha's prod because its staging canary proved the
   same inputs, and skips gamma's, whose staging never did; main's prod job passes, two's fails.
"""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import urllib.request

import pytest
import yaml
from generated import GeneratedRepo, local_repo, on_the_real_node, remove_support
from workflowrun import Actions, Run

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

ON = {"alpha": "main", "beta": "main", "gamma": "two"}
TWO = "two"


def registry_tags(registry: str, repository: str) -> set[str]:
    with urllib.request.urlopen(f"http://{registry}/v2/{repository}/tags/list") as response:
        return set(json.load(response).get("tags") or [])


class Fleet:
    """The repo, its remote on the fake GitHub, and what each workflow run is given."""

    def __init__(
        self, repo: GeneratedRepo, ci: Actions, secrets: dict, env: dict, two: GeneratedRepo
    ):
        # `two`: the same repo, seen through cluster two's kubeconfig.
        self.repo, self.ci, self.secrets, self.env, self.two = repo, ci, secrets, env, two

    def push(self, branch: str) -> Run:
        """Push `branch` and run deploy.yaml for the push, as GitHub does."""
        run = self.ci.push_event(branch, "deploy.yaml", secrets=self.secrets, env=self.env)
        for value in self.secrets.values():
            assert value not in run.output, "a repository secret reached the run's log"
        return run

    def revisions(self) -> dict[str, int]:
        """The serving revision of each hub release (0: none), read from its own cluster."""
        found = {}
        for hub, cluster in ON.items():
            on = self.two if cluster == TWO else self.repo
            for env in ("staging", "prod"):
                served = [r for r in on.history(f"{hub}-{env}") if r["status"] == "deployed"]
                found[f"{hub}-{env}"] = served[-1]["revision"] if served else 0
        return found


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, local_stack, second_kubeconfig, real_node, node_images, act_ready):
    tmp = tmp_path_factory.mktemp("workflow-deploys")
    repo = local_repo(tmp / "bake", local_stack, org="Pushed", hubs=",".join(ON))
    # Every cluster from its cluster.yaml (the encrypted kubeconfig), as CI has it.
    del repo.env["FLEET_KUBECONFIG"]
    repo.kubeconfig_in_repo("main", local_stack.kubeconfig)
    repo.kubeconfig_in_repo(TWO, second_kubeconfig)
    for part in ("support.yaml", "secrets/support.yaml"):
        shutil.copy(repo.path / "clusters/main" / part, repo.path / "clusters" / TWO / part)
    repo.unpulled_image("beta", "gamma")
    gamma = repo.path / "hubs/gamma/hub.yaml"
    gamma.write_text(gamma.read_text().replace("cluster: main", f"cluster: {TWO}"))
    repo.edit_values("alpha", on_the_real_node)
    repo.commit("Three hubs on two clusters")
    repo.git("branch", "--force", "prod", "staging")
    repo.git("checkout", "--quiet", "staging")

    for kubeconfig in (local_stack.kubeconfig, second_kubeconfig):
        remove_support(local_stack.helm, kubeconfig)  # what earlier tests' fleets left
    two = GeneratedRepo(repo.path, repo.env, second_kubeconfig, repo.helm, repo.tmp)
    key = local_stack.age_secret_key()
    # The runners of this machine build from its local base image (no Docker Hub here).
    env = {"FLEET_BASE_IMAGE": local_stack.base_image}
    try:
        with repo.own_releases():
            # The operator's first deploy of everything but main's support, at this commit.
            repo.invoke("build", "--push")
            quick = ("--no-health-check", "--timeout", "5m")
            repo.invoke(
                "deploy", "--all", "--cluster", TWO, "--support", "--env", "staging", *quick
            )
            repo.invoke("deploy", "--hub", "alpha", "--hub", "beta", "--env", "staging", *quick)
            skip = ("--skip-canary", *quick)
            repo.invoke("deploy", "--hub", "beta", "--hub", "gamma", "--env", "prod", *skip)
            with Actions(repo.path, tmp / "ci") as ci:
                ci.push("staging", "prod")
                for branch in ("staging", "prod"):
                    repo.git("update-ref", f"refs/remotes/origin/{branch}", branch)
                yield Fleet(repo, ci, {"SOPS_AGE_KEY": key}, env, two)
    finally:
        helm = local_stack.helm
        with concurrent.futures.ThreadPoolExecutor() as pool:
            done = [pool.submit(two.remove_release, r) for r in ("gamma-staging", "gamma-prod")]
            done += [
                pool.submit(remove_support, helm, k)
                for k in (local_stack.kubeconfig, second_kubeconfig)
            ]
            for future in done:
                future.result()


def test_a_push_to_staging_builds_and_deploys_the_changed_hub_alone(fleet):
    repo = fleet.repo
    before = fleet.revisions()
    assert before == {
        "alpha-staging": 1, "alpha-prod": 0, "beta-staging": 1, "beta-prod": 1,
        "gamma-staging": 1, "gamma-prod": 1,
    }  # fmt: skip
    dockerfile = repo.path / "images/default/Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "ENV FLEET_E2E_CHANGE=1\n")
    repo.edit_values("alpha", lambda v: v["singleuser"].update(memory={"limit": "2G"}))
    repo.commit("alpha: a new image and a memory limit")

    run = fleet.push("staging")
    assert run.ok, str(run)
    # The plan: alpha's staging and main's support, nothing else; its table in the job summary.
    assert "| alpha | staging | main |" in run.output, str(run)
    for other in ("beta", "gamma"):
        assert f"| {other} |" not in run.output, str(run)
    # The build job pushed the image's new tag to the local registry, which alpha now runs.
    labels = repo.release_labels("alpha-staging", 2)
    old_tag = repo.release_labels("alpha-staging", 1)["fleet-image-tag"]
    assert labels["fleet-image-tag"] != old_tag
    registry = yaml.safe_load((repo.path / "fleet.yaml").read_text())["registry"]
    host, _, owner = registry.partition("/")
    assert labels["fleet-image-tag"] in registry_tags(host, f"{owner}/default")
    assert "build default" in run.output, str(run)
    # main's support first, then alpha, whose health check ran code on the real node.
    assert "main/support: deployed revision 1" in run.output, str(run)
    assert "alpha/staging: deployed revision 2" in run.output, str(run)
    assert run.output.index("main/support: deployed") < run.output.index("alpha/staging: deployed")
    assert "health check passed" in run.output, str(run)
    assert labels["fleet-health"] == "passed" and labels["fleet-health-revision"] == "2"
    assert labels["fleet-commit"] == repo.git("rev-parse", "HEAD")
    # The job's checkout holds the downloaded plan and its results file: still a clean deploy,
    # so the next push does not plan alpha again.
    assert labels["fleet-dirty"] == "false", labels
    after = fleet.revisions()
    assert after == {**before, "alpha-staging": 2}, after
    # The labels of the PR the push came from were asked for (none here).
    asked = fleet.ci.github.sent("GET", rf"/repos/{fleet.ci.name}/commits/[0-9a-f]+/pulls")
    assert asked, fleet.ci.github.requests


def test_a_push_breaking_a_hub_on_one_cluster_fails_that_clusters_staging_only(fleet):
    repo = fleet.repo
    before = fleet.revisions()
    repo.edit_values("gamma", lambda v: v["hub"].update(notAChartKey=True))
    repo.commit("gamma: a value the chart refuses")
    run = fleet.push("staging")
    assert not run.ok, str(run)
    assert "| gamma | staging | two |" in run.output, str(run)
    assert "gamma/staging: FAILED" in run.output, str(run)
    assert "| alpha |" not in run.output, str(run)
    assert fleet.revisions() == before


def test_the_merge_into_prod_deploys_what_staging_proved_and_skips_the_rest(fleet):
    repo = fleet.repo
    before = fleet.revisions()
    repo.git("checkout", "--quiet", "prod")
    repo.git("merge", "--quiet", "--no-ff", "-m", "Merge staging into prod", "staging")
    run = fleet.push("prod")
    repo.git("checkout", "--quiet", "staging")
    # Two's prod job fails (gamma skipped); main's deploys alpha.
    assert not run.ok, str(run)
    assert "alpha/prod: deployed revision 1" in run.output, str(run)
    assert "hub gamma: staging revision 1 has no health check of its own" in run.output, str(run)
    labels = repo.release_labels("alpha-prod", 1)
    assert "fleet-canary" not in labels, labels  # deployed on the canary's proof, not skipped
    assert labels["fleet-health"] == "passed"
    assert fleet.revisions() == {**before, "alpha-prod": 1}
