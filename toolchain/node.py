"""The real node of a local cluster: containerd, kubelet, kube-proxy, a CNI bridge and CoreDNS.

Beside kwok's fake nodes, one node where pods really run: images are pulled from the local
registry, processes start, probes are real, and a container that crashes crashes. It is tainted
and labelled (`REAL_NODE_LABEL`), so only pods that ask for it land there; everything else stays
on the fake nodes.

kube-proxy's iptables chains and the CNI bridge belong to the whole host, so there is at most
one real node per machine: `claim` records which cluster holds it, and a second cluster is
refused with a message naming the first. Its addresses are never private or public ones:
the node's address is from a documentation range (198.51.100.0/24, on `lo`), pods and Services
are in the benchmarking range (198.18.0.0/15). Nothing leaves this machine.

`stop` removes everything `start` made: processes, containers, network namespaces, mounts,
the bridge, the address on `lo` and kube-proxy's rules.
"""

import contextlib
import json
import shlex
import shutil
import string
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import cache, containerd, gobuild, procs, storage, versions
from .run import MissingPrerequisite, ToolError, run

NODE_NAME = "hubfleet-real"
# TEST-NET-2: kwok numbers its fake nodes from 192.0.2.1 (TEST-NET-1).
NODE_IP = "198.51.100.10"
POD_SUBNET = "198.18.0.0/24"
SERVICE_RANGE = "198.19.0.0/16"
KUBERNETES_SERVICE_IP = "198.19.0.1"  # the `kubernetes` Service: the range's first address
BRIDGE = "hubfleet0"
CLUSTER_DOMAIN = "cluster.local"
# Pods that should really run select this label and tolerate this taint.
REAL_NODE_LABEL = ("hubfleet.dev/node", "real")
REAL_NODE_TAINT = "hubfleet.dev/node=real:NoSchedule"
CNI_BIN = Path("/usr/lib/cni")
TEMPLATES = Path(__file__).with_name("node")
PAUSE_SOURCE = Path(__file__).with_name("pause")
# The volume provisioner (toolchain/storage.py) is the node's too: its pid file is beside these.
COMPONENTS = ("coredns", "containerd", "kubelet", "kube-proxy", storage.PROVISIONER)
# br_netfilter sends bridged traffic through FORWARD, whose policy docker sets to DROP: pods on
# the bridge may talk to each other (and Services' pods), nothing else is forwarded.
FORWARD_RULES = (("-i", BRIDGE), ("-o", BRIDGE))
RULE_COMMENT = "hubfleet real node"


@dataclass(frozen=True)
class Node:
    name: str
    ip: str
    directory: Path
    containerd_socket: Path


def claim_file() -> Path:
    return cache.run_dir() / "real-node.json"


def _node_dir(state_dir: Path) -> Path:
    return state_dir / "node"


def holder() -> dict | None:
    """Who holds this machine's real node (cluster, state dir), if its processes still run."""
    try:
        claim = json.loads(claim_file().read_text())
    except (FileNotFoundError, ValueError):
        return None
    pids = _node_dir(Path(claim["state_dir"])) / "pids"
    if any(procs.recorded_pid(pids / f"{c}.pid") for c in COMPONENTS):
        return claim
    return None


def running(state_dir: Path) -> Node | None:
    """The real node started under state_dir, if every one of its processes still runs."""
    pids = _node_dir(state_dir) / "pids"
    if not all(procs.recorded_pid(pids / f"{c}.pid") for c in COMPONENTS):
        return None
    root = _node_dir(state_dir)
    return Node(NODE_NAME, NODE_IP, root, root / "containerd" / "containerd.sock")


def _claim(state_dir: Path, cluster: str) -> None:
    held = holder()
    if held and Path(held["state_dir"]) != state_dir:
        raise ToolError(
            f"this machine's real node belongs to cluster {held['cluster']} "
            f"(state in {held['state_dir']}): one real node per machine, since kube-proxy's "
            "iptables rules are shared by the whole host; stop that cluster first "
            "(`invoke cluster-down`, or end its test session)"
        )
    if claim_file().exists() and not held:
        stale = Path(json.loads(claim_file().read_text())["state_dir"])
        print(f"cleaning up the real node left by {stale}", file=sys.stderr, flush=True)
        stop(stale)
    claim_file().parent.mkdir(parents=True, exist_ok=True)
    claim_file().write_text(json.dumps({"cluster": cluster, "state_dir": str(state_dir)}) + "\n")


