"""The JupyterHub images the stand-in chart runs on the real node, built here from the base image.

The hub is JupyterHub at the chart's appVersion with KubeSpawner (PyPI); the proxy is
configurable-http-proxy at the chart's default tag (npm, on Debian's Node.js). Production repos
point at the real chart and its images; only the tests' values swap these in.
"""

import subprocess
from pathlib import Path

from . import versions
from .run import run

RECIPES = Path(__file__).with_name("images")


def images() -> dict[str, tuple[Path, dict[str, str]]]:
    """image name -> (its build folder, its build arguments)."""
    return {
        versions.HUB_IMAGE: (
            RECIPES / "hub",
            {
                "JUPYTERHUB_VERSION": versions.JUPYTERHUB,
                "KUBESPAWNER_VERSION": versions.KUBESPAWNER,
            },
        ),
        versions.PROXY_IMAGE: (RECIPES / "proxy", {"CHP_VERSION": versions.CHP}),
    }


def present(image: str) -> bool:
    inspect = ["docker", "image", "inspect", image]
    return subprocess.run(inspect, capture_output=True, check=False).returncode == 0


def ensure() -> list[str]:
    """Build each image that docker does not have yet (about a minute each on first run)."""
    lines = []
    for image, (folder, args) in images().items():
        if present(image):
            lines.append(f"{image} present")
            continue
        argv = ["docker", "build", "--build-arg", f"BASE_IMAGE={versions.BASE_IMAGE}"]
        for key, value in args.items():
            argv += ["--build-arg", f"{key}={value}"]
        run([*argv, "-t", image, folder], step=f"building the image {image}")
        lines.append(f"{image} built")
    return lines
