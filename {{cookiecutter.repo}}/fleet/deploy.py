"""Deploy one hub to one environment, and the steps diff and rollback share with it.

`deploy_hub` returns a `DeployResult` instead of printing and exiting, and keeps all its state
(temporary KUBECONFIG, decrypted secrets, runner environment) to itself: no chdir, no os.environ
changes, no globals. So several hubs can deploy at once from threads.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import chart, credentials, helm, images, rollout
from . import secrets as sops
from .config import Fleet, Hub
from .errors import FleetError, StepFailed
from .runner import Runner


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

    @classmethod
    def from_env(cls, environ: dict | None = None, **given: object) -> DeployOptions:
        environ = os.environ if environ is None else environ
        defaults = {
            "timeout": environ.get("FLEET_TIMEOUT") or cls.timeout,
            "kubeconfig": environ.get("FLEET_KUBECONFIG") or None,
            "context": environ.get("FLEET_CONTEXT") or None,
            "helm": environ.get("FLEET_HELM") or cls.helm,
        }
        chosen = {k: v for k, v in given.items() if v is not None}
        return cls(**{**defaults, **chosen})  # type: ignore[arg-type]

    @property
    def access(self) -> credentials.Access:
        return credentials.Access(self.kubeconfig, self.context)


@dataclass
class DeployResult:
    """The outcome of one hub's deploy; `error` names the step that failed."""

    hub: str
    env: str
    ok: bool = False
    revision: int | None = None
    image: str = ""
    duration: float = 0.0
    error: str = ""
    step: str = ""
    helm_seconds: float = 0.0
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.ok:
            return f"{self.hub}/{self.env}: FAILED at step {self.step}: {self.error}"
        if self.dry_run:
            return f"{self.hub}/{self.env}: dry run OK, image {self.image}, {self.duration:.1f}s"
        return (
            f"{self.hub}/{self.env}: deployed revision {self.revision}, image {self.image}, "
            f"{self.duration:.1f}s (helm upgrade {self.helm_seconds:.1f}s)"
        )


@dataclass
class Release:
    """A hub x env made ready to render or upgrade: credentials, image, secrets and chart in place."""

    hub: Hub
    env: str
    name: str
    runner: Runner
    image: str
    render: dict
    secrets: set[str]


def say(hub: str, env: str, text: str, out=None) -> None:
    print(f"==> [{hub}/{env}] {text}", file=out or sys.stderr, flush=True)


def split_image(ref: str) -> tuple[str, str]:
    """name and tag for the chart's image.name/image.tag; a digest rides in the tag (tag@sha256:...)."""
    if "@" in ref:
        name, digest = ref.split("@", 1)
        return name, f"pinned@{digest}"
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:
        return ref, "latest"
    return name, tag


def resolve_image(
    fleet: Fleet, hub: Hub, *, build: bool = False, dry_run: bool = False, require: bool = True
) -> str:
    """The hub's image reference; a fleet image must be in the registry under its content tag."""
    if hub.external_image:
        return hub.external_image
    if not hub.image:
        return ""
    ref = images.image_ref(fleet, hub.image)
    if images.registry_has(ref):
        return str(ref)
    if build and not dry_run:
        return str(images.build(fleet, hub.image, push=True))
    if build:
        print(f"[dry-run] would build and push {ref}", file=sys.stderr, flush=True)
        return str(ref)
    if require:
        raise FleetError(
            f"hub {hub.name}: image {hub.image} tag {ref.tag} is not in the registry ({ref}); "
            f"run `invoke build --image {hub.image} --push`, or deploy with --build"
        )
    print(f"warning: hub {hub.name}: {ref} is not in the registry yet", file=sys.stderr, flush=True)
    return str(ref)


def git_commit(root: Path, runner: Runner) -> tuple[str, bool]:
    """The repository's commit and whether the work tree has uncommitted changes."""
    quiet = Runner(echo=False)
    proc = quiet.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], step="git commit", mutates=False, check=False
    )
    if proc.returncode:
        return "unknown", True
    status = quiet.run(
        ["git", "-C", str(root), "status", "--porcelain"], step="git status", mutates=False
    )
    return proc.stdout.strip(), bool(status.stdout.strip())


class _Steps:
    """Tracks the current step, so a failure names it."""

    def __init__(self, hub: str, env: str):
        self.hub, self.env, self.name = hub, env, "validate"

    def __call__(self, name: str, text: str = "") -> None:
        self.name = name
        say(self.hub, self.env, f"{name}{': ' + text if text else ''}")


def _own_runner(runner: Runner, options: DeployOptions) -> Runner:
    # A private copy: another thread's deploy must not see this one's env or secrets.
    return Runner(
        options.dry_run or runner.dry_run, runner.echo, dict(runner.env), set(runner.secrets)
    )


