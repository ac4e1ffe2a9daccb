"""The images the real jupyterhub chart's defaults run (versions.CHART_IMAGES), built here.

Nothing is pulled from a container registry: each recipe (toolchain/images/<name>) starts FROM
the local base image or FROM scratch and installs from Debian, PyPI, npm or the Go module
proxy. The hub has exactly the pins of the chart's images/hub/requirements.txt (shared
fixtures); the image-awaiter is the chart's Go program, the user-scheduler our own
kube-scheduler build, the pause image the real node's (node.ensure_pause_image).
"""

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from . import cache, gobuild, node, versions
from .run import MissingPrerequisite, run

RECIPES = Path(__file__).with_name("images")
LOCAL = {path: local for path, (local, _) in versions.CHART_IMAGES.items()}

# A recipe folder to `docker build`, or a callable (image, build args) that builds the image.
Recipe = Path | Callable[[str, dict[str, str]], None]


def fixture_images() -> Path:
    """The chart's image sources, as released."""
    return cache.fixtures_dir() / f"z2jh-{versions.JUPYTERHUB_CHART}" / "images"


def images() -> dict[str, tuple[Recipe, dict[str, str]]]:
    """local image name -> (its recipe, its build arguments)."""
    return {
        LOCAL["hub.image"]: (_build_hub, {"JUPYTERHUB_VERSION": versions.JUPYTERHUB}),
        LOCAL["proxy.chp.image"]: (RECIPES / "proxy", {"CHP_VERSION": versions.CHP}),
        LOCAL["singleuser.networkTools.image"]: (RECIPES / "network-tools", {}),
        LOCAL["prePuller.hook.image"]: (_build_image_awaiter, {}),
        LOCAL["scheduling.userScheduler.image"]: (_build_kube_scheduler, {}),
        versions.PAUSE_IMAGE: (lambda image, args: node.ensure_pause_image(), {}),
    }


def present(image: str) -> bool:
    inspect = ["docker", "image", "inspect", image]
    return subprocess.run(inspect, capture_output=True, check=False).returncode == 0


def ensure() -> list[str]:
    """Build each image that docker does not have yet (the hub takes a few minutes)."""
    lines = []
    for image, (recipe, args) in images().items():
        if present(image):
            lines.append(f"{image} present")
            continue
        if callable(recipe):
            recipe(image, args)
        else:
            docker_build(image, recipe, args)
        lines.append(f"{image} built")
    return lines


def docker_build(image: str, context: Path, args: dict[str, str]) -> None:
    argv = ["docker", "build", "--build-arg", f"BASE_IMAGE={versions.BASE_IMAGE}"]
    for key, value in args.items():
        argv += ["--build-arg", f"{key}={value}"]
    run([*argv, "-t", image, context], step=f"building the image {image}")


def _context(name: str) -> Path:
    """A fresh build context under the cache's build dir, holding the recipe's Dockerfile."""
    context = cache.build_dir() / "images" / name
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    shutil.copy(RECIPES / name / "Dockerfile", context / "Dockerfile")
    return context


def _fixture(path: Path) -> Path:
    if not path.exists():
        raise MissingPrerequisite(
            f"{path} is missing: the jupyterhub chart's image sources come from the shared "
            f"fixtures ({cache.fixtures_dir()}, or set $HUBFLEET_FIXTURES)"
        )
    return path


def _build_hub(image: str, args: dict[str, str]) -> None:
    # The pins are upstream's, read at build time: the repository keeps no copy of them.
    context = _context("hub")
    shutil.copy(_fixture(fixture_images() / "hub" / "requirements.txt"), context)
    docker_build(image, context, args)


def _build_image_awaiter(image: str, args: dict[str, str]) -> None:
    # Built on the host: there is no golang image to build it in.
    source = cache.build_dir() / "image-awaiter-src"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(_fixture(fixture_images() / "image-awaiter"), source)
    context = _context("image-awaiter")
    run(
        [gobuild.require_go(), "build", "-trimpath", "-ldflags", "-w -s"]
        + ["-o", context / "image-awaiter", "."],
        step="building the image-awaiter program",
        cwd=source,
        env={"CGO_ENABLED": "0", "GOOS": "linux"},
    )
    docker_build(image, context, args)


def _build_kube_scheduler(image: str, args: dict[str, str]) -> None:
    # The toolchain's own build, so the image is tagged with its version, not the chart's.
    binary = cache.bin_dir() / "kube-scheduler"
    if not gobuild.installed("kube-scheduler", gobuild.kube_stamp(versions.KUBERNETES)):
        raise MissingPrerequisite(
            f"{binary} {versions.KUBERNETES} is not built yet: run `invoke toolchain`"
        )
    context = _context("kube-scheduler")
    shutil.copy(binary, context / "kube-scheduler")
    docker_build(image, context, args)