def _render(name: str, target: Path, **fields: object) -> Path:
    text = string.Template((TEMPLATES / name).read_text()).substitute(fields)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def _require_tools() -> None:
    missing = [str(p) for p in (CNI_BIN / "bridge", CNI_BIN / "host-local") if not p.exists()]
    missing += [t for t in ("containerd", "runc", "ctr", "iptables", "ip") if not shutil.which(t)]
    missing += [
        str(cache.bin_dir() / t)
        for t in ("kubelet", "kube-proxy", "coredns", storage.PROVISIONER)
        if not (cache.bin_dir() / t).exists()
    ]
    if missing:
        raise MissingPrerequisite(
            f"the real node needs {', '.join(missing)}: run `invoke toolchain`"
        )


def _netns() -> set[str]:
    folder = Path("/var/run/netns")
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


TABLES = ("filter", "nat", "mangle")


def _kube_chains() -> dict[str, list[str]]:
    """The KUBE-* chains of each iptables table (kubelet's and kube-proxy's)."""
    chains = {}
    for table in TABLES:
        listed = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True)
        names = [
            line.split()[1] for line in listed.stdout.splitlines() if line.startswith("-N KUBE-")
        ]
        chains[table] = sorted(names)
    return chains


def _remove_kube_chains(keep: dict[str, list[str]]) -> None:
    """Remove the KUBE-* chains made since `keep` was recorded, and every jump into them."""
    for table, names in _kube_chains().items():
        new = set(names) - set(keep.get(table, []))
        listed = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True)
        for line in listed.stdout.splitlines():
            words = shlex.split(line)
            if words[:1] == ["-A"] and words[1] not in new and set(words) & new:
                subprocess.run(["iptables", "-t", table, "-D", *words[1:]], capture_output=True)
        for name in new:
            subprocess.run(["iptables", "-t", table, "-F", name], capture_output=True)
        for name in new:
            subprocess.run(["iptables", "-t", table, "-X", name], capture_output=True)


def _write_configs(root: Path, kubeconfig: Path, registry: str) -> dict[str, Path]:
    """containerd, CNI, kubelet and CoreDNS configuration files under the node's folder."""
    ports = {name: procs.free_port() for name in ("kubelet", "proxy_metrics", "proxy_healthz")}
    files = {
        "containerd": _render(
            "containerd.toml",
            root / "containerd" / "config.toml",
            root=root,
            pause=versions.PAUSE_IMAGE,
        ),
        # Pods get routes to the node (CoreDNS, the API server) and to Services only: no
        # default route, so no packet of theirs can leave this machine.
        "cni": _render(
            "cni.conflist",
            root / "cni" / "net.d" / "10-hubfleet.conflist",
            bridge=BRIDGE,
            subnet=POD_SUBNET,
            node_ip=NODE_IP,
            service_range=SERVICE_RANGE,
            root=root,
        ),
        "hosts": _render(
            "registry-hosts.toml",
            root / "containerd" / "certs.d" / registry / "hosts.toml",
            registry=registry,
        ),
        "kubelet": _render(
            "kubelet.yaml",
            root / "kubelet.yaml",
            address=NODE_IP,
            port=ports["kubelet"],
            socket=root / "containerd" / "containerd.sock",
            dns=NODE_IP,
            domain=CLUSTER_DOMAIN,
            resolv=root / "resolv.conf",
        ),
        "corefile": _render(
            "Corefile", root / "Corefile", ip=NODE_IP, domain=CLUSTER_DOMAIN, kubeconfig=kubeconfig
        ),
    }
    (root / "resolv.conf").write_text("# pods resolve cluster names only, through CoreDNS\n")
    (root / "ports.json").write_text(json.dumps(ports) + "\n")
    return files