@contextlib.contextmanager
def cluster_runner(
    fleet: Fleet, hub: Hub, options: DeployOptions, runner: Runner, steps=None
) -> Iterator[Runner]:
    """A runner whose KUBECONFIG is a private copy of the hub's cluster credentials."""
    cluster = fleet.clusters[hub.cluster]
    if steps:
        steps("credentials", f"cluster {cluster.name} ({cluster.provider})")
    with credentials.temporary_kubeconfig(fleet, cluster, runner, options.access) as kubeconfig:
        own = runner.with_env(KUBECONFIG=str(kubeconfig))
        credentials.check_reachable(cluster, own)
        yield own


@contextlib.contextmanager
def prepared(
    fleet: Fleet,
    hub_name: str,
    env: str,
    options: DeployOptions,
    runner: Runner,
    steps=None,
    require_image: bool = True,
) -> Iterator[Release]:
    """Steps 1-5 of a deploy: validate, credentials, image, secrets, chart dependencies."""
    steps = steps or _Steps(hub_name, env)
    steps.name = "validate"
    hub = fleet.hub(hub_name)
    fleet.check_env(hub, env)
    helm.parse_timeout(options.timeout)
    with cluster_runner(fleet, hub, options, runner, steps) as own:
        steps("image")
        image = resolve_image(
            fleet, hub, build=options.build, dry_run=own.dry_run, require=require_image
        )
        say(hub.name, env, f"image {image or '(chart default)'}")
        steps("secrets", str(hub.secrets_file(env).relative_to(fleet.root)))
        with _decrypted(fleet, hub, env, own) as (secrets_path, found):
            own.secrets |= found
            steps("chart dependencies")
            chart.dependency_build(fleet, own)
            name, tag = split_image(image) if image else ("", "")
            render = {
                "helm": options.helm,
                "release": hub.release(env),
                "chart": str(fleet.chart),
                "values_files": [str(p) for p in hub.values_files(env)] + [str(secrets_path)],
                "image_name": name,
                "image_tag": tag,
            }
            yield Release(hub, env, hub.release(env), own, image, render, found)


@contextlib.contextmanager
def _decrypted(fleet: Fleet, hub: Hub, env: str, runner: Runner) -> Iterator[tuple[Path, set[str]]]:
    """fleet.secrets.decrypted, with a sops failure turned into one line naming the file."""
    try:
        with sops.decrypted(fleet, hub, env, runner) as value:
            yield value
    except StepFailed as exc:
        if not exc.step.startswith("sops decrypt"):
            raise
        last = (exc.stderr.strip().splitlines() or ["no output"])[-1]
        source = hub.secrets_file(env)
        raise FleetError(
            f"{source}: sops cannot decrypt it (is your key one of its recipients?): {last}"
        ) from None


def server_dry_run(release: Release) -> str:
    """helm's server-side dry run of the upgrade; returns the rendered manifests (not printed)."""
    argv = helm.dry_run_argv(**release.render)
    proc = release.runner.run(argv, step="helm server-side dry run", mutates=False)
    return json.loads(proc.stdout).get("manifest", "")


def deploy_hub(
    fleet: Fleet, hub: str, env: str, options: DeployOptions, runner: Runner
) -> DeployResult:
    """Deploy one hub to one environment; never raises for a failed step (see `result.error`)."""
    started = time.monotonic()
    result = DeployResult(hub, env, dry_run=options.dry_run or runner.dry_run)
    steps = _Steps(hub, env)
    own = _own_runner(runner, options)
    try:
        with prepared(fleet, hub, env, options, own, steps) as release:
            result.image = release.image
            _upgrade(fleet, release, options, steps, result)
        result.ok = True
    except FleetError as exc:
        result.error = str(exc)
    result.step = steps.name
    result.duration = time.monotonic() - started
    return result


def _upgrade(
    fleet: Fleet, release: Release, options: DeployOptions, steps: _Steps, result: DeployResult
) -> None:
    runner, name = release.runner, release.name
    major = helm.major_version(options.helm)
    steps("recover", f"release {name}")
    helm.recover_pending(runner, name, options.timeout, options.helm)
    commit, dirty = git_commit(fleet.root, runner)
    labels = {
        helm.LABEL_COMMIT: helm.label_value(commit),
        helm.LABEL_IMAGE_TAG: helm.label_value(release.render["image_tag"] or "none"),
        helm.LABEL_DIRTY: "true" if dirty else "false",
    }
    description = f"fleet: commit {commit[:12]}{' (dirty)' if dirty else ''}, image {release.image or 'chart default'}"
    argv = helm.upgrade_argv(
        major=major, timeout=options.timeout, rollback=options.rollback, labels=labels,
        description=description, **release.render,
    )  # fmt: skip
    if runner.dry_run:
        steps("helm upgrade", "printed, not run; helm's server-side dry run follows")
        runner.run(argv, step="helm upgrade")
        manifests = server_dry_run(release)
        from .diff import mask_manifests, secret_paths

        paths = secret_paths([release.hub.secrets_file(release.env)])
        print(mask_manifests(manifests, runner.secrets, secret=paths), flush=True)
        say(
            release.hub.name,
            release.env,
            "server-side dry run passed: the upgrade above would be accepted",
        )
        return
    steps(
        "helm upgrade",
        f"helm {major}, timeout {options.timeout}, rollback {'on' if options.rollback else 'off'}",
    )
    began = time.monotonic()
    try:
        runner.run(argv, step="helm upgrade")
    except StepFailed as exc:
        result.helm_seconds = time.monotonic() - began
        raise FleetError(_explain_failure(runner, name, exc, options)) from None
    result.helm_seconds = time.monotonic() - began
    steps("rollout", f"kubectl rollout status in namespace {name}")
    rollout.wait(runner, name, helm.parse_timeout(options.timeout))
    steps("record")
    info = helm.deployed_info(runner, name, name, options.helm) or {}
    if info.get("commit") != labels[helm.LABEL_COMMIT]:
        raise FleetError(f"release {name}: the deployed revision does not carry commit {commit}")
    result.revision = info.get("revision")
    say(
        release.hub.name,
        release.env,
        f"revision {result.revision} records commit {commit[:12]} image {release.image}",
    )


