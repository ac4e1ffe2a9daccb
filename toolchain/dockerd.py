"""The docker daemon: started in the background when its socket does not answer."""

import os
import shutil
import sys
from pathlib import Path

import docker

from . import cache, procs
from .run import MissingPrerequisite

SOCKET = Path("/var/run/docker.sock")


def answers() -> bool:
    if not SOCKET.exists():
        return False
    try:
        client = docker.DockerClient(base_url=f"unix://{SOCKET}", timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except docker.errors.DockerException:
        return False


def ensure_running() -> str:
    """Start dockerd unless its socket answers; return a one-line status."""
    if answers():
        return f"dockerd answers on {SOCKET}"
    dockerd = shutil.which("dockerd")
    if not dockerd:
        raise MissingPrerequisite("`dockerd` is missing: run `invoke toolchain` (apt docker.io)")
    if os.geteuid() != 0:
        raise MissingPrerequisite(
            f"dockerd is not running and only root can start it: run `sudo dockerd &` "
            f"(or start the docker service) so that {SOCKET} answers"
        )
    log_file = cache.log_dir() / "dockerd.log"
    print(f"starting dockerd (log: {log_file})...", file=sys.stderr, flush=True)
    procs.start([dockerd], pid_file=cache.run_dir() / "dockerd.pid", log_file=log_file)
    procs.wait_until(answers, timeout=60, what=f"dockerd answering on {SOCKET}", log_file=log_file)
    return f"dockerd started (pid file {cache.run_dir() / 'dockerd.pid'})"
