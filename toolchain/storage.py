"""Storage on the real node: rancher's local-path-provisioner and a default StorageClass.

The jupyterhub chart's defaults claim volumes (the hub's sqlite database, each user's home)
without naming a StorageClass; a cloud cluster's default class binds them. Here the real node
brings one: the StorageClass `local-path` (the cluster's default, WaitForFirstConsumer,
reclaim Delete) and local-path-provisioner, which makes each volume a directory under the
node's state dir, so stopping the node removes every volume with it.

The provisioner runs as a process on this machine with the cluster's admin kubeconfig, as
kubelet does, not as a pod: it needs no image of its own, no RBAC and no in-cluster credentials,
and it stops with the node by its pid file. (Running outside a pod, it cannot copy its helper
pods' logs into its own log, and says so there; nothing else depends on them.) The directories
themselves are made and removed by its helper pods, which it pins to the real node: they run
`sh` from the base image, imported into the node's containerd at start.
"""

import json
import string
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import baseimage, cache, containerd, gobuild, procs, versions
from .run import MissingPrerequisite, ToolError, run

RECIPES = Path(__file__).with_name("storage")
PROVISIONER = "local-path-provisioner"  # its binary in the cache, its pid file and log
PROVISIONER_NAME = "rancher.io/local-path"  # the StorageClass's provisioner
NAMESPACE = "local-path-storage"  # its helper pods and their scripts
SERVICE_ACCOUNT = "local-path-provisioner"
CONFIG_MAP = "local-path-config"
STORAGE_CLASS = "local-path"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
HELPER_IMAGE = versions.BASE_IMAGE


def ensure_provisioner() -> str:
    """Build local-path-provisioner from its Go module into the cache (once per version)."""
    version = versions.LOCAL_PATH_PROVISIONER
    present = gobuild.installed(PROVISIONER, version)
    gobuild.go_install(PROVISIONER, versions.LOCAL_PATH_PROVISIONER_PACKAGE, version)
    return f"{PROVISIONER} {version} " + ("present" if present else "built")


def volumes_dir(node_root: Path) -> Path:
    """Where the node's volumes live: inside its own state dir, removed when it stops."""
    return node_root / "volumes"


def _storage_dir(node_root: Path) -> Path:
    return node_root / "storage"


def _kubectl(kubeconfig: Path, *args: str, step: str, stdin: str | None = None) -> str:
    return run(
        ["kubectl", "--kubeconfig", kubeconfig, *args],
        step=step,
        capture=True,
        input=stdin,
        echo=False,
        timeout=60,
    ).stdout


def _render(name: str, target: Path, **fields: object) -> Path:
    text = string.Template((RECIPES / name).read_text()).substitute(fields)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def _wait_for_namespace_gone(kubeconfig: Path, timeout: float = 90) -> None:
    """A node stopped and started again finds its namespace of before still terminating."""

    def usable() -> bool:
        argv = ["kubectl", "--kubeconfig", str(kubeconfig), "get", "namespace", NAMESPACE]
        argv += ["-o", "jsonpath={.status.phase}", "--ignore-not-found"]
        found = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True)
        return found.stdout.strip() != "Terminating"

    procs.wait_until(usable, timeout=timeout, what=f"namespace {NAMESPACE} deleted")


