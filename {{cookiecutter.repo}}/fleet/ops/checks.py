"""`nox -s templates`: every hub x env and every cluster's support rendered and validated.

Renders run `jobs` at a time (helm template is a process of its own); results come back in the
order asked for, so the output reads the same whatever `jobs` is.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from fleet.core import settings
from fleet.core.config import Fleet, Hub
from fleet.core.errors import Failure, FleetError
from fleet.core.runner import Runner
from fleet.core.target import Target
from fleet.tools import chart


@dataclass(frozen=True)
class Checked:
    """One release's check: what was valid, or why not."""

    label: str  # "hub alpha env staging", "cluster main support"
    valid: str = ""
    error: str = ""

    def line(self) -> str:
        return f"{self.label}: {self.error or self.valid}"


def default_jobs(environ=None) -> int:
    """FLEET_JOBS, else one render per core."""
    text = settings.current(environ).jobs or str(os.cpu_count() or 1)
    if not text.isdigit() or int(text) < 1:
        raise FleetError(f"FLEET_JOBS={text!r}: expected a whole number, 1 or more")
    return int(text)


def _valid(manifests: str, count: int, mode: str) -> str:
    """What a render's validation checked; custom resources have no Kubernetes schema to check."""
    custom = chart.custom_resources(manifests)
    unchecked = f", {len(custom)} custom resources not checked ({', '.join(custom)})"
    secrets = "no secrets file" if mode == "none" else f"secrets {mode}"
    return f"{count} objects valid ({secrets})" + (unchecked if custom else "")


def _check(target: Target, runner: Runner) -> Checked:
    who, env = target.who
    label = f"cluster {who} support" if target.is_support else f"hub {who} env {env}"
    try:
        manifests, mode = chart.render(target, runner)
        count = chart.validate_manifests(manifests, who, env, label=label)
    except Failure as exc:
        return Checked(label, error=str(exc))
    return Checked(label, valid=_valid(manifests, count, mode))


def check_all(
    fleet: Fleet, hubs: list[Hub], clusters: list[str], runner: Runner, jobs: int = 1
) -> list[Checked]:
    """Each hub in each of its environments, then each cluster's support; `jobs` at a time."""
    if jobs < 1:
        raise FleetError(f"--jobs {jobs}: expected 1 or more")
    targets = [Target.of_hub(fleet, hub, env) for hub in hubs for env in hub.environments]
    targets += [Target.support(fleet, cluster) for cluster in clusters]
    # Fetched once before the threads start (each render would otherwise wait on its lock).
    if hubs:
        chart.dependency_build(fleet, runner)
    if clusters:
        chart.dependency_build(fleet, runner, fleet.support_chart)
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="templates") as pool:
        return list(pool.map(lambda target: _check(target, runner), targets))
