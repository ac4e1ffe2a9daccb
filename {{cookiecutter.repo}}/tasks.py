"""Tasks for operating this fleet of hubs. Thin: the logic lives in the `fleet` package.

Run `invoke --list` for the tasks and `invoke --help TASK` for each one's options.
"""

from __future__ import annotations

import functools
import inspect
import os
import shlex
import sys
from pathlib import Path

from invoke import Collection, Exit
from invoke import task as invoke_task
from invoke.parser.parser import ParseMachine

from fleet import (
    chart,
    config,
    images,
    leaks,
    mirror,
    notify,
    parallel,
    private,
    scaffold,
    shell,
    sops,
    upgrade,
)
from fleet import plan as planning
from fleet.credentials import Access
from fleet.deploy import check_hub, deploy_hub, rollback_hub
from fleet.deploy import deploy_support as deploy_support_of
from fleet.deploy import rollback_support as rollback_support_of
from fleet.diff import DIFF_FAILED, DIFFERENCES, NO_DIFFERENCES, diff_hub
from fleet.diff import diff_support as diff_support_of
from fleet.errors import FleetError
from fleet.logs import show as show_logs
from fleet.release import DeployOptions
from fleet.retire import RetireOptions
from fleet.retire import retire as retire_hub
from fleet.runner import Runner, terminate_children
from fleet.status import print_table as print_status
from fleet.status import rows as status_rows


def task(*args, **kwargs):
    """invoke's @task, with no automatic short flags (so `-h` is --help in every task and no
    letter means two options), and the positional arguments named in the task's help."""

    def decorate(fn):
        params = list(inspect.signature(fn).parameters.values())[1:]
        needed = [p.name for p in params if p.default is inspect.Parameter.empty]
        if needed:
            flags = ", ".join("--" + name.replace("_", "-") for name in needed)
            doc = inspect.cleandoc(fn.__doc__ or "")
            fn.__doc__ = (
                f"{doc}\n\nArguments: {' '.join(n.upper() for n in needed)}, in this order "
                f"or as {flags}."
            )
        return invoke_task(auto_shortflags=False, **kwargs)(fn)

    return decorate(args[0]) if args and callable(args[0]) else decorate


def _help_before_positionals(handle):
    """invoke takes `TASK --help` as the value of TASK's first positional argument: see it as
    the help it asks for (nothing runs after a task's help is printed)."""

    @functools.wraps(handle)
    def patched(self, token):
        context = self.context
        if (
            token in ("--help", "-h")
            and context is not None
            and context.missing_positional_args
            and not self.waiting_for_flag_value
        ):
            self.initial.flags["--help"].value = context.name
            for argument in context.missing_positional_args:
                argument.value = ""  # given, so that the parse ends in the task's help
            return None
        return handle(self, token)

    return patched


ParseMachine.handle = _help_before_positionals(ParseMachine.handle)


