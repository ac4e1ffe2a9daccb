"""Deploy many hubs in parallel, `jobs` at a time; one hub's failure never stops the others.

Safe in threads because `fleet.deploy.deploy_hub` keeps its state to itself (its own runner and
temporary KUBECONFIG); the one thing hubs share, the chart's dependencies, is fetched once first.
SIGTERM still removes the workers' decrypted secrets: see fleet.private.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import resource
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import chart, images, private, report
from .config import SUPPORT_RELEASE, Fleet
from .credentials import Kubeconfigs
from .deploy import DeployResult, deploy_hub, deploy_support
from .errors import FleetError
from .progress import Progress
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
        fleet.fleet_env(env)
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
        fleet.hub_env(fleet.hub(hub), hub_env)
    if cluster is not None:
        if cluster not in fleet.clusters:
            raise FleetError(
                f"unknown cluster {cluster!r}; valid clusters: {', '.join(sorted(fleet.clusters))}"
            )
        pairs = [(h, e) for h, e in pairs if fleet.hubs[h].cluster == cluster]
    return pairs


def support_from(
    fleet: Fleet,
    *,
    plan_file: str | None = None,
    env: str | None = None,
    cluster: str | None = None,
    support: bool = False,
) -> list[str]:
    """The clusters whose support chart a run deploys: the plan's, or every one with --support.

    Support goes with the first environment (the canary): never in a run of prod alone.
    """
    if env is not None and env != fleet.environments[0]:
        return []
    if plan_file:
        try:
            names = [
                e["cluster"] for e in json.loads(Path(plan_file).read_text()).get("support", [])
            ]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise FleetError(f"{plan_file}: not a plan from `invoke plan --json` ({exc})") from None
    else:
        names = sorted(fleet.clusters) if support else []
    for name in names:
        if name not in fleet.clusters:
            raise FleetError(f"{plan_file}: support of unknown cluster {name!r}")
    return [name for name in names if cluster is None or name == cluster]


def _failed(hub: str, env: str, step: str, error: str) -> DeployResult:
    return DeployResult(hub, env, ok=False, step=step, error=error)


def _skipped(hub: str, env: str, why: str) -> DeployResult:
    return DeployResult(hub, env, ok=False, step="skipped", error=why, skipped=True)


@contextlib.contextmanager
def _cancelled_on_exit(pool: ThreadPoolExecutor) -> Iterator[None]:
    """Interrupted (Ctrl-C, SIGTERM): the queued deploys are dropped, the running ones end."""
    try:
        yield
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise


def _guarded(work, key: tuple[str, str]) -> DeployResult:
    try:
        return work()
    except Exception as exc:  # noqa: BLE001 - one hub's surprise must not stop the others
        return _failed(*key, "unexpected", f"{type(exc).__name__}: {exc}")


def _build_first(fleet, pairs, options, runner, results) -> DeployOptions:
    """Each image once, before the hubs that use it; two hubs never build the same image."""
    for image in sorted({fleet.hubs[h].image for h, _ in pairs if fleet.hubs[h].image}):
        try:
            if not (options.dry_run or runner.dry_run):
                images.build(fleet, image, push=True)
        except FleetError as exc:
            for hub, env in pairs:
                if fleet.hubs[hub].image == image:
                    results[(hub, env)] = _failed(hub, env, "image", f"build of {image}: {exc}")
    return dataclasses.replace(options, build=False)


def deploy_many(
    fleet: Fleet,
    pairs: list[tuple[str, str]],
    options: DeployOptions,
    runner: Runner,
    jobs: int = DEFAULT_JOBS,
    support: list[str] | tuple[str, ...] = (),
    blocked: dict[str, str] | None = None,
) -> list[DeployResult]:
    """Deploy each cluster's support, then its hubs env by env, `jobs` at a time.

    A cluster whose support failed has its hubs skipped; a hub that failed in an environment
    (its deploy or its health check) skips every hub of that cluster in the later environments
    (staging is the canary of prod); the other clusters go on. `blocked` (cluster -> why, from
    `blocked_by` an earlier run's results) holds back clusters from the start. Results: support
    first, then the pairs in the order given, failures and skips included.
    """
    if jobs < 1:
        raise FleetError(f"--jobs {jobs}: expected 1 or more")
    if not pairs and not support:
        return []
    blocked = dict(blocked or {})  # cluster -> why its (later) hubs are skipped
    if any(fleet.hubs[hub].cluster not in blocked for hub, _ in pairs):
        chart.dependency_build(fleet, runner)
    results: dict[tuple[str, str], DeployResult] = {}
    if options.build:
        options = _build_first(fleet, pairs, options, runner, results)

    kubeconfigs = Kubeconfigs(fleet, options.access)  # each cluster's, once for the run
    shown = Progress(len(support) + len(pairs))
    for key, result in results.items():  # images that failed to build
        shown.finished("/".join(key), result.ok, result.skipped)

    def counted(work, key: tuple[str, str]) -> DeployResult:
        if private.stopping():  # SIGTERM: what has not started does not start
            result = _skipped(*key, "the run was terminated (SIGTERM) before it started")
            shown.finished("/".join(key), False, skipped=True)
            return result
        shown.started("/".join(key))
        result = _guarded(work, key)
        shown.finished("/".join(key), result.ok)
        return result

    def one_support(cluster: str) -> DeployResult:
        work = lambda: deploy_support(fleet, cluster, options, runner, kubeconfigs)  # noqa: E731
        return counted(work, (cluster, SUPPORT_RELEASE))

    def one_hub(pair: tuple[str, str]) -> DeployResult:
        work = lambda: deploy_hub(fleet, *pair, options, runner, kubeconfigs)  # noqa: E731
        return counted(work, pair)

    with (
        kubeconfigs,
        shown,
        ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="deploy") as pool,
        _cancelled_on_exit(pool),
    ):
        for cluster, result in zip(support, pool.map(one_support, support), strict=True):
            results[(cluster, SUPPORT_RELEASE)] = result
            if not result.ok:
                blocked[cluster] = f"the support deploy of cluster {cluster} failed"
        for env in fleet.environments:
            todo = [p for p in pairs if p[1] == env and p not in results]
            for hub, _ in todo:
                why = blocked.get(fleet.hubs[hub].cluster)
                if why:
                    results[(hub, env)] = _skipped(hub, env, why)
                    shown.finished(f"{hub}/{env}", False, skipped=True)
            todo = [p for p in todo if p not in results]
            for pair, result in zip(todo, pool.map(one_hub, todo), strict=True):
                results[pair] = result
            for (hub, hub_env), result in list(results.items()):
                if hub_env == env and not result.ok and not result.skipped:
                    cluster = fleet.hubs[hub].cluster
                    blocked.setdefault(cluster, f"{env} hub {hub} of cluster {cluster} failed")
    return [results[key] for key in [(c, SUPPORT_RELEASE) for c in support] + list(pairs)]


def results_json(fleet: Fleet, results: list[DeployResult]) -> str:
    """A run's results as JSON, for `--after` of a later run (the workflow's prod job), with each
    release's steps and their wall and CPU seconds (CPU is the process's: shared under --jobs),
    and the deploy process's peak memory."""
    rows = []
    for r in results:
        support = r.env == SUPPORT_RELEASE
        rows.append(
            {
                "hub": None if support else r.hub,
                "env": r.env,
                "cluster": r.hub if support else fleet.hubs[r.hub].cluster,
                "result": "deployed" if r.ok else "skipped" if r.skipped else "failed",
                "step": r.step,
                "error": r.error,
                "revision": r.revision,
                "seconds": round(r.duration, 3),
                "steps": [
                    {"step": step, "wall": round(wall, 3), "cpu": round(cpu, 3)}
                    for step, wall, cpu in r.timings
                ],
            }
        )
    # This process's peak memory (Linux reports kilobytes), helm's and kubectl's apart.
    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return json.dumps({"results": rows, "peak_memory_mb": peak}, indent=2) + "\n"


