"""Deploy one release (a hub x env, or a cluster's support), or roll it back: helm upgrade or
rollback, then the rollout.

`deploy`, `rollback` and `check` take a release target (fleet.target) and return a
`DeployResult` instead of printing and exiting, and keep their state to themselves (see
fleet.release), so several releases can deploy at once from threads.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from fleet.core import output, private
from fleet.core.errors import Failure, FleetError, RolloutFailed, StepFailed, Stopped
from fleet.core.output import say
from fleet.core.redact import redact_text
from fleet.core.runner import Runner
from fleet.core.target import Target
from fleet.release import canary, health, lock, rollout
from fleet.release.release import (
    DeployOptions,
    Release,
    Steps,
    cluster_runner,
    prepared,
    server_dry_run,
)
from fleet.tools import chart, crds, helm, manifests, sops
from fleet.tools.credentials import Kubeconfigs
from fleet.tools.git import Git


@dataclass
class DeployResult:
    """The outcome of one release's deploy (or rollback); `error` names the step that failed."""

    target: Target
    ok: bool = False
    revision: int | None = None
    image: str = ""
    duration: float = 0.0
    error: str = ""
    step: str = ""
    helm_seconds: float = 0.0
    dry_run: bool = False
    health: str = ""
    skipped: bool = False  # not tried: something it depends on failed (see fleet.parallel)
    timings: list[tuple[str, float, float]] = field(default_factory=list)  # Steps.finish()

    def summary(self) -> str:
        label = self.target.label
        if self.skipped:
            return f"{label}: skipped: {self.error}"
        if not self.ok:
            return f"{label}: FAILED at step {self.step}: {self.error}"
        if self.dry_run:
            image = f", image {self.image}" if self.image else ""
            return f"{label}: dry run OK{image}, {self.duration:.1f}s"
        image = f", image {self.image}" if self.image else ""
        return (
            f"{label}: deployed revision {self.revision}{image}, "
            f"{self.duration:.1f}s (helm upgrade {self.helm_seconds:.1f}s)"
            + (f", {self.health}" if self.health else "")
        )


@contextlib.contextmanager
def _recorded(result: DeployResult, steps: Steps, runner: Runner) -> Iterator[None]:
    """Fill in the result: ok, or the error and the step it stopped at; and how long it took.

    The error quotes what tools, logs and events said: every secret `runner` learned (the
    release's decrypted values) is redacted from it, before it reaches the output, the results
    file, the workflow's annotations or the chat.
    """
    started = time.monotonic()
    try:
        yield
        result.ok = True
    except Failure as exc:
        result.error = redact_text(str(exc), runner.secrets)
    finally:
        result.step = steps.name
        result.duration = time.monotonic() - started
        result.timings = steps.finish()


def deploy(
    target: Target, options: DeployOptions, runner: Runner, kubeconfigs: Kubeconfigs | None = None
) -> DeployResult:
    """Deploy one release; never raises for a failed step (see `result.error`).

    A hub: the canary gate, the upgrade under the release's lock, the rollout, the health check.
    A cluster's support: its CRDs server-side first, then the same upgrade; no health check.
    `kubeconfigs`: the run's cluster credentials, when many releases deploy in one run.
    """
    own = runner.copy(dry_run=options.dry_run or runner.dry_run)
    result = DeployResult(target, dry_run=own.dry_run)
    steps = Steps(*target.who)
    with (
        _recorded(result, steps, own),
        prepared(target, options, own, steps, kubeconfigs=kubeconfigs) as release,
    ):
        result.image = release.image
        _canary(release, options, steps)
        if own.dry_run:
            _crds(release, steps)
            _dry_run(release, options, steps)
            return result
        with _lease_held(release.runner, release.name, options, steps) as held:
            _crds(release, steps)
            _upgrade(release, options, steps, result, held)
            if options.health_check and not target.is_support:
                _health_check(release, steps, result)
    return result


def _crds(release: Release, steps: Steps) -> None:
    """A support chart's CRDs, applied server-side before its upgrade: helm installs CRDs but
    never upgrades them. In a dry run, only named."""
    target = release.target
    if not target.is_support:
        return
    values = [Path(p) for p in release.render.values_files]
    if release.runner.dry_run:
        found = crds.documents(target.chart, crds.enabled_dependencies(target.chart, values))
        steps("crds", f"would apply {len(found)} server-side: {', '.join(found) or 'none'}")
        return
    steps("crds", "applied server-side first: helm installs CRDs but never upgrades them")
    applied = crds.apply(release.runner, target.chart, values)
    say(*target.who, f"{len(applied)} CRD files applied")