def _errors_exit(fn):
    """The entry of every task: signal handlers set, a FleetError as one line and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        private.install_signal_handlers(terminate_children)
        private.remove_stale()
        try:
            return fn(*args, **kwargs)
        except FleetError as exc:
            raise Exit(f"error: {exc}", code=1) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None
        except private.Terminated as exc:
            raise Exit("terminated (SIGTERM)", code=exc.code) from None

    return wrapper


ns = Collection()


# --- hubs, clusters and secrets (fleet.scaffold, fleet.sops) ---


def _root():
    return config.find_root()


@task(
    help={
        "name": "hub name: a DNS label of at most 45 characters",
        "cluster": "folder under clusters/ (default: the only cluster)",
        "image": "folder under images/ (default: default), or an external name:tag",
    }
)
@_errors_exit
def new_hub(c, name, cluster=None, image=None):
    """Add hubs/NAME from the skeleton, with freshly generated, encrypted secrets."""
    folder = scaffold.new_hub(_root(), name, cluster=cluster, image=image)
    print(
        f"created {folder}; edit its values, and its secrets with `invoke secrets.edit {name} staging`"
    )


@task(
    help={
        "name": "cluster name: a DNS label (the folder under clusters/)",
        "provider": "kubeconfig (default), gcp, aws or azure",
        "project": "gcp: project id",
        "cloud_cluster": "gcp/aws/azure: the cluster's name there (default: NAME)",
        "location": "gcp: zone or region; aws: region",
        "resource_group": "azure: resource group",
    }
)
@_errors_exit
def new_cluster(
    c,
    name,
    provider="kubeconfig",
    project=None,
    cloud_cluster=None,
    location=None,
    resource_group=None,
):
    """Add clusters/NAME/cluster.yaml for a provider."""
    path = scaffold.new_cluster(
        _root(),
        name,
        provider,
        project=project,
        cluster=cloud_cluster,
        location=location,
        resource_group=resource_group,
    )
    print(f"created {path}; point hubs at it with `cluster: {name}` in their hub.yaml")


def _secrets_file(hub, env):
    fleet = config.load()
    found = fleet.hub(hub)
    return fleet.root, found.secrets_file(fleet.hub_env(found, env))


def _support_secrets_file(cluster):
    fleet = config.load()
    found = fleet.clusters.get(cluster)
    if found is None:
        valid = ", ".join(sorted(fleet.clusters)) or "(none)"
        raise FleetError(f"unknown cluster {cluster!r}; valid clusters: {valid}")
    return fleet.root, found.support_secrets


@task(name="edit", help={"hub": "hub name", "env": "staging or prod"})
@_errors_exit
def secrets_edit(c, hub, env):
    """Edit a hub's secrets for an env in $EDITOR through sops (decrypted only in sops's temp file)."""
    root, path = _secrets_file(hub, env)
    _edited(root, path)


@task(name="edit-support", help={"cluster": "cluster name (a folder under clusters/)"})
@_errors_exit
def secrets_edit_support(c, cluster):
    """Edit a cluster's support chart secrets (Grafana's admin password...) in $EDITOR through sops."""
    root, path = _support_secrets_file(cluster)
    _edited(root, path)


def _edited(root: Path, path: Path) -> None:
    changed = sops.edit(root, path)
    print(f"{path.relative_to(root)}: {'saved, encrypted' if changed else 'no change'}")


@task(name="encrypt", help={"path": "a plaintext file under a secrets/ folder"})
@_errors_exit
def secrets_encrypt(c, path):
    """Encrypt a plaintext secrets file in place (refuses a file already encrypted)."""
    sops.encrypt_file(_root(), Path(path))


@task(name="decrypt", help={"hub": "hub name", "env": "staging or prod"})
@_errors_exit
def secrets_decrypt(c, hub, env):
    """Print a hub's decrypted secrets for an env to stdout (never written to a file)."""
    root, path = _secrets_file(hub, env)
    leaks.refuse_stdout_inside(root)
    sops.decrypt_to_stdout(root, path)


@task(name="decrypt-support", help={"cluster": "cluster name (a folder under clusters/)"})
@_errors_exit
def secrets_decrypt_support(c, cluster):
    """Print a cluster's decrypted support secrets to stdout (never written to a file)."""
    root, path = _support_secrets_file(cluster)
    leaks.refuse_stdout_inside(root)
    sops.decrypt_to_stdout(root, path)


@task(name="check")
@_errors_exit
def secrets_check(c):
    """Secrets files are encrypted and, with the key, no secret value is in any other file or staged."""
    problems = leaks.check(_root(), Runner(echo=False), lambda text: print(text, file=sys.stderr))
    if problems:
        raise Exit("error: secrets check failed:\n" + "\n".join(problems), code=1)


@task(name="complete")
@_errors_exit
def secrets_complete(c):
    """Add the chart's own secrets (cookie secret, proxy token, CryptKeeper key) where a hub lacks them."""
    fleet = config.load()
    for line in scaffold.complete_secrets(fleet, Runner()):
        print(line)


@task(name="updatekeys")
@_errors_exit
def secrets_updatekeys(c):
    """Re-encrypt every secrets file for the keys now in .sops.yaml."""
    for path in sops.updatekeys(_root()):
        print(f"re-keyed {path}")


