"""What an upgrade would change: a unified diff of the live release's manifests against the new
ones, secrets masked (fleet.manifests). No helm plugin is needed.
"""

from __future__ import annotations

from fleet.core.runner import Runner
from fleet.core.target import Target
from fleet.release.release import DeployOptions, Release, prepared, server_dry_run
from fleet.tools import helm, manifests, sops

# `invoke diff --exit-code`, as `git diff --exit-code`: 0 no differences, 1 differences; and an
# error (a mistake or a failed tool) 2, so a script never takes a failure for a difference.
NO_DIFFERENCES, DIFFERENCES, DIFF_FAILED = 0, 1, 2


def live_manifest(runner: Runner, release: str, helm_bin: str) -> tuple[str, str]:
    """The manifests the release runs now, and a label for them ("" when not installed)."""
    revisions = helm.history(runner, release)
    serving = [r for r in revisions if r["status"] == "deployed"]
    if not serving:
        return "", f"{release}: not installed"
    revision = serving[-1]["revision"]
    argv = helm.manifest_argv(helm_bin, release, revision)
    proc = runner.run(argv, step=f"helm get manifest {release}", mutates=False)
    return proc.stdout, f"{release} revision {revision} (live)"


def diff(target: Target, options: DeployOptions, runner: Runner) -> str:
    """The unified diff an upgrade of the release would make, redacted; "" when nothing changes.
    (A support chart's CRDs, applied apart, are not shown.)"""
    with prepared(target, options, runner.copy(dry_run=True), require_image=False) as release:
        return _diff(release, options)


def _diff(release: Release, options: DeployOptions) -> str:
    live, live_label = live_manifest(release.runner, release.name, options.helm)
    new = server_dry_run(release)
    return manifests.unified(
        live,
        new,
        release.runner.secrets,
        live_label=live_label,
        new_label=f"{release.name} upgrade (work tree)",
        secret=sops.secret_paths([release.target.secrets_file]),
    )
