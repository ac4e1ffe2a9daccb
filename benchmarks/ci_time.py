"""CI time as an organisation feels it: the generated deploy workflow, run by act on a push to
`staging`: act's wall time for the run, and how that time splits.

Two fleets, each deployed once by hand first (as an operator's first deploy), then changed and
pushed, `--runs` times (each run a new change):
1. `one-hub`: one hub on the real node, whose image and values change: plan, the image's build
   and push to the registry, the hub's deploy and its health check (a test user's server started
   and code run in it);
2. `shared-chart`: `--hubs` hubs (default 10) over 2 clusters (two control planes, kwok's fake
   nodes), and a change to the shared chart's values, which plans every hub: plan, then one
   deploy job per cluster, side by side. Nothing serves on fake nodes: the health check is off
   there (FLEET_HEALTH_CHECK=off on the runner), and no image is built.

The split is the sum of act's step times by kind: set-up (checkout, setup-python, pip, sops,
artifacts, the labels call, notify, post steps), plan (`invoke plan`), build (`invoke build`),
deploy (`invoke deploy`, less its health checks) and health (the health checks' steps, from the
deploy's output). The jobs of a matrix run side by side, so the parts add up to more than the wall.
Jobs run on the host (act `-P ubuntu-24.04=-self-hosted`), so there is no runner to boot: a hosted
runner's start and its image pull are not in these numbers.

Usage: python benchmarks/ci_time.py [--runs 1] [--hubs 10] [--only one-hub|shared-chart]
Needs `invoke toolchain` (act among it). Starts its own stack (a cluster with the machine's real
node, registry, chart repository) and a second kwok cluster, and stops them after.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]  # a script

from generated import LocalStack, local_repo, on_the_real_node, remove_support  # noqa: E402
from workflowrun import Actions, Run  # noqa: E402

from toolchain import cache, chartrepo, node, stack, versions  # noqa: E402

KINDS = ("set-up", "plan", "build", "deploy", "health")
HEALTH = re.compile(r"health check passed \(([^)]*)\)")
HEALTH_STEP = re.compile(r"([\d.]+)s")


def split(run: Run) -> dict[str, float]:
    """Seconds of each kind of step in a run (see the module's docstring)."""
    parts = dict.fromkeys(KINDS, 0.0)
    for step in run.steps():
        if step.name == "Main Plan":
            parts["plan"] += step.seconds
        elif step.name == "Main Build and push":
            parts["build"] += step.seconds
        elif step.name.startswith("Main Deploy"):
            parts["deploy"] += step.seconds
        else:
            parts["set-up"] += step.seconds
    for timed in HEALTH.findall(run.output):
        seconds = sum(float(n) for n in HEALTH_STEP.findall(timed))
        parts["health"] += seconds
        parts["deploy"] -= seconds
    return parts


def age_key(work: Path) -> types.SimpleNamespace:
    key_file = work / "age.txt"
    subprocess.run(["age-keygen", "-o", str(key_file)], check=True, capture_output=True)
    public = next(
        line.split(":", 1)[1].strip()
        for line in key_file.read_text().splitlines()
        if line.startswith("# public key:")
    )
    return types.SimpleNamespace(public=public, key_file=key_file)


def report(name: str, runs: list[Run]) -> None:
    walls = [run.seconds for run in runs]
    print(
        f"{name}: wall {' '.join(f'{w:.1f}s' for w in walls)} (median {statistics.median(walls):.1f}s)"
    )
    parts = [split(run) for run in runs]
    shown = ", ".join(f"{k} {statistics.median(p[k] for p in parts):.1f}s" for k in KINDS)
    jobs = sorted({step.job for step in runs[0].steps()})
    print(f"  split (median step seconds): {shown}")
    print(f"  jobs: {len(jobs)} ({'; '.join(jobs)})", flush=True)


def pushed(fleet, ci: Actions, message: str, secrets: dict, env: dict) -> Run:
    fleet.commit(message)
    run = ci.push_event("staging", "deploy.yaml", secrets=secrets, env=env)
    if not run.ok:
        raise SystemExit(f"the run for {message!r} failed:\n{run.output[-6000:]}")
    return run


def one_hub(local: LocalStack, work: Path, runs: int) -> list[Run]:
    fleet = local_repo(work / "one", local, org="Ci-one", hubs="alpha")
    del fleet.env["FLEET_KUBECONFIG"]
    fleet.kubeconfig_in_repo("main", local.kubeconfig)
    fleet.edit_values("alpha", on_the_real_node)
    fleet.commit("alpha on the real node")
    fleet.git("branch", "--force", "prod", "staging")
    fleet.invoke("build", "--push")
    fleet.invoke("deploy", "--all", "--support", "--env", "staging", "--no-health-check")
    secrets = {"SOPS_AGE_KEY": local.age_secret_key()}
    env = {"FLEET_BASE_IMAGE": local.base_image}
    done = []
    with Actions(fleet.path, work / "one-ci") as ci:
        ci.push("staging", "prod")
        fleet.git("update-ref", "refs/remotes/origin/staging", "staging")
        for number in range(1, runs + 1):
            dockerfile = fleet.path / "images/default/Dockerfile"
            dockerfile.write_text(dockerfile.read_text() + f"ENV FLEET_CI_TIME={number}\n")
            limit = f"{1 + number}G"
            fleet.edit_values(
                "alpha", lambda v, m=limit: v["singleuser"].update(memory={"limit": m})
            )
            run = pushed(fleet, ci, f"alpha: a new image and {limit}", secrets, env)
            if "health check passed" not in run.output or "build default" not in run.output:
                raise SystemExit(f"run {number} built or checked nothing:\n{run.output[-6000:]}")
            done.append(run)
            print(f"one-hub run {number}: {run.seconds:.1f}s", flush=True)
    for env_name in ("staging", "prod"):
        fleet.remove_release(f"alpha-{env_name}")
    return done


def shared_chart(local: LocalStack, second: Path, work: Path, hubs: int, runs: int) -> list[Run]:
    names = [f"h{n:02d}" for n in range(1, hubs + 1)]
    fleet = local_repo(work / "many", local, org="Ci-many", hubs=",".join(names))
    del fleet.env["FLEET_KUBECONFIG"]
    fleet.kubeconfig_in_repo("main", local.kubeconfig)
    fleet.kubeconfig_in_repo("two", second)
    for part in ("support.yaml", "secrets/support.yaml"):
        shutil.copy(fleet.path / "clusters/main" / part, fleet.path / "clusters/two" / part)
    fleet.unpulled_image(*names)
    for hub in names[1::2]:
        path = fleet.path / "hubs" / hub / "hub.yaml"
        path.write_text(path.read_text().replace("cluster: main", "cluster: two"))
    fleet.commit(f"{hubs} hubs on two clusters")
    fleet.git("branch", "--force", "prod", "staging")
    fleet.invoke("deploy", "--all", "--support", "--env", "staging", "--no-health-check")
    secrets = {"SOPS_AGE_KEY": local.age_secret_key()}
    env = {"FLEET_BASE_IMAGE": local.base_image, "FLEET_HEALTH_CHECK": "off"}
    done = []
    with Actions(fleet.path, work / "many-ci") as ci:
        ci.push("staging", "prod")
        fleet.git("update-ref", "refs/remotes/origin/staging", "staging")
        for number in range(1, runs + 1):
            values = fleet.path / "chart" / "values.yaml"
            text = values.read_text()
            if number == 1:  # the chart's values end inside `jupyterhub:`
                text += f"  cull:\n    timeout: {3600 + number}\n"
            else:
                text = text.replace(f"timeout: {3599 + number}\n", f"timeout: {3600 + number}\n")
            values.write_text(text)
            run = pushed(fleet, ci, f"chart: cull after {3600 + number}s", secrets, env)
            deployed = len(re.findall(r"h\d\d/staging: deployed revision", run.output))
            if deployed != hubs:
                raise SystemExit(f"run {number} deployed {deployed} hubs, not {hubs}")
            done.append(run)
            print(f"shared-chart run {number}: {run.seconds:.1f}s", flush=True)
    for kubeconfig in (local.kubeconfig, second):
        remove_support(local.helm, kubeconfig)
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="pushes to time in each fleet")
    parser.add_argument("--hubs", type=int, default=10, help="hubs of the shared-chart fleet")
    parser.add_argument("--only", choices=("one-hub", "shared-chart"), help="one fleet alone")
    args = parser.parse_args()
    if not (cache.bin_dir() / "act").exists():
        raise SystemExit("error: act is not in the toolchain: run `invoke toolchain` first")

    name = f"bench-ci-{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="bench-ci-"))
    second_dir = work / "second-cluster"
    pushed_images: list[str] = []
    try:
        up = stack.up(name)
        second = stack.start_cluster(second_dir, f"{name}-b").kubeconfig
        mirror = f"{up.registry.address}/mirror"
        pushed_images = chartrepo.push_mirror(mirror)
        for target in chartrepo.mirror_refs(mirror):  # the hub gives its proxy 30 s to start
            node.pull(up.node, target)
        local = LocalStack(
            up.cluster.kubeconfig, up.registry.address, up.chart_repo.url, versions.BASE_IMAGE,
            age_key(work), cache.bin_dir() / "helm4", mirror,
        )  # fmt: skip
        results = {}
        if args.only in (None, "one-hub"):
            results["one-hub (1 hub, image and values, health check)"] = one_hub(
                local, work, args.runs
            )
        if args.only in (None, "shared-chart"):
            results[f"shared-chart ({args.hubs} hubs, 2 clusters, no health check)"] = shared_chart(
                local, second, work, args.hubs, args.runs
            )
        for title, runs in results.items():
            report(title, runs)
        return 0
    finally:
        stack.stop_cluster(second_dir)
        subprocess.run(["docker", "image", "rm", *pushed_images], capture_output=True, check=False)
        stack.down(name)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
