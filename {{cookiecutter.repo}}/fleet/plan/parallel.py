"""Deploy many hubs in parallel, `jobs` at a time; one hub's failure never stops the others.

Safe in threads because `fleet.deploy.deploy` keeps its state to itself (its own runner and
temporary KUBECONFIG); the one thing hubs share, the chart's dependencies, is fetched once first.
SIGTERM still removes the workers' decrypted secrets: see fleet.private.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import resource
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fleet.core import output, private, settings
from fleet.core.config import SUPPORT_RELEASE, Fleet
from fleet.core.errors import Failure, FleetError
from fleet.core.output import Progress
from fleet.core.runner import Runner
from fleet.core.target import Target
from fleet.plan import report
from fleet.release.deploy import DeployResult, deploy
from fleet.release.release import DeployOptions
from fleet.tools import chart, images
from fleet.tools.credentials import Kubeconfigs

DEFAULT_JOBS = 4


def targets_from(
    fleet: Fleet,
    *,
    hubs=(),
    env: str | None = None,
    everything: bool = False,
    plan_file: str | None = None,
    cluster: str | None = None,
) -> list[Target]:
    """The hub x env targets to deploy, checked against the fleet before anything runs."""
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
    targets = [Target.of_hub(fleet, hub, hub_env) for hub, hub_env in pairs]
    if cluster is not None:
        fleet.cluster(cluster)
        targets = [t for t in targets if t.cluster == cluster]
    return targets


def support_from(
    fleet: Fleet,
    *,
    plan_file: str | None = None,
    env: str | None = None,
    cluster: str | None = None,
    support: bool = False,
) -> list[Target]:
    """The clusters' support releases a run deploys: the plan's, or every one with --support.

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
    if cluster is not None:
        fleet.cluster(cluster)
    return [Target.support(fleet, name) for name in names if cluster is None or name == cluster]


def _failed(target: Target, step: str, error: str) -> DeployResult:
    return DeployResult(target, ok=False, step=step, error=error)


def _skipped(target: Target, why: str) -> DeployResult:
    return DeployResult(target, ok=False, step="skipped", error=why, skipped=True)


@contextlib.contextmanager
def _cancelled_on_exit(pool: ThreadPoolExecutor) -> Iterator[None]:
    """Interrupted (Ctrl-C, SIGTERM): the queued deploys are dropped, the running ones end."""
    try:
        yield
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise


def _guarded(work, target: Target) -> DeployResult:
    try:
        return work()
    except Exception as exc:  # noqa: BLE001 - one hub's surprise must not stop the others
        return _failed(target, "unexpected", f"{type(exc).__name__}: {exc}")


def _build_first(fleet, targets, options, runner, results) -> DeployOptions:
    """Each image once, before the hubs that use it; two hubs never build the same image."""
    for image in sorted({t.hub.image for t in targets if t.hub.image}):
        try:
            if not (options.dry_run or runner.dry_run):
                images.build(fleet, image, push=True)
        except Failure as exc:
            for target in targets:
                if target.hub.image == image:
                    results[target.label] = _failed(target, "image", f"build of {image}: {exc}")
    return dataclasses.replace(options, build=False)