def start(
    node_root: Path,
    kubeconfig: Path,
    containerd_socket: Path,
    *,
    node_name: str,
    taint: str,
    timeout: float = 60,
) -> None:
    """Volumes for the node `node_name` (started under node_root); `stop` undoes it all.

    taint is the node's `key=value:Effect`, which the helper pods tolerate.
    """
    binary = cache.bin_dir() / PROVISIONER
    if not gobuild.installed(PROVISIONER, versions.LOCAL_PATH_PROVISIONER):
        raise MissingPrerequisite(
            f"{binary} {versions.LOCAL_PATH_PROVISIONER} is missing: run `invoke toolchain`"
        )
    if not baseimage.present():
        raise MissingPrerequisite(
            f"the base image {HELPER_IMAGE} is missing: run `invoke toolchain`"
        )
    began = time.monotonic()
    folder = _storage_dir(node_root)
    folder.mkdir(parents=True, exist_ok=True)
    # Recorded first: whatever part of the rest happens, `stop` can undo it.
    (folder / "kubeconfig").write_text(f"{kubeconfig}\n")
    volumes = volumes_dir(node_root)
    volumes.mkdir(parents=True, exist_ok=True)
    key_value, effect = taint.rsplit(":", 1)
    key, value = key_value.split("=", 1)
    helper = _render(
        "helper-pod.yaml",
        folder / "helper-pod.yaml",
        taint_key=key,
        taint_value=value,
        taint_effect=effect,
        image=HELPER_IMAGE,
    )
    # Only the real node has a path: a claim whose pod is scheduled onto one of kwok's fake
    # nodes fails to provision with an event that says so, instead of a helper pod there that
    # kwok would leave Running for ever.
    config = _render("config.json", folder / "config.json", node=node_name, volumes=volumes)
    # The import (seconds: the base image is ~200 MB) runs while the cluster's part is applied;
    # the provisioner starts after both, so no helper pod ever waits for its image.
    with ThreadPoolExecutor(max_workers=1) as pool:
        imported = pool.submit(containerd.import_image, containerd_socket, HELPER_IMAGE)
        _wait_for_namespace_gone(kubeconfig)
        _kubectl(
            kubeconfig,
            "apply",
            "-f",
            str(RECIPES / "cluster.yaml"),
            step="the local-path StorageClass and the provisioner's namespace",
        )
        imported.result()
    argv = [binary, "--debug", "start", "--kubeconfig", kubeconfig, "--config", config]
    argv += ["--helper-pod-file", helper, "--namespace", NAMESPACE, "--configmap-name", CONFIG_MAP]
    argv += ["--service-account-name", SERVICE_ACCOUNT, "--provisioner-name", PROVISIONER_NAME]
    # Unused by this release (the helper pod file names the image), but it must not be empty.
    argv += ["--helper-image", HELPER_IMAGE]
    log = node_root / f"{PROVISIONER}.log"
    procs.start(argv, pid_file=node_root / "pids" / f"{PROVISIONER}.pid", log_file=log)

    def started_or_exited() -> bool:
        text = log.read_text(errors="replace")
        return not provisioner_running(node_root) or "Started provisioner controller" in text

    procs.wait_until(
        started_or_exited, timeout=timeout, what=f"{PROVISIONER} started", log_file=log
    )
    if not provisioner_running(node_root):
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise ToolError(f"{PROVISIONER} exited at start; see {log}:\n{tail}")
    print(
        f"storage class {STORAGE_CLASS} (default) with {PROVISIONER} "
        f"{versions.LOCAL_PATH_PROVISIONER} in {time.monotonic() - began:.1f}s",
        file=sys.stderr,
    )


def stop(node_root: Path) -> None:
    """Stop the provisioner and delete the StorageClass (and the helper pods' namespace).

    The volumes' directories are in the node's state dir, which the node removes.
    """
    procs.stop(node_root / "pids" / f"{PROVISIONER}.pid")
    recorded = _storage_dir(node_root) / "kubeconfig"
    if not recorded.exists():
        return
    kubeconfig = recorded.read_text().strip()
    # The cluster may be gone already (a test session's, torn down out of order): no waiting.
    for kind, name in (("storageclass", STORAGE_CLASS), ("namespace", NAMESPACE)):
        argv = ["kubectl", "--kubeconfig", kubeconfig, "delete", kind, name]
        argv += ["--ignore-not-found", "--wait=false", "--request-timeout=10s"]
        subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    recorded.unlink()


def provisioner_running(node_root: Path) -> bool:
    return procs.recorded_pid(node_root / "pids" / f"{PROVISIONER}.pid") is not None


def default_classes(kubeconfig: Path) -> list[str]:
    """The names of the cluster's default StorageClasses."""
    found = json.loads(
        _kubectl(kubeconfig, "get", "storageclass", "-o", "json", step="listing StorageClasses")
    )
    return [
        item["metadata"]["name"]
        for item in found["items"]
        if item["metadata"].get("annotations", {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
    ]