def _canary(release: Release, options: DeployOptions, steps: Steps) -> None:
    """A later environment's upgrade only after the first (staging) proved the same inputs."""
    target = release.target
    fleet = target.fleet
    canary_env = fleet.environments[0]
    if target.env == canary_env or target.is_support:
        return
    if options.skip_canary:
        steps("canary", f"skipped (--skip-canary): recorded as {canary.LABEL_SKIPPED}=skipped")
        return
    steps("canary", f"the {canary_env} release must be deployed, healthy, with these inputs")
    quiet = release.runner.quiet()
    canary.check(fleet, target.hub, canary_env, quiet, options.helm, release.image, target.env)
    say(*release.who, f"canary: {canary_env} proved these inputs")


@contextlib.contextmanager
def _lease_held(
    runner: Runner, name: str, options: DeployOptions, steps: Steps
) -> Iterator[lock.Lock | None]:
    """The release's deploy lock (fleet.lock) around a block; a lock lost midway fails it."""
    steps("lock", f"release {name}, waiting up to {options.lock_timeout}")
    wait = options.lock_seconds
    with lock.held(runner, name, wait, lambda text: say(steps.hub, steps.env, text)) as held:
        try:
            yield held
        except BaseException:
            if held is not None and held.wrote:  # a pending revision of its own, not another's
                held.left_pending = _left_pending(runner, name, options)
            raise
        if held and held.lost:
            raise FleetError(f"{held.lost} while this ran: check `invoke status` before going on")


def _labels(release: Release, options: DeployOptions) -> tuple[dict[str, str], str]:
    """The release labels recording what is deployed, and the revision's description."""
    target = release.target
    fleet = target.fleet
    commit, dirty = Git(fleet.root, release.runner.quiet()).head()
    labels = {
        helm.LABEL_COMMIT: helm.label_value(commit),
        helm.LABEL_IMAGE_TAG: helm.label_value(release.render.image_tag or "none"),
        helm.LABEL_DIRTY: "true" if dirty else "false",
        **target.labels,
    }
    if target.hub is not None:
        labels |= canary.fingerprints(fleet, target.hub)
        if options.skip_canary and target.env != fleet.environments[0]:
            labels[canary.LABEL_SKIPPED] = "skipped"
    if fleet.name:
        labels[helm.LABEL_FLEET] = fleet.name
    image = release.image or "chart default"
    description = f"fleet: commit {commit[:12]}{' (dirty)' if dirty else ''}, image {image}"
    return labels, description


def _upgrade_argv(
    release: Release, options: DeployOptions, labels: dict[str, str], description: str
) -> list[str]:
    return helm.upgrade_argv(
        release.render,
        major=helm.major_version(options.helm),
        timeout=options.timeout,
        rollback=options.rollback,
        labels=labels,
        description=description,
    )


def _dry_run(release: Release, options: DeployOptions, steps: Steps) -> None:
    """Print the upgrade command and helm's server-side render, secrets masked; change nothing."""
    steps("helm upgrade", "printed, not run; helm's server-side dry run follows")
    argv = _upgrade_argv(release, options, *_labels(release, options))
    release.runner.run(argv, step="helm upgrade")
    paths = sops.secret_paths([release.target.secrets_file])
    rendered = server_dry_run(release)
    output.line(manifests.mask_manifests(rendered, release.runner.secrets, secret=paths))
    say(*release.who, "server-side dry run passed: the upgrade would be accepted")


def _left_pending(runner: Runner, name: str, options: DeployOptions) -> bool:
    """Whether the release's newest revision is pending (this deploy's helm stopped midway)."""
    try:
        revisions = helm.history(runner.quiet(), name)
    except Failure:
        return False
    return bool(revisions) and revisions[-1]["status"].startswith("pending-")


