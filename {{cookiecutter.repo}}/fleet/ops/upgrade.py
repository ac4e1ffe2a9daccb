"""`invoke upgrade-chart`: a chart dependency moved to a newer version, and what that changes.

The hubs' chart depends on the jupyterhub chart, the support chart on ingress, certificates and
monitoring charts. An upgrade finds the newest version in the dependency's repository (or takes
the one given), rewrites that one line of Chart.yaml (comments and layout kept), refreshes
Chart.lock with `helm dependency update`, and compares the chart's default values between the two
versions: keys added, removed, and defaults changed, the part of a release's notes that changes
what a hub runs. helm reads the repositories through a private repository config and cache.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fleet.core import private
from fleet.core.errors import FleetError, StepFailed
from fleet.core.runner import Runner
from fleet.tools import helm

# A release version (x.y.z, with an optional leading v); pre-releases are never picked as newest.
RELEASE_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
SHOWN = 60  # characters of a value in the report


@dataclass
class Upgrade:
    """One dependency's move, and how its default values changed."""

    chart: str  # the chart folder: chart or support
    name: str
    old: str
    new: str
    added: dict[str, object] = field(default_factory=dict)
    removed: dict[str, object] = field(default_factory=dict)
    changed: dict[str, tuple[object, object]] = field(default_factory=dict)

    @property
    def moved(self) -> bool:
        return self.old != self.new


def dependencies(chart: Path) -> list[dict]:
    path = chart / "Chart.yaml"
    try:
        found = (yaml.safe_load(path.read_text()) or {}).get("dependencies") or []
    except (OSError, yaml.YAMLError) as exc:
        raise FleetError(f"{path}: cannot read it ({exc})") from None
    for number, dep in enumerate(found):
        for key in ("name", "version", "repository"):
            if not dep.get(key):
                raise FleetError(f"{path}: field dependencies[{number}].{key} is missing")
    return found


def flatten(values: object, prefix: str = "") -> dict[str, object]:
    """Dotted paths to leaf values; lists and empty mappings are leaves."""
    if not isinstance(values, dict) or not values:
        return {prefix: values} if prefix else {}
    flat: dict[str, object] = {}
    for key, value in values.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def compare(upgrade: Upgrade, old: dict, new: dict) -> Upgrade:
    """Fill in the default values' changes between the old and new versions."""
    before, after = flatten(old), flatten(new)
    upgrade.added = {k: after[k] for k in sorted(after.keys() - before.keys())}
    upgrade.removed = {k: before[k] for k in sorted(before.keys() - after.keys())}
    upgrade.changed = {
        k: (before[k], after[k])
        for k in sorted(before.keys() & after.keys())
        if before[k] != after[k]
    }
    return upgrade


def set_version(text: str, name: str, version: str) -> str:
    """Chart.yaml's text with dependency `name` at `version`: that one scalar replaced in place
    (found by its position in the parsed document), comments and layout kept."""
    root = yaml.compose(text)
    for key, deps in root.value if isinstance(root, yaml.MappingNode) else []:
        if key.value != "dependencies" or not isinstance(deps, yaml.SequenceNode):
            continue
        for item in deps.value:
            fields = (
                {k.value: v for k, v in item.value} if isinstance(item, yaml.MappingNode) else {}
            )
            if getattr(fields.get("name"), "value", None) == name and "version" in fields:
                node = fields["version"]
                start, end = node.start_mark.index, node.end_mark.index
                return text[:start] + f'"{version}"' + text[end:]
    raise FleetError(f"Chart.yaml: no dependency named {name} with a version")


@contextlib.contextmanager
def _private_helm() -> Iterator[list[str]]:
    """helm flags for a repository config and cache of this run's own, removed after."""
    with private.directory("fleet-helm-repos-") as home:
        yield [
            f"--repository-config={home / 'repositories.yaml'}",
            f"--repository-cache={home / 'cache'}",
        ]


def _chart_ref(dep: dict) -> list[str]:
    repo = str(dep["repository"])
    if repo.startswith("oci://"):
        return [f"{repo.rstrip('/')}/{dep['name']}"]
    if repo.startswith(("http://", "https://")):
        return [dep["name"], "--repo", repo]
    raise FleetError(
        f"dependency {dep['name']}: repository {repo!r} is not an http(s) or oci:// URL"
    )


def _show(runner: Runner, what: str, dep: dict, version: str | None, flags: list[str]) -> str:
    argv = helm.show_argv(what, _chart_ref(dep), flags)
    argv += ["--version", version] if version else []
    try:
        return runner.run(argv, step=f"helm show {what} {dep['name']}", mutates=False).stdout
    except StepFailed as exc:
        at = f" {version}" if version else ""
        raise FleetError(
            f"dependency {dep['name']}{at}: not found in {dep['repository']} "
            f"({exc.last_line('no answer')})"
        ) from None


