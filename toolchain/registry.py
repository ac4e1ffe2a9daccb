"""A local docker-registry on 127.0.0.1 (docker trusts loopback registries without TLS)."""

import shutil
import string
from dataclasses import dataclass
from pathlib import Path

from . import procs
from .run import MissingPrerequisite

CONFIG_TEMPLATE = Path(__file__).with_name("registry.yml")


@dataclass(frozen=True)
class Registry:
    address: str  # "127.0.0.1:PORT", as used in image names
    pid_file: Path


def start(state_dir: Path) -> Registry:
    """Start an empty registry storing its data under state_dir/registry."""
    binary = shutil.which("docker-registry")
    if not binary:
        raise MissingPrerequisite(
            "`docker-registry` is not installed: run `invoke toolchain` (apt-get install docker-registry)"
        )
    port = procs.free_port()
    root = state_dir / "registry"
    shutil.rmtree(root, ignore_errors=True)
    (root / "data").mkdir(parents=True)
    config = root / "config.yml"
    config.write_text(
        string.Template(CONFIG_TEMPLATE.read_text()).substitute(root=root / "data", port=port)
    )
    pid_file = state_dir / "registry.pid"
    log_file = state_dir / "registry.log"
    procs.start([binary, "serve", config], pid_file=pid_file, log_file=log_file)
    address = f"127.0.0.1:{port}"
    procs.wait_until(
        lambda: procs.http_ok(f"http://{address}/v2/"),
        timeout=30,
        what=f"the registry answering on {address}",
        log_file=log_file,
    )
    return Registry(address=address, pid_file=pid_file)


def stop(state_dir: Path) -> None:
    procs.stop(state_dir / "registry.pid")
    shutil.rmtree(state_dir / "registry", ignore_errors=True)