def _may_recover(release: Release, latest: dict, options: DeployOptions, took_over: str) -> None:
    """Recovery rolls back a pending revision only when no other writer can be running: the
    deploy that made it held the lock this one took over when it expired (and its helm died with
    it), or, with no lock of ours, it was last written longer ago than --timeout."""
    status, number, name = latest["status"], latest["revision"], release.name
    if status == "uninstalling":
        raise FleetError(
            f"release {name}: revision {number} is left uninstalling (a `helm uninstall` that "
            f"stopped): finish it with `helm uninstall {name} --namespace {name}`, then deploy"
        )
    if not status.startswith("pending-"):
        return
    if took_over:
        say(*release.who, f"revision {number} is {status}, left by {took_over}, whose lock expired")
        return
    age = helm.revision_age(latest)
    wait = options.timeout_seconds
    if age is not None and age > wait:
        say(*release.who, f"revision {number} is {status}, untouched for {age:.0f}s, no lock held")
        return
    since = f"written {age:.0f}s ago" if age is not None else "written at an unknown time"
    raise FleetError(
        f"release {name}: revision {number} is {status} ({since}) and no deploy of ours holds "
        f"its lock: another helm (a `helm upgrade` by hand?) may still be running. Wait until it "
        f"ends; after --timeout {options.timeout} with no change, a deploy recovers it"
    )


def _forward_only(
    release: Release, options: DeployOptions, revisions: list[dict], commit: str
) -> None:
    """Refuse a commit older than the one serving (an ancestor of it): a slower CI run that
    finishes last, or a stale checkout, would undo what was deployed since. --allow-older."""
    serving = [r for r in revisions if r["status"] == "deployed"]
    if options.allow_older or not serving:
        return
    runner, name = release.runner.quiet(), release.name
    live_commit = serving[-1]["labels"].get(helm.LABEL_COMMIT, "")
    if not live_commit or live_commit == commit:
        return
    git = Git(release.target.fleet.root, runner)
    if not git.exists(live_commit):
        say(*release.who, f"serving commit {live_commit[:12]} is not in this clone: not compared")
        return
    if git.is_ancestor(commit, live_commit):
        raise FleetError(
            f"release {name}: this deploy's commit {commit[:12]} is older than the one serving, "
            f"{live_commit[:12]} (revision {serving[-1]['revision']}): it would undo what was "
            "deployed since. Deploy the newer commit, or pass --allow-older to go back on purpose"
        )


def _recovered(
    release: Release, options: DeployOptions, steps: Steps, held: lock.Lock | None
) -> list[dict]:
    """The release's history, a revision left pending by a dead deploy recovered first."""
    runner, name = release.runner, release.name
    steps("recover", f"release {name}")
    revisions = helm.history(runner, name)
    if revisions:
        _may_recover(release, revisions[-1], options, held.took_over if held else "")
    if held is not None:
        held.wrote = True  # from here on, a revision left pending is this deploy's
    if helm.recover_pending(runner, name, options.timeout, options.helm, revisions=revisions):
        revisions = helm.history(runner, name)
    return revisions


def _upgrade(
    release: Release,
    options: DeployOptions,
    steps: Steps,
    result: DeployResult,
    held: lock.Lock | None = None,
) -> None:
    runner, name = release.runner, release.name
    revisions = _recovered(release, options, steps, held)
    before = revisions[-1]["revision"] if revisions else None
    labels, description = _labels(release, options)
    if revisions:  # the new revision has no health check yet: none carried over from the last
        labels |= dict.fromkeys(helm.HEALTH_LABELS, helm.DROPPED)
    argv = _upgrade_argv(release, options, labels, description)
    rollback = "on" if options.rollback else "off"
    major = helm.major_version(options.helm)
    steps("helm upgrade", f"helm {major}, timeout {options.timeout}, rollback {rollback}")
    _forward_only(release, options, revisions, labels[helm.LABEL_COMMIT])
    # Stops the wait as soon as a pod of this upgrade cannot become ready (fleet.rollout).
    since = rollout.now()
    watch = rollout.watcher(runner, name, since)
    began = time.monotonic()
    try:
        upgrade = runner.run(argv, step="helm upgrade", watch=watch)
        result.helm_seconds = time.monotonic() - began
        steps("rollout", f"every workload in namespace {name}")
        # One --timeout for hooks, helm's wait and ours: the rollout gets what helm left of it.
        left = options.timeout_seconds - (time.monotonic() - began)
        rollout.wait(runner, name, max(1, int(left)), watch=watch, since=since)
    except StepFailed as exc:  # helm failed or stopped, or our rollout wait failed
        result.helm_seconds = result.helm_seconds or time.monotonic() - began
        if private.stopping():  # a worker's helm, stopped by the SIGTERM of the whole run
            _interrupted(release, options, before)
            raise FleetError(f"terminated (SIGTERM) during the upgrade of {name}") from None
        explained = _explain_failure(runner, release, exc, options, before, since)
        raise FleetError(explained) from None
    except (KeyboardInterrupt, SystemExit):
        _interrupted(release, options, before)
        raise
    steps("record")
    commit = labels[helm.LABEL_COMMIT]
    # helm stored the labels (the commit) with the revision in the same write as the revision.
    result.revision, status = helm.upgraded(upgrade.stdout, name)
    if status != "deployed":
        raise FleetError(f"release {name}: revision {result.revision} is {status}, not deployed")
    image = f" image {release.image}" if release.image else ""
    say(*release.who, f"revision {result.revision} records commit {commit[:12]}{image}")


