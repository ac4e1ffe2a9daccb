"""Day-2 commands on a real hub: the outputs the generated README's "Day 2" section shows.

Generates a repo with one hub (`alpha`) whose hub, proxy and user servers run on the real node,
deploys it with its health check, then runs what an operator runs on a later day and prints each
command with its output: `invoke shell` (one command), `invoke logs` (hub and proxy), a secret
rotated (`secrets.edit` by a scripted editor, `diff`, `deploy`), `invoke upgrade-chart` (after a
newer jupyterhub release (made from the real chart) is added to the chart repository), `invoke new-cluster`, and a deploy
that fails with the message `invoke notify` would post.

Usage: python benchmarks/day2_transcript.py
Starts its own cluster (with the machine's one real node), registry and chart repository
(toolchain.stack) and stops them after.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]  # a script

from bake import run_in  # noqa: E402
from health_check import hub_on_the_node  # noqa: E402

from toolchain import cache, chartrepo, stack  # noqa: E402

MAX_LINES = 14  # of a command's output shown


def show(
    repo: Path, env: dict, argv: list[str], *, lines: int = MAX_LINES, extra=None, typed=None
) -> str:
    """Run a command in the repo (`typed`: its standard input); print it and the head of what it
    said (stdout, stderr apart)."""
    proc = subprocess.run(
        argv,
        cwd=repo,
        env={**os.environ, **env, **(extra or {})},
        input=typed or "",
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print(f"$ {' '.join(argv)}    # exit {proc.returncode}")
    if typed:
        print("  [typed]")
        for line in typed.splitlines():
            print(f"  {line}")
    for name, text in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        said = [line for line in text.splitlines() if not line.startswith("$ ")]
        if said:
            print(f"  [{name}]")
            for line in said[:lines]:
                print(f"  {line}")
            if len(said) > lines:
                print(f"  ... ({len(said) - lines} more lines)")
    print(flush=True)
    return proc.stdout


def main() -> int:
    with hub_on_the_node("day2") as hub:
        up, work, repo, env = hub.up, hub.work, hub.repo, hub.env
        run_in(repo, ["invoke", "deploy", "--hub", "alpha", "--env", "staging"], env=env)

        show(repo, env, ["invoke", "shell", "--", "kubectl", "get", "pods", "-n", "alpha-staging"])
        typed = 'echo "$KUBECONFIG"\nkubectl get deployments -n alpha-staging\nexit\n'
        show(repo, env, ["invoke", "shell"], extra={"SHELL": "/bin/bash"}, typed=typed)
        show(repo, env, ["invoke", "logs", "--hub", "alpha", "--env", "staging", "--since", "1h"])
        show(
            repo,
            env,
            ["invoke", "logs", "--hub", "alpha", "--env", "staging", "--component", "proxy"],
        )

        # A secret rotated: the hub's cookie secret, by an editor that sops runs.
        editor = work / "rotate.sh"
        editor.write_text(
            '#!/bin/sh\nsed -i "s/cookieSecret: .*/cookieSecret: $(openssl rand -hex 32)/" "$1"\n'
        )
        editor.chmod(0o700)
        show(
            repo,
            env,
            ["invoke", "secrets.edit", "--hub", "alpha", "--env", "staging"],
            extra={"EDITOR": str(editor)},
        )
        show(repo, env, ["invoke", "diff", "--hub", "alpha", "--env", "staging"], lines=30)
        run_in(repo, ["git", "commit", "-qam", "alpha: new cookie secret"])
        show(repo, env, ["invoke", "deploy", "--hub", "alpha", "--env", "staging"], lines=4)

        # A newer jupyterhub chart in the repository, then the upgrade.
        served = stack.state_dir(hub.name) / "charts"
        helm = cache.bin_dir() / "helm4"
        chartrepo.package_next_release(helm, "4.5.0", served)
        index = [helm, "repo", "index", served, "--url", up.chart_repo.url]
        subprocess.run(index, check=True, capture_output=True)
        show(repo, env, ["invoke", "upgrade-chart"], lines=8)
        run_in(repo, ["git", "checkout", "chart"])

        show(
            repo,
            env,
            [
                "invoke",
                "new-cluster",
                "east",
                "--provider",
                "gcp",
                "--project",
                "my-project",
                "--location",
                "us-east1",
            ],
        )

        # A deploy that fails (its image was changed but never built), and its notification.
        requirements = repo / "images" / "default" / "requirements.txt"
        requirements.write_text(requirements.read_text() + "# changed, not built\n")
        run_in(repo, ["git", "commit", "-qam", "default image: changed, not built"])
        results = work / "results.json"
        deploy = ["invoke", "deploy", "--all", "--env", "staging", "--results", str(results)]
        show(repo, env, deploy, lines=3)
        what = ["--what", "staging on cluster main", "--job-status", "failure"]
        run_url = ["--run-url", "https://github.com/ORG/REPO/actions/runs/RUN_ID"]
        show(repo, env, ["invoke", "notify", "--results", str(results), *what, *run_url])
        return 0


if __name__ == "__main__":
    sys.exit(main())
