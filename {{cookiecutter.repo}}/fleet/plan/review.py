"""What a change does to each planned hub's manifests, for review: base commit against head.

Both sides are rendered with `helm template`, secrets as typed placeholders (so nothing secret can
show, and no key is needed: a pull request from a fork has none), then diffed with their Secret
data masked (fleet.manifests).
"""

from __future__ import annotations

import contextlib
import shutil
from secrets import token_bytes

import yaml

from fleet.core import config, private
from fleet.core.config import Fleet, Hub
from fleet.core.errors import Failure
from fleet.core.target import Target
from fleet.tools import chart, helm, images, manifests, sops
from fleet.tools.git import Git


def render_for_review(fleet: Fleet, hub: Hub, env: str, runner) -> str:
    """`helm template` of a hub x env, secrets as typed placeholders: nothing secret can show."""
    chart.dependency_build(fleet, runner)
    files = list(hub.values_files(env))
    image = helm.image_flags(*images.split_image(images.hub_image(fleet, hub)))
    with private.directory() as folder:
        source = hub.secrets_file(env)
        if source.exists():
            placeholders = yaml.safe_dump(sops.placeholder_values(source), sort_keys=False)
            files.append(private.write(folder / "placeholders.yaml", placeholders))
        return chart.template(Target.of_hub(fleet, hub, env), files, runner, extra_args=image)


def _copy_chart_deps(head: Fleet, base: Fleet) -> None:
    """Reuse head's downloaded chart dependencies when the base declares the same ones."""

    def same(name: str) -> bool:
        ours, theirs = head.chart / name, base.chart / name
        if ours.exists() != theirs.exists():
            return False
        return not ours.exists() or ours.read_bytes() == theirs.read_bytes()

    fetched = (head.chart / "charts").is_dir() and not (base.chart / "charts").exists()
    if fetched and same("Chart.yaml") and same("Chart.lock"):
        shutil.copytree(head.chart / "charts", base.chart / "charts")


def _render_base(base: Fleet | None, name: str, env: str, runner, notes: list[str]) -> str:
    """The hub x env as the base commit renders it; "" when it did not exist there."""
    old = base.hubs.get(name) if base else None
    if not old or env not in old.environments:
        return ""
    try:
        return render_for_review(base, old, env, runner)
    except Failure as exc:
        notes.append(f"{name} ({env}) did not render at the base: {str(exc).splitlines()[0]}")
        return ""


def manifest_diffs(
    fleet: Fleet, git: Git, base: str, data: dict, notes: list[str]
) -> dict[tuple[str, str], str]:
    """For each planned hub x env, a unified diff of its rendered manifests from base to head."""
    key = token_bytes(32)
    quiet = git.runner.quiet()
    diffs: dict[tuple[str, str], str] = {}
    with contextlib.ExitStack() as stack:
        base_fleet = None
        if git.exists(base):
            tree = stack.enter_context(git.tree(base))
            try:
                base_fleet = config.load(tree)
                _copy_chart_deps(fleet, base_fleet)
            except Failure as exc:
                notes.append(f"base {base} could not be read, diffs are against nothing: {exc}")
        for entry in data["deploy"]:
            name, env = entry["hub"], entry["env"]
            hub = fleet.hubs[name]
            after = render_for_review(fleet, hub, env, quiet)
            before = _render_base(base_fleet, name, env, quiet, notes)
            files = [hub.secrets_file(env)]
            if base_fleet and name in base_fleet.hubs:
                files.append(base_fleet.hubs[name].secrets_file(env))
            diffs[(name, env)] = manifests.unified(
                before,
                after,
                git.runner.secrets,
                live_label=f"{name}-{env} at {base[:12]}",
                new_label=f"{name}-{env} at head",
                key=key,
                secret=sops.secret_paths(files),
            )
    return diffs