def _health_check(release: Release, steps: Steps, result: DeployResult) -> None:
    """Prove the new revision serves (fleet.health), and record the outcome on it."""
    steps("health check", "hub API, a test user's server, code in a kernel")
    expected = chart.jupyterhub_version(release.target.fleet, release.runner.quiet())
    check = health.run(release, expected, lambda text: say(*release.who, text))
    result.health = redact_text(check.summary(), release.runner.secrets)
    if result.revision is not None:
        evidence = helm.health_labels(check.ok, result.revision, time.time(), check.image)
        helm.record_health(release.runner, release.name, result.revision, evidence)
    if not check.ok:
        raise FleetError(
            f"{result.health}\nrevision {result.revision} is deployed but does not serve: "
            f"`{release.target.command('rollback')}` goes back to the one before"
        )


def check(target: Target, options: DeployOptions, runner: Runner) -> DeployResult:
    """`invoke health`: the health check of the hub revision serving now, recorded on it."""
    result = DeployResult(target)
    steps = Steps(*target.who)
    own = runner.copy()
    with _recorded(result, steps, own):
        if target.is_support:
            raise FleetError(f"{target.label}: a support release has no health check")
        with (
            prepared(target, options, own, steps, require_image=False) as release,
            _lease_held(release.runner, release.name, options, steps),
        ):
            info = helm.deployed_info(release.runner, release.name, options.helm)
            if not info:
                raise FleetError(f"release {release.name} is not deployed: nothing to check")
            result.revision, result.image = info["revision"], info["image"]
            _health_check(release, steps, result)
    return result


def _explain_failure(
    runner: Runner,
    release: Release,
    exc: StepFailed,
    options: DeployOptions,
    before: int | None,
    since: datetime,
) -> str:
    """What failed, which workload and why (pods of this upgrade only), and what serves now."""
    quiet, name = runner.quiet(), release.name
    if isinstance(exc, Stopped):
        lines = [f"helm upgrade of {name} stopped early: a pod cannot become ready", exc.reason]
    elif isinstance(exc, RolloutFailed):
        lines = [str(exc)]
    else:
        lines = [f"helm upgrade of {name} failed: {exc.last_line('(no output)')}"]
        with contextlib.suppress(Failure):
            lines += rollout.diagnose(quiet, name, since=since)
    # helm rolls back a failure of its own (--atomic); a stop or a failed rollout is ours.
    if options.rollback and isinstance(exc, (Stopped, RolloutFailed)):
        with contextlib.suppress(Failure):
            _undo(runner, name, options)
    with contextlib.suppress(Failure):
        revisions = helm.history(quiet, name, described=True)
        lines.append(_serving_after_failure(revisions, name, options, before))
    if not options.rollback:
        lines.append(f"--no-rollback: run `{release.target.command('rollback')}` to go back")
    return "\n".join(lines)


def _interrupted(release: Release, options: DeployOptions, before: int | None) -> None:
    """Ctrl-C or SIGTERM mid-upgrade: back to the last good revision before exiting.

    Interrupted again, the release stays pending, and the next deploy recovers it.
    """
    (hub, env), name = release.who, release.name
    if not options.rollback:
        say(
            hub,
            env,
            f"interrupted: {name} is left as it is (--no-rollback); `invoke status` shows it",
        )
        return
    say(
        hub,
        env,
        f"interrupted: returning {name} to its last good revision (interrupt again to skip)",
    )
    try:
        # Stopping (SIGTERM): the rollback is written, not waited for, so the process exits soon.
        _undo(release.runner, name, options, wait=not private.stopping())
        revisions = helm.history(release.runner.quiet(), name, described=True)
        say(hub, env, _serving_after_failure(revisions, name, options, before))
    except Failure as exc:
        say(hub, env, f"could not roll back ({exc}); the next deploy recovers the release")