ns.add_task(new_hub)
ns.add_task(new_cluster)
ns.add_collection(
    Collection(
        "secrets",
        secrets_edit,
        secrets_edit_support,
        secrets_encrypt,
        secrets_decrypt,
        secrets_decrypt_support,
        secrets_updatekeys,
        secrets_complete,
        secrets_check,
    )
)


# --- build, deploy, diff, status, rollback (fleet.images, .deploy, .parallel, .diff, .status)

_ACCESS_HELP = {
    "kubeconfig": "kubeconfig file to take the cluster's credentials from (env FLEET_KUBECONFIG)",
    "context": "context in that kubeconfig (env FLEET_CONTEXT)",
}
_LOCK_HELP = {
    "lock-timeout": "how long to wait while another deploy holds the release, e.g. 5m "
    "(default 5m; env FLEET_LOCK_TIMEOUT)",
}


def _deploy_options(**given):
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
    images.build_all(config.load(), image or None, push=push, no_cache=no_cache)


@task(
    name="mirror-images",
    help={
        "source": "copy from this mirror (host[:port]/path) instead of the images' own registries",
        "dry-run": "print what would be copied; copy nothing",
    },
)
@_errors_exit
def mirror_images(c, source="", dry_run=False):
    """Copy the chart's images into the image_mirror of fleet.yaml (and clusters'), skipping those present."""
    fleet = config.load()
    runner = Runner(dry_run=dry_run)
    wanted = mirror.copies(fleet, chart.jupyterhub_defaults(fleet, runner), source)
    if not wanted:
        if fleet.image_mirror or any(c.image_mirror for c in fleet.clusters.values()):
            raise Exit("error: no hub is on a cluster with an image_mirror: nothing to copy")
        raise Exit("error: no image_mirror in fleet.yaml or any cluster.yaml: nothing to copy")
    mirror.copy(wanted, runner)


@task(
    iterable=["hub"],
    help={
        "hub": "hub to deploy (a folder under hubs/; repeatable)",
        "env": "environment: staging or prod",
        "plan": "deploy the hubs of a plan file from `invoke plan --json` (filtered by --env)",
        "all": "deploy every hub that has --env",
        "cluster": "with --plan or --all: only the hubs (and support) of this cluster",
        "support": "with --all or --cluster: also each cluster's support chart, first (staging "
        "runs only; --plan takes the plan's)",
        "jobs": "with several hubs: how many deploy at once (default 4)",
        "dry-run": "print the commands and run helm's server-side dry run; change nothing",
        "timeout": "how long to wait for the rollout, e.g. 10m (env FLEET_TIMEOUT)",
        "no-rollback": "leave a failed upgrade in place instead of rolling back",
        "build": "build and push the hub's image first when the registry lacks it",
        "no-health-check": "skip the health check after the deploy (env FLEET_HEALTH_CHECK=off)",
        "skip-canary": "deploy prod although its staging release did not prove the same inputs "
        "(recorded on the release as fleet-canary=skipped)",
        "allow-older": "deploy a commit older than the one serving (an ancestor of it): refused "
        "otherwise, so a stale checkout or a slower CI run cannot undo newer deploys",
        "results": "write each support and hub result, with its steps' wall and CPU seconds, to this "
        "JSON file (for --after)",
        "after": "the --results file of an earlier run: a cluster with a failed or skipped "
        "support or hub there has its hubs skipped here (the workflow's prod job)",
        **_LOCK_HELP,
        **_ACCESS_HELP,
    },
)
@_errors_exit
def deploy(
    c,
    hub=None,
    env=None,
    dry_run=False,
    timeout=None,
    no_rollback=False,
    kubeconfig=None,
    context=None,
    build=False,
    plan=None,
    all=False,
    cluster=None,
    jobs=4,
    no_health_check=False,
    lock_timeout=None,
    support=False,
    skip_canary=False,
    allow_older=False,
    results=None,
    after=None,
):
    """Deploy hubs to an environment, wait for each, roll back a failed one, check it serves.

    With several: each cluster's support first, then its staging hubs, then its prod hubs; a
    failure skips what depends on it in that cluster only.
    """
    options = _deploy_options(
        dry_run=dry_run,
        timeout=timeout,
        rollback=not no_rollback,
        kubeconfig=kubeconfig,
        context=context,
        build=build,
        health_check=False if no_health_check else None,
        lock_timeout=lock_timeout,
        skip_canary=skip_canary,
        allow_older=allow_older,
    )
    if plan or all or cluster or support or results or after or len(hub or []) != 1:
        fleet = config.load()
        blocked = parallel.blocked_by(fleet, after) if after else {}
        pairs = parallel.targets_from(
            fleet, hubs=hub or [], env=env, everything=all, plan_file=plan, cluster=cluster
        )
        clusters = parallel.support_from(
            fleet, plan_file=plan, env=env, cluster=cluster, support=support
        )
        runner = Runner(dry_run=dry_run)
        done = parallel.deploy_many(fleet, pairs, options, runner, int(jobs), clusters, blocked)
        if results:
            Path(results).write_text(parallel.results_json(fleet, done))
        print(parallel.summary(done))
        parallel.report_to_github(done)
        failed = [f"{r.hub}/{r.env}" for r in done if not r.ok and not r.skipped]
        skipped = [f"{r.hub}/{r.env}" for r in done if r.skipped]
        if failed or skipped:
            raise Exit(
                f"error: deploy failed for {', '.join(failed) or 'none'}; "
                f"skipped: {', '.join(skipped) or 'none'} (of {len(done)})",
                code=1,
            )
        return
    hub = hub[0]
    if env is None:
        raise Exit("error: --env is required", code=1)
    result = deploy_hub(config.load(), hub, env, options, Runner(dry_run=dry_run))
    if not result.ok:
        raise Exit(
            f"error: deploy {hub}/{env} failed at step {result.step}: {result.error}", code=1
        )
    print(result.summary())


