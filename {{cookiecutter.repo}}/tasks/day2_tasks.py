"""Day two: a shell on a cluster, a hub's logs, the team told of a deploy, a chart upgraded
(fleet.shell, .logs, .notify, .upgrade)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from invoke import Exit

from fleet.core import config, output, settings
from fleet.core.errors import FleetError
from fleet.core.runner import Runner
from fleet.ops import notify, shell, upgrade
from fleet.ops.logs import show as show_logs

from .task_entry import ACCESS_HELP, errors_exit, options, task


def _command_after_dashes(c) -> list[str]:
    """The words after `--`, as given (invoke's own remainder is one string, its quoting lost)."""
    if "--" in sys.argv:
        return sys.argv[sys.argv.index("--") + 1 :]
    return shlex.split(c.remainder or "")


@task(
    name="shell",
    help={"cluster": "cluster whose credentials to use (default: the only cluster)", **ACCESS_HELP},
)
@errors_exit
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
    access = options(kubeconfig=kubeconfig, context=context).access
    code = shell.run(fleet, cluster, _command_after_dashes(c), access)
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
        **ACCESS_HELP,
    },
)
@errors_exit
def logs(
    c, hub, env, component="hub", user=None, since=None, follow=False, kubeconfig=None, context=None
):
    """Print the logs of a hub's component, or of one user's server (a restart's previous run first)."""
    access = options(kubeconfig=kubeconfig, context=context).access
    show_logs(
        config.load(), hub, env, access, component=component, user=user, since=since, follow=follow
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
@errors_exit
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
        settings=settings.current(),
    )
    output.line("\n".join(lines))


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
@errors_exit
def upgrade_chart(c, version=None, support=False, dependency=None, markdown=None, no_check=False):
    """Move the jupyterhub chart (or the support charts) to a newer version; show what changed.

    Rewrites the version in Chart.yaml, refreshes Chart.lock, prints the default values added,
    removed and changed between the two versions, then runs `nox -s templates`.
    """
    fleet = config.load()
    folder = fleet.support_chart if support else fleet.chart
    only = dependency or (None if support else "jupyterhub")
    moves = upgrade.upgrade(folder, Runner(), only=only, version=version)
    output.line("\n".join(upgrade.report_lines(moves)))
    if markdown:
        Path(markdown).write_text(upgrade.markdown(moves))
    if any(move.moved for move in moves) and not no_check:
        upgrade.check_templates(fleet.root, folder, Runner())
