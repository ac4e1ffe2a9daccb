"""The generated GitHub workflows, run by act on this machine (`workflowrun.py`): the events a
repo on GitHub gets, the jobs on the host, actions/checkout fetching from the repo's own remote
on a fake GitHub over TLS, and the API calls the jobs make kept and read back here."""

from __future__ import annotations

from pathlib import Path

import pytest
from bake import bake
from generated import decrypted, local_repo
from workflowrun import Actions, git

pytestmark = pytest.mark.e2e

MARKER = "<!-- deployment-plan -->"


def commit_all(repo: Path, message: str) -> str:
    ident = ["-c", "user.name=Ops", "-c", "user.email=ops@example.org"]
    git(repo, "add", "-A")
    git(repo, *ident, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def pull_request_event(action: str, pull: dict) -> dict:
    return {"action": action, "number": pull["number"], "pull_request": pull}


def test_prod_guard_stops_a_commit_that_skipped_staging_and_passes_staging(tmp_path, act_ready):
    repo = bake(tmp_path / "bake", hubs="alpha", sops_recipient="")
    with Actions(repo, tmp_path / "ci") as ci:
        git(repo, "checkout", "--quiet", "-b", "hotfix", "prod")
        (repo / "HOTFIX.md").write_text("edited on prod directly\n")
        commit_all(repo, "Hotfix straight onto prod")
        ci.push("staging", "prod", "hotfix")
        pull = ci.pull_request("hotfix", "prod")
        run = ci.run(
            "pull_request", pull_request_event("opened", pull), "prod-guard.yaml",
            pull["merge_commit_sha"],
        )  # fmt: skip
        assert not run.ok, str(run)
        assert "prod would contain commits that are not in staging" in run.output, str(run)
        assert "Hotfix straight onto prod" in run.output, str(run)

        # The same change made on staging first: the PR from staging passes.
        git(repo, "checkout", "--quiet", "staging")
        (repo / "NOTES.md").write_text("a change made on staging first\n")
        head = commit_all(repo, "A change on staging")
        ci.push("staging")
        pull = ci.pull_request("staging", "prod")
        run = ci.run(
            "pull_request", pull_request_event("opened", pull), "prod-guard.yaml",
            pull["merge_commit_sha"],
        )  # fmt: skip
        assert run.ok, str(run)
        assert f"prod after the merge is staging's {head[:12]}" in run.output, str(run)


def test_a_job_that_reaches_beyond_the_machine_fails_its_test(tmp_path, act_ready):
    """The egress guard every workflow run has (tests/egress.py) sees a job's own requests."""
    repo = bake(tmp_path / "bake", hubs="alpha", sops_recipient="")
    (repo / ".github/workflows/probe.yaml").write_text(
        "on: push\njobs:\n  probe:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: curl -sS --max-time 5 https://pypi.org/simple/ || true\n"
        "      - run: git ls-remote https://go.dev/x.git || true\n"
    )
    sha = commit_all(repo, "A job that calls out")
    guarded = pytest.raises(AssertionError, match="beyond this machine")
    with guarded as failed, Actions(repo, tmp_path / "ci") as ci:  # noqa: PT012
        ci.push("staging")
        run = ci.run("push", {"ref": "refs/heads/staging", "after": sha}, "probe.yaml", sha)
        assert run.ok, str(run)
    assert "pypi.org:443" in str(failed.value) and "go.dev:443" in str(failed.value)


def secret_values(repo: Path, key_file: Path) -> set[str]:
    """Every plaintext string of the hubs' encrypted secrets, to look for in output."""

    def leaves(node):
        if isinstance(node, dict):
            for value in node.values():
                yield from leaves(value)
        elif isinstance(node, list):
            for value in node:
                yield from leaves(value)
        elif isinstance(node, str) and len(node) >= 16:
            yield node

    return {
        value
        for path in sorted(repo.glob("hubs/*/secrets/*.yaml"))
        for value in leaves(decrypted(path, key_file))
    }


def posted_comment(ci: Actions, number: int) -> str:
    """The one plan comment posted on pull request NUMBER, checked to carry the marker."""
    posted = ci.github.sent("POST", rf"/repos/{ci.name}/issues/{number}/comments")
    assert len(posted) == 1, ci.github.requests
    body = posted[0]["body"]["body"]
    assert body.startswith(MARKER), body
    return body


def test_pull_request_plan_is_commented_once_and_updated_on_the_next_push(
    tmp_path, act_ready, local_stack
):
    generated = local_repo(tmp_path / "bake", local_stack, org="Ci", hubs="alpha,beta")
    repo = generated.path
    commit_all(repo, "Hubs on the local stack")
    git(repo, "branch", "--force", "prod", "staging")
    key = local_stack.age_secret_key()
    secrets = secret_values(repo, local_stack.age_key.key_file) | {key}
    assert len(secrets) > 1, (
        "the generated hubs have no encrypted secrets to keep out of the comment"
    )
    # What GitHub gives a run of a pull request from a branch of the repository: its secrets
    # (plan.yaml asks for none); a fork's pull request gets none at all.
    repository_secrets = {"SOPS_AGE_KEY": key}

    with Actions(repo, tmp_path / "ci") as ci:
        ci.push("staging", "prod")
        git(repo, "checkout", "--quiet", "-b", "more-memory", "staging")
        generated.edit_values("alpha", lambda v: v.setdefault("singleuser", {}).update(
            memory={"limit": "3G", "guarantee": "1G"}))  # fmt: skip
        commit_all(repo, "alpha: more memory")
        ci.push("more-memory")
        pull = ci.pull_request("more-memory", "staging")

        def plan_and_comment(action: str, pull: dict, run_secrets: dict | None) -> None:
            plan = ci.run(
                "pull_request", pull_request_event(action, pull), "plan.yaml",
                pull["merge_commit_sha"], secrets=run_secrets,
            )  # fmt: skip
            assert plan.ok, str(plan)
            # comment.yaml runs from the default branch, on the plan run's completion; GitHub
            # lists no pull request on a fork's run, so the PR number comes from the artifact.
            fork = pull["head"]["repo"]["fork"]
            event = {
                "action": "completed",
                "workflow_run": {
                    "id": plan.run_id,
                    "event": "pull_request",
                    "conclusion": "success",
                    "head_sha": pull["head"]["sha"],
                    "head_branch": pull["head"]["ref"],
                    "head_repository": {"full_name": pull["head"]["repo"]["full_name"]},
                    "pull_requests": [] if fork else [{"number": pull["number"]}],
                },
            }
            comment = ci.run(
                "workflow_run", event, "comment.yaml", ci.sha("staging"), secrets=repository_secrets
            )
            assert comment.ok, str(comment)
            for text in secrets:
                assert text not in plan.output + comment.output, "a secret reached the run's log"

        plan_and_comment("opened", pull, repository_secrets)
        # The pull request's checks: every nox session of the matrix, each a job of its own.
        checks = ci.run(
            "pull_request", pull_request_event("opened", pull), "checks.yaml",
            pull["merge_commit_sha"], secrets=repository_secrets,
            env={"FLEET_BASE_IMAGE": local_stack.base_image},
        )  # fmt: skip
        assert checks.ok, str(checks)
        for session in ("lint", "tests", "templates", "secrets", "images"):
            assert f"Session {session} was successful" in checks.output, str(checks)
        body = posted_comment(ci, pull["number"])
        # The per-hub diff of the changed hub, and no other hub planned.
        assert "| alpha | staging | main |" in body, body
        assert "| beta |" not in body, body
        assert "<details><summary>alpha (staging)" in body, body
        assert "+        limit: 3G" in body, body
        for text in secrets:
            assert text not in body, "a secret value is in the plan comment"

        # A second push to the PR: the same comment is edited, no second one is added.
        generated.edit_values("alpha", lambda v: v["singleuser"]["memory"].update(limit="4G"))
        commit_all(repo, "alpha: even more memory")
        ci.push("more-memory")
        pull = ci.pull_request("more-memory", "staging", number=pull["number"])
        plan_and_comment("synchronize", pull, repository_secrets)
        assert len(ci.github.sent("POST", rf"/repos/{ci.name}/issues/\d+/comments")) == 1
        edited = ci.github.sent("PATCH", rf"/repos/{ci.name}/issues/comments/\d+")
        assert len(edited) == 1, ci.github.requests
        assert edited[0]["path"].endswith(f"/{next(iter(ci.github.comments))}")
        assert "+        limit: 4G" in edited[0]["body"]["body"], edited[0]["body"]["body"]
        assert len(ci.github.comments) == 1

        # A pull request from a fork: its branch is not on the remote, its plan run gets no
        # secret (no key anywhere in the job: HOME is the run's own), and it still gets the plan.
        git(repo, "checkout", "--quiet", "-b", "beta-memory", "staging")
        generated.edit_values("beta", lambda v: v.setdefault("singleuser", {}).update(
            memory={"limit": "2G", "guarantee": "1G"}))  # fmt: skip
        commit_all(repo, "beta: more memory")
        forked = ci.pull_request("beta-memory", "staging", fork="contributor/fleet-fork")
        assert forked["head"]["repo"] == {"full_name": "contributor/fleet-fork", "fork": True}
        assert "beta-memory" not in git(ci.github.bare, "branch", "--list")
        plan_and_comment("opened", forked, None)
        body = posted_comment(ci, forked["number"])
        assert "| beta | staging | main |" in body, body
        assert "| alpha |" not in body, body
        assert "+        limit: 2G" in body, body
        assert len(ci.github.comments) == 2
