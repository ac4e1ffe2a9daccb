"""Images into the real node's containerd, from docker: for images no registry here can serve."""

import subprocess
from pathlib import Path

from .run import MissingPrerequisite, ToolError


def import_image(socket: Path, image: str) -> None:
    """`docker save` of the image into containerd's k8s.io namespace (where kubelet looks)."""
    saved = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    argv = ["ctr", "--address", str(socket), "--namespace", "k8s.io", "images", "import", "-"]
    imported = subprocess.run(argv, stdin=saved.stdout, capture_output=True, text=True, check=False)
    saved.stdout.close()
    if saved.wait() != 0:
        raise MissingPrerequisite(f"docker has no image {image}: run `invoke toolchain`")
    if imported.returncode != 0:
        raise ToolError(f"importing {image} into the real node failed: {imported.stderr[-500:]}")
