"""End to end: a generated repo's own `invoke plan` and multi-hub `invoke deploy`, with real git
commits, the real chart (helm template), sops and the local kwok cluster.

The tests share one generated repo and build on each other's commits and releases, in order.
Its hubs (alpha, beta, gamma) are its own: no other module deploys them; removed at the end.
"""

from __future__ import annotations

import base64

import pytest
from bake import run_in
from generated import decrypted, local_repo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

HUBS = ("alpha", "beta", "gamma")
EXTERNAL = "quay.io/jupyter/base-notebook:2025-03-14"


def deployed(data: dict) -> set[tuple[str, str]]:
    return {(d["hub"], d["env"]) for d in data["deploy"]}


@pytest.fixture(scope="module")
def repo(tmp_path_factory, local_stack):
    result = local_repo(
        tmp_path_factory.mktemp("plan-e2e"),
        local_stack,
        org="Plan",
        hubs=",".join(HUBS),
    )
    path = result.path
    # gamma runs an image built elsewhere, so an image change must leave it out.
    (path / "hubs" / "gamma" / "hub.yaml").write_text(
        f"cluster: main\nexternal_image: {EXTERNAL}\n"
    )
    result.commit("e2e: sqlite-memory hub database; gamma on an external image")
    with result.own_releases():
        yield result


def test_every_generated_file_is_classified_by_a_rule(repo):
    code = (
        "import subprocess, sys\n"
        "from fleet.plan.rules import UNCLASSIFIED, classify\n"
        "files = subprocess.run(['git', 'ls-files'], capture_output=True, text=True).stdout.split()\n"
        "print('\\n'.join(f for f in files if classify(f).reason == UNCLASSIFIED))\n"
    )
    proc = run_in(repo.path, ["python", "-c", code])
    assert proc.stdout.strip() == ""


def test_a_hub_values_change_plans_only_that_hub(repo):
    repo.edit_values("alpha", lambda v: v.setdefault("singleuser", {}).update(defaultUrl="/tree"))
    repo.commit("alpha: classic notebook")
    data = repo.plan()
    assert deployed(data) == {("alpha", "staging"), ("alpha", "prod")}
    assert data["build"] == []
    assert data["deploy"][0]["reasons"] == ["hub alpha changed: hubs/alpha/values.yaml"]
    staging = repo.plan("--env", "staging")
    assert deployed(staging) == {("alpha", "staging")}


def test_a_shared_chart_change_plans_every_hub(repo):
    values = repo.path / "chart" / "values.yaml"
    values.write_text(values.read_text() + "# a comment changes the chart too\n")
    repo.commit("chart: comment")
    data = repo.plan()
    assert deployed(data) == {(h, e) for h in HUBS for e in ("staging", "prod")}
    assert all(d["reasons"] == ["shared chart changed: chart/values.yaml"] for d in data["deploy"])


def test_an_image_change_builds_it_and_plans_its_hubs(repo):
    before = repo.plan("--label", "deploy:all")["build"]
    requirements = repo.path / "images" / "default" / "requirements.txt"
    requirements.write_text(requirements.read_text() + "# touched\n")
    repo.commit("image: touch requirements")
    data = repo.plan()
    assert deployed(data) == {(h, e) for h in ("alpha", "beta") for e in ("staging", "prod")}
    assert [b["image"] for b in data["build"]] == ["default"]
    assert data["build"][0]["reasons"] == ["image default changed: images/default/requirements.txt"]
    # The tag is the hash of the build context: it moved with the change.
    assert [b["image"] for b in before] == ["default"] and before[0]["tag"] != data["build"][0][
        "tag"
    ]


def test_labels_and_an_unknown_base(repo):
    assert repo.plan("--label", "deploy:skip") == {
        "support": [],
        "deploy": [],
        "build": [],
        "jobs": {"staging": [], "prod": []},
        "notes": ["label deploy:skip: nothing is deployed"],
    }
    every = repo.plan("--label", "deploy:all", "--env", "prod")
    assert deployed(every) == {(h, "prod") for h in HUBS}
    unknown = repo.plan("--base", "0" * 39 + "1")
    assert deployed(unknown) == {(h, e) for h in HUBS for e in ("staging", "prod")}
    assert "not found" in unknown["deploy"][0]["reasons"][0]


