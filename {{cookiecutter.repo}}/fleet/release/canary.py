"""Staging as the canary of prod: a prod hub is upgraded only after its staging release proved
the same inputs.

Every hub revision records a fingerprint of the inputs both environments share (labels
`fleet-in-*`): the hub's `hub.yaml` and `values.yaml`, its image, the shared chart and the
`fleet` package; never `prod.yaml` or the prod secrets. Before a prod upgrade, the hub's live
staging revision must be deployed, record the same fingerprints, and carry a passing health
check of that very revision (fleet.helm.health_labels: an upgrade drops the evidence helm would
carry over from the revision before, a rollback's copy names the revision it was made for),
younger than `canary_max_age` (fleet.yaml, default 24h), whose test server ran the image digest
the registry serves now for prod's image (a tag pushed again is caught). Otherwise the deploy is
refused, naming what differs. `--skip-canary` overrides, and is recorded on the release
(`fleet-canary=skipped`).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from fleet.core import config
from fleet.core.config import Fleet, Hub
from fleet.core.errors import FleetError
from fleet.core.runner import Runner
from fleet.tools import chart, helm, images

LABEL_SKIPPED = "fleet-canary"
# What each fingerprint covers, as the refusal names it.
INPUTS = {
    "fleet-in-config": "the hub's hub.yaml and values.yaml",
    "fleet-in-image": "its image",
    "fleet-in-chart": "the shared chart (chart/)",
    "fleet-in-package": "the fleet package (fleet/)",
}
_SKIP = ("__pycache__", ".pyc", ".fleet-deps")


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


def user_image(fleet: Fleet, hub: Hub, env: str, image: str, runner: Runner) -> str:
    """The single-user image a release runs: the hub's own, else the one its values set."""
    if image:
        return image
    values = config.merge_values(
        {"jupyterhub": chart.jupyterhub_defaults(fleet, runner)},
        config.merged_values([fleet.chart / "values.yaml", *hub.values_files(env)]),
    )
    found = ((values.get("jupyterhub") or {}).get("singleuser") or {}).get("image") or {}
    return f"{found.get('name')}:{found.get('tag') or 'latest'}" if found.get("name") else ""


def image_digest(image: str) -> str:
    """The digest the registry serves for an image reference now (a pinned digest as it is)."""
    if "@" in image:
        return image.rpartition("@")[2]
    digest = images.registry_digest(images.ImageRef.parse(image))
    if not digest:
        raise FleetError(f"image {image}: the registry has no such tag")
    return digest


def _healthy(
    fleet: Fleet, hub: Hub, staging: str, revision: int, labels: dict, recheck: str, now
) -> None:
    """The staging revision passed a health check of its own, younger than canary_max_age."""
    found = labels.get(helm.LABEL_HEALTH)
    if found != "passed" or labels.get(helm.LABEL_HEALTH_REVISION) != str(revision):
        what = "a failed health check" if found == "failed" else "no health check of its own"
        if found == "passed":
            what += f" (the passing one it carries is of revision {labels.get(helm.LABEL_HEALTH_REVISION, 'unknown')})"
        raise FleetError(f"hub {hub.name}: {staging} revision {revision} has {what}: {recheck}")
    max_age = helm.parse_timeout(fleet.canary_max_age, "fleet.yaml canary_max_age")
    age = (time.time() if now is None else now) - int(labels.get(helm.LABEL_HEALTH_AT) or 0)
    if age > max_age:
        raise FleetError(
            f"hub {hub.name}: {staging} revision {revision} passed its health check "
            f"{_ago(age)} ago, more than canary_max_age {fleet.canary_max_age}: {recheck}"
        )


def check(
    fleet: Fleet,
    hub: Hub,
    staging: str,
    runner: Runner,
    helm_bin: str,
    image: str,
    env: str,
    now: float | None = None,
) -> None:
    """Refuse (a FleetError) unless the hub's live `staging` revision proved these inputs and
    the image `env` will run (`image`: the hub's own, if any), in a health check of its own
    younger than canary_max_age."""
    release = hub.release(staging)
    history = helm.history(runner, release)
    revisions = [r for r in history if r["status"] == "deployed"]
    skip = "(or --skip-canary)"
    if not revisions:
        raise FleetError(
            f"hub {hub.name}: its {staging} release {release} is not deployed: deploy {staging} "
            f"first {skip}"
        )
    revision = revisions[-1]["revision"]
    labels = revisions[-1]["labels"]
    recheck = f"`invoke health --hub {hub.name} --env {staging}` {skip}"
    _healthy(fleet, hub, staging, revision, labels, recheck, now)
    now_fingerprints = fingerprints(fleet, hub)
    differ = [what for key, what in INPUTS.items() if labels.get(key) != now_fingerprints[key]]
    if differ:
        raise FleetError(
            f"hub {hub.name}: {staging} revision {revision} runs other inputs than this deploy: "
            f"{'; '.join(differ)} differ. Deploy them to {staging} first {skip}"
        )
    prod_image = user_image(fleet, hub, env, image, runner)
    if prod_image:
        digest = helm.digest_label(image_digest(prod_image))
        if labels.get(helm.LABEL_HEALTH_IMAGE) != digest:
            ran = labels.get(helm.LABEL_HEALTH_IMAGE, "unknown")
            raise FleetError(
                f"hub {hub.name}: image {prod_image} is now sha256:{digest[:12]}, but {staging}'s "
                f"health check ran sha256:{ran[:12]}: the tag was pushed again. {recheck}"
            )


def _ago(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"