def _undo(runner: Runner, name: str, options: DeployOptions, wait: bool = True) -> None:
    """Return a release to its last good revision after an upgrade we stopped or found broken.

    helm may have been stopped mid-wait (pending), have rolled back itself (a revision
    "Rollback to N"), have marked it failed, or have deployed what will not run.
    """
    revisions = helm.history(runner, name, described=True)
    if not revisions:
        return
    latest = revisions[-1]
    if latest["status"].startswith("pending-"):
        helm.recover_pending(runner, name, options.timeout, options.helm, wait=wait)
        return
    if latest["status"] == "deployed" and latest.get("description", "").startswith("Rollback"):
        return
    good = helm.last_good_revision(revisions, before=latest["revision"])
    if good is None:
        runner.run(
            helm.uninstall_argv(options.helm, name, wait),
            step=f"uninstall {name} (its first install does not run)",
        )
        return
    argv = helm.rollback_argv(
        helm=options.helm, release=name, revision=good, timeout=options.timeout, wait=wait
    )
    runner.run(argv, step=f"roll {name} back to revision {good}")


def _serving_after_failure(
    revisions: list[dict], name: str, options: DeployOptions, before: int | None
) -> str:
    """One line on what serves after a failed upgrade: the rollback's revision, or why none.

    `before` is the newest revision before the upgrade: if it is still the newest, the upgrade
    made none; only a revision made by a rollback (helm's or ours, "Rollback to N") says so.
    """
    if not revisions:
        return f"release {name} does not exist (the first install failed and was removed)"
    latest = revisions[-1]
    if latest["status"] == "deployed":
        number = latest["revision"]
        if number == before:
            return f"serving now (unchanged, the upgrade made no revision): revision {number} of {name}"
        if str(latest.get("description", "")).startswith("Rollback"):
            return f"serving now (rolled back): revision {number} of {name}"
        return f"revision {number} of {name} is deployed, but it did not roll out"
    serving = [r for r in revisions if r["status"] == "deployed"]
    if options.rollback:
        hint = f"the rollback did not finish in time (revision {latest['revision']} {latest['status']})"
    else:
        hint = f"revision {latest['revision']} is {latest['status']}"
    if serving:
        hint += f"; revision {serving[-1]['revision']} is the last one marked deployed"
    return hint + ": check `invoke status`, then `invoke rollback`"


def _rollback_target(revisions: list[dict], name: str, revision: int | None) -> int:
    """The revision asked for if it exists, else the good revision before the one serving."""
    known = {r["revision"] for r in revisions}
    if revision is not None:
        if revision not in known:
            valid = ", ".join(str(r) for r in sorted(known))
            raise FleetError(f"release {name}: no revision {revision}; revisions: {valid}")
        return revision
    serving = [r["revision"] for r in revisions if r["status"] == "deployed"]
    found = helm.last_good_revision(revisions, before=serving[-1] if serving else None)
    if found is None:
        raise FleetError(f"release {name}: no earlier good revision to roll back to")
    return found


def rollback(
    target: Target, options: DeployOptions, runner: Runner, revision: int | None = None
) -> DeployResult:
    """Roll the release back to `revision`, or the good revision before the one serving; then wait."""
    own = runner.copy(dry_run=options.dry_run or runner.dry_run)
    result = DeployResult(target, dry_run=own.dry_run)
    steps = Steps(*target.who)
    name, cluster = target.name, target.cluster
    with (
        _recorded(result, steps, own),
        cluster_runner(target.fleet, cluster, options.access, own, steps) as run,
        _lease_held(run, name, options, steps),
    ):
        steps("history", f"release {name}")
        revisions = helm.history(run, name)
        if not revisions:
            raise FleetError(f"release {name} does not exist in cluster {cluster}")
        back_to = _rollback_target(revisions, name, revision)
        steps("rollback", f"to revision {back_to}")
        argv = helm.rollback_argv(
            helm=options.helm, release=name, revision=back_to, timeout=options.timeout
        )
        run.run(argv, step="helm rollback")
        result.revision = back_to
        if not run.dry_run:
            steps("rollout", f"every workload in namespace {name}")
            rollout.wait(run, name, options.timeout_seconds)
            info = helm.deployed_info(run, name, options.helm) or {}
            result.revision, result.image = info.get("revision"), info.get("image", "")
    return result
