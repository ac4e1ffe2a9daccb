"""A kwok cluster: a real control plane with fake nodes, run from local binaries only."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import cache, node, procs
from .run import MissingPrerequisite, ToolError, run

NODES = 2
# kwok's nodes carry this annotation (value `fake`); kwok manages those and no other.
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"


@dataclass(frozen=True)
class Cluster:
    name: str
    kubeconfig: Path


def workdir() -> Path:
    """kwokctl's work dir, inside the cache so the user's ~/.kwok is never touched."""
    return cache.cache_dir() / "kwok"


def cluster_dir(name: str) -> Path:
    return workdir() / "clusters" / name


def _env() -> dict[str, str]:
    return {"KWOK_WORKDIR": str(workdir())}


PORT_OPTIONS = (
    "kubeApiserverPort",
    "etcdPort",
    "etcdPeerPort",
    "kubeControllerManagerPort",
    "kubeSchedulerPort",
    "kwokControllerPort",
)


def _write_default_config() -> Path:
    config = workdir() / "kwok.yaml"
    if not config.exists():
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text("# hubfleet: kwokctl reads this instead of ~/.kwok/kwok.yaml\n")
    return config


def _patches() -> list[dict]:
    """Component flags for a cluster that may have a real node (toolchain/node.py)."""
    apiserver = {
        # Services in the benchmarking range, never a private one.
        "service-cluster-ip-range": node.SERVICE_RANGE,
        # The `kubernetes` Service points pods at the node's address, which they can reach.
        "advertise-address": node.NODE_IP,
        # Reach kubelets by address: the real node's hostname resolves nowhere.
        "kubelet-preferred-address-types": "InternalIP",
    }
    # kwokctl starts kwok with --manage-all-nodes=true, which would fake the real node too.
    kwok = {
        "manage-all-nodes": ("false", True),
        "manage-nodes-with-annotation-selector": (f"{FAKE_NODE_ANNOTATION}=fake", False),
    }
    # One of each: no election to hold, so an API server that stops answering for longer than a
    # lease's renew deadline (a paused or overloaded one) does not make them exit.
    single = [{"key": "leader-elect", "value": "false"}]
    return [
        {
            "name": "kube-apiserver",
            "extraArgs": [{"key": k, "value": v} for k, v in apiserver.items()],
        },
        {"name": "kube-controller-manager", "extraArgs": single},
        {"name": "kube-scheduler", "extraArgs": single},
        {
            "name": "kwok-controller",
            "extraArgs": [
                {"key": k, "value": v, "override": replace} for k, (v, replace) in kwok.items()
            ],
        },
    ]


def _write_cluster_config(name: str) -> Path:
    """A kwokctl config: free ports for every component, and kwok for its own nodes only.

    kwokctl's own choice of ports counts down from 32767 and skips ports in use, so two
    clusters created at the same moment (cluster-up and a test session) could pick the same
    ones.
    """
    ports: set[int] = set()
    while len(ports) < len(PORT_OPTIONS):
        ports.add(procs.free_port())
    config = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "options": {
            **dict(zip(PORT_OPTIONS, sorted(ports), strict=True)),
            # In-cluster clients (KubeSpawner in the hub) verify the API server by these.
            "kubeApiserverCertSANs": [node.NODE_IP, node.KUBERNETES_SERVICE_IP],
        },
        "componentsPatches": _patches(),
    }
    path = workdir() / "configs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def _kwokctl_base(name: str) -> list[str | Path]:
    # An explicit config path, so a ~/.kwok/kwok.yaml of the user's is never read.
    return [_binary("kwokctl"), "--name", name, "--config", workdir() / "kwok.yaml"]


def _binary(name: str) -> Path:
    path = cache.bin_dir() / name
    if not path.exists():
        raise MissingPrerequisite(f"{path} is missing: run `invoke toolchain`")
    return path


def create(name: str, *, nodes: int = NODES, timeout: float = 60) -> Cluster:
    """Create the cluster from the cache's binaries, add fake nodes and wait for one Ready."""
    if not shutil.which("kubectl"):
        raise MissingPrerequisite("`kubectl` is not on PATH: install kubectl 1.31-1.33")
    _write_default_config()
    if cluster_dir(name).exists():
        delete(name)
    start = time.monotonic()
    print(f"creating kwok cluster {name}...", file=sys.stderr, flush=True)
    config = _write_cluster_config(name)
    run(
        [
            _binary("kwokctl"),
            "--name",
            name,
            "--config",
            config,
            "create",
            "cluster",
            "--runtime",
            "binary",
            "--kube-apiserver-binary",
            _binary("kube-apiserver"),
            "--kube-controller-manager-binary",
            _binary("kube-controller-manager"),
            "--kube-scheduler-binary",
            _binary("kube-scheduler"),
            "--kwok-controller-binary",
            _binary("kwok"),
            "--etcd-binary",
            etcd_binary(),
            # Never write into the user's ~/.kube/config.
            "--kubeconfig",
            "",
            "--timeout",
            f"{int(timeout)}s",
        ],
        step=f"creating kwok cluster {name}",
        env=_env(),
    )
    cluster = Cluster(name=name, kubeconfig=cluster_dir(name) / "kubeconfig.yaml")
    scale_nodes(name, nodes)
    remaining = max(5.0, timeout - (time.monotonic() - start))
    procs.wait_until(
        lambda: ready_nodes(cluster) >= 1,
        timeout=remaining,
        what=f"a Ready node in kwok cluster {name}",
    )
    print(f"kwok cluster {name} ready in {time.monotonic() - start:.1f}s", file=sys.stderr)
    return cluster