def test_the_markdown_comment_has_marker_table_and_diff_but_no_secret(repo, age_key, tmp_path):
    repo.edit_values(
        "beta",
        lambda v: (
            v.setdefault("proxy", {})
            .setdefault("service", {})
            .update(annotations={"e2e.example.org/plan": "beta"})
        ),
    )
    repo.commit("beta: annotate the proxy service")
    comment = tmp_path / "comment.md"
    repo.invoke("plan", "--markdown", str(comment))
    text = comment.read_text()
    assert text.startswith("<!-- deployment-plan -->\n")
    assert "| hub | env | cluster | reasons |" in text
    assert "| beta | staging | main | hub beta changed: hubs/beta/values.yaml |" in text
    assert "<details><summary>beta (staging)" in text and "```diff" in text
    added = [
        line for line in text.splitlines() if line.startswith("+") and not line.startswith("+++")
    ]
    assert any("e2e.example.org/plan: beta" in line for line in added), text
    for env in ("staging", "prod"):
        path = repo.path / "hubs" / "beta" / "secrets" / f"{env}.yaml"
        secrets = decrypted(path, age_key.key_file)["jupyterhub"]
        for value in (secrets["hub"]["cookieSecret"], secrets["proxy"]["secretToken"]):
            assert len(value) >= 16
            assert value not in text
            assert base64.b64encode(value.encode()).decode() not in text


def test_deploy_jobs_2_one_broken_hub_does_not_stop_the_others(repo):
    repo.invoke("build", "--push")
    # gamma's hub pod can never be scheduled: no node has this label.
    repo.edit_values(
        "gamma",
        lambda v: v.setdefault("hub", {}).update(nodeSelector={"e2e.example.org/nowhere": "true"}),
    )
    repo.commit("gamma: unschedulable")
    proc = repo.invoke(
        "deploy",
        "--env",
        "staging",
        "--hub",
        "alpha",
        "--hub",
        "beta",
        "--hub",
        "gamma",
        "--jobs",
        "2",
        "--timeout",
        "45s",
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "ok      alpha/staging: deployed revision 1" in proc.stdout
    assert "ok      beta/staging: deployed revision 1" in proc.stdout
    assert "FAILED  gamma/staging: FAILED at step" in proc.stdout
    assert "2 deployed, 1 failed, 0 skipped" in proc.stdout
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: deploy failed for gamma/staging; skipped: none (of 3)"
    )
    # The chart's dependencies are fetched at most once (not at all when already there).
    assert (
        sum(
            " dependency build " in line or " dependency update " in line
            for line in proc.stderr.splitlines()
        )
        <= 1
    )
    for hub in ("alpha", "beta"):
        assert repo.history(f"{hub}-staging")[-1]["status"] == "deployed"
    assert all(r["status"] != "deployed" for r in repo.history("gamma-staging"))


def test_plan_against_deployed_replans_a_failed_deploy(repo):
    data = repo.plan("--base", "deployed", "--env", "staging")
    # alpha and beta run HEAD; gamma's failed first install left nothing serving.
    assert deployed(data) == {("gamma", "staging")}

    repo.edit_values(
        "beta",
        lambda v: v.setdefault("hub", {}).update(nodeSelector={"e2e.example.org/nowhere": "true"}),
    )
    repo.commit("beta: unschedulable")
    failed = repo.invoke(
        "deploy",
        "--env",
        "staging",
        "--hub",
        "beta",
        "--timeout",
        "30s",
        "--no-rollback",
        check=False,
    )
    assert failed.returncode == 1
    assert repo.history("beta-staging")[-1]["status"] == "failed"

    data = repo.plan("--base", "deployed", "--env", "staging")
    assert deployed(data) == {("beta", "staging"), ("gamma", "staging")}
    reasons = {d["hub"]: d["reasons"] for d in data["deploy"]}
    assert reasons["beta"][0].startswith("last deploy failed")
    assert reasons["gamma"] == ["never deployed"]
