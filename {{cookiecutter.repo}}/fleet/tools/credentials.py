"""Cluster credentials in a temporary KUBECONFIG for each deploy, for every provider.

Nothing global changes: not ~/.kube/config, not the gcloud account, not the docker config.
Each deploy gets its own private file, which is also what makes parallel deploys safe.
"""

from __future__ import annotations

import contextlib
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fleet.core import private
from fleet.core.config import Cluster, Fleet
from fleet.core.errors import FleetError, StepFailed
from fleet.core.runner import Runner
from fleet.tools import kube, sops

OVERRIDE = "--kubeconfig / FLEET_KUBECONFIG"  # what overrides cluster.yaml's credentials


@dataclass(frozen=True)
class Access:
    """Where a deploy's credentials come from: an explicit kubeconfig/context overrides cluster.yaml."""

    kubeconfig: str | None = None
    context: str | None = None


def gcp_argv(settings: dict) -> list[str]:
    """gcloud writes the cluster's credentials to $KUBECONFIG (our temp file) and nothing else."""
    location = settings["location"]
    # A zone ends in -<letter> (europe-west1-b); a region does not (europe-west1).
    zone = location.rsplit("-", 1)[-1].isalpha() and location.count("-") == 2
    argv = ["gcloud", "container", "clusters", "get-credentials", settings["cluster"]]
    return argv + ["--zone" if zone else "--region", location, "--project", settings["project"]]


def aws_argv(settings: dict, kubeconfig: Path) -> list[str]:
    argv = ["aws", "eks", "update-kubeconfig", "--name", settings["cluster"]]
    argv += ["--region", settings["region"], "--kubeconfig", str(kubeconfig)]
    if settings.get("role_arn"):
        argv += ["--role-arn", settings["role_arn"]]
    return argv


def azure_argv(settings: dict, kubeconfig: Path) -> list[str]:
    argv = ["az", "aks", "get-credentials", "--name", settings["cluster"]]
    argv += ["--resource-group", settings["resource_group"], "--file", str(kubeconfig)]
    return argv + ["--overwrite-existing"]


def flatten_argv(context: str | None) -> list[str]:
    """A self-contained copy of one context: certificates inlined, other contexts left out."""
    argv = ["kubectl", "config", "view", "--flatten", "--minify", "--raw"]
    return argv + (["--context", context] if context else [])


def kubeconfig_source(cluster: Cluster, access: Access) -> tuple[str, str, str | None]:
    """For the kubeconfig provider: ("path", file) or ("encrypted", repo file), and the context.

    --kubeconfig / FLEET_KUBECONFIG win over cluster.yaml's path, which wins over its sops file.
    """
    settings = cluster.settings or {}
    context = access.context or settings.get("context")
    if access.kubeconfig:
        return "path", str(Path(access.kubeconfig).expanduser()), context
    if settings.get("path"):
        return "path", str(Path(settings["path"]).expanduser()), context
    encrypted = settings.get("encrypted") or "secrets/kubeconfig.yaml"
    path = cluster.path / encrypted
    if path.exists():
        return "encrypted", str(path), context
    raise FleetError(
        f"{cluster.path / 'cluster.yaml'}: field kubeconfig: no kubeconfig path and no {encrypted}; "
        f"set kubeconfig.path, or pass {OVERRIDE}"
    )


def describe(cluster: Cluster, access: Access) -> str:
    """Where this cluster's credentials come from, for the deploy's log: an override says so."""
    if not access.kubeconfig:
        return f"cluster {cluster.name} ({cluster.provider})"
    _, source, context = kubeconfig_source(cluster, access)
    where = f"kubeconfig {source}" + (f", context {context}" if context else "")
    instead = f" instead of {cluster.provider}" if cluster.provider != "kubeconfig" else ""
    return f"cluster {cluster.name} ({where}, from {OVERRIDE}{instead})"


