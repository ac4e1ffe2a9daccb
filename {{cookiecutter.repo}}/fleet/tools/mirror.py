"""Pull the jupyterhub chart's own images from a registry mirror (fleet.yaml `image_mirror`).

Air-gapped and rate-limited clusters pull from a registry of their own. With a mirror prefix,
every image the chart runs is named under it, keeping its path without the registry host:
`quay.io/jupyterhub/k8s-hub:4.4.0` becomes `<mirror>/jupyterhub/k8s-hub:4.4.0`. Images a hub's
values name themselves (not the chart's defaults) and the hub's user image are left alone.
`copy` fills a mirror from the images' registries (or another mirror).
"""

from __future__ import annotations

import sys

from fleet.core import config, output
from fleet.core.config import Fleet, Hub
from fleet.core.runner import Runner
from fleet.tools import images

# Where the chart's values name each image it runs ({name, tag}) -> the values that must all be
# true for a pod to run it. The user image is the hub's own, never the mirror's.
IMAGE_VALUES = {
    "hub.image": (),
    "proxy.chp.image": (),
    "proxy.traefik.image": ("proxy.https.enabled",),
    "proxy.secretSync.image": ("proxy.https.enabled",),
    "singleuser.networkTools.image": ("singleuser.cloudMetadata.blockWithIptables",),
    "prePuller.hook.image": ("prePuller.hook.enabled",),
    "prePuller.pause.image": (),
    "scheduling.userScheduler.image": ("scheduling.userScheduler.enabled",),
    "scheduling.userPlaceholder.image": ("scheduling.userPlaceholder.enabled",),
}


def mirrored(name: str, prefix: str) -> str:
    """An image name under the mirror prefix: its path without the registry host."""
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        path = rest
    elif rest:
        path = name  # Docker Hub: org/name
    else:
        path = f"library/{name}"  # Docker Hub's official images
    return f"{prefix.rstrip('/')}/{path}"


def _dig(values: dict, path: str) -> object:
    for key in path.split("."):
        values = values.get(key) if isinstance(values, dict) else None
    return values


def chart_images(fleet: Fleet, hub: Hub, env: str, defaults: dict) -> dict[str, tuple[str, str]]:
    """value path -> (name, tag) of each chart image the hub runs in env with the chart's name.

    `defaults` are the locked jupyterhub chart's values; the shared chart's and the hub's values
    (not its secrets, which name no image) are layered over them.
    """
    given = config.merged_values([fleet.chart / "values.yaml", *hub.values_files(env)])
    section = given.get("jupyterhub")
    values = config.merge_values(defaults, section if isinstance(section, dict) else {})
    found = {}
    for path, needs in IMAGE_VALUES.items():
        default = _dig(defaults, path)
        if not isinstance(default, dict) or not default.get("name"):
            continue
        image = _dig(values, path)
        if image["name"] == default["name"] and all(_dig(values, n) for n in needs):
            found[path] = (image["name"], str(image.get("tag", "")))
    return found


def flags(fleet: Fleet, hub: Hub, env: str, defaults: dict) -> list[str]:
    """helm flags naming the chart's images under the hub's cluster's mirror (none without one)."""
    prefix = fleet.mirror_of(hub.cluster)
    if not prefix:
        return []
    argv = []
    for path, (name, _) in chart_images(fleet, hub, env, defaults).items():
        argv += ["--set-string", f"jupyterhub.{path}.name={mirrored(name, prefix)}"]
    return argv


def copies(fleet: Fleet, defaults: dict, source: str = "") -> dict[str, str]:
    """mirror reference -> where to copy it from, for every hub, env and cluster with a mirror.

    `source` is another mirror prefix to copy from; empty: the images' own registries.
    """
    wanted = {}
    for hub in fleet.hubs.values():
        prefix = fleet.mirror_of(hub.cluster)
        if not prefix:
            continue
        for env in hub.environments:
            for name, tag in chart_images(fleet, hub, env, defaults).values():
                origin = mirrored(name, source) if source else name
                wanted[f"{mirrored(name, prefix)}:{tag}"] = f"{origin}:{tag}"
    return dict(sorted(wanted.items()))


def copy(wanted: dict[str, str], runner: Runner, out=sys.stderr) -> list[str]:
    """Copy each image the mirror lacks (pull, tag, push); returns one line per image."""
    lines = []
    for target, origin in wanted.items():
        if images.registry_has(images.ImageRef.parse(target)):
            lines.append(f"{target}: present")
            continue
        step = f"mirroring {origin} to {target}"
        runner.run(["docker", "pull", origin], step=step)
        runner.run(["docker", "tag", origin, target], step=step)
        runner.run(["docker", "push", target], step=step)
        lines.append(f"{target}: {'would be copied' if runner.dry_run else 'copied'} from {origin}")
    for line in lines:
        output.line(line, out)
    return lines