def _start(root: Path, component: str, argv: list) -> None:
    procs.start(
        argv, pid_file=root / "pids" / f"{component}.pid", log_file=root / f"{component}.log"
    )


def start(
    state_dir: Path, cluster: str, kubeconfig: Path, registry: str, *, timeout: float = 90
) -> Node:
    """Start the real node of a cluster and wait until it is Ready; `stop` undoes all of it."""
    _require_tools()
    _claim(state_dir, cluster)
    root = _node_dir(state_dir)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / "netns-before.json").write_text(json.dumps(sorted(_netns())))
    (root / "iptables-before.json").write_text(json.dumps(_kube_chains()))
    began = time.monotonic()
    print(f"starting the real node {NODE_NAME} ({NODE_IP}) of {cluster}...", file=sys.stderr)
    files = _write_configs(root, kubeconfig, registry)
    run(["ip", "addr", "replace", f"{NODE_IP}/32", "dev", "lo"], step="the node's address on lo")
    for flag, device in FORWARD_RULES:
        rule = [flag, device, "-m", "comment", "--comment", RULE_COMMENT, "-j", "ACCEPT"]
        run(["iptables", "-I", "FORWARD", "1", *rule], step="forward the pods' bridge traffic")
    socket = root / "containerd" / "containerd.sock"
    _start(root, "containerd", ["containerd", "--config", files["containerd"]])
    procs.wait_until(
        socket.exists, timeout=30, what="containerd's socket", log_file=root / "containerd.log"
    )
    containerd.import_image(socket, versions.PAUSE_IMAGE)
    _start(root, "coredns", [cache.bin_dir() / "coredns", "-conf", files["corefile"]])
    ports = json.loads((root / "ports.json").read_text())
    proxy = [cache.bin_dir() / "kube-proxy", "--kubeconfig", kubeconfig]
    proxy += ["--hostname-override", NODE_NAME, "--proxy-mode", "iptables"]
    # conntrack-max-per-core 0: leave the host's conntrack table size alone.
    proxy += ["--cluster-cidr", POD_SUBNET, "--conntrack-max-per-core", "0"]
    proxy += ["--metrics-bind-address", f"127.0.0.1:{ports['proxy_metrics']}"]
    proxy += ["--healthz-bind-address", f"127.0.0.1:{ports['proxy_healthz']}"]
    _start(root, "kube-proxy", proxy)
    kubelet = [cache.bin_dir() / "kubelet", "--config", files["kubelet"]]
    kubelet += ["--kubeconfig", kubeconfig, "--hostname-override", NODE_NAME, "--node-ip", NODE_IP]
    kubelet += ["--root-dir", root / "kubelet", "--cert-dir", root / "kubelet" / "pki"]
    kubelet += ["--node-labels", "=".join(REAL_NODE_LABEL)]
    kubelet += ["--register-with-taints", REAL_NODE_TAINT]
    _start(root, "kubelet", kubelet)
    procs.wait_until(
        lambda: _ready(kubeconfig),
        timeout=timeout,
        what=f"the real node {NODE_NAME} Ready",
        log_file=root / "kubelet.log",
    )
    # The cluster's default StorageClass, whose volumes are directories of this node.
    storage.start(root, kubeconfig, socket, node_name=NODE_NAME, taint=REAL_NODE_TAINT)
    print(f"real node {NODE_NAME} ready in {time.monotonic() - began:.1f}s", file=sys.stderr)
    return Node(NODE_NAME, NODE_IP, root, socket)


def _ready(kubeconfig: Path) -> bool:
    argv = ["kubectl", "--kubeconfig", str(kubeconfig), "get", "node", NODE_NAME, "-o", "json"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True).stdout
    conditions = json.loads(out).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def pull(real: Node, image: str) -> float:
    """Pull an image into the node's containerd ahead of its pods, as an image puller would;
    returns the seconds it took. Only plain-HTTP registries on 127.0.0.1 are pulled from."""
    argv = ["ctr", "--address", str(real.containerd_socket), "--namespace", "k8s.io"]
    started = time.monotonic()
    run(
        [*argv, "images", "pull", "--plain-http", image],
        step=f"pull {image} onto the real node",
        capture=True,
    )
    return time.monotonic() - started


