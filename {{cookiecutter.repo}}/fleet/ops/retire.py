"""`invoke retire`: uninstall the release of a hub the repository no longer deploys.

It shows what goes first (the release, and with --delete-namespace the namespace and the users'
volumes in it), asks unless --yes, holds the release's deploy lock while it works, and refuses a
hub x env the repository still deploys there: the next deploy would bring it back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fleet.core import output
from fleet.core.config import Fleet
from fleet.core.errors import FleetError
from fleet.core.output import say
from fleet.core.runner import Runner
from fleet.release import lock
from fleet.release.release import DeployOptions, cluster_runner
from fleet.tools import chart, helm, kube


@dataclass(frozen=True)
class RetireOptions:
    cluster: str | None = None
    delete_namespace: bool = False
    yes: bool = False
    dry_run: bool = False


def _cluster(fleet: Fleet, hub: str, env: str, given: str | None) -> str:
    """The cluster to retire from: --cluster, else the hub's, else the only one."""
    if given:
        if given not in fleet.clusters:
            valid = ", ".join(sorted(fleet.clusters)) or "(none)"
            raise FleetError(f"unknown cluster {given!r}; valid clusters: {valid}")
        return given
    if hub in fleet.hubs:
        return fleet.hubs[hub].cluster
    if len(fleet.clusters) == 1:
        return next(iter(fleet.clusters))
    valid = ", ".join(sorted(fleet.clusters))
    raise FleetError(
        f"hub {hub} is not in the repository: name its cluster with --cluster ({valid})"
    )


def _refuse_if_deployed(fleet: Fleet, hub: str, env: str, cluster: str) -> None:
    found = fleet.hubs.get(hub)
    if found and env in found.environments and found.cluster == cluster:
        raise FleetError(
            f"hub {hub} is still in the repository for {env} on cluster {cluster}: its next "
            f"deploy would bring the release back; remove it first (`git rm -r hubs/{hub}`, or "
            f"drop {env} from its `environments`), then retire it"
        )


def _volumes(run: Runner, namespace: str, release: str) -> tuple[list[str], list[str]]:
    """The namespace's volume claims: (the release's own, which its uninstall deletes, the rest:
    users' homes, which KubeSpawner made and the uninstall leaves)."""
    url = kube.path("", "persistentvolumeclaims", namespace)
    own, others = [], []
    for item in kube.items(run, url, step=f"list the volumes in {namespace}", metadata_only=True):
        annotations = item["metadata"].get("annotations") or {}
        mine = annotations.get("meta.helm.sh/release-name") == release
        (own if mine else others).append(item["metadata"]["name"])
    return sorted(own), sorted(others)


# Kinds without a namespace that a chart may hold (the jupyterhub chart: the user-scheduler's
# ClusterRole and ClusterRoleBinding, the image pullers' and placeholders' PriorityClasses).
CLUSTER_KINDS = {"ClusterRole", "ClusterRoleBinding", "PriorityClass", "StorageClass"}


def _cluster_scoped(run: Runner, name: str, helm_bin: str) -> list[str]:
    """Kind/name of the release's objects that live outside its namespace."""
    proc = run.run(
        helm.manifest_argv(helm_bin, name), step=f"helm get manifest {name}", mutates=False
    )
    docs = chart.documents(proc.stdout)
    return sorted(
        f"{d['kind']}/{d['metadata']['name']}" for d in docs if d.get("kind") in CLUSTER_KINDS
    )


def _what_goes(fleet: Fleet, run: Runner, name: str, options: RetireOptions, helm_bin: str) -> str:
    info = helm.latest_info(run, name, helm_bin)
    if info is None:
        raise FleetError(f"release {name} is not installed on cluster {options.cluster}")
    owner = info["labels"].get(helm.LABEL_FLEET)
    if fleet.name and owner and owner != fleet.name:
        raise FleetError(f"release {name} belongs to fleet {owner}, not {fleet.name}: not retired")
    lines = [
        f"release {name} on cluster {options.cluster}: revision {info['revision']} "
        f"({info['status']}), image {info['image'] or 'chart default'}, "
        f"commit {(info['commit'] or 'unknown')[:12]}"
    ]
    cluster_wide = _cluster_scoped(run, name, helm_bin)
    if cluster_wide:
        lines.append(f"its objects outside the namespace: {', '.join(cluster_wide)}")
    own, users = _volumes(run, name, name)
    if own:
        lines.append(f"its volume claim(s), their data deleted with them: {', '.join(own)}")
    if options.delete_namespace:
        lines.append(f"namespace {name} and everything in it")
        if users:
            lines.append(
                f"{len(users)} more volume claim(s), users' data with them: {', '.join(users)}"
            )
    elif users:
        lines.append(
            f"kept: {len(users)} volume claim(s) of users' homes ({', '.join(users)}) and "
            f"namespace {name}; --delete-namespace deletes them too"
        )
    return "\n".join(f"  {line}" for line in lines)


def retire(
    fleet: Fleet,
    hub: str,
    env: str,
    options: RetireOptions,
    deploy_options: DeployOptions,
    runner: Runner,
    confirm: Callable[[str], bool],
) -> bool:
    """Uninstall the release (and its namespace if asked); False when not confirmed."""
    fleet.fleet_env(env)
    cluster = _cluster(fleet, hub, env, options.cluster)
    options = RetireOptions(cluster, options.delete_namespace, options.yes, options.dry_run)
    _refuse_if_deployed(fleet, hub, env, cluster)
    wait = deploy_options.lock_seconds
    name = f"{hub}-{env}"
    with cluster_runner(fleet, cluster, deploy_options.access, runner.copy(dry_run=False)) as run:
        what = _what_goes(fleet, run, name, options, deploy_options.helm)
        output.line(f"retire {hub}/{env} removes:\n{what}")
        if options.dry_run:
            output.line("dry run: nothing removed")
            return True
        if not options.yes and not confirm(name):
            return False
        with lock.held(run, name, wait, lambda text: say(hub, env, text)) as held:
            argv = helm.uninstall_argv(deploy_options.helm, name)
            run.run(argv, step=f"helm uninstall {name}")
            if options.delete_namespace:
                held.forget()
                argv = ["kubectl", "delete", "namespace", name, "--wait=true", "--timeout=5m"]
                run.run(argv, step=f"delete namespace {name}")
    return True