@task(
    help={
        "hub": "hub to compare",
        "env": "environment: staging or prod",
        "exit-code": f"exit {DIFFERENCES} when there are differences, {NO_DIFFERENCES} when none, "
        f"{DIFF_FAILED} on an error (as `git diff --exit-code`; invoke's own usage errors exit 1)",
        **_ACCESS_HELP,
    }
)
@_errors_exit
def diff(c, hub, env, kubeconfig=None, context=None, exit_code=False):
    """Show what a deploy would change in the live release, as a unified diff, secrets redacted."""
    options = _deploy_options(kubeconfig=kubeconfig, context=context)
    _print_diff(
        lambda: diff_hub(config.load(), hub, env, options, Runner()), f"{hub}/{env}", exit_code
    )


def _print_diff(make, what: str, exit_code: bool) -> None:
    try:
        text = make()
    except FleetError as exc:
        if exit_code:
            raise Exit(f"error: {exc}", code=DIFF_FAILED) from None
        raise
    print(text if text else f"{what}: no changes")
    if exit_code and text:
        raise Exit(code=DIFFERENCES)


# --- the support chart of each cluster (fleet.deploy, fleet.diff) ---

_CLUSTER_HELP = {"cluster": "folder under clusters/"}


@task(
    help={
        **_CLUSTER_HELP,
        "dry-run": "print the commands and run helm's server-side dry run; change nothing",
        "timeout": "how long to wait for the rollout, e.g. 10m (env FLEET_TIMEOUT)",
        "no-rollback": "leave a failed upgrade in place instead of rolling back",
        **_LOCK_HELP,
        **_ACCESS_HELP,
    }
)
@_errors_exit
def deploy_support(
    c,
    cluster,
    dry_run=False,
    timeout=None,
    no_rollback=False,
    kubeconfig=None,
    context=None,
    lock_timeout=None,
):
    """Deploy a cluster's support chart (ingress, cert-manager, monitoring): CRDs, upgrade, rollout."""
    options = _deploy_options(
        dry_run=dry_run,
        timeout=timeout,
        rollback=not no_rollback,
        kubeconfig=kubeconfig,
        context=context,
        lock_timeout=lock_timeout,
    )
    result = deploy_support_of(config.load(), cluster, options, Runner(dry_run=dry_run))
    if not result.ok:
        raise Exit(
            f"error: deploy support of {cluster} failed at step {result.step}: {result.error}",
            code=1,
        )
    print(result.summary())