def _fill(fleet: Fleet, cluster: Cluster, access: Access, target: Path, runner: Runner) -> None:
    provider = cluster.provider
    if provider == "kubeconfig" or access.kubeconfig:
        kind, source, context = kubeconfig_source(cluster, access)
        if kind == "path" and not Path(source).is_file():
            raise FleetError(f"cluster {cluster.name}: kubeconfig {source} not found")
        if kind == "encrypted":
            plain = target.parent / "source.yaml"
            private.write(plain, sops.decrypt_text(fleet.root, Path(source), runner))
            source = str(plain)
        proc = runner.run(
            flatten_argv(context),
            step=f"kubeconfig for cluster {cluster.name}",
            mutates=False,
            env={"KUBECONFIG": source},
        )
        private.write(target, proc.stdout)
        if kind == "encrypted":
            (target.parent / "source.yaml").unlink()
        return
    private.write(target, "")
    if provider == "gcp":
        argv, env = gcp_argv(cluster.settings), {"KUBECONFIG": str(target)}
    elif provider == "aws":
        argv, env = aws_argv(cluster.settings, target), {}
    elif provider == "azure":
        argv, env = azure_argv(cluster.settings, target), {}
    else:
        raise FleetError(f"{cluster.path / 'cluster.yaml'}: field provider: unknown {provider!r}")
    # Getting credentials writes only our temp file, so it runs in dry-run too (it is read-only
    # as far as the cluster and the user's machine are concerned).
    try:
        runner.run(
            argv,
            step=f"credentials for cluster {cluster.name} ({provider})",
            mutates=False,
            env=env,
        )
    except StepFailed as exc:
        raise FleetError(
            f"cluster {cluster.name}: {provider} credentials failed (`{' '.join(argv[:3])}` exit "
            f"{exc.returncode}: {exc.last_line()}); log in to {provider}, or pass {OVERRIDE} "
            "to use a kubeconfig file instead"
        ) from None


@contextlib.contextmanager
def temporary_kubeconfig(
    fleet: Fleet, cluster: Cluster, runner: Runner, access: Access = Access()
) -> Iterator[Path]:
    """A private KUBECONFIG for this cluster, removed on every exit path."""
    with private.directory("fleet-kube-") as folder:
        target = folder / "kubeconfig"
        _fill(fleet, cluster, access, target, runner)
        try:
            yield target
        finally:
            kube.forget(str(target))  # its API connections end with it


def check_reachable(cluster: Cluster, runner: Runner, timeout: float = 10.0) -> None:
    """One quick read of the API server, so an unreachable cluster is one clear line, not a timeout."""
    try:
        kube.reachable(runner, timeout)
    except StepFailed as exc:
        raise FleetError(
            f"cluster {cluster.name} unreachable: {exc.last_line('no answer')}"
        ) from None


class Kubeconfigs:
    """Each cluster's private KUBECONFIG, made and checked once for a whole run of many releases.

    Deploys of one cluster's hubs (threads, see fleet.parallel) share it: a cloud CLI is asked
    for credentials once per cluster, not once per hub. Every file is removed when the run ends.
    """

    def __init__(self, fleet: Fleet, access: Access = Access()):
        self.fleet, self.access = fleet, access
        self._files = contextlib.ExitStack()
        self._made: dict[str, Path] = {}
        self._guard = threading.Lock()
        self._cluster_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)

    def __enter__(self) -> Kubeconfigs:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._guard:
            self._files.close()
            self._made.clear()

    def path(self, cluster: Cluster, runner: Runner) -> tuple[Path, bool]:
        """The cluster's kubeconfig, and whether this call made it (False: made earlier)."""
        with self._guard:
            lock = self._cluster_locks[cluster.name]
        with lock:
            if cluster.name in self._made:
                return self._made[cluster.name], False
            with contextlib.ExitStack() as attempt:
                made = temporary_kubeconfig(self.fleet, cluster, runner, self.access)
                kubeconfig = attempt.enter_context(made)
                check_reachable(cluster, runner.with_env(KUBECONFIG=str(kubeconfig)))
                with self._guard:  # reachable: kept until the run ends
                    self._files.enter_context(attempt.pop_all())
                    self._made[cluster.name] = kubeconfig
            return kubeconfig, True
