"""A release target made ready to render or upgrade: cluster credentials, image, secrets, chart.

deploy, diff, status and plan all reach a cluster and prepare a release through this module.
Everything it makes is private to one call (temporary KUBECONFIG, decrypted secrets, a runner
of its own): no chdir, no os.environ changes, no globals, so hubs can be prepared in threads.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from fleet.core import output, settings
from fleet.core.config import Fleet, Hub
from fleet.core.errors import FleetError
from fleet.core.output import say
from fleet.core.runner import Runner
from fleet.core.target import Target
from fleet.tools import chart, credentials, helm, images, sops


@dataclass(frozen=True)
class DeployOptions:
    """How to deploy; `from_env` fills what was not given from FLEET_* environment variables."""

    dry_run: bool = False
    timeout: str = "10m"
    rollback: bool = True
    kubeconfig: str | None = None
    context: str | None = None
    build: bool = False
    helm: str = "helm"
    health_check: bool = True
    lock_timeout: str = "5m"
    skip_canary: bool = False
    allow_older: bool = False

    @classmethod
    def from_env(cls, environ: dict | None = None, **given: object) -> DeployOptions:
        chosen = settings.current(environ)
        defaults = {
            "timeout": chosen.timeout or cls.timeout,
            "kubeconfig": chosen.kubeconfig,
            "context": chosen.context,
            "helm": chosen.helm,
            # FLEET_HEALTH_CHECK=off where nothing can serve (kwok's fake nodes).
            "health_check": chosen.health_check,
            "lock_timeout": chosen.lock_timeout or cls.lock_timeout,
        }
        chosen = {k: v for k, v in given.items() if v is not None}
        return cls(**{**defaults, **chosen})

    @property
    def access(self) -> credentials.Access:
        return credentials.Access(self.kubeconfig, self.context)

    @property
    def timeout_seconds(self) -> int:
        """--timeout in seconds (a FleetError naming it when it is no duration)."""
        return helm.parse_timeout(self.timeout, "--timeout")

    @property
    def lock_seconds(self) -> int:
        return helm.parse_timeout(self.lock_timeout, "--lock-timeout")

    def validate(self) -> None:
        """Both durations parse: a FleetError naming the option otherwise."""
        self.timeout_seconds  # noqa: B018 - parsed for its error
        self.lock_seconds  # noqa: B018


class Steps:
    """Announces each step of a hub's deploy and remembers the current one, so a failure names it."""

    def __init__(self, hub: str, env: str):
        self.hub, self.env, self.name = hub, env, "validate"
        # (step, wall seconds, CPU seconds of this process and the commands it waited for).
        # CPU is the whole process's: exact for one deploy at a time, shared under --jobs.
        self.timings: list[tuple[str, float, float]] = []
        self._since = _clock()

    def __call__(self, name: str, text: str = "") -> None:
        self._close()
        self.name = name
        say(self.hub, self.env, f"{name}{': ' + text if text else ''}")

    def _close(self) -> None:
        now = _clock()
        wall, cpu = now[0] - self._since[0], now[1] - self._since[1]
        self._since = now
        if self.timings and self.timings[-1][0] == self.name:  # a step announced twice
            _, w, c = self.timings.pop()
            wall, cpu = wall + w, cpu + c
        self.timings.append((self.name, wall, cpu))

    def finish(self) -> list[tuple[str, float, float]]:
        """Each step's wall and CPU seconds, in the order they ran, up to now."""
        self._close()
        return self.timings


def _clock() -> tuple[float, float]:
    """Wall seconds, and CPU seconds of this process and of the children it has waited for."""
    t = os.times()
    return time.monotonic(), t.user + t.system + t.children_user + t.children_system