@task(
    help={
        **_CLUSTER_HELP,
        "exit-code": f"exit {DIFFERENCES} when there are differences, {NO_DIFFERENCES} when none, "
        f"{DIFF_FAILED} on an error",
        **_ACCESS_HELP,
    }
)
@_errors_exit
def diff_support(c, cluster, kubeconfig=None, context=None, exit_code=False):
    """Show what a support deploy would change on a cluster, as a unified diff, secrets redacted."""
    options = _deploy_options(kubeconfig=kubeconfig, context=context)
    make = lambda: diff_support_of(config.load(), cluster, options, Runner())  # noqa: E731
    _print_diff(make, f"{cluster}/support", exit_code)


@task(
    help={
        **_CLUSTER_HELP,
        "revision": "revision to return to (default: the good one before the one serving)",
        "timeout": "how long to wait for the rollout (env FLEET_TIMEOUT)",
        **_LOCK_HELP,
        **_ACCESS_HELP,
    }
)
@_errors_exit
def rollback_support(
    c, cluster, revision=None, timeout=None, kubeconfig=None, context=None, lock_timeout=None
):
    """Roll a cluster's support release back to its previous good revision."""
    options = _deploy_options(
        timeout=timeout, kubeconfig=kubeconfig, context=context, lock_timeout=lock_timeout
    )
    if revision is not None and not str(revision).isdigit():
        raise Exit(f"error: --revision {revision!r}: expected a revision number", code=1)
    number = int(revision) if revision is not None else None
    result = rollback_support_of(config.load(), cluster, options, Runner(), number)
    if not result.ok:
        raise Exit(
            f"error: rollback support of {cluster} failed at step {result.step}: {result.error}",
            code=1,
        )
    print(f"{cluster}/support: rolled back; revision {result.revision} serving")


@task(
    iterable=["hub", "env"],
    help={
        "hub": "hub to show (repeatable; default: all)",
        "env": "environment (repeatable)",
        **_ACCESS_HELP,
    },
)
@_errors_exit
def status(c, hub=None, env=None, kubeconfig=None, context=None):
    """Show each release: revision, status, image, deployed commit and time."""
    options = _deploy_options(kubeconfig=kubeconfig, context=context)
    found = status_rows(config.load(), hub or [], env or [], options, Runner(echo=False))
    print_status(found)


@task(
    help={
        "hub": "hub to roll back",
        "env": "environment: staging or prod",
        "revision": "revision to return to (default: the good one before the one serving)",
        "timeout": "how long to wait for the rollout (env FLEET_TIMEOUT)",
        **_LOCK_HELP,
        **_ACCESS_HELP,
    }
)
@_errors_exit
def rollback(
    c, hub, env, revision=None, timeout=None, kubeconfig=None, context=None, lock_timeout=None
):
    """Roll a release back to its previous good revision and wait for the rollout."""
    options = _deploy_options(
        timeout=timeout, kubeconfig=kubeconfig, context=context, lock_timeout=lock_timeout
    )
    if revision is not None and not str(revision).isdigit():
        raise Exit(f"error: --revision {revision!r}: expected a revision number", code=1)
    number = int(revision) if revision is not None else None
    result = rollback_hub(config.load(), hub, env, options, Runner(), number)
    if not result.ok:
        raise Exit(
            f"error: rollback {hub}/{env} failed at step {result.step}: {result.error}", code=1
        )
    print(f"{hub}/{env}: rolled back; revision {result.revision} serving, image {result.image}")


