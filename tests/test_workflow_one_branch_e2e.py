"""The deploy workflow of a one-branch fleet (`promotion: one-branch`), run by act on a push to
`main` against the session's cluster, registry, chart repository and real node (`workflowrun.py`).

One hub, solo, on the real node; nothing deployed yet. The first push to `main` plans the
cluster's support and both of solo's environments, then runs, per cluster: support, solo's
staging with its health check, and only after that job, solo's prod, on its staging canary's
proof (the same inputs, health passed, in this run).
"""

from __future__ import annotations

import pytest
from generated import local_repo, on_the_real_node, remove_support
from workflowrun import Actions

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]


def test_a_push_to_main_deploys_support_then_staging_then_prod(
    tmp_path, local_stack, real_node, node_images, act_ready
):
    repo = local_repo(
        tmp_path / "bake", local_stack, org="Onebranch", hubs="solo", promotion="one-branch"
    )
    del repo.env["FLEET_KUBECONFIG"]
    repo.kubeconfig_in_repo("main", local_stack.kubeconfig)
    repo.edit_values("solo", on_the_real_node)
    repo.commit("One hub on the real node")
    assert repo.git("branch", "--show-current") == "main"
    assert repo.git("branch", "--list", "staging", "prod") == ""
    secrets = {"SOPS_AGE_KEY": local_stack.age_secret_key()}
    env = {"FLEET_BASE_IMAGE": local_stack.base_image}
    remove_support(local_stack.helm, local_stack.kubeconfig)  # what earlier tests' fleets left
    try:
        with repo.own_releases(), Actions(repo.path, tmp_path / "ci") as ci:
            run = ci.push_event("main", "deploy.yaml", secrets=secrets, env=env)
            assert run.ok, str(run)
            for value in secrets.values():
                assert value not in run.output, "a repository secret reached the run's log"
            # One plan for every environment: main's support and both of solo's releases.
            assert "| solo | staging | main |" in run.output, str(run)
            assert "| solo | prod | main |" in run.output, str(run)
            # Support, then staging (health checked), then prod, each in its turn.
            order = [
                "main/support: deployed revision 1",
                "solo/staging: deployed revision 1",
                "solo/prod: deployed revision 1",
            ]
            at = [run.output.find(line) for line in order]
            assert -1 not in at and at == sorted(at), (at, str(run))
            staging = repo.release_labels("solo-staging", 1)
            prod = repo.release_labels("solo-prod", 1)
            assert staging["fleet-health"] == "passed", staging
            # prod went on the canary's proof: the same inputs, not a skipped check.
            assert "fleet-canary" not in prod and prod["fleet-health"] == "passed", prod
            assert staging["fleet-commit"] == prod["fleet-commit"] == repo.git("rev-parse", "HEAD")
    finally:
        remove_support(local_stack.helm, local_stack.kubeconfig)
