"""A real hub deployed with its health check: the deploy's output, and each step's time.

Generates a repo with one hub whose hub, proxy and user servers run on the real node (the
JupyterHub images `invoke toolchain` built, the user image `invoke build` makes), deploys it
(helm, rollout, then the health check: hub API, a test user's server, code run in a kernel),
then runs `invoke health` on its own, `--runs` times.

Usage: python benchmarks/health_check.py [--runs 3] [--show]
Starts its own cluster (with the machine's one real node), registry and chart repository
(toolchain.stack) and stops them after.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]  # a script

import localrepo  # noqa: E402
from bake import run_in  # noqa: E402
from generated import on_the_real_node  # noqa: E402

from toolchain import chartrepo, node, stack  # noqa: E402

STEP = re.compile(r"health check: (.+) ok \(([\d.]+)s\)")


def on_the_node(values_file: Path) -> None:
    """Every pod of the chart on the real node, with the chart's default storage."""
    values = yaml.safe_load(values_file.read_text())
    on_the_real_node(values["jupyterhub"])
    values_file.write_text(yaml.safe_dump(values, sort_keys=False))


class HubOnTheNode(NamedTuple):
    name: str  # the stack's
    up: stack.Stack
    work: Path  # a scratch folder, removed after
    repo: Path
    env: dict[str, str]  # for the repo's tasks


@contextlib.contextmanager
def hub_on_the_node(prefix: str) -> Iterator[HubOnTheNode]:
    """A stack of its own and a generated repo whose hub `alpha` (hub, proxy, user servers) runs
    on the real node, its user image built and pushed, health check on. Stops the stack and
    removes the images and the work folder after."""
    name = f"{prefix}-{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    images = []
    try:
        up = stack.up(name)
        repo, env = localrepo.generate(up, work, "alpha", "helm4")
        images = list(chartrepo.mirror_refs(f"{up.registry.address}/mirror"))
        for image in images:  # the hub gives its proxy 30 s: no first pull inside that
            node.pull(up.node, image)
        env["FLEET_HEALTH_CHECK"] = "on"
        on_the_node(repo / "hubs" / "alpha" / "values.yaml")
        run_in(repo, ["git", "commit", "-qam", "alpha on the real node"])
        run_in(repo, ["invoke", "build", "--push"], env=env)
        yield HubOnTheNode(name, up, work, repo, env)
    finally:
        subprocess.run(["docker", "image", "rm", *images], capture_output=True, check=False)
        stack.down(name)
        subprocess.run(["rm", "-rf", str(work)], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="`invoke health` runs to time")
    parser.add_argument("--show", action="store_true", help="print the deploy's output")
    args = parser.parse_args()

    with hub_on_the_node("bench-health") as hub:
        repo, env = hub.repo, hub.env
        started = time.monotonic()
        deploy = run_in(repo, ["invoke", "deploy", "--hub", "alpha", "--env", "staging"], env=env)
        print(f"deploy with its health check: {time.monotonic() - started:.1f}s", flush=True)
        if args.show:
            print(
                deploy.stderr[deploy.stderr.find("==> [alpha/staging] health check") :],
                deploy.stdout,
            )
        for run in range(args.runs):
            started = time.monotonic()
            check = run_in(
                repo, ["invoke", "health", "--hub", "alpha", "--env", "staging"], env=env
            )
            steps = ", ".join(f"{s} {t}s" for s, t in STEP.findall(check.stderr))
            print(
                f"invoke health {run + 1}: {time.monotonic() - started:.1f}s ({steps})", flush=True
            )
        return 0


if __name__ == "__main__":
    sys.exit(main())
