"""One release at a time: diff, rollback, health; and status, retire (fleet.diff, .deploy,
.status, .retire). A release is `--hub H --env E`, or `--support --cluster C`."""

from __future__ import annotations

import sys

from invoke import Exit

from fleet.core import config, output
from fleet.core.errors import Failure, FleetError
from fleet.core.runner import Runner
from fleet.ops.retire import RetireOptions
from fleet.ops.retire import retire as retire_hub
from fleet.ops.status import print_table, rows
from fleet.release.deploy import check
from fleet.release.deploy import rollback as rollback_to
from fleet.release.diff import DIFF_FAILED, DIFFERENCES, NO_DIFFERENCES
from fleet.release.diff import diff as diff_of

from .task_entry import (
    ACCESS_HELP,
    LOCK_HELP,
    TARGET_HELP,
    TIMEOUT_HELP,
    errors_exit,
    options,
    revision_number,
    target,
    task,
)

EXIT_CODE_HELP = (
    f"exit {DIFFERENCES} when there are differences, {NO_DIFFERENCES} when none, "
    f"{DIFF_FAILED} on an error (as `git diff --exit-code`; invoke's own usage errors exit 1)"
)


@task(help={**TARGET_HELP, "exit-code": EXIT_CODE_HELP, **ACCESS_HELP})
@errors_exit
def diff(
    c,
    hub=None,
    env=None,
    support=False,
    cluster=None,
    kubeconfig=None,
    context=None,
    exit_code=False,
):
    """Show what a deploy would change in the live release, as a unified diff, secrets redacted."""
    try:
        release = target(config.load(), hub, env, cluster, support)
        text = diff_of(release, options(kubeconfig=kubeconfig, context=context), Runner())
    except Failure as exc:
        if exit_code:
            raise Exit(f"error: {exc}", code=DIFF_FAILED) from None
        raise
    output.line(text if text else f"{release.label}: no changes")
    if exit_code and text:
        raise Exit(code=DIFFERENCES)


@task(
    help={
        **TARGET_HELP,
        "revision": "revision to return to (default: the good one before the one serving)",
        "timeout": TIMEOUT_HELP,
        **LOCK_HELP,
        **ACCESS_HELP,
    },
)
@errors_exit
def rollback(
    c,
    hub=None,
    env=None,
    support=False,
    cluster=None,
    revision=None,
    timeout=None,
    kubeconfig=None,
    context=None,
    lock_timeout=None,
):
    """Roll a release back to its previous good revision and wait for the rollout."""
    chosen = options(
        timeout=timeout, kubeconfig=kubeconfig, context=context, lock_timeout=lock_timeout
    )
    number = revision_number(revision)
    result = rollback_to(
        target(config.load(), hub, env, cluster, support), chosen, Runner(), number
    )
    label = result.target.label
    if not result.ok:
        raise FleetError(f"rollback {label} failed at step {result.step}: {result.error}")
    image = f", image {result.image}" if result.image else ""
    output.line(f"{label}: rolled back; revision {result.revision} serving{image}")


@task(
    help={"hub": "hub to check", "env": "environment: staging or prod", **LOCK_HELP, **ACCESS_HELP},
)
@errors_exit
def health(c, hub=None, env=None, kubeconfig=None, context=None, lock_timeout=None):
    """Check a deployed hub: its API, a test user's server from its image, code run in a kernel."""
    chosen = options(kubeconfig=kubeconfig, context=context, lock_timeout=lock_timeout)
    result = check(target(config.load(), hub, env), chosen, Runner())
    if not result.ok:
        raise FleetError(f"{result.target.label}: {result.error}")
    output.line(f"{result.target.label}: revision {result.revision}, {result.health}")


@task(
    iterable=["hub", "env"],
    help={
        "hub": "hub to show (repeatable; default: all)",
        "env": "environment (repeatable)",
        **ACCESS_HELP,
    },
)
@errors_exit
def status(c, hub=None, env=None, kubeconfig=None, context=None):
    """Show each release: revision, status, image, deployed commit and time."""
    chosen = options(kubeconfig=kubeconfig, context=context)
    print_table(rows(config.load(), hub or [], env or [], chosen, Runner(echo=False)))


def _confirm(release: str) -> bool:
    if not sys.stdin.isatty():
        raise FleetError("not asked, stdin is not a terminal: pass --yes to retire")
    answer = input(f"type the release name ({release}) to remove it: ")
    if answer.strip() != release:
        output.line("not retired")
        return False
    return True


@task(
    help={
        "hub": "hub whose release to remove (it must no longer deploy to --env on that cluster)",
        "env": "environment: staging or prod",
        "cluster": "cluster the release is on (default: the hub's, or the only one)",
        "delete-namespace": "also delete its namespace, with the users' volumes in it",
        "yes": "do not ask before removing (for scripts)",
        "dry-run": "show what would be removed; remove nothing",
        **LOCK_HELP,
        **ACCESS_HELP,
    }
)
@errors_exit
def retire(
    c,
    hub,
    env,
    cluster=None,
    delete_namespace=False,
    yes=False,
    dry_run=False,
    kubeconfig=None,
    context=None,
    lock_timeout=None,
):
    """Uninstall the release of a hub the repository no longer deploys (`invoke status` lists them)."""
    chosen = options(kubeconfig=kubeconfig, context=context, lock_timeout=lock_timeout)
    how = RetireOptions(cluster, delete_namespace, yes, dry_run)
    if retire_hub(config.load(), hub, env, how, chosen, Runner(), _confirm) and not dry_run:
        output.line(f"{hub}/{env}: retired" + (" with its namespace" if delete_namespace else ""))
