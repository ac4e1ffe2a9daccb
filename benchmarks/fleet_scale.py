"""The plan and `invoke status` of a big fleet: 200 hubs on 10 clusters, time and memory.

Generates a repo with `--hubs` hubs (default 200) spread over `--clusters` cluster definitions
(default 10), all on one local control plane with kwok's fake nodes, and deploys every hub's
staging release for real (`invoke deploy --all --env staging --jobs 4`, health check off: nothing
serves on fake nodes); prod is left not installed, which status must read too. Then, `--runs`
times each: `invoke status` (every hub x env and each cluster's support), `invoke plan --json
--base deployed` (against the live releases) and `invoke plan --json --label deploy:all`, with
their wall seconds and peak memory (the largest process of each one's tree: Python's, or a
kubectl's).

Usage: python benchmarks/fleet_scale.py [--hubs 200] [--clusters 10] [--runs 3] [--helm helm4]
       [--fleet-from COMMIT]   (the generated repo's fleet package of an earlier commit: a before)
Starts its own kwok cluster, registry and chart repository, and stops them after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]  # a script

import localrepo  # noqa: E402

from toolchain import cache, stack  # noqa: E402


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak memory (MB: the largest process of its tree) of a command that must
    succeed."""
    with tempfile.TemporaryFile("w+") as out:
        began = time.monotonic()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            out.seek(0)
            raise SystemExit(f"{' '.join(argv)} failed:\n{out.read()[-4000:]}")
    return wall, usage.ru_maxrss / 1024


def package_from(commit: str, repo: Path) -> None:
    """The generated repo's fleet package as this template's commit had it."""
    shutil.rmtree(repo / "fleet")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "{{cookiecutter.repo}}/fleet"],
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        shutil.copytree(Path(folder) / "{{cookiecutter.repo}}" / "fleet", repo / "fleet")
    print(f"fleet package from {commit}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hubs", type=int, default=200, help="hubs in the fleet")
    parser.add_argument("--clusters", type=int, default=10, help="cluster definitions")
    parser.add_argument("--runs", type=int, default=3, help="times each command is timed")
    parser.add_argument("--helm", default="helm4", help="helm binary in the toolchain")
    parser.add_argument(
        "--fleet-from", metavar="COMMIT", help="the fleet package of this commit (a before/after)"
    )
    args = parser.parse_args()

    os.environ["PATH"] = f"{cache.bin_dir()}{os.pathsep}{os.environ['PATH']}"
    # Python caches compiled modules, as it does for a user: without, each run compiles them all.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    name = f"bench-scale-{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        up = stack.up(name, real_node=False)
        localrepo.fit_hubs(up, args.hubs)
        hubs = [f"hub{n:03}" for n in range(1, args.hubs + 1)]
        clusters = [f"c{n:02}" for n in range(1, args.clusters + 1)]
        repo, extra = localrepo.generate(up, work, ",".join(hubs), args.helm)
        env = {**os.environ, **extra}
        del env["FLEET_KUBECONFIG"]  # each cluster's own, from its cluster.yaml
        if args.fleet_from:
            package_from(args.fleet_from, repo)
        localrepo.spread(repo, hubs, clusters, up.cluster.kubeconfig)
        run(["invoke", "build", "--push"], repo, env)
        deploy = ["invoke", "deploy", "--all", "--env", "staging", "--jobs", "4"]
        installed, _ = run(deploy, repo, env)
        print(
            f"{len(hubs)} hubs on {len(clusters)} clusters: staging installed in {installed:.0f}s",
            flush=True,
        )
        commands = {
            "invoke status": ["invoke", "status"],
            "invoke plan --base deployed": ["invoke", "plan", "--json", "--base", "deployed"],
            "invoke plan --label deploy:all": ["invoke", "plan", "--json", "--label", "deploy:all"],
        }
        for label, argv in commands.items():
            timings = [run(argv, repo, env) for _ in range(args.runs)]
            walls = [wall for wall, _ in timings]
            print(
                f"{label}: median {statistics.median(walls):.2f}s (min {min(walls):.2f}s, "
                f"max {max(walls):.2f}s, {args.runs} runs); peak memory "
                f"{max(mb for _, mb in timings):.0f} MB",
                flush=True,
            )
        return 0
    finally:
        stack.down(name)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    sys.exit(main())