def _ctr(socket: Path, *args: str) -> list[str]:
    argv = ["ctr", "--address", str(socket), "--namespace", "k8s.io", *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return proc.stdout.split() if proc.returncode == 0 else []


def _remove_containers(root: Path) -> None:
    """Kill and delete every container of the node's containerd, while it still runs."""
    socket = root / "containerd" / "containerd.sock"
    if not socket.exists() or not procs.recorded_pid(root / "pids" / "containerd.pid"):
        return
    for task in _ctr(socket, "tasks", "ls", "--quiet"):
        _ctr(socket, "tasks", "kill", "--signal", "SIGKILL", task)
    deadline = time.monotonic() + 15
    while _ctr(socket, "tasks", "ls", "--quiet") and time.monotonic() < deadline:
        for task in _ctr(socket, "tasks", "ls", "--quiet"):
            _ctr(socket, "tasks", "delete", "--force", task)
        time.sleep(0.2)
    for container in _ctr(socket, "containers", "ls", "--quiet"):
        _ctr(socket, "containers", "delete", container)


def _unmount_below(folder: Path) -> None:
    """Unmount everything mounted under folder, deepest first (kubelet and containerd mount)."""
    prefix = str(folder.resolve()) + "/"
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix) or point == prefix.rstrip("/"):
            mounts.append(point)
    for point in sorted(set(mounts), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)


def stop(state_dir: Path) -> bool:
    """Stop the real node and remove all it made; False if this state dir has none."""
    root = _node_dir(state_dir)
    if not root.exists():
        return False
    storage.stop(root)
    pids = root / "pids"
    procs.stop(pids / "kubelet.pid")
    _remove_containers(root)
    procs.stop(pids / "containerd.pid")
    procs.stop(pids / "kube-proxy.pid")
    procs.stop(pids / "coredns.pid")
    # kubelet's and kube-proxy's chains (KUBE-*) are the host's: remove the ones they made.
    kept = root / "iptables-before.json"
    _remove_kube_chains(json.loads(kept.read_text()) if kept.exists() else {})
    recorded = root / "netns-before.json"
    before = set(json.loads(recorded.read_text())) if recorded.exists() else set()
    for name in sorted(_netns() - before):
        if name.startswith("cni-"):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
    subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, check=False)
    for flag, device in FORWARD_RULES:
        rule = [flag, device, "-m", "comment", "--comment", RULE_COMMENT, "-j", "ACCEPT"]
        while (
            subprocess.run(["iptables", "-D", "FORWARD", *rule], capture_output=True).returncode
            == 0
        ):
            pass
    subprocess.run(
        ["ip", "addr", "delete", f"{NODE_IP}/32", "dev", "lo"], capture_output=True, check=False
    )
    _unmount_below(root)
    shutil.rmtree(root, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        if Path(json.loads(claim_file().read_text())["state_dir"]) == state_dir:
            claim_file().unlink()
    return True


def ensure_pause_image() -> str:
    """Build the pod sandbox image from toolchain/pause (Go, FROM scratch) unless docker has it."""
    inspect = ["docker", "image", "inspect", versions.PAUSE_IMAGE]
    if subprocess.run(inspect, capture_output=True, check=False).returncode == 0:
        return f"{versions.PAUSE_IMAGE} present"
    go = gobuild.require_go()
    build = cache.build_dir() / "pause"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    shutil.copy(PAUSE_SOURCE / "Dockerfile", build / "Dockerfile")
    run(
        [go, "build", "-o", build / "pause", "main.go"],
        step="building the pause program",
        cwd=PAUSE_SOURCE,
        env={"CGO_ENABLED": "0"},
    )
    run(
        ["docker", "build", "--quiet", "-t", versions.PAUSE_IMAGE, build],
        step="building the pause image",
    )
    return f"{versions.PAUSE_IMAGE} built"