def newest(runner: Runner, dep: dict, flags: list[str]) -> str:
    """The newest release version of the dependency in its repository."""
    shown = yaml.safe_load(_show(runner, "chart", dep, None, flags)) or {}
    version = str(shown.get("version", ""))
    if not RELEASE_VERSION.match(version):
        raise FleetError(f"dependency {dep['name']}: its repository's newest is {version!r}")
    return version


def upgrade(
    chart: Path,
    runner: Runner,
    *,
    only: str | None = None,
    version: str | None = None,
) -> list[Upgrade]:
    """Move the chart's dependencies (or only `only`) to `version` or their newest; the moves."""
    deps = dependencies(chart)
    if only is not None and only not in {d["name"] for d in deps}:
        names = ", ".join(d["name"] for d in deps)
        raise FleetError(f"{chart / 'Chart.yaml'}: no dependency {only!r}; it has {names}")
    if version and only is None and len(deps) != 1:
        raise FleetError(f"--version needs --dependency: {chart / 'Chart.yaml'} has several")
    chosen = [d for d in deps if only in (None, d["name"])]
    upgrades = []
    text = (chart / "Chart.yaml").read_text()
    with _private_helm() as flags:
        for dep in chosen:
            target = version or newest(runner, dep, flags)
            moved = Upgrade(chart.name, dep["name"], str(dep["version"]), target)
            if moved.moved:
                old = yaml.safe_load(_show(runner, "values", dep, moved.old, flags)) or {}
                new = yaml.safe_load(_show(runner, "values", dep, target, flags)) or {}
                compare(moved, old, new)
                text = set_version(text, dep["name"], target)
            upgrades.append(moved)
        if any(u.moved for u in upgrades):
            (chart / "Chart.yaml").write_text(text)
            runner.run(
                helm.dependency_argv("update", chart, flags),
                step=f"helm dependency update {chart.name}",
                mutates=False,
            )
    return upgrades


def _shown(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def report_lines(upgrades: list[Upgrade]) -> list[str]:
    """What an operator reads: each move, then its default values' changes."""
    lines = []
    for u in upgrades:
        if not u.moved:
            lines.append(f"{u.chart}: {u.name} {u.old} is the newest; unchanged")
            continue
        counts = f"{len(u.added)} added, {len(u.removed)} removed, {len(u.changed)} changed"
        lines.append(f"{u.chart}: {u.name} {u.old} -> {u.new}; default values: {counts}")
        lines += [f"  + {k}: {_shown(v)}" for k, v in u.added.items()]
        lines += [f"  - {k} (was {_shown(v)})" for k, v in u.removed.items()]
        lines += [f"  ~ {k}: {_shown(a)} -> {_shown(b)}" for k, (a, b) in u.changed.items()]
    return lines


def markdown(upgrades: list[Upgrade]) -> str:
    """The pull request's body: a table of the moves and one of the values' changes."""
    moved = [u for u in upgrades if u.moved]
    if not moved:
        return "Every chart dependency is at its newest version.\n"
    out = ["| chart | dependency | from | to |", "|---|---|---|---|"]
    out += [f"| {u.chart} | {u.name} | {u.old} | {u.new} |" for u in moved]
    for u in moved:
        out += ["", f"### {u.name} {u.old} → {u.new}: default values", ""]
        if not (u.added or u.removed or u.changed):
            out.append("No default value changed.")
            continue
        out += ["| key | change |", "|---|---|"]
        cell = lambda v: "`" + _shown(v).replace("|", "\\|").replace("`", "'") + "`"  # noqa: E731
        out += [f"| `{k}` | added: {cell(v)} |" for k, v in u.added.items()]
        out += [f"| `{k}` | removed (was {cell(v)}) |" for k, v in u.removed.items()]
        out += [f"| `{k}` | {cell(a)} → {cell(b)} |" for k, (a, b) in u.changed.items()]
    return "\n".join(out) + "\n"


def check_templates(root: Path, folder: Path, runner: Runner) -> None:
    """`nox -s templates` after an upgrade (every hub and support rendered and validated with the
    new version); a failure says what is changed and how to undo it."""
    proc = runner.run(
        ["nox", "-s", "templates"],
        step="nox -s templates",
        mutates=False,
        capture=False,
        check=False,
    )
    if proc.returncode:
        where = folder.relative_to(root)
        raise FleetError(
            f"nox -s templates fails with the new version: {where}/Chart.yaml and Chart.lock "
            f"are changed; fix the hubs' values, or undo with `git checkout {where}`"
        )
