"""`invoke deploy`: one release, or many (a plan, --all, a cluster) with each cluster's support
first; fleet.deploy does one, fleet.parallel many."""

from __future__ import annotations

from pathlib import Path

from invoke import Exit

from fleet.core import config, output
from fleet.core.errors import FleetError
from fleet.core.runner import Runner
from fleet.plan import parallel
from fleet.release.deploy import deploy as deploy_one

from .task_entry import (
    ACCESS_HELP,
    DRY_RUN_HELP,
    LOCK_HELP,
    TIMEOUT_HELP,
    errors_exit,
    options,
    task,
)
from .task_entry import target as target_of

HELP = {
    "hub": "hub to deploy (a folder under hubs/; repeatable)",
    "env": "environment: staging or prod",
    "plan": "deploy the hubs of a plan file from `invoke plan --json` (filtered by --env)",
    "all": "deploy every hub that has --env",
    "cluster": "with --plan, --all or --support: only the hubs (and support) of this cluster",
    "support": "each cluster's support chart (of --cluster only, with it), first; alone, only "
    "that (staging runs only; --plan takes the plan's)",
    "jobs": "with several releases: how many deploy at once (default 4)",
    "dry-run": DRY_RUN_HELP,
    "timeout": TIMEOUT_HELP,
    "no-rollback": "leave a failed upgrade in place instead of rolling back",
    "build": "build and push the hub's image first when the registry lacks it",
    "no-health-check": "skip the health check after the deploy (env FLEET_HEALTH_CHECK=off)",
    "skip-canary": "deploy prod although its staging release did not prove the same inputs "
    "(recorded on the release as fleet-canary=skipped)",
    "allow-older": "deploy a commit older than the one serving (an ancestor of it): refused "
    "otherwise, so a stale checkout or a slower CI run cannot undo newer deploys",
    "results": "write each support and hub result, with its steps' wall and CPU seconds, to this "
    "JSON file (for --after)",
    "after": "the --results file of an earlier run: a cluster with a failed or skipped "
    "support or hub there has its hubs skipped here (the workflow's prod job)",
    **LOCK_HELP,
    **ACCESS_HELP,
}


@task(iterable=["hub"], help=HELP)
@errors_exit
def deploy(
    c,
    hub=None,
    env=None,
    dry_run=False,
    timeout=None,
    no_rollback=False,
    kubeconfig=None,
    context=None,
    build=False,
    plan=None,
    all=False,
    cluster=None,
    jobs=4,
    no_health_check=False,
    lock_timeout=None,
    support=False,
    skip_canary=False,
    allow_older=False,
    results=None,
    after=None,
):
    """Deploy hubs to an environment, wait for each, roll back a failed one, check it serves.

    With several: each cluster's support first, then its staging hubs, then its prod hubs; a
    failure skips what depends on it in that cluster only.
    """
    chosen = options(
        dry_run=dry_run,
        timeout=timeout,
        rollback=not no_rollback,
        kubeconfig=kubeconfig,
        context=context,
        build=build,
        health_check=False if no_health_check else None,
        lock_timeout=lock_timeout,
        skip_canary=skip_canary,
        allow_older=allow_older,
    )
    fleet, runner = config.load(), Runner(dry_run=dry_run)
    several = plan or all or results or after or len(hub or []) > 1
    one_hub = hub and not (cluster or support)
    one_support = support and cluster and not hub
    if not several and (one_hub or one_support):
        one = target_of(fleet, hub[0] if hub else None, env, cluster, support)
        result = deploy_one(one, chosen, runner)
        if not result.ok:
            label = result.target.label
            raise FleetError(f"deploy {label} failed at step {result.step}: {result.error}")
        output.line(result.summary())
        return
    hubs = hub or []
    targets = []
    if hubs or all or plan or not support:
        targets = parallel.targets_from(
            fleet, hubs=hubs, env=env, everything=all, plan_file=plan, cluster=cluster
        )
    clusters = parallel.support_from(
        fleet, plan_file=plan, env=env, cluster=cluster, support=support
    )
    if support and not (targets or clusters):
        raise FleetError(f"--support deploys with {fleet.environments[0]}, not with --env {env}")
    blocked = parallel.blocked_by(fleet, after) if after else {}
    done = parallel.deploy_many(fleet, targets, chosen, runner, int(jobs), clusters, blocked)
    if results:
        Path(results).write_text(parallel.results_json(done))
    output.line(parallel.summary(done))
    parallel.report_to_github(done)
    failed = [r.target.label for r in done if not r.ok and not r.skipped]
    skipped = [r.target.label for r in done if r.skipped]
    if failed or skipped:
        raise Exit(
            f"error: deploy failed for {', '.join(failed) or 'none'}; "
            f"skipped: {', '.join(skipped) or 'none'} (of {len(done)})",
            code=1,
        )
