"""Releases this fleet deployed that no hub in the repository owns any more.

A hub removed (`git rm -r hubs/chem`), renamed (`git mv hubs/math hubs/maths`), moved to another
cluster or no longer deployed to an environment leaves its release serving. Each revision this
fleet deploys carries the labels fleet-name, fleet-hub and fleet-env (fleet.helm); a release made
before them is known by its fleet-commit label and its name, <hub>-<env>, in the namespace of that
name. Nothing here removes anything: `invoke retire` does, when asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.core import target
from fleet.core.config import ENVIRONMENTS, Fleet
from fleet.core.runner import Runner
from fleet.tools import helm, kube


@dataclass(frozen=True)
class Orphan:
    cluster: str
    release: str
    hub: str
    env: str
    why: str

    def advice(self) -> str:
        return f"invoke retire --hub {self.hub} --env {self.env} --cluster {self.cluster}"

    def line(self) -> str:
        return f"release {self.release} on cluster {self.cluster}: {self.why}; `{self.advice()}`"


def _owner(labels: dict[str, str], namespace: str) -> tuple[str, str] | None:
    """(hub, env) a release of ours was deployed as, or None for a release that is not ours."""
    if labels.get(target.LABEL_SUPPORT) == "true":
        return None  # a cluster's support release belongs to the cluster, not to a hub
    hub, env = labels.get(target.LABEL_HUB), labels.get(target.LABEL_ENV)
    if hub and env:
        return hub, env
    name = labels.get("name", "")
    if name != namespace:  # ours always live in the namespace of their name
        return None
    for env in ENVIRONMENTS:
        if name.endswith(f"-{env}"):
            return name.removesuffix(f"-{env}"), env
    return None


def find(fleet: Fleet, cluster: str, runner: Runner) -> list[Orphan]:
    """This fleet's releases on the cluster that no hub x env of the repository deploys there."""
    selector = f"owner=helm,status=deployed,{helm.LABEL_COMMIT}"
    step = f"list this fleet's releases on cluster {cluster}"
    listed = kube.items(
        runner, kube.path("", "secrets"), step=step, selector=selector, metadata_only=True
    )
    found = []
    for item in listed:
        labels, namespace = item["metadata"].get("labels", {}), item["metadata"]["namespace"]
        if fleet.name and labels.get(helm.LABEL_FLEET, fleet.name) != fleet.name:
            continue  # another fleet's release on a shared cluster
        owner = _owner(labels, namespace)
        if owner is None:
            continue
        hub_name, env = owner
        # Two cluster definitions may reach one control plane: a release is the one's it says.
        deployed_as = labels.get(target.LABEL_CLUSTER, cluster)
        deployed_as = deployed_as if deployed_as in fleet.clusters else cluster
        hub = fleet.hubs.get(hub_name)
        if hub is None:
            why = f"hub {hub_name} is not in the repository (removed or renamed)"
        elif env not in hub.environments:
            why = f"hub {hub_name} no longer deploys to {env}"
        elif hub.cluster != deployed_as:
            why = f"hub {hub_name} now runs on cluster {hub.cluster}"
        else:
            continue
        found.append(Orphan(deployed_as, labels["name"], hub_name, env, why))
    return found


def everywhere(fleet: Fleet, runners: dict[str, Runner]) -> list[Orphan]:
    """The orphans on every cluster (a runner each), once each though two definitions share one."""
    found = {}
    for cluster, runner in runners.items():
        for orphan in find(fleet, cluster, runner):
            found.setdefault((orphan.cluster, orphan.release), orphan)
    return sorted(found.values(), key=lambda o: (o.cluster, o.release))


def report(orphans: list[Orphan]) -> str:
    """The orphans, once each, with what to do; empty when there are none."""
    if not orphans:
        return ""
    lines = [f"{len(orphans)} release(s) of this fleet belong to no hub in the repository:"]
    lines += [f"  {o.line()}" for o in orphans]
    lines.append("They keep serving until retired (`invoke retire --help`); nothing removes them.")
    return "\n".join(lines)
