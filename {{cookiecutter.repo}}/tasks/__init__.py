"""Tasks for operating this fleet of hubs. Thin: the logic lives in the `fleet` package.

Run `invoke --list` for the tasks and `invoke --help TASK` for each one's options. One module
per area: `task_entry` (what every task shares), `new_tasks`, `secret_tasks`, `image_tasks`,
`deploy_tasks`, `release_tasks`, `day2_tasks`, `plan_tasks`. (invoke puts this folder on
sys.path: no module here may take the name of another one, such as the standard `secrets`.)
"""

from __future__ import annotations

import sys
from pathlib import Path

from invoke import Collection

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # the fleet package of this repository

from . import (  # noqa: E402 - importable once ROOT is on sys.path
    day2_tasks,
    deploy_tasks,
    image_tasks,
    new_tasks,
    plan_tasks,
    release_tasks,
    secret_tasks,
)

ns = Collection()
for _task in (
    new_tasks.new_hub,
    new_tasks.new_cluster,
    image_tasks.build,
    image_tasks.mirror_images,
    deploy_tasks.deploy,
    release_tasks.diff,
    release_tasks.status,
    release_tasks.rollback,
    release_tasks.health,
    release_tasks.retire,
    day2_tasks.cluster_shell,
    day2_tasks.logs,
    day2_tasks.notify_team,
    day2_tasks.upgrade_chart,
    plan_tasks.plan,
):
    ns.add_task(_task)
ns.add_collection(secret_tasks.collection)