def _explain_failure(runner: Runner, name: str, exc: StepFailed, options: DeployOptions) -> str:
    """What failed, which workload and why, and what is serving now."""
    quiet = Runner(False, False, runner.env, runner.secrets)
    last = (exc.stderr.strip().splitlines() or ["(no output)"])[-1]
    lines = [f"helm upgrade of {name} failed: {last}"]
    with contextlib.suppress(FleetError):
        lines += rollout.diagnose(quiet, name)
    with contextlib.suppress(FleetError):
        lines.append(_serving_after_failure(helm.history(quiet, name, name, options.helm), name, options))
    if not options.rollback:
        lines.append(
            f"--no-rollback: run `invoke rollback --hub {name.rsplit('-', 1)[0]} --env {name.rsplit('-', 1)[1]}` to go back"
        )
    return "\n".join(lines)


def _serving_after_failure(revisions: list[dict], name: str, options: DeployOptions) -> str:
    """One line on what serves after a failed upgrade: the rollback's revision, or why none."""
    if not revisions:
        return f"release {name} does not exist (the first install failed and was removed)"
    latest = revisions[-1]
    if latest["status"] == "deployed":
        how = "rolled back" if options.rollback else "unchanged"
        return f"serving now ({how}): revision {latest['revision']} of {name}"
    serving = [r for r in revisions if r["status"] == "deployed"]
    if options.rollback:
        hint = f"the rollback did not finish in time (revision {latest['revision']} {latest['status']})"
    else:
        hint = f"revision {latest['revision']} is {latest['status']}"
    if serving:
        hint += f"; revision {serving[-1]['revision']} is the last one marked deployed"
    return hint + ": check `invoke status`, then `invoke rollback`"


def rollback_hub(
    fleet: Fleet,
    hub_name: str,
    env: str,
    options: DeployOptions,
    runner: Runner,
    revision: int | None = None,
) -> DeployResult:
    """Roll the release back to `revision`, or the good revision before the one serving; then wait."""
    started = time.monotonic()
    result = DeployResult(hub_name, env, dry_run=options.dry_run or runner.dry_run)
    steps = _Steps(hub_name, env)
    own = _own_runner(runner, options)
    try:
        hub = fleet.hub(hub_name)
        fleet.check_env(hub, env)
        name = hub.release(env)
        with cluster_runner(fleet, hub, options, own, steps) as run:
            steps("history", f"release {name}")
            revisions = helm.history(run, name, name, options.helm)
            if not revisions:
                raise FleetError(f"release {name} does not exist in cluster {hub.cluster}")
            known = {r["revision"]: r for r in revisions}
            if revision is None:
                serving = [r["revision"] for r in revisions if r["status"] == "deployed"]
                revision = helm.last_good_revision(
                    revisions, before=serving[-1] if serving else None
                )
                if revision is None:
                    raise FleetError(f"release {name}: no earlier good revision to roll back to")
            elif revision not in known:
                valid = ", ".join(str(r) for r in sorted(known))
                raise FleetError(f"release {name}: no revision {revision}; revisions: {valid}")
            steps("rollback", f"to revision {revision}")
            run.run(helm.rollback_argv(helm=options.helm, release=name, revision=revision, timeout=options.timeout),
                    step="helm rollback")  # fmt: skip
            if run.dry_run:
                result.ok, result.revision = True, revision
            else:
                steps("rollout", f"kubectl rollout status in namespace {name}")
                rollout.wait(run, name, helm.parse_timeout(options.timeout))
                info = helm.deployed_info(run, name, name, options.helm) or {}
                result.revision, result.image = info.get("revision"), info.get("image", "")
                result.ok = True
    except FleetError as exc:
        result.error = str(exc)
    result.step = steps.name
    result.duration = time.monotonic() - started
    return result


def with_options(options: DeployOptions, **changes: object) -> DeployOptions:
    return replace(options, **changes)  # type: ignore[arg-type]