def scale_nodes(name: str, nodes: int, pods: int = 110) -> None:
    """Make the cluster's fake nodes `nodes`; new ones take `pods` pods each (110, as a kubelet
    does by default)."""
    run(
        [
            *_kwokctl_base(name),
            "scale",
            "node",
            "--replicas",
            str(nodes),
            "--param",
            f".allocatable.pods={pods}",
        ],
        step=f"{nodes} fake nodes in {name}",
        env=_env(),
    )


def etcd_binary() -> Path:
    # The toolchain's own etcd, never one on PATH: kube-apiserver rejects the kwok-controller's
    # watches on an etcd older than 3.4.31 (such as Debian's 3.4.23), which makes re-created
    # pods take 20-60 s to become Ready.
    return _binary("etcd")


def ready_nodes(cluster: Cluster) -> int:
    out = subprocess.run(
        ["kubectl", "--kubeconfig", str(cluster.kubeconfig), "get", "nodes", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    count = 0
    for item in json.loads(out)["items"]:
        for condition in item.get("status", {}).get("conditions", []):
            if condition["type"] == "Ready" and condition["status"] == "True":
                count += 1
    return count


def delete(name: str) -> None:
    """Delete the cluster; then stop any of its processes kwokctl left behind."""
    if not cluster_dir(name).exists():
        return
    try:
        run(
            # A throwaway file, so kwokctl never edits the user's ~/.kube/config
            # (it refuses an empty path here, unlike `create`).
            [
                *_kwokctl_base(name),
                "delete",
                "cluster",
                "--kubeconfig",
                str(cluster_dir(name) / "scratch-kubeconfig.yaml"),
            ],
            step=f"deleting kwok cluster {name}",
            env=_env(),
            timeout=120,
        )
    except (ToolError, MissingPrerequisite) as error:
        print(f"warning: {error}", file=sys.stderr)
    _kill_leftovers(cluster_dir(name))
    shutil.rmtree(cluster_dir(name), ignore_errors=True)
    (workdir() / "configs" / f"{name}.yaml").unlink(missing_ok=True)


def _leftovers(directory: Path) -> dict[str, int]:
    """Processes recorded in the cluster's pid files that still run in its directory."""
    alive = {}
    for pid_file in (directory / "pids").glob("*.pid"):
        try:
            pid = int(pid_file.read_text().strip())
            # kwokctl runs each component with the cluster dir as its working directory,
            # which tells its processes apart from any process that reused the pid.
            if Path(os.readlink(f"/proc/{pid}/cwd")) == directory.resolve():
                alive[pid_file.stem] = pid
        except (ValueError, FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return alive


def _kill_leftovers(directory: Path, grace: float = 5) -> None:
    """Give the cluster's processes a few seconds to exit, then kill what still runs."""
    deadline = time.monotonic() + grace
    while _leftovers(directory) and time.monotonic() < deadline:
        time.sleep(0.2)
    for component, pid in _leftovers(directory).items():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            print(f"killed leftover {component} (pid {pid})", file=sys.stderr)