def _confirm(release: str) -> bool:
    if not sys.stdin.isatty():
        raise Exit("error: not asked, stdin is not a terminal: pass --yes to retire", code=1)
    answer = input(f"type the release name ({release}) to remove it: ")
    if answer.strip() != release:
        print("not retired")
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
        **_LOCK_HELP,
        **_ACCESS_HELP,
    }
)
@_errors_exit
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
    options = _deploy_options(kubeconfig=kubeconfig, context=context, lock_timeout=lock_timeout)
    chosen = RetireOptions(cluster, delete_namespace, yes, dry_run)
    if retire_hub(config.load(), hub, env, chosen, options, Runner(), _confirm) and not dry_run:
        print(f"{hub}/{env}: retired" + (" with its namespace" if delete_namespace else ""))


@task(
    help={
        "hub": "hub to check",
        "env": "environment: staging or prod",
        **_LOCK_HELP,
        **_ACCESS_HELP,
    }
)
@_errors_exit
def health(c, hub, env, kubeconfig=None, context=None, lock_timeout=None):
    """Check a deployed hub: its API, a test user's server from its image, code run in a kernel."""
    options = _deploy_options(kubeconfig=kubeconfig, context=context, lock_timeout=lock_timeout)
    result = check_hub(config.load(), hub, env, options, Runner())
    if not result.ok:
        raise Exit(f"error: {hub}/{env}: {result.error}", code=1)
    print(f"{hub}/{env}: revision {result.revision}, {result.health}")


for _task in (
    build,
    mirror_images,
    deploy,
    diff,
    status,
    rollback,
    health,
    retire,
    deploy_support,
    diff_support,
    rollback_support,
):
    ns.add_task(_task)


# --- day 2: a shell on a cluster, logs (fleet.shell, fleet.logs) ---


def _access(kubeconfig=None, context=None) -> Access:
    return Access(
        kubeconfig or os.environ.get("FLEET_KUBECONFIG"),
        context or os.environ.get("FLEET_CONTEXT"),
    )


def _command_after_dashes(c) -> list[str]:
    """The words after `--`, as given (invoke's own remainder is one string, its quoting lost)."""
    if "--" in sys.argv:
        return sys.argv[sys.argv.index("--") + 1 :]
    return shlex.split(c.remainder or "")


@task(
    name="shell",
    help={
        "cluster": "cluster whose credentials to use (default: the only cluster)",
        **_ACCESS_HELP,
    },
)
@_errors_exit
def cluster_shell(c, cluster=None, kubeconfig=None, context=None):
    """A shell (or, after --, one command) with a cluster's private KUBECONFIG, removed on exit.

    `invoke shell --cluster main` opens $SHELL, its prompt naming the cluster;
    `invoke shell --cluster main -- kubectl get pods -A` runs one command and exits with its code.
    """
    fleet = config.load()
    if cluster is None:
        if len(fleet.clusters) != 1:
            valid = ", ".join(sorted(fleet.clusters)) or "(none)"
            raise FleetError(f"--cluster is needed: this fleet has clusters {valid}")
        cluster = next(iter(fleet.clusters))
    code = shell.run(fleet, cluster, _command_after_dashes(c), _access(kubeconfig, context))
    if code:
        raise Exit(code=code)


@task(
    help={
        "hub": "hub name",
        "env": "environment: staging or prod",
        "component": "the pods' component label: hub (default), proxy, singleuser-server, ...",
        "user": "one user's server instead of a component",
        "since": "only logs newer than this, e.g. 10m or 1h",
        "follow": "keep printing new lines until Ctrl-C",
        **_ACCESS_HELP,
    },
)
@_errors_exit
def logs(
    c,
    hub,
    env,
    component="hub",
    user=None,
    since=None,
    follow=False,
    kubeconfig=None,
    context=None,
):
    """Print the logs of a hub's component, or of one user's server (a restart's previous run first)."""
    show_logs(
        config.load(),
        hub,
        env,
        _access(kubeconfig, context),
        component=component,
        user=user,
        since=since,
        follow=follow,
    )


