"""Where one hub's deploy spends its time and CPU, step by step, against a bare `helm upgrade --wait`.

Generates a repo (two hubs) on a local stack with fake nodes only, builds its image, deploys hub
alpha to staging once, then, `--runs` times, in turns:
  - `invoke deploy --hub alpha --env staging --results FILE` with a changed value (a real upgrade):
    the wall and CPU seconds of the whole process tree (getrusage of the children), and each
    step's wall and CPU seconds from the results file;
  - a bare `helm upgrade --install --wait --reuse-values` of the same release, chart and values
    with a changed value: helm's own wall and CPU seconds.
Ours is the deploy's CPU minus the bare helm's. Then the same per hub of a fleet: `--fleet` hubs
upgraded by one `invoke deploy --all --env staging --jobs 1` (python's start, the chart's
dependencies and each cluster's credentials are once per run), against as many bare upgrades.
Goals (issue "Speed 2"): (b) our CPU per hub of a 24-hub run at most 0.25 of helm's own CPU
for the same upgrade; one hub's deploy wall at most 1.2 x the bare helm's (the health check is
off on both sides: nothing serves on fake nodes; benchmarks/health_check.py measures it). Ratios
are from one run of this script; absolute seconds are noisy. `--show` prints the output of one
deploy (the commands and requests it makes, as the generated README shows them).

Usage: python benchmarks/deploy_breakdown.py [--runs 5] [--fleet 24] [--helm helm4] [--show]
Starts its own kwok cluster (no real node), registry and chart repository and stops them after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(
    argv: list[str], cwd: Path, env: dict[str, str], show: bool = False
) -> tuple[float, float]:
    """(wall, CPU) seconds of a command and everything it waited for."""
    cpu, wall = children_cpu(), time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall, cpu = time.monotonic() - wall, children_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    if show:
        print(f"$ {' '.join(argv)}\n{proc.stderr}{proc.stdout}", flush=True)
    return wall, cpu


def bare_argv(helm: str, release: str) -> list[str]:
    """helm's own upgrade of the release: same chart, its values as deployed, and --wait."""
    argv = [helm, "upgrade", "--install", release, "chart", "--namespace", release]
    return argv + ["--reuse-values", "--wait", "--timeout", "5m"]