def blocked_by(fleet: Fleet, results_file: str) -> dict[str, str]:
    """cluster -> why its hubs wait, from an earlier run's `--results` file.

    The same rule as within one run: a failed or skipped support or hub holds back the hubs of its
    cluster in this run. Clusters are matched by their exact names.
    """
    path = Path(results_file)
    try:
        rows = json.loads(path.read_text())["results"]
        found = [(r["cluster"], r["env"], r["hub"], r["result"]) for r in rows]
    except FileNotFoundError:
        raise FleetError(
            f"{results_file}: no such results file (from `--results` of an earlier run)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FleetError(
            f"{results_file}: not a results file of `invoke deploy --results` ({exc})"
        ) from None
    blocked: dict[str, str] = {}
    for cluster, env, hub, result in found:
        if result == "deployed":
            continue
        if cluster not in fleet.clusters:
            raise FleetError(f"{results_file}: a result on unknown cluster {cluster!r}")
        what = (
            f"the support deploy of cluster {cluster}"
            if env == SUPPORT_RELEASE
            else (f"{env} hub {hub} of cluster {cluster}")
        )
        blocked.setdefault(
            cluster, f"{what} {'was skipped' if result == 'skipped' else 'failed'} ({path.name})"
        )
    return blocked


def summary(results: list[DeployResult]) -> str:
    """One line per support release and hub, then the counts."""
    lines = ["", "Deploy summary:"]
    for r in results:
        mark = "ok     " if r.ok else "SKIPPED" if r.skipped else "FAILED "
        lines.append(f"  {mark} {r.summary().splitlines()[0]}")
    skipped = sum(r.skipped for r in results)
    failed = sum(not r.ok for r in results) - skipped
    lines.append(f"{len(results) - failed - skipped} deployed, {failed} failed, {skipped} skipped")
    return "\n".join(lines)


def report_to_github(results: list[DeployResult], environ=os.environ, out=sys.stdout) -> None:
    """In GitHub Actions: an error annotation per failed hub and a table in the job summary."""
    if environ.get("GITHUB_ACTIONS") != "true":
        return
    for r in results:
        if not r.ok:
            message = r.error.replace("%", "%25").replace("\r", "").replace("\n", "%0A")
            what = "skipped" if r.skipped else f"failed at {r.step}"
            print(f"::error title=deploy {r.hub}/{r.env} {what}::{message}", file=out)
    path = environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    rows = []
    for r in results:
        first = r.error.splitlines()[0] if r.error else ""
        if r.ok:
            detail = f"revision {r.revision}, image `{report.cell(r.image)}`"
        elif r.skipped:
            detail = report.cell(first)
        else:
            detail = f"failed at {report.cell(r.step)}: {report.cell(first)}"
        outcome = "✅ deployed" if r.ok else "⏭️ skipped" if r.skipped else "❌ failed"
        rows.append([report.cell(r.hub), r.env, outcome, detail])
    with open(path, "a") as handle:
        handle.write(
            "\n".join(report.markdown_table(["hub", "env", "result", "details"], rows)) + "\n"
        )
