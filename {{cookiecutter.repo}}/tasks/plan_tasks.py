"""`invoke plan`: which hubs a change deploys and which images it builds (fleet.plan)."""

from __future__ import annotations

from fleet.core import settings
from fleet.plan import plan as planning

from .task_entry import ACCESS_HELP, errors_exit, options, task


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
        **ACCESS_HELP,
    },
)
@errors_exit
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
    chosen = settings.current()
    planning.run(
        None,
        base=base or chosen.plan_base or "HEAD~1",
        head=head,
        envs=env,
        labels=[*(name.strip() for name in label or []), *chosen.labels],
        as_json=json,
        markdown_file=markdown,
        access=options(kubeconfig=kubeconfig, context=context).access,
    )