def deploy_many(
    fleet: Fleet,
    targets: list[Target],
    options: DeployOptions,
    runner: Runner,
    jobs: int = DEFAULT_JOBS,
    support: list[Target] | tuple[Target, ...] = (),
    blocked: dict[str, str] | None = None,
) -> list[DeployResult]:
    """Deploy each cluster's support, then its hubs env by env, `jobs` at a time.

    A cluster whose support failed has its hubs skipped; a hub that failed in an environment
    (its deploy or its health check) skips every hub of that cluster in the later environments
    (staging is the canary of prod); the other clusters go on. `blocked` (cluster -> why, from
    `blocked_by` an earlier run's results) holds back clusters from the start. Results: support
    first, then the hubs in the order given, failures and skips included.
    """
    if jobs < 1:
        raise FleetError(f"--jobs {jobs}: expected 1 or more")
    if not targets and not support:
        return []
    blocked = dict(blocked or {})  # cluster -> why its (later) hubs are skipped
    if any(t.cluster not in blocked for t in targets):
        chart.dependency_build(fleet, runner)
    results: dict[str, DeployResult] = {}  # by target label
    if options.build:
        options = _build_first(fleet, targets, options, runner, results)

    kubeconfigs = Kubeconfigs(fleet, options.access)  # each cluster's, once for the run
    shown = Progress(len(support) + len(targets))
    for label, result in results.items():  # images that failed to build
        shown.finished(label, result.ok, result.skipped)
    one = functools.partial(
        _one, options=options, runner=runner, kubeconfigs=kubeconfigs, shown=shown
    )

    with (
        kubeconfigs,
        shown,
        ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="deploy") as pool,
        _cancelled_on_exit(pool),
    ):
        for target, result in zip(support, pool.map(one, support), strict=True):
            results[target.label] = result
            if not result.ok:
                blocked[target.cluster] = f"the support deploy of cluster {target.cluster} failed"
        for env in fleet.environments:
            _deploy_env(env, targets, results, blocked, shown, lambda todo: pool.map(one, todo))
    return [results[t.label] for t in [*support, *targets]]


def _one(target: Target, *, options, runner, kubeconfigs, shown: Progress) -> DeployResult:
    """One release of the run, counted; after a SIGTERM, none starts."""
    if private.stopping():
        shown.finished(target.label, False, skipped=True)
        return _skipped(target, "the run was terminated (SIGTERM) before it started")
    shown.started(target.label)
    result = _guarded(lambda: deploy(target, options, runner, kubeconfigs), target)
    shown.finished(target.label, result.ok)
    return result


def _deploy_env(env, targets, results, blocked, shown, deploy_all) -> None:
    """One environment's hubs: those of a blocked cluster skipped, the others deployed; then a
    cluster with a failure here is blocked for the later environments."""
    todo = [t for t in targets if t.env == env and t.label not in results]
    for target in todo:
        why = blocked.get(target.cluster)
        if why:
            results[target.label] = _skipped(target, why)
            shown.finished(target.label, False, skipped=True)
    todo = [t for t in todo if t.label not in results]
    for target, result in zip(todo, deploy_all(todo), strict=True):
        results[target.label] = result
    for result in results.values():
        target = result.target
        if target.env == env and not result.ok and not result.skipped:
            why = f"{env} hub {target.hub.name} of cluster {target.cluster} failed"
            blocked.setdefault(target.cluster, why)


def results_json(results: list[DeployResult]) -> str:
    """A run's results as JSON, for `--after` of a later run (the workflow's prod job), with each
    release's steps and their wall and CPU seconds (CPU is the process's: shared under --jobs),
    and the deploy process's peak memory."""
    rows = []
    for r in results:
        rows.append(
            {
                "hub": None if r.target.is_support else r.target.hub.name,
                "env": r.target.env,
                "cluster": r.target.cluster,
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


def report_to_github(results: list[DeployResult], environ=None, out=sys.stdout) -> None:
    """In GitHub Actions: an error annotation per failed hub and a table in the job summary."""
    chosen = settings.current(environ)
    if not chosen.github_actions:
        return
    for r in results:
        if not r.ok:
            message = r.error.replace("%", "%25").replace("\r", "").replace("\n", "%0A")
            what = "skipped" if r.skipped else f"failed at {r.step}"
            output.line(f"::error title=deploy {r.target.label} {what}::{message}", out)
    path = chosen.github_step_summary
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
        rows.append([report.cell(r.target.who[0]), r.target.env, outcome, detail])
    with open(path, "a") as handle:
        handle.write(
            "\n".join(report.markdown_table(["hub", "env", "result", "details"], rows)) + "\n"
        )
