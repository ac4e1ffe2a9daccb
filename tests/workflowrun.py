"""Runs a generated repo's GitHub workflows with act, on this machine, as GitHub would run them.

`Actions` gives a generated repo a remote of its own on the fake GitHub (`fakegithub.py`), and
runs one workflow for one event with act: jobs on the host (`-P ubuntu-24.04=-self-hosted`),
every pinned action from its local folder (nothing is fetched), actions/checkout really fetching
from the remote (`--no-skip-checkout`), act's artifact and cache servers on 127.0.0.1, and the
run's `HOME` a scratch folder, so no job touches the user's docker config, kubeconfig or caches.

Where act and GitHub differ, the flags below make act behave as GitHub does; the generated
README's CI section lists them for operators.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from egress import Egress
from fakegithub import FakeGitHub

from toolchain import act, cache, gobuild, procs

OWNER = "hubfleet-test"
# What a step sees without a terminal, as on GitHub (act gives every host step a pty, where
# `git log` would start a pager and wait).
NO_TERMINAL = {"GIT_PAGER": "cat", "PAGER": "cat", "GH_PAGER": "cat", "GH_PROMPT_DISABLED": "1"}
TOKEN = "ghs_hubfleettesttoken0000000000000000"  # what act hands the jobs as github.token


def git(cwd: Path, *args: str, env: dict | None = None) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout.strip()


# act's line for a finished step: `[workflow/job]   ✅  Success - Main NAME [1m2.5s]`.
STEP_DONE = re.compile(
    r"^\[(?P<job>[^\]]+)\]\s+\S+\s+(?P<result>Success|Failure) - (?P<step>.+?) \[(?P<took>[^\]]+)\]$"
)
GO_DURATION = re.compile(r"([\d.]+)(h|ms|µs|us|ns|m|s)")
SECONDS = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}


@dataclass(frozen=True)
class Step:
    job: str  # "workflow/job name"
    name: str  # "Main Plan", "Post actions/checkout@...", ...
    seconds: float
    ok: bool


@dataclass
class Run:
    """One act run of one workflow."""

    workflow: str
    run_id: int
    returncode: int
    output: str
    seconds: float = 0.0  # act's wall time

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def steps(self) -> list[Step]:
        """Every step act timed (its `Set up job` and `Complete job` are not), in output order."""
        found = []
        for line in self.output.splitlines():
            match = STEP_DONE.match(line.strip())
            if match:
                took = sum(float(n) * SECONDS[u] for n, u in GO_DURATION.findall(match["took"]))
                ok = match["result"] == "Success"
                found.append(Step(match["job"].strip(), match["step"], took, ok))
        return found

    def __str__(self) -> str:
        return f"act run {self.run_id} of {self.workflow} (exit {self.returncode}):\n{self.output}"


class Actions:
    """A generated repo (a git repo with `staging` and `prod`) on the fake GitHub, and act."""

    def __init__(self, repo: Path, tmp: Path):
        self.repo, self.tmp = repo, tmp
        self.name = f"{OWNER}/{repo.name}"
        self.artifacts = tmp / "artifacts"
        self.github = FakeGitHub(_fresh(tmp / "github"), self.name, self.artifacts)
        self.github.bare.parent.mkdir(parents=True)
        subprocess.run(["git", "init", "--quiet", "--bare", self.github.bare], check=True)
        # actions/checkout fetches the exact commit it was given, as GitHub allows.
        git(self.github.bare, "config", "uploadpack.allowAnySHA1InWant", "true")
        self.home = _fresh(tmp / "home")
        self._ids = itertools.count(101)
        # Every run's proxy: a request for anywhere but this machine is refused and kept.
        self.egress = Egress()

    def __enter__(self) -> Actions:
        self.github.start()
        self.egress.start()
        remote = f"{self.github.server_url}/{self.name}.git"
        if "origin" in git(self.repo, "remote").split():
            git(self.repo, "remote", "set-url", "origin", remote)
        else:
            git(self.repo, "remote", "add", "origin", remote)
        return self

    def __exit__(self, kind, *exc) -> None:
        self.github.stop()
        self.egress.stop()
        if kind is None and self.egress.asked:
            raise AssertionError(
                f"workflow runs asked for addresses beyond this machine: {self.egress.asked}"
            )

    # -- the remote ------------------------------------------------------------------------
    def push(self, *refspecs: str) -> None:
        """Push to the remote (straight into the bare repo: the same refs as over HTTPS)."""
        git(self.repo, "push", "--quiet", "--force", str(self.github.bare), *refspecs)

    def push_event(
        self, branch: str, workflow: str, *, secrets: dict, env: dict, timeout: float = 1200
    ) -> Run:
        """Push `branch` and run `workflow` for the push, as GitHub does: `before` is what the
        remote had (zeros for a new branch), kept as `origin/<branch>` in the repo."""
        tracking = f"refs/remotes/origin/{branch}"
        try:
            before = git(self.repo, "rev-parse", "--verify", "--quiet", tracking)
        except subprocess.CalledProcessError:
            before = "0" * 40
        self.push(branch)
        git(self.repo, "update-ref", tracking, branch)
        after = self.sha(branch)
        event = {"ref": f"refs/heads/{branch}", "before": before, "after": after}
        return self.run("push", event, workflow, after, secrets=secrets, env=env, timeout=timeout)

    def sha(self, ref: str) -> str:
        return git(self.repo, "rev-parse", ref)

    def pull_request(self, head: str, base: str, number: int | None = None, fork: str = "") -> dict:
        """Open (or move) a pull request of branch `head` into `base` as GitHub does: its merge
        commit at `refs/pull/N/merge` on the remote. Returns the event's `pull_request`.

        `fork`: OWNER/NAME of the fork `head` is a branch of; it is then never pushed to the
        remote, whose only refs to it are the pull request's, as on GitHub."""
        head_sha, base_sha = self.sha(head), self.sha(base)
        scratch = self.tmp / "merge"
        shutil.rmtree(scratch, ignore_errors=True)
        git(scratch.parent, "clone", "--quiet", str(self.github.bare), scratch.name)
        git(scratch, "checkout", "--quiet", "--detach", base_sha)
        ident = {"GIT_AUTHOR_NAME": "GitHub", "GIT_AUTHOR_EMAIL": "noreply@github.com"}
        ident |= {"GIT_COMMITTER_NAME": "GitHub", "GIT_COMMITTER_EMAIL": "noreply@github.com"}
        git(scratch, "fetch", "--quiet", str(self.repo), head)
        git(scratch, "merge", "--quiet", "--no-ff", "-m", f"Merge {head_sha} into {base_sha}",
            head_sha, env=ident)  # fmt: skip
        merge = git(scratch, "rev-parse", "HEAD")
        if number is None:
            pull = self.github.open_pull(head, head_sha, base, merge_sha=merge, fork=fork)
        else:
            pull = self.github.pulls[number]
            pull.head_sha, pull.merge_sha = head_sha, merge
        git(scratch, "push", "--quiet", "--force", str(self.github.bare),
            f"{merge}:refs/pull/{pull.number}/merge", f"{head_sha}:refs/pull/{pull.number}/head")  # fmt: skip
        data = pull.json(self.name)
        data["head"]["sha"], data["base"]["sha"] = head_sha, base_sha
        data["merge_commit_sha"] = merge
        return data

    def repository(self) -> dict:
        owner, name = self.name.split("/")
        return {
            "full_name": self.name,
            "name": name,
            "owner": {"login": owner},
            "default_branch": "staging",
            "clone_url": f"{self.github.server_url}/{self.name}.git",
        }

    # -- act -------------------------------------------------------------------------------
    def run(
        self,
        event: str,
        payload: dict,
        workflow: str,
        sha: str,
        *,
        secrets: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 1200,
    ) -> Run:
        """Run `.github/workflows/<workflow>` of commit `sha` for one event; returns the run.

        `secrets`: the repository's secrets (none, as for a fork's pull request, by default);
        `env`: what this machine's runners set that a GitHub runner does not need."""
        run_id = next(self._ids)
        folder = _fresh(self.tmp / f"run-{run_id}")
        # The secrets in a file only the user reads, gone with the run (never on act's argv).
        secret_file = folder / "secrets.env"
        # act's working folder is the job's workspace on the host: a clone of its own, which
        # actions/checkout then fetches into as on a runner.
        work = folder / "work"
        git(folder, "clone", "--quiet", "--no-checkout", str(self.github.bare), "work")
        git(work, "checkout", "--quiet", "--detach", sha)
        git(work, "remote", "set-url", "origin", f"{self.github.server_url}/{self.name}.git")
        event_file = folder / "event.json"
        event_file.write_text(json.dumps({"repository": self.repository(), **payload}))
        envs = {
            **self.github.trust_env(),
            "GITHUB_RUN_ID": str(run_id),
            "GITHUB_REPOSITORY": self.name,
            "GITHUB_REPOSITORY_OWNER": OWNER,
            "SHA_REF": sha,  # act's name for the commit a run is for (github.sha)
            "GITHUB_SERVER_URL": self.github.server_url,
            "GITHUB_API_URL": self.github.api_url,
            # gh calls a host other than github.com an enterprise host, with a token of its own.
            "GH_HOST": self.github.host,
            "GH_ENTERPRISE_TOKEN": TOKEN,
            # act runs each step on a terminal, a GitHub runner on none: nothing may wait on it.
            **NO_TERMINAL,
            **self.egress.env(),
            **(env or {}),
        }
        argv = [
            cache.bin_dir() / "act",
            event,
            "--workflows",
            work / ".github" / "workflows" / workflow,
            "--eventpath",
            event_file,
            "--directory",
            work,
            "--platform",
            "ubuntu-24.04=-self-hosted",
            "--github-instance",
            self.github.server_host,
            "--no-skip-checkout",
            "--action-offline-mode",
            "--action-cache-path",
            act.runner_dir(),
            "--artifact-server-path",
            self.artifacts,
            "--artifact-server-addr",
            "127.0.0.1",
            "--artifact-server-port",
            str(procs.free_port()),
            "--cache-server-addr",
            "127.0.0.1",
            "--cache-server-path",
            act.cache_server_dir(),
            "--container-daemon-socket",
            "-",
            "--secret-file",
            secret_file,
            "--var-file",
            os.devnull,
            "--env-file",
            os.devnull,
            *act.local_repositories(),
            "--secret",
            f"GITHUB_TOKEN={TOKEN}",
        ]
        for name, value in envs.items():
            argv += ["--env", f"{name}={value}"]
        # The runner's own PATH: Node 24 and the tools a runner image has (Go among them), not
        # the test's venv.
        go = Path(gobuild.require_go()).parent
        path = os.pathsep.join(
            [
                str(act.node_bin()),
                str(cache.bin_dir()),
                str(go),
                "/usr/local/bin",
                "/usr/bin",
                "/bin",
            ]
        )
        env = {
            "PATH": path,
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "TMPDIR": str(_fresh(folder / "tmp")),
            "HUBFLEET_CACHE": str(cache.cache_dir()),
            # act asks api.nektosact.com for notices about its version unless told not to.
            "ACT_DISABLE_VERSION_CHECK": "1",
            **offline_packages(),
            **self.egress.env(),
        }
        try:
            secret_file.touch(mode=0o600)
            secret_file.write_text("".join(f"{k}={v}\n" for k, v in (secrets or {}).items()))
            started = time.monotonic()
            proc = subprocess.run(
                [str(a) for a in argv],
                cwd=work,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        finally:
            secret_file.unlink(missing_ok=True)
        took = time.monotonic() - started
        output = proc.stdout + proc.stderr
        (folder / "act.log").write_text(output)  # kept with the run, for whoever reads it after
        return Run(workflow, run_id, proc.returncode, output, took)


def offline_packages() -> dict[str, str]:
    """Where a job's `pip install` and `go install` find their packages with no index or proxy
    beyond this machine: the wheels `invoke toolchain` downloaded for the generated
    requirements.txt, and this machine's Go module cache as a file proxy (its modules were
    checked against the checksum database when they were fetched, so it is not asked again)."""
    modcache = subprocess.run(
        [gobuild.require_go(), "env", "GOMODCACHE"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return {
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(act.wheelhouse()),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "GOPROXY": f"file://{modcache}/cache/download",
        "GOSUMDB": "off",
    }


def _fresh(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=False)
    return path
