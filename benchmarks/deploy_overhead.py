"""How much time `invoke deploy` adds to helm's own `upgrade --wait`, for one hub on the local cluster.

Generates a repo (two hubs), builds its image, then deploys hub alpha to staging several times,
changing a value each time so that every deploy is a real upgrade. For each deploy it records the
wall time of the whole `invoke deploy` process (python start, config validation, credentials,
registry check, sops, dependency build, helm upgrade --wait, rollout status, record) and the
time of the helm upgrade process alone, which the deploy prints in its summary.

The goal (issue 4): overhead = total - helm <= 10 s.

Usage: python benchmarks/deploy_overhead.py [--runs 5] [--helm helm4]
Starts its own kwok cluster, registry and chart repository (toolchain.stack) and stops them after.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]  # a script

import localrepo  # noqa: E402
from bake import run_in  # noqa: E402

from toolchain import cache, stack  # noqa: E402

GOAL_SECONDS = 10.0
SUMMARY = re.compile(r"deployed revision (\d+), image \S+, ([\d.]+)s \(helm upgrade ([\d.]+)s\)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="deploys to time (default 5)")
    parser.add_argument(
        "--helm", default="helm4", help="helm binary in the toolchain (helm3 or helm4)"
    )
    args = parser.parse_args()

    os.environ["PATH"] = f"{cache.bin_dir()}{os.pathsep}{os.environ['PATH']}"
    name = f"bench-deploy-{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    try:
        up = stack.up(name)
        repo, env = localrepo.generate(up, work, "alpha,beta", args.helm)
        values = repo / "hubs" / "alpha" / "values.yaml"
        base = localrepo.with_memory_db(values.read_text())
        run_in(repo, ["invoke", "build", "--push"], env=env)
        rows = []
        for run in range(args.runs):
            # A new value each time: every deploy is a real upgrade with a new hub Secret.
            values.write_text(base + f"  custom:\n    bench-run: {run}\n")
            started = time.monotonic()
            proc = run_in(repo, ["invoke", "deploy", "--hub", "alpha", "--env", "staging"], env=env)
            total = time.monotonic() - started
            match = SUMMARY.search(proc.stdout)
            if not match:
                raise SystemExit(f"no deploy summary in output:\n{proc.stdout}\n{proc.stderr}")
            helm = float(match.group(3))
            rows.append((int(match.group(1)), total, helm, total - helm))
            print(
                f"revision {rows[-1][0]}: total {total:5.2f}s  helm upgrade --wait {helm:5.2f}s  "
                f"overhead {total - helm:5.2f}s",
                flush=True,
            )
        overheads = [r[3] for r in rows]
        worst = max(overheads)
        verdict = "PASS" if worst <= GOAL_SECONDS else "FAIL"
        print(
            f"{verdict}: deploy overhead beyond helm's upgrade --wait ({args.helm}, {len(rows)} runs): "
            f"median {statistics.median(overheads):.2f}s, max {worst:.2f}s (goal <= {GOAL_SECONDS:.0f}s)"
        )
        return 0 if verdict == "PASS" else 1
    finally:
        stack.down(name)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    sys.exit(main())
