"""CustomResourceDefinitions of a chart's dependencies, applied server-side before an upgrade.

helm installs a chart's `crds/` once and never upgrades them (cert-manager's, for one), so a
new version's CRDs would never reach the cluster. Before each support upgrade, the CRDs of the
enabled dependencies are read from their archives (as `helm dependency build` left them under
`charts/`) and applied with `kubectl apply --server-side`, which upgrades them in place.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import yaml

from fleet.core import config, private
from fleet.core.runner import Runner

FIELD_MANAGER = "hubfleet"


def enabled_dependencies(chart: Path, values_files: list[Path]) -> list[str]:
    """The dependencies whose `condition` is true in the chart's values and the files given."""
    meta = yaml.safe_load((chart / "Chart.yaml").read_text()) or {}
    values = config.merged_values([chart / "values.yaml", *values_files])
    enabled = []
    for dependency in meta.get("dependencies") or []:
        name = dependency.get("alias") or dependency["name"]
        node: object = values
        for part in (dependency.get("condition") or "").split("."):
            node = node.get(part) if isinstance(node, dict) and part else node
        if not dependency.get("condition") or node is True:
            enabled.append(name)
    return enabled


def documents(chart: Path, dependencies: list[str]) -> dict[str, str]:
    """`<dependency>/crds/<file>` -> its text, from the dependencies' archives under charts/."""
    found = {}
    for archive in sorted((chart / "charts").glob("*.tgz")):
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                wanted = len(parts) == 3 and parts[0] in dependencies and parts[1] == "crds"
                if wanted and member.isfile() and parts[2].endswith((".yaml", ".yml", ".json")):
                    found[member.name] = tar.extractfile(member).read().decode()
    return found


def apply(runner: Runner, chart: Path, values_files: list[Path]) -> list[str]:
    """Apply the enabled dependencies' CRDs server-side; returns the files applied."""
    found = documents(chart, enabled_dependencies(chart, values_files))
    if not found:
        return []
    with private.directory("fleet-crds-") as folder:
        for index, (name, text) in enumerate(sorted(found.items())):
            private.write(folder / f"{index:03d}-{Path(name).name}", text)
        argv = ["kubectl", "apply", "--server-side", "--force-conflicts"]
        argv += [f"--field-manager={FIELD_MANAGER}", "--filename", str(folder)]
        runner.run(argv, step="apply the support chart's CRDs")
    return sorted(found)
