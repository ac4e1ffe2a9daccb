"""What is deployed where: one row per hub x env, read from helm and the release labels."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from . import helm, lock, orphans, rollout
from .config import SUPPORT, Fleet
from .release import DeployOptions, cluster_runner
from .runner import Runner

COLUMNS = ("hub", "env", "release", "revision", "status", "ready", "image", "commit", "updated")
SUPPORT_COLUMNS = ("cluster", "revision", "status", "ready", "commit", "updated")


@dataclass(frozen=True)
class Row:
    hub: str
    env: str
    release: str
    revision: str
    status: str
    ready: str
    image: str
    commit: str
    updated: str

    def cells(self) -> list[str]:
        return [getattr(self, c) for c in COLUMNS]


def row(
    hub: str,
    env: str,
    release: str,
    latest: dict | None,
    serving: dict | None,
    locked_by: str | None = None,
    not_ready: list[str] | None = None,
) -> Row:
    """One table row: the newest revision; which one serves when not that; its workloads'
    readiness (`not_ready` None: none found); who holds its deploy lock."""
    held = f"; deploy lock held by {locked_by}" if locked_by else ""
    if latest is None:
        return Row(hub, env, release, "-", "not installed" + held, "", "", "", "")
    ready = "-" if not_ready is None else "no: " + ", ".join(not_ready) if not_ready else "yes"
    status = latest["status"]
    if serving and serving["revision"] != latest["revision"]:
        status += f" (serving {serving['revision']})"
    status += held
    commit = latest["commit"][:12] + (" (dirty)" if latest.get("dirty") else "")
    updated = str(latest.get("updated", ""))[:19].replace("T", " ")
    revision = str(latest["revision"])
    return Row(hub, env, release, revision, status, ready, latest["image"], commit, updated)


@dataclass
class Status:
    """The rows asked for, and (when every hub was asked for) the releases no hub owns."""

    rows: list[Row]
    orphans: list[orphans.Orphan]
    support: list[Row] = field(default_factory=list)  # one per cluster visited: hub is the cluster


def _release_row(run: Runner, hub, env: str, options: DeployOptions, locks, lagging) -> Row:
    release = hub.release(env)
    latest = helm.latest_info(run, release, release, options.helm)
    serving = None
    if latest and latest["status"] != "deployed":
        serving = helm.deployed_info(run, release, release, options.helm)
    return row(hub.name, env, release, latest, serving, locks.get(release), lagging.get(release))


def rows(
    fleet: Fleet, hubs: list[str], envs: list[str], options: DeployOptions, runner: Runner
) -> Status:
    """A row for each hub x env asked for; one temporary KUBECONFIG per cluster."""
    selected = [fleet.hub(h) for h in hubs] if hubs else list(fleet.hubs.values())
    for env in envs:
        fleet.check_environment(env)
    by_cluster: dict[str, list] = {} if hubs else {name: [] for name in fleet.clusters}
    for hub in selected:
        by_cluster.setdefault(hub.cluster, []).append(hub)
    found, runners = Status([], []), {}
    with contextlib.ExitStack() as stack:
        for cluster, cluster_hubs in sorted(by_cluster.items()):
            run = stack.enter_context(cluster_runner(fleet, cluster, options.access, runner))
            runners[cluster] = run
            locks, lagging = lock.held_locks(run), rollout.not_ready_workloads(run)
            for hub in cluster_hubs:
                for env in hub.environments:
                    if not envs or env in envs:
                        found.rows.append(_release_row(run, hub, env, options, locks, lagging))
            latest = helm.latest_info(run, SUPPORT, SUPPORT, options.helm)
            support = row(
                cluster, SUPPORT, SUPPORT, latest, None, locks.get(SUPPORT), lagging.get(SUPPORT)
            )
            found.support.append(support)
        if not hubs:
            found.orphans = orphans.everywhere(fleet, runners)
    return found


def print_table(found: Status) -> None:
    from rich.console import Console  # noqa: PLC0415 - rich only to print
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="Releases")
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for item in found.rows:
        table.add_row(*item.cells())
    Console(width=200).print(table)
    if found.support:
        support = Table(title="Support")
        for column in SUPPORT_COLUMNS:
            support.add_column(column, overflow="fold")
        for item in found.support:
            support.add_row(item.hub, *(getattr(item, c) for c in SUPPORT_COLUMNS[1:]))
        Console(width=200).print(support)
    if found.orphans:
        print(orphans.report(found.orphans))