@task(
    name="notify",
    help={
        "results": "the deploy's --results file (missing: the deploy stopped before writing it)",
        "what": "what the job deployed, for the message, e.g. 'staging on cluster main'",
        "job-status": "the job's status: success, failure or cancelled (GitHub's job.status)",
        "run-url": "link to the run, put in the message",
    },
)
@_errors_exit
def notify_team(c, results, what, job_status="", run_url=""):
    """After a deploy job: a chat message if it failed, Grafana annotations, the job summary.

    Posts to FLEET_WEBHOOK_URL (Slack-compatible JSON) and FLEET_GRAFANA_URL (with
    FLEET_GRAFANA_TOKEN) when they are set; appends to $GITHUB_STEP_SUMMARY when it is set.
    """
    fleet = config.load()
    lines = notify.notify(
        Path(results),
        fleet=fleet.name or fleet.root.name,
        what=what,
        job_status=job_status,
        run_url=run_url,
        settings=dict(os.environ),
        summary_file=os.environ.get("GITHUB_STEP_SUMMARY"),
    )
    print("\n".join(lines))


@task(
    name="upgrade-chart",
    help={
        "version": "version to move to (default: the newest in the dependency's repository)",
        "support": "the support chart's dependencies instead of the jupyterhub chart",
        "dependency": "only this dependency (default: jupyterhub; with --support, each of them)",
        "markdown": "also write what changed as a pull-request body to this file",
        "no-check": "skip `nox -s templates` after the upgrade",
    },
)
@_errors_exit
def upgrade_chart(c, version=None, support=False, dependency=None, markdown=None, no_check=False):
    """Move the jupyterhub chart (or the support charts) to a newer version; show what changed.

    Rewrites the version in Chart.yaml, refreshes Chart.lock, prints the default values added,
    removed and changed between the two versions, then runs `nox -s templates`.
    """
    fleet = config.load()
    folder = fleet.support_chart if support else fleet.chart
    only = dependency or (None if support else "jupyterhub")
    moves = upgrade.upgrade(folder, Runner(), only=only, version=version)
    print("\n".join(upgrade.report_lines(moves)))
    if markdown:
        Path(markdown).write_text(upgrade.markdown(moves))
    if any(move.moved for move in moves) and not no_check:
        proc = Runner().run(
            ["nox", "-s", "templates"],
            step="nox -s templates",
            mutates=False,
            capture=False,
            check=False,
        )
        if proc.returncode:
            where = folder.relative_to(fleet.root)
            raise FleetError(
                f"nox -s templates fails with the new version: {where}/Chart.yaml and Chart.lock "
                f"are changed; fix the hubs' values, or undo with `git checkout {where}`"
            )


ns.add_task(cluster_shell)
ns.add_task(logs)
ns.add_task(notify_team)
ns.add_task(upgrade_chart)


# --- plan (fleet.plan) ---


@task(
    iterable=["label", "env"],
    help={
        "base": "commit to compare with, or `deployed`: each hub against the commit on its live "
        "release (default HEAD~1; env FLEET_PLAN_BASE)",
        "head": "commit to plan for (default HEAD)",
        "env": "only this environment (repeatable; default: all)",
        "label": "pull-request label: deploy:skip plans nothing, deploy:all every hub "
        "(repeatable; env FLEET_LABELS, comma-separated)",
        "json": "print the plan as JSON, ready for a GitHub Actions matrix",
        "markdown": "also write a pull-request comment (table and manifest diffs) to this file",
        **_ACCESS_HELP,
    },
)
@_errors_exit
def plan(
    c,
    base=None,
    head="HEAD",
    env=None,
    label=None,
    json=False,
    markdown=None,
    kubeconfig=None,
    context=None,
):
    """Show which hubs a change deploys and which images it builds, with the reasons."""
    labels = [*(label or []), *filter(None, os.environ.get("FLEET_LABELS", "").split(","))]
    planning.run(
        None,
        base=base or os.environ.get("FLEET_PLAN_BASE") or "HEAD~1",
        head=head,
        envs=env,
        labels=[name.strip() for name in labels],
        as_json=json,
        markdown_file=markdown,
        access=_access(kubeconfig, context),
    )


ns.add_task(plan)
