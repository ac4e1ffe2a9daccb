"""Staging as the canary of prod: a prod hub is upgraded only after its staging release proved
the same inputs.

Every hub revision records a fingerprint of the inputs both environments share (labels
`fleet-in-*`): the hub's `hub.yaml` and `values.yaml`, its image, the shared chart and the
`fleet` package; never `prod.yaml` or the prod secrets. Before a prod upgrade, the hub's live
staging release must be deployed, carry a passing health check (`fleet-health`, see
fleet.health) and record the same fingerprints; otherwise the deploy is refused, naming what
differs. `--skip-canary` overrides, and is recorded on the release (`fleet-canary=skipped`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from . import helm, images
from .config import Fleet, Hub
from .errors import FleetError
from .runner import Runner

LABEL_SKIPPED = "fleet-canary"
# What each fingerprint covers, as the refusal names it.
INPUTS = {
    "fleet-in-config": "the hub's hub.yaml and values.yaml",
    "fleet-in-image": "its image",
    "fleet-in-chart": "the shared chart (chart/)",
    "fleet-in-package": "the fleet package (fleet/)",
}
_SKIP = ("__pycache__", ".pyc", ".fleet-deps")


class CanaryRefused(FleetError):
    """The prod upgrade is refused: its staging release did not prove the same inputs."""


def _digest(root: Path, paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        if path.is_file() and not any(part in _SKIP or part.endswith(_SKIP) for part in path.parts):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _tree(folder: Path, leave_out: tuple[str, ...] = ()) -> list[Path]:
    return [
        p for p in folder.rglob("*") if not any(p.is_relative_to(folder / x) for x in leave_out)
    ]


def fingerprints(fleet: Fleet, hub: Hub) -> dict[str, str]:
    """The labels recording the inputs staging and prod share, for a hub's revision."""
    root = fleet.root
    image = images.hub_image(fleet, hub) or "chart default"
    return {
        "fleet-in-config": _digest(root, [hub.path / "hub.yaml", hub.path / "values.yaml"]),
        "fleet-in-image": hashlib.sha256(image.encode()).hexdigest()[:12],
        "fleet-in-chart": _digest(root, _tree(fleet.chart, leave_out=("charts",))),
        "fleet-in-package": _digest(root, _tree(root / "fleet")),
    }


def check(fleet: Fleet, hub: Hub, staging: str, runner: Runner, helm_bin: str) -> None:
    """Refuse (CanaryRefused) unless the hub's live `staging` release proved these inputs."""
    release = hub.release(staging)
    history = helm.history(runner, release, release, helm_bin)
    revisions = [r for r in history if r["status"] == "deployed"]
    if not revisions:
        raise CanaryRefused(
            f"hub {hub.name}: its {staging} release {release} is not deployed: deploy {staging} "
            "first (or --skip-canary)"
        )
    revision = revisions[-1]["revision"]
    labels = helm.revision_labels(runner, release, release).get(revision, {})
    if labels.get(helm.LABEL_HEALTH) != "passed":
        found = labels.get(helm.LABEL_HEALTH, "no health check")
        raise CanaryRefused(
            f"hub {hub.name}: {staging} revision {revision} has {found}, not a passing health "
            f"check: `invoke health --hub {hub.name} --env {staging}` (or --skip-canary)"
        )
    now = fingerprints(fleet, hub)
    differ = [what for key, what in INPUTS.items() if labels.get(key) != now[key]]
    if differ:
        raise CanaryRefused(
            f"hub {hub.name}: {staging} revision {revision} runs other inputs than this deploy: "
            f"{'; '.join(differ)} differ. Deploy them to {staging} first (or --skip-canary)"
        )
