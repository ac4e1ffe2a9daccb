"""The GitHub workflows of a freshly generated repo: clean under zizmor, the GitHub workflow schema
and actionlint, and built the way the plan needs (no hard-coded hubs, pinned actions, no secrets
where PR code runs)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from bake import bake

pytestmark = pytest.mark.bake

# actionlint v1.7.12 predates `concurrency.queue` (which the GitHub schema has): queued deploys
# must wait, never be cancelled, and `queue: max` is how GitHub says so.
ACTIONLINT_IGNORE = 'unexpected key "queue" for "concurrency" section'


@pytest.fixture(scope="module")
def workflows(tmp_path_factory, toolchain_bin) -> Path:
    repo = bake(
        tmp_path_factory.mktemp("workflows"),
        hubs="alpha,beta",
        cluster="eu-central",
        sops_recipient="",
    )
    return repo / ".github" / "workflows"


def run(argv: list, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, check=False, env=env
    )


def load(path: Path) -> dict:
    # PyYAML reads `on:` as True.
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))
    return data


def test_zizmor_finds_nothing(workflows):
    proc = run(["zizmor", "--offline", "--format", "plain", "."], workflows.parent.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


def test_the_github_workflow_schema_accepts_them(workflows):
    files = sorted(workflows.glob("*.yaml"))
    proc = run(
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", *files], workflows
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_finds_nothing(workflows, toolchain_bin):
    actionlint = toolchain_bin / "actionlint"
    assert actionlint.exists(), (
        "actionlint is missing: run `invoke toolchain` (it builds it by default)"
    )
    files = sorted(workflows.glob("*.yaml"))
    proc = run([actionlint, "-ignore", ACTIONLINT_IGNORE, *files], workflows.parent.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_action_is_pinned_by_commit_and_checkout_keeps_no_credentials(workflows):
    for path in workflows.glob("*.yaml"):
        for job in load(path)["jobs"].values():
            for step in job.get("steps", []):
                uses = step.get("uses")
                if uses:
                    assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", uses), (
                        f"{path.name}: {uses}"
                    )
                if uses and uses.startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, path.name


def test_no_hub_or_cluster_is_named_in_any_workflow(workflows):
    for path in workflows.glob("*.yaml"):
        text = path.read_text()
        for name in ("alpha", "beta", "eu-central"):
            assert not re.search(rf"\b{name}\b", text), f"{path.name} names {name}"


def test_pull_request_workflows_use_no_secret(workflows):
    for name in ("plan.yaml", "checks.yaml", "prod-guard.yaml"):
        text = (workflows / name).read_text()
        assert "pull_request_target" not in text
        assert "secrets." not in text, name


def test_the_plan_comment_flow(workflows):
    plan = load(workflows / "plan.yaml")
    assert list(plan["on"]) == ["pull_request"]
    steps = plan["jobs"]["plan"]["steps"]
    assert any("invoke plan" in s.get("run", "") and "--markdown" in s["run"] for s in steps)
    assert any(s.get("uses", "").startswith("actions/upload-artifact@") for s in steps)
    comment = load(workflows / "comment.yaml")
    assert comment["on"]["workflow_run"]["workflows"] == [plan["name"]]
    script = comment["jobs"]["comment"]["steps"][-1]["run"]
    assert "<!-- deployment-plan -->" in script and "^[1-9][0-9]{0,9}$" in script
    assert "${{" not in script  # event data reaches the shell only through env


def test_deploys_queue_per_cluster_and_environment_and_log_in_by_provider(workflows):
    deploy = load(workflows / "deploy.yaml")
    assert deploy["on"]["push"]["branches"] == ["staging", "prod", "main"]
    cluster = load(workflows / "deploy-cluster.yaml")
    assert list(cluster["on"]) == ["workflow_call"]
    job = cluster["jobs"]["deploy"]
    assert job["environment"] == "${{ inputs.env }}"
    assert job["concurrency"] == {
        "group": "deploy-${{ inputs.env }}-${{ inputs.cluster }}",
        "cancel-in-progress": False,
        "queue": "max",
    }
    logins = {s["uses"].split("@")[0]: s["if"] for s in job["steps"] if "if" in s and "uses" in s}
    assert logins == {
        "google-github-actions/auth": "inputs.provider == 'gcp'",
        "aws-actions/configure-aws-credentials": "inputs.provider == 'aws'",
        "azure/login": "inputs.provider == 'azure'",
        "actions/download-artifact": "inputs.after != ''",
        "actions/upload-artifact": "${{ !cancelled() }}",
    }
    run = next(s["run"] for s in job["steps"] if "invoke deploy" in s.get("run", ""))
    assert '--env "$FLEET_ENV" --plan plan.json --cluster "$CLUSTER"' in run
    assert '--results "results-$FLEET_ENV-$CLUSTER.json"' in run
    assert '${AFTER:+--after "results-$AFTER-$CLUSTER.json"}' in run


def test_support_and_staging_then_prod_per_cluster_from_the_plans_matrices(workflows):
    """Two levels of jobs, each a matrix over the clusters the plan JSON's `jobs` names; prod
    runs after every staging job ended (not only the successful ones) and reads its cluster's
    staging results."""
    jobs = load(workflows / "deploy.yaml")["jobs"]
    assert list(jobs) == ["plan", "build", "staging", "prod"]
    plan_step = next(s["run"] for s in jobs["plan"]["steps"] if s.get("name") == "Plan")
    for env in ("staging", "prod"):
        assert f"echo \"{env}=$(jq -c '.jobs.{env} // []' plan.json)\"" in plan_step
        job = jobs[env]
        assert job["uses"] == "./.github/workflows/deploy-cluster.yaml"
        assert job["strategy"] == {
            "fail-fast": False,
            "matrix": {"include": f"${{{{ fromJSON(needs.plan.outputs.{env}) }}}}"},
        }
        assert job["with"] == {
            "env": env,
            "cluster": "${{ matrix.cluster }}",
            "provider": "${{ matrix.provider }}",
            "after": "${{ matrix.after }}",
        }
        assert job["if"].startswith("${{ !cancelled() && needs.plan.result == 'success'")
    assert jobs["prod"]["needs"] == ["plan", "build", "staging"]
    names = {
        s.get("with", {}).get("name")
        for s in load(workflows / "deploy-cluster.yaml")["jobs"]["deploy"]["steps"]
    }
    assert "results-${{ inputs.after }}-${{ inputs.cluster }}" in names
    guard = load(workflows / "prod-guard.yaml")
    assert guard["on"]["pull_request"]["branches"] == ["prod"]


def test_prod_guard_script_fails_on_a_commit_not_in_staging(workflows, tmp_path):
    """The guard's own shell script, run on real branches: staging merged into prod passes;
    a commit made straight on the PR branch fails, named in the output."""
    script = load(workflows / "prod-guard.yaml")["jobs"]["staging-first"]["steps"][-1]["run"]

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@e", *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    git("init", "-q", "-b", "prod")
    git("commit", "-q", "--allow-empty", "-m", "start")
    git("checkout", "-q", "-b", "staging")
    git("commit", "-q", "--allow-empty", "-m", "tested on staging")
    git("update-ref", "refs/remotes/origin/staging", "staging")
    git("checkout", "-q", "prod")
    git("merge", "-q", "--no-ff", "-m", "merge staging", "staging")  # like refs/pull/N/merge
    env = {**os.environ, "PR_HEAD": git("rev-parse", "staging")}
    ok = run(["bash", "-c", script], tmp_path, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    git("commit", "-q", "--allow-empty", "-m", "hotfix straight to prod")
    bad = run(["bash", "-c", script], tmp_path, env=env)
    assert bad.returncode == 1
    assert "hotfix straight to prod" in bad.stdout

    # A merge that carries an edit of its own: every commit is staging's, the tree is not.
    git("reset", "-q", "--hard", "HEAD~2")
    git("merge", "-q", "--no-ff", "--no-commit", "staging")
    (tmp_path / "values.yaml").write_text("sneaked: in\n")
    git("add", "values.yaml")
    git("commit", "-q", "-m", "merge staging")
    evil = run(["bash", "-c", script], tmp_path, env=env)
    assert evil.returncode == 1, evil.stdout
    assert "a merge carries edits of its own" in evil.stdout
    assert "values.yaml" in evil.stdout

    # The PR's head must be a commit of staging.
    git("reset", "-q", "--hard", "HEAD~1")
    git("checkout", "-q", "-b", "elsewhere", "staging")
    git("commit", "-q", "--allow-empty", "-m", "not on staging")
    elsewhere = {**env, "PR_HEAD": git("rev-parse", "HEAD")}
    git("checkout", "-q", "prod")
    off = run(["bash", "-c", script], tmp_path, env=elsewhere)
    assert off.returncode == 1 and "is not a commit of staging" in off.stdout


def test_the_deploy_job_reports_orphans_and_no_workflow_removes_anything(workflows, tmp_path):
    """The plan's orphans reach the job summary as a table (the step's own shell and jq, run
    here); no workflow retires a release."""
    for path in workflows.iterdir():
        assert "invoke retire" not in path.read_text(), path.name
    plan = next(
        step["run"]
        for step in load(workflows / "deploy.yaml")["jobs"]["plan"]["steps"]
        if step.get("name") == "Plan"
    )
    start = plan.index("# Releases of hubs removed")
    report = plan[start : plan.index("\nfi\n", start) + 3]
    orphan = {
        "release": "chem-staging",
        "cluster": "main",
        "hub": "chem",
        "env": "staging",
        "why": "hub chem is not in the repository (removed or renamed)",
        "retire": "invoke retire --hub chem --env staging --cluster main",
    }
    summary = tmp_path / "summary.md"
    for orphans in ([orphan], []):
        (tmp_path / "plan.json").write_text(json.dumps({"deploy": [], "orphans": orphans}))
        summary.write_text("")
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", report],
            cwd=tmp_path,
            env={"GITHUB_STEP_SUMMARY": str(summary), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        )
        rows = [line for line in summary.read_text().splitlines() if "chem-staging" in line]
        if orphans:
            assert rows == [
                "| chem-staging | main | hub chem is not in the repository (removed or renamed) "
                "| `invoke retire --hub chem --env staging --cluster main` |"
            ]
            assert "::warning::releases that no hub owns any more keep serving" in done.stdout
        else:
            assert summary.read_text() == "" and done.stdout == ""


@pytest.mark.parametrize(
    ("promotion", "branch", "env_args"),
    [
        ("branches", "staging", "--env staging"),
        ("branches", "prod", "--env prod"),
        ("branches", "main", "--label deploy:skip"),
        ("one-branch", "main", ""),
        ("one-branch", "staging", "--label deploy:skip"),
    ],
)
def test_what_a_push_deploys_follows_the_promotion_model(workflows, promotion, branch, env_args):
    """The plan step's own case statement, run: which environments a push to a branch plans."""
    plan = next(
        step["run"]
        for step in load(workflows / "deploy.yaml")["jobs"]["plan"]["steps"]
        if step.get("name") == "Plan"
    )
    start = plan.index('case "$promotion/$BRANCH"')
    script = plan[start : plan.index("esac", start) + 4] + '\necho "args=${env_args[*]}"'
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", f"promotion={promotion}\n{script}"],
        env={"BRANCH": branch, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == f"args={env_args}"


def test_one_branch_makes_main_only_and_no_prod_guard(tmp_path):
    repo = bake(tmp_path, promotion="one-branch", sops_recipient="")
    branches = run(["git", "branch", "--format=%(refname:short)"], repo).stdout.split()
    assert branches == ["main"]
    assert not (repo / ".github/workflows/prod-guard.yaml").exists()
    assert "promotion: one-branch" in (repo / "fleet.yaml").read_text()
    assert run(["git", "status", "--porcelain"], repo).stdout == ""  # all of it committed


def test_no_tool_is_built_from_source_outside_a_cache_miss(workflows):
    """sops is built with `go install` only when the cache keyed on its version missed; every
    job that uses it restores the cache first."""
    built = 0
    for path in sorted(workflows.glob("*.yaml")):
        for name, job in load(path)["jobs"].items():
            steps = job.get("steps", [])
            caches = {
                s["id"]: s["with"]["key"]
                for s in steps
                if s.get("uses", "").startswith("actions/cache@")
            }
            for i, step in enumerate(steps):
                if "go install" not in step.get("run", ""):
                    continue
                built += 1
                miss = re.fullmatch(
                    r"steps\.(\w+)\.outputs\.cache-hit != 'true'", step.get("if", "")
                )
                assert miss, f"{path.name} {name}: `go install` outside a cache miss"
                assert "${{ env.SOPS_VERSION }}" in caches[miss.group(1)], (path.name, name)
                cache = next(s for s in steps if s.get("id") == miss.group(1))
                assert steps.index(cache) < i
                assert cache["with"]["path"] in step["run"].replace("$HOME", "~")
    assert built == 4  # checks, the deploy plan, each cluster's deploy, the chart upgrade


def test_a_weekly_workflow_opens_the_chart_upgrade_pull_request_without_the_sops_key(workflows):
    upgrade = load(workflows / "upgrade-charts.yaml")
    triggers = upgrade["on"]
    assert set(triggers) == {"schedule", "workflow_dispatch"} and triggers["schedule"][0]["cron"]
    job = upgrade["jobs"]["upgrade"]
    assert upgrade["permissions"] == {}
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert job["env"]["FLEET_SECRETS"] == "placeholders"
    text = (workflows / "upgrade-charts.yaml").read_text()
    assert "SOPS_AGE_KEY" not in text and "FLEET_PGP_KEY" not in text
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert "invoke upgrade-chart --markdown jupyterhub.md" in runs
    assert "invoke upgrade-chart --support --markdown support.md" in runs
    assert 'gh api --method POST "repos/$REPO/pulls"' in runs and "body=@body.md" in runs


def test_a_deploy_job_notifies_with_its_own_results_unless_cancelled(workflows):
    steps = load(workflows / "deploy-cluster.yaml")["jobs"]["deploy"]["steps"]
    deploy = next(s for s in steps if "invoke deploy" in s.get("run", ""))
    notify = next(s for s in steps if "invoke notify" in s.get("run", ""))
    assert steps.index(notify) > steps.index(deploy)
    assert notify["if"] == "${{ !cancelled() }}"
    assert '--results "results-$FLEET_ENV-$CLUSTER.json"' in deploy["run"]
    assert '--results "results-$FLEET_ENV-$CLUSTER.json"' in notify["run"]
    assert notify["env"]["FLEET_WEBHOOK_URL"] == "${{ secrets.FLEET_WEBHOOK_URL }}"
    assert notify["env"]["JOB_STATUS"] == "${{ job.status }}"
    secrets = load(workflows / "deploy-cluster.yaml")["on"]["workflow_call"]["secrets"]
    assert {"FLEET_WEBHOOK_URL", "FLEET_GRAFANA_TOKEN"} <= set(secrets)


def test_only_a_job_in_the_environment_it_deploys_holds_a_deploy_key(workflows):
    """The jobs that decrypt hub secrets run in their environment (`environment: <env>`), where
    GitHub gives prod's key, a secret of the protected `prod` environment, to prod's jobs alone;
    the one other job with a key (the deploy's plan) reads cluster credentials only."""
    holders = {}
    for path in workflows.iterdir():
        for name, job in (load(path).get("jobs") or {}).items():
            text = yaml.safe_dump(job)
            if "secrets.SOPS_AGE_KEY" in text or "secrets.FLEET_PGP_KEY" in text:
                holders[(path.name, name)] = job
    decrypting = {k for k, job in holders.items() if "steps" in job}
    assert decrypting == {("deploy-cluster.yaml", "deploy"), ("deploy.yaml", "plan")}, holders
    assert holders[("deploy-cluster.yaml", "deploy")]["environment"] == "${{ inputs.env }}"
    plan = yaml.safe_dump(holders[("deploy.yaml", "plan")])
    assert "invoke plan" in plan and "invoke deploy" not in plan
