"""Images: build and push them (fleet.images), copy the chart's into a mirror (fleet.mirror)."""

from __future__ import annotations

from invoke import Exit

from fleet.core import config
from fleet.core.runner import Runner
from fleet.tools import chart, images, mirror

from .task_entry import errors_exit, task


@task(
    iterable=["image"],
    help={
        "image": "image folder under images/ (repeatable; default: every image)",
        "push": "push to the registry after building",
        "no-cache": "build without docker's layer cache",
    },
)
@errors_exit
def build(c, image=None, push=False, no_cache=False):
    """Build images tagged with the hash of their build context; skipped when the registry has it."""
    images.build_all(config.load(), image or None, push=push, no_cache=no_cache)


@task(
    name="mirror-images",
    help={
        "source": "copy from this mirror (host[:port]/path) instead of the images' own registries",
        "dry-run": "print what would be copied; copy nothing",
    },
)
@errors_exit
def mirror_images(c, source="", dry_run=False):
    """Copy the chart's images into the image_mirror of fleet.yaml (and clusters'), skipping those present."""
    fleet = config.load()
    runner = Runner(dry_run=dry_run)
    wanted = mirror.copies(fleet, chart.jupyterhub_defaults(fleet, runner), source)
    if not wanted:
        if fleet.image_mirror or any(c.image_mirror for c in fleet.clusters.values()):
            raise Exit("error: no hub is on a cluster with an image_mirror: nothing to copy")
        raise Exit("error: no image_mirror in fleet.yaml or any cluster.yaml: nothing to copy")
    mirror.copy(wanted, runner)
