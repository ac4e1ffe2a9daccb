"""Tasks for operating this fleet of hubs. Thin: the logic lives in the `fleet` package.

Run `invoke --list` for the tasks and `invoke --help TASK` for each one's options.
"""

from __future__ import annotations

import functools

from invoke import Collection, Exit, task

from fleet.errors import FleetError


def _errors_exit(fn):
    """Turn a FleetError into a one-line message and exit code 1, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FleetError as exc:
            raise Exit(f"error: {exc}", code=1) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None

    return wrapper


ns = Collection()


# --- build, deploy, diff, status, rollback (fleet.images, fleet.deploy, fleet.diff, fleet.status)

_ACCESS_HELP = {
    "kubeconfig": "kubeconfig file to take the cluster's credentials from (env FLEET_KUBECONFIG)",
    "context": "context in that kubeconfig (env FLEET_CONTEXT)",
}


def _deploy_options(**given):
    from fleet.deploy import DeployOptions

    return DeployOptions.from_env(**given)


@task(
    iterable=["image"],
    help={
        "image": "image folder under images/ (repeatable; default: every image)",
        "push": "push to the registry after building",
        "no-cache": "build without docker's layer cache",
    },
)
@_errors_exit
def build(c, image=None, push=False, no_cache=False):
    """Build images tagged with the hash of their build context; skipped when the registry has it."""
    from fleet import config, images

    images.build_all(config.load(), image or None, push=push, no_cache=no_cache)


@task(
    help={
        "hub": "hub to deploy (a folder under hubs/)",
        "env": "environment: staging or prod",
        "dry-run": "print the commands and run helm's server-side dry run; change nothing",
        "timeout": "how long to wait for the rollout, e.g. 10m (env FLEET_TIMEOUT)",
        "no-rollback": "leave a failed upgrade in place instead of rolling back",
        "build": "build and push the hub's image first when the registry lacks it",
        **_ACCESS_HELP,
    }
)
@_errors_exit
def deploy(
    c, hub, env, dry_run=False, timeout=None, no_rollback=False, kubeconfig=None, context=None,
    build=False,
):  # fmt: skip
    """Deploy one hub to one environment, wait for it, roll back on failure."""
    from fleet import config
    from fleet.deploy import deploy_hub
    from fleet.runner import Runner

    options = _deploy_options(
        dry_run=dry_run, timeout=timeout, rollback=not no_rollback, kubeconfig=kubeconfig,
        context=context, build=build,
    )  # fmt: skip
    result = deploy_hub(config.load(), hub, env, options, Runner(dry_run=dry_run))
    if not result.ok:
        raise Exit(f"error: deploy {hub}/{env} failed at step {result.step}: {result.error}", code=1)
    print(result.summary())


@task(help={"hub": "hub to compare", "env": "environment: staging or prod", **_ACCESS_HELP})
@_errors_exit
def diff(c, hub, env, kubeconfig=None, context=None):
    """Show what a deploy would change in the live release, as a unified diff, secrets redacted."""
    from fleet import config
    from fleet.diff import diff_hub
    from fleet.runner import Runner

    options = _deploy_options(kubeconfig=kubeconfig, context=context)
    text = diff_hub(config.load(), hub, env, options, Runner())
    print(text if text else f"{hub}/{env}: no changes")


@task(
    iterable=["hub", "env"],
    help={"hub": "hub to show (repeatable; default: all)", "env": "environment (repeatable)", **_ACCESS_HELP},
)
@_errors_exit
def status(c, hub=None, env=None, kubeconfig=None, context=None):
    """Show each release: revision, status, image, deployed commit and time."""
    from fleet import config
    from fleet.runner import Runner
    from fleet.status import print_table, rows

    options = _deploy_options(kubeconfig=kubeconfig, context=context)
    print_table(rows(config.load(), hub or [], env or [], options, Runner(echo=False)))


@task(
    help={
        "hub": "hub to roll back",
        "env": "environment: staging or prod",
        "revision": "revision to return to (default: the good one before the one serving)",
        "timeout": "how long to wait for the rollout (env FLEET_TIMEOUT)",
        **_ACCESS_HELP,
    }
)
@_errors_exit
def rollback(c, hub, env, revision=None, timeout=None, kubeconfig=None, context=None):
    """Roll a release back to its previous good revision and wait for the rollout."""
    from fleet import config
    from fleet.deploy import rollback_hub
    from fleet.runner import Runner

    options = _deploy_options(timeout=timeout, kubeconfig=kubeconfig, context=context)
    if revision is not None and not str(revision).isdigit():
        raise Exit(f"error: --revision {revision!r}: expected a revision number", code=1)
    number = int(revision) if revision is not None else None
    result = rollback_hub(config.load(), hub, env, options, Runner(), number)
    if not result.ok:
        raise Exit(f"error: rollback {hub}/{env} failed at step {result.step}: {result.error}", code=1)
    print(f"{hub}/{env}: rolled back; revision {result.revision} serving, image {result.image}")


for _task in (build, deploy, diff, status, rollback):
    ns.add_task(_task)
