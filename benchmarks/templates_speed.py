"""`nox -s templates` for a big fleet: every hub x env rendered and validated, serial and parallel.

Generates a repo with `--hubs` hubs (default 50, so 100 hub x env renders) against the local chart
repository serving the stand-in jupyterhub chart, then, in this process with the generated repo's
own `fleet.checks`: one check (a hub's two envs checked one at a time, for `--runs` hubs: secrets
decrypted by sops, `helm template`, the Kubernetes schema validation, timed apart too), then all
of them one at a time, and all of them one per core. Goal (issue "Speed"): the parallel wall
within 1.3 x (one check x checks / cores). The validation is Python, so it shares one core (the
GIL) while helm renders run beside it: its share of a check is printed.

Usage: python benchmarks/templates_speed.py [--hubs 50] [--runs 3] [--helm helm4]
Starts its own kwok cluster, registry and chart repository (only the chart repository is used).
"""

from __future__ import annotations

import argparse
import os
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


def timed(work) -> tuple[float, object]:
    began = time.monotonic()
    result = work()
    return time.monotonic() - began, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hubs", type=int, default=50, help="hubs in the fleet (2 envs each)")
    parser.add_argument("--runs", type=int, default=3, help="single checks to time")
    parser.add_argument("--helm", default="helm4", help="helm binary in the toolchain")
    args = parser.parse_args()

    os.environ["PATH"] = f"{cache.bin_dir()}{os.pathsep}{os.environ['PATH']}"
    name = f"bench-templates-{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="bench-templates-"))
    try:
        up = stack.up(name, real_node=False)
        hubs = [f"hub{n:02}" for n in range(1, args.hubs + 1)]
        repo, extra = localrepo.generate(up, work, ",".join(hubs), args.helm)
        os.environ.update(extra)
        sys.path.insert(0, str(repo))
        from fleet.core import config  # noqa: PLC0415 - the generated repo's package
        from fleet.core.runner import Runner  # noqa: PLC0415
        from fleet.core.target import Target  # noqa: PLC0415
        from fleet.ops import checks  # noqa: PLC0415 - the generated repo's package
        from fleet.tools import chart  # noqa: PLC0415 - the generated repo's package

        fleet, runner = config.load(repo), Runner(echo=False)
        chart.dependency_build(fleet, runner)
        # One check: a hub's two envs checked one at a time, per env (median over --runs hubs).
        ones, validations = [], []
        for hub in hubs[: args.runs]:
            wall, _ = timed(lambda: checks.check_all(fleet, [fleet.hub(hub)], [], runner, 1))  # noqa: B023
            ones.append(wall / 2)
            manifests, _ = chart.render(Target.of_hub(fleet, hub, "staging"), runner)
            chart.documents.cache_clear()  # parsing is part of the validation's time
            validate, _ = timed(lambda: chart.validate_manifests(manifests, hub, "staging"))  # noqa: B023
            validations.append(validate)
        one, one_validation = statistics.median(ones), statistics.median(validations)
        every = list(fleet.hubs.values())
        cores = os.cpu_count() or 1
        walls = {}
        for jobs in (1, cores):
            walls[jobs], done = timed(lambda: checks.check_all(fleet, every, [], runner, jobs))  # noqa: B023
            failed = [c.line() for c in done if c.error]
            if failed:
                raise SystemExit("\n".join(failed))
        count = len(done)
        bound = 1.3 * one * count / cores
        ratio = walls[cores] / (one * count / cores)
        print(
            f"one check: {one:.3f}s, of which validation {one_validation:.3f}s (median of "
            f"{args.runs} hubs)"
        )
        print(
            f"{count} checks, one at a time: {walls[1]:.2f}s; {cores} at a time: {walls[cores]:.2f}s"
        )
        print(f"serial / parallel: {walls[1] / walls[cores]:.2f}")
        print(
            f"validation alone: {one_validation * count:.2f}s of one core for {count} checks "
            f"({one_validation / one:.0%} of a check)"
        )
        ok = walls[cores] <= bound
        print(
            f"{'PASS' if ok else 'FAIL'}: parallel wall / (one check x {count} / {cores} cores) = "
            f"{ratio:.2f} (goal <= 1.3, bound {bound:.2f}s)"
        )
        return 0 if ok else 1
    finally:
        stack.down(name)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    sys.exit(main())