@contextlib.contextmanager
def cluster_runner(
    fleet: Fleet,
    cluster: str,
    access: credentials.Access,
    runner: Runner,
    steps=None,
    kubeconfigs: credentials.Kubeconfigs | None = None,
) -> Iterator[Runner]:
    """A copy of runner whose KUBECONFIG is a private copy of the cluster's credentials.

    With `kubeconfigs` (a run's, see fleet.parallel), one made earlier in the run is reused.
    """
    found = fleet.clusters[cluster]
    if steps:
        steps("credentials", credentials.describe(found, access))
    with contextlib.ExitStack() as stack:
        if kubeconfigs is None:
            kubeconfigs = stack.enter_context(credentials.Kubeconfigs(fleet, access))
        kubeconfig, made = kubeconfigs.path(found, runner)
        if steps and not made:
            say(steps.hub, steps.env, f"credentials of cluster {cluster}: made earlier in this run")
        yield runner.with_env(KUBECONFIG=str(kubeconfig))


def resolve_image(
    fleet: Fleet, hub: Hub, *, build: bool = False, dry_run: bool = False, require: bool = True
) -> str:
    """The hub's image reference; a fleet image must be in the registry under its content tag."""
    if not hub.image:
        return images.hub_image(fleet, hub)
    ref = images.image_ref(fleet, hub.image)
    if images.registry_has(ref):
        return str(ref)
    if build and not dry_run:
        return str(images.build(fleet, hub.image, push=True))
    if build:
        output.note(f"[dry-run] would build and push {ref}")
        return str(ref)
    if require:
        raise FleetError(
            f"hub {hub.name}: image {hub.image} tag {ref.tag} is not in the registry ({ref}); "
            f"run `invoke build --image {hub.image} --push`, or deploy with --build"
        )
    output.note(f"warning: hub {hub.name}: {ref} is not in the registry yet")
    return str(ref)


@dataclass
class Release:
    """A release target (fleet.target) made ready to render or upgrade.

    `runner` reaches its cluster and knows its secrets; `render` is what helm renders it from.
    """

    target: Target
    runner: Runner
    image: str
    render: helm.Render

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def who(self) -> tuple[str, str]:
        return self.target.who


@contextlib.contextmanager
def prepared(
    target: Target,
    options: DeployOptions,
    runner: Runner,
    steps: Steps | None = None,
    require_image: bool = True,
    kubeconfigs: credentials.Kubeconfigs | None = None,
) -> Iterator[Release]:
    """The first steps of a deploy: validate, credentials, image, secrets, chart dependencies."""
    fleet, hub = target.fleet, target.hub
    steps = steps or Steps(*target.who)
    steps.name = "validate"
    if hub is not None:
        hub.required_secrets(target.env)
    options.validate()
    with cluster_runner(fleet, target.cluster, options.access, runner, steps, kubeconfigs) as own:
        image = ""
        if hub is not None:
            steps("image")
            image = resolve_image(
                fleet, hub, build=options.build, dry_run=own.dry_run, require=require_image
            )
            say(*target.who, f"image {image or '(chart default)'}")
        steps("secrets", str(target.secrets_file.relative_to(fleet.root)))
        with sops.decrypted(target, own) as (secrets_path, found):
            own.secrets |= found
            steps("chart dependencies", "support chart" if hub is None else "")
            chart.dependency_build(fleet, own, target.chart)
            name, tag = images.split_image(image)
            mirror = chart.mirror_flags(fleet, hub, target.env, own) if hub is not None else []
            render = helm.Render(
                helm=options.helm,
                release=target.name,
                chart=str(target.chart),
                values_files=tuple(str(p) for p in target.values_files(secrets_path)),
                secrets=str(secrets_path),
                image_name=name,
                image_tag=tag,
                mirror_flags=tuple(mirror),
            )
            yield Release(target, own, image, render)


def server_dry_run(release: Release) -> str:
    """helm's server-side dry run of the upgrade; returns the rendered manifests (not printed)."""
    argv = helm.dry_run_argv(release.render)
    proc = release.runner.run(argv, step="helm server-side dry run", mutates=False)
    return json.loads(proc.stdout).get("manifest", "")
