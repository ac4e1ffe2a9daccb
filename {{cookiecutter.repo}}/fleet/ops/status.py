"""What is deployed where: one row per hub x env, read from helm and the release labels."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from fleet.core import output
from fleet.core.config import SUPPORT_RELEASE, Fleet
from fleet.core.runner import Runner
from fleet.ops import orphans
from fleet.release import lock, rollout
from fleet.release.release import DeployOptions, cluster_runner
from fleet.tools import helm
from fleet.tools.credentials import Kubeconfigs

COLUMNS = (
    "hub",
    "env",
    "release",
    "revision",
    "status",
    "ready",
    "users",
    "image",
    "commit",
    "updated",
)
# The jupyterhub chart's workloads for users, as `users` shows them (ready/wanted).
USER_WORKLOADS = {
    "deployment/user-scheduler": "scheduler",
    "statefulset/user-placeholder": "placeholders",
}
SUPPORT_COLUMNS = ("cluster", "revision", "status", "ready", "commit", "updated")
READERS = 4  # clusters read at once (each read waits on its API server, not on this machine)


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
    users: str = ""  # the user-scheduler's and the placeholders' ready/wanted

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
    users: str = "",
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
    return Row(hub, env, release, revision, status, ready, latest["image"], commit, updated, users)


@dataclass
class Status:
    """The rows asked for, and (when every hub was asked for) the releases no hub owns."""

    rows: list[Row]
    orphans: list[orphans.Orphan]
    support: list[Row] = field(default_factory=list)  # one per cluster visited: hub is the cluster


def _cluster_rows(cluster: str, hubs: list, envs: list[str], run: Runner) -> tuple[list[Row], Row]:
    """The rows of one cluster's hubs and its support release, from three reads of the cluster."""
    names = {hub.release(env) for hub in hubs for env in hub.environments} | {SUPPORT_RELEASE}
    releases = helm.cluster_releases(run, {(name, name) for name in names})
    locks, workloads = lock.held_locks(run), rollout.readiness(run)

    def row_of(name: str, env: str, release: str) -> Row:
        found = releases.get((release, release)) or {}
        latest, serving = found.get("latest"), found.get("serving")
        mine = workloads.get(release)
        lagging = rollout.not_ready(mine) if mine is not None else None
        users = ", ".join(
            f"{label} {mine[w][0]}/{mine[w][1]}"
            for w, label in USER_WORKLOADS.items()
            if mine and w in mine
        )
        return row(name, env, release, latest, serving, locks.get(release), lagging, users)

    rows_ = [
        row_of(hub.name, env, hub.release(env))
        for hub in hubs
        for env in hub.environments
        if not envs or env in envs
    ]
    return rows_, row_of(cluster, SUPPORT_RELEASE, SUPPORT_RELEASE)


def rows(
    fleet: Fleet, hubs: list[str], envs: list[str], options: DeployOptions, runner: Runner
) -> Status:
    """A row for each hub x env asked for; the clusters read in parallel, one KUBECONFIG each."""
    selected = [fleet.hub(h) for h in hubs] if hubs else list(fleet.hubs.values())
    for env in envs:
        fleet.fleet_env(env)
    by_cluster: dict[str, list] = {} if hubs else {name: [] for name in fleet.clusters}
    for hub in selected:
        by_cluster.setdefault(hub.cluster, []).append(hub)
    clusters = sorted(by_cluster)
    found, runners = Status([], []), {}
    with Kubeconfigs(fleet, options.access) as kubeconfigs:

        def visit(cluster: str) -> tuple[list[Row], Row]:
            with cluster_runner(fleet, cluster, options.access, runner, None, kubeconfigs) as run:
                runners[cluster] = run
                return _cluster_rows(cluster, by_cluster[cluster], envs, run)

        with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="status") as pool:
            for hub_rows, support in pool.map(visit, clusters):
                found.rows += hub_rows
                found.support.append(support)
        if not hubs:
            found.orphans = orphans.everywhere(fleet, runners)
    return found


def print_table(found: Status) -> None:
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="Releases")
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for item in found.rows:
        table.add_row(*item.cells())
    output.table(table)
    if found.support:
        support = Table(title="Support")
        for column in SUPPORT_COLUMNS:
            support.add_column(column, overflow="fold")
        for item in found.support:
            support.add_row(item.hub, *(getattr(item, c) for c in SUPPORT_COLUMNS[1:]))
        output.table(support)
    if found.orphans:
        output.line(orphans.report(found.orphans))