def fleet_run(repo, env, extra, hubs, bases, helm, work) -> tuple[float, float]:
    """CPU seconds per hub: one `invoke deploy --all` upgrading every hub, and bare upgrades."""
    everything = ["invoke", "deploy", "--all", "--env", "staging", "--jobs", "1"]
    timed(everything, repo, env)  # installs the hubs not deployed yet, untimed
    for hub in hubs:
        (repo / "hubs" / hub / "values.yaml").write_text(bases[hub] + "  custom:\n    fleet: 1\n")
    results = work / "results-fleet.json"
    wall, cpu = timed([*everything, "--results", str(results)], repo, env)
    upgraded = [r for r in json.loads(results.read_text())["results"] if r["result"] == "deployed"]
    if len(upgraded) != len(hubs):
        raise SystemExit(f"the fleet deploy upgraded {len(upgraded)} of {len(hubs)} hubs")
    bare_cpu = 0.0
    for hub in hubs:
        argv = [*bare_argv(helm, f"{hub}-staging"), "--set", "jupyterhub.custom.fleet-bare=1"]
        bare_cpu += timed(argv, repo, {**env, "KUBECONFIG": extra["FLEET_KUBECONFIG"]})[1]
    print(
        f"\n{len(hubs)} hubs in one deploy (--jobs 1): wall {wall:.2f}s, CPU {cpu:.2f}s; "
        f"{len(hubs)} bare helm upgrades: CPU {bare_cpu:.2f}s"
    )
    return cpu / len(hubs), bare_cpu / len(hubs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="deploys and bare upgrades to time")
    parser.add_argument("--fleet", type=int, default=24, help="hubs upgraded in one run (>= 2)")
    parser.add_argument("--show", action="store_true", help="print one deploy's output")
    parser.add_argument("--helm", default="helm4", help="helm binary in the toolchain")
    args = parser.parse_args()

    os.environ["PATH"] = f"{cache.bin_dir()}{os.pathsep}{os.environ['PATH']}"
    # Python caches compiled modules, as it does for a user: without, each run compiles them all.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    name = f"bench-breakdown-{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="bench-breakdown-"))
    try:
        up = stack.up(name, real_node=False)
        hubs = ["alpha", *(f"hub{n:02}" for n in range(1, max(2, args.fleet)))]
        repo, extra = localrepo.generate(up, work, ",".join(hubs), args.helm)
        env = {**os.environ, **extra}
        # No volume on fake nodes: a PVC would never bind and helm --wait would wait for it.
        bases = {}
        for hub in hubs:
            path = repo / "hubs" / hub / "values.yaml"
            bases[hub] = localrepo.with_memory_db(path.read_text())
            path.write_text(bases[hub])
        values, base = repo / "hubs" / "alpha" / "values.yaml", bases["alpha"]
        timed(["invoke", "build", "--push"], repo, env)
        deploy = ["invoke", "deploy", "--hub", "alpha", "--env", "staging"]
        timed(deploy, repo, env)  # the first install, untimed
        helm = str(cache.bin_dir() / args.helm)
        ours, bare, steps = [], [], {}
        for run in range(args.runs):
            values.write_text(base + f"  custom:\n    bench-run: {run}\n")
            results = work / f"results-{run}.json"
            shown = args.show and run == 0
            ours.append(timed([*deploy, "--results", str(results)], repo, env, shown))
            for row in json.loads(results.read_text())["results"][0]["steps"]:
                steps.setdefault(row["step"], []).append((row["wall"], row["cpu"]))
            argv = [*bare_argv(helm, "alpha-staging"), "--set", f"jupyterhub.custom.bare={run}"]
            bare.append(timed(argv, repo, {**env, "KUBECONFIG": extra["FLEET_KUBECONFIG"]}))
            print(
                f"run {run + 1}: invoke deploy {ours[-1][0]:5.2f}s wall {ours[-1][1]:5.2f}s CPU;"
                f"  bare helm upgrade --wait {bare[-1][0]:5.2f}s wall {bare[-1][1]:5.2f}s CPU",
                flush=True,
            )
        med = statistics.median
        deploy_wall, deploy_cpu = med(w for w, _ in ours), med(c for _, c in ours)
        helm_wall, helm_cpu = med(w for w, _ in bare), med(c for _, c in bare)
        print(
            f"\nSteps of `invoke deploy` (median of {args.runs}; CPU of the process and its commands):"
        )
        print(f"  {'step':24} {'wall s':>7} {'CPU s':>7}")
        for step, rows in steps.items():
            print(f"  {step:24} {med(w for w, _ in rows):7.3f} {med(c for _, c in rows):7.3f}")
        stepped = sum(med(c for _, c in rows) for rows in steps.values())
        print(f"  {'(python start, imports)':24} {'':7} {deploy_cpu - stepped:7.3f}")
        ratio_cpu = (deploy_cpu - helm_cpu) / helm_cpu
        ratio_wall = deploy_wall / helm_wall
        print(
            f"\ninvoke deploy: wall {deploy_wall:.2f}s, CPU {deploy_cpu:.2f}s; "
            f"bare helm upgrade --wait: wall {helm_wall:.2f}s, CPU {helm_cpu:.2f}s"
        )
        print(f"one hub: our CPU / helm's CPU = {ratio_cpu:.2f}")
        print(
            f"{'PASS' if ratio_wall <= 1.2 else 'FAIL'}: deploy wall / bare helm wall = "
            f"{ratio_wall:.2f} (goal <= 1.2)"
        )
        per_hub, helm_per_hub = fleet_run(repo, env, extra, hubs, bases, helm, work)
        ratio_fleet = (per_hub - helm_per_hub) / helm_per_hub
        print(
            f"{'PASS' if ratio_fleet <= 0.25 else 'FAIL'}: per hub of a {len(hubs)}-hub deploy, "
            f"our CPU / helm's CPU = {ratio_fleet:.2f} (goal <= 0.25; deploy "
            f"{per_hub:.2f}s CPU per hub, bare helm {helm_per_hub:.2f}s)"
        )
        return 0 if ratio_fleet <= 0.25 and ratio_wall <= 1.2 else 1
    finally:
        stack.down(name)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    sys.exit(main())
