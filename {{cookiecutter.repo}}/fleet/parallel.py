"""Deploy many hubs in parallel, `jobs` at a time; one hub's failure never stops the others.

Safe in threads because `fleet.deploy.deploy_hub` keeps its state to itself (its own runner and
temporary KUBECONFIG); the one thing hubs share, the chart's dependencies, is fetched once first.
SIGTERM still removes the workers' decrypted secrets: see fleet.private.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import chart, images, report
from .config import Fleet
from .deploy import DeployResult, deploy_hub
from .errors import FleetError
from .release import DeployOptions
from .runner import Runner

DEFAULT_JOBS = 4


def targets_from(
    fleet: Fleet,
    *,
    hubs=(),
    env: str | None = None,
    everything: bool = False,
    plan_file: str | None = None,
    cluster: str | None = None,
) -> list[tuple[str, str]]:
    """The (hub, env) pairs to deploy, checked against the fleet before anything runs."""
    if sum(map(bool, (hubs, everything, plan_file))) != 1:
        raise FleetError("name the hubs to deploy: --hub NAME (repeatable), --all, or --plan FILE")
    if env is not None:
        fleet.check_environment(env)
    if plan_file:
        try:
            entries = json.loads(Path(plan_file).read_text())["deploy"]
            pairs = [(e["hub"], e["env"]) for e in entries]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise FleetError(f"{plan_file}: not a plan from `invoke plan --json` ({exc})") from None
        pairs = [(h, e) for h, e in pairs if env is None or e == env]
    else:
        if env is None:
            raise FleetError("--env is required with --hub and --all")
        names = sorted(fleet.hubs) if everything else list(dict.fromkeys(hubs))
        pairs = [
            (name, env) for name in names if not everything or env in fleet.hubs[name].environments
        ]
    for hub, hub_env in pairs:
        fleet.check_env(fleet.hub(hub), hub_env)
    if cluster is not None:
        if cluster not in fleet.clusters:
            raise FleetError(
                f"unknown cluster {cluster!r}; valid clusters: {', '.join(sorted(fleet.clusters))}"
            )
        pairs = [(h, e) for h, e in pairs if fleet.hubs[h].cluster == cluster]
    return pairs


def _failed(hub: str, env: str, step: str, error: str) -> DeployResult:
    return DeployResult(hub, env, ok=False, step=step, error=error)


def deploy_many(
    fleet: Fleet,
    pairs: list[tuple[str, str]],
    options: DeployOptions,
    runner: Runner,
    jobs: int = DEFAULT_JOBS,
) -> list[DeployResult]:
    """Deploy each (hub, env), `jobs` at a time; results in the order given, failures included."""
    if jobs < 1:
        raise FleetError(f"--jobs {jobs}: expected 1 or more")
    if not pairs:
        return []
    chart.dependency_build(fleet, runner)
    results: dict[tuple[str, str], DeployResult] = {}
    if options.build:
        # Each image once, before the hubs that use it; two hubs never build the same image.
        for image in sorted({fleet.hubs[h].image for h, _ in pairs if fleet.hubs[h].image}):
            try:
                if not (options.dry_run or runner.dry_run):
                    images.build(fleet, image, push=True)
            except FleetError as exc:
                for hub, env in pairs:
                    if fleet.hubs[hub].image == image:
                        results[(hub, env)] = _failed(hub, env, "image", f"build of {image}: {exc}")
        options = dataclasses.replace(options, build=False)
    todo = [pair for pair in pairs if pair not in results]

    def one(pair: tuple[str, str]) -> DeployResult:
        try:
            return deploy_hub(fleet, pair[0], pair[1], options, runner)
        except Exception as exc:  # noqa: BLE001 - one hub's surprise must not stop the others
            return _failed(*pair, "unexpected", f"{type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="deploy") as pool:
        for pair, result in zip(todo, pool.map(one, todo), strict=True):
            results[pair] = result
    return [results[pair] for pair in pairs]


def summary(results: list[DeployResult]) -> str:
    """One line per hub, then the count."""
    lines = ["", "Deploy summary:"]
    lines += [f"  {'ok    ' if r.ok else 'FAILED'} {r.summary().splitlines()[0]}" for r in results]
    failed = sum(not r.ok for r in results)
    lines.append(f"{len(results) - failed} deployed, {failed} failed")
    return "\n".join(lines)


def report_to_github(results: list[DeployResult], environ=os.environ, out=sys.stdout) -> None:
    """In GitHub Actions: an error annotation per failed hub and a table in the job summary."""
    if environ.get("GITHUB_ACTIONS") != "true":
        return
    for r in results:
        if not r.ok:
            message = r.error.replace("%", "%25").replace("\r", "").replace("\n", "%0A")
            print(f"::error title=deploy {r.hub}/{r.env} failed at {r.step}::{message}", file=out)
    path = environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    rows = []
    for r in results:
        if r.ok:
            detail = f"revision {r.revision}, image `{report.cell(r.image)}`"
        else:
            first = r.error.splitlines()[0] if r.error else ""
            detail = f"failed at {report.cell(r.step)}: {report.cell(first)}"
        outcome = "✅ deployed" if r.ok else "❌ failed"
        rows.append([report.cell(r.hub), r.env, outcome, detail])
    with open(path, "a") as handle:
        handle.write(
            "\n".join(report.markdown_table(["hub", "env", "result", "details"], rows)) + "\n"
        )
