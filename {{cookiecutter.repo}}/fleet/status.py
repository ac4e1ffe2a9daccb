"""What is deployed where: one row per hub x env, read from helm and the release labels."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from . import helm
from .config import Fleet
from .release import DeployOptions, cluster_runner
from .runner import Runner

COLUMNS = ("hub", "env", "release", "revision", "status", "image", "commit", "updated")


@dataclass(frozen=True)
class Row:
    hub: str
    env: str
    release: str
    revision: str
    status: str
    image: str
    commit: str
    updated: str

    def cells(self) -> list[str]:
        return [getattr(self, c) for c in COLUMNS]


def row(hub: str, env: str, release: str, latest: dict | None, serving: dict | None) -> Row:
    """One table row: the newest revision; when it is not the one serving, say which one is."""
    if latest is None:
        return Row(hub, env, release, "-", "not installed", "", "", "")
    status = latest["status"]
    if serving and serving["revision"] != latest["revision"]:
        status += f" (serving {serving['revision']})"
    commit = latest["commit"][:12] + (" (dirty)" if latest.get("dirty") else "")
    updated = str(latest.get("updated", ""))[:19].replace("T", " ")
    return Row(hub, env, release, str(latest["revision"]), status, latest["image"], commit, updated)


def rows(
    fleet: Fleet, hubs: list[str], envs: list[str], options: DeployOptions, runner: Runner
) -> list[Row]:
    """A row for each hub x env asked for; one temporary KUBECONFIG per cluster."""
    selected = [fleet.hub(h) for h in hubs] if hubs else list(fleet.hubs.values())
    for env in envs:
        fleet.check_environment(env)
    found: list[Row] = []
    by_cluster: dict[str, list] = {}
    for hub in selected:
        by_cluster.setdefault(hub.cluster, []).append(hub)
    for cluster, cluster_hubs in sorted(by_cluster.items()):
        with cluster_runner(fleet, cluster, options.access, runner) as run:
            for hub in cluster_hubs:
                for env in hub.environments:
                    if envs and env not in envs:
                        continue
                    release = hub.release(env)
                    latest = helm.latest_info(run, release, release, options.helm)
                    serving = None
                    if latest and latest["status"] != "deployed":
                        serving = helm.deployed_info(run, release, release, options.helm)
                    found.append(row(hub.name, env, release, latest, serving))
    return found


def print_table(found: list[Row]) -> None:
    table = Table(title="Releases")
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for item in found:
        table.add_row(*item.cells())
    Console(width=200).print(table)
