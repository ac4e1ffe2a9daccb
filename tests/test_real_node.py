"""Smoke tests of the real node: pods pinned to it really run, crash and fail to pull.

kwok's fake nodes turn any pod Ready; on this node a process starts from an image pulled out of
the local registry, and a container that exits crashes. Pods find each other by Service name
(CoreDNS, kube-proxy). Stopping the node leaves nothing on the host.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from toolchain import node

pytestmark = [pytest.mark.smoke, pytest.mark.timeout(600)]

NAMESPACE = "real-node-smoke"


def kubectl(kubeconfig: Path, *args: str, check: bool = True, timeout: float = 120):
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


def pod(name: str, image: str, command: list[str], **spec: object) -> dict:
    """A pod pinned to the real node."""
    key, value = node.REAL_NODE_LABEL
    container = {"name": "main", "image": image, "command": command, **spec}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
        "spec": {
            "nodeSelector": {key: value},
            "tolerations": [{"key": key, "operator": "Equal", "value": value}],
            "containers": [container],
            "terminationGracePeriodSeconds": 1,
        },
    }


def apply(kubeconfig: Path, *docs: dict) -> None:
    text = "\n".join(json.dumps(doc) for doc in docs)
    subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "apply", "-f", "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )


def status_of(kubeconfig: Path, name: str) -> dict:
    found = kubectl(kubeconfig, "get", "pod", name, "-n", NAMESPACE, "-o", "json")
    return json.loads(found.stdout)["status"]


def wait_for(check, what: str, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"{what}: not within {timeout:.0f}s")


@pytest.fixture(scope="module")
def cluster(real_node, kubeconfig, base_image):
    kubectl(kubeconfig, "create", "namespace", NAMESPACE)
    try:
        yield kubeconfig
    finally:
        kubectl(kubeconfig, "delete", "namespace", NAMESPACE, "--wait=false", check=False)


def test_the_node_is_ready_labelled_tainted_and_not_kwoks(real_node, kubeconfig):
    found = json.loads(kubectl(kubeconfig, "get", "node", real_node.name, "-o", "json").stdout)
    key, value = node.REAL_NODE_LABEL
    assert found["metadata"]["labels"][key] == value
    assert "kwok.x-k8s.io/node" not in found["metadata"].get("annotations", {})
    assert {"key": key, "value": value, "effect": "NoSchedule"} in found["spec"]["taints"]
    addresses = {a["type"]: a["address"] for a in found["status"]["addresses"]}
    assert addresses["InternalIP"] == node.NODE_IP
    # kwok's own nodes are still there, and Ready.
    names = kubectl(kubeconfig, "get", "nodes", "-o", "name").stdout.split()
    assert len(names) >= 3


def test_a_pod_runs_serves_logs_and_exec_and_is_found_by_service_name(cluster, base_image):
    web = pod(
        "web",
        base_image,
        ["python", "-u", "-m", "http.server", "8080"],
        readinessProbe={"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1},
    )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": NAMESPACE},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    client = pod("client", base_image, ["sleep", "3600"])
    apply(cluster, web, service, client)
    for name in ("web", "client"):
        wait_for(
            lambda name=name: any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in status_of(cluster, name).get("conditions", [])
            ),
            f"pod {name} Ready",
        )
    exec_ = kubectl(cluster, "exec", "-n", NAMESPACE, "web", "--", "python", "-c", "print(6 * 7)")
    assert exec_.stdout.strip() == "42"
    # By Service name, through CoreDNS and kube-proxy, from another pod.
    fetch = "import urllib.request; print(urllib.request.urlopen('http://web/').status)"
    got = kubectl(cluster, "exec", "-n", NAMESPACE, "client", "--", "python", "-c", fetch)
    assert got.stdout.strip() == "200"
    logs = kubectl(cluster, "logs", "-n", NAMESPACE, "web").stdout
    assert "GET / HTTP/1.1" in logs


def test_a_container_that_exits_crashes_and_restarts(cluster, base_image):
    command = [
        "python",
        "-c",
        "import sys, time; print('boom', flush=True); time.sleep(1); sys.exit(3)",
    ]
    apply(cluster, pod("crash", base_image, command))

    def crashed():
        statuses = status_of(cluster, "crash").get("containerStatuses") or []
        return statuses and statuses[0]["restartCount"] >= 1 and statuses[0]

    # kwok would have made it Running and Ready for good; here it exits and is restarted.
    found = wait_for(crashed, "a restart of the crashing container")
    last = found["lastState"]["terminated"]
    assert last["exitCode"] == 3

    def printed() -> bool:
        # Every run prints it: the previous run's log, or the current one's.
        logs = [
            kubectl(cluster, "logs", "-n", NAMESPACE, "crash", *previous, check=False)
            for previous in (["--previous"], [])
        ]
        return any("boom" in found.stdout for found in logs)

    wait_for(printed, "the crashing container's output in `kubectl logs`", timeout=30)


def test_an_image_the_registry_lacks_fails_to_pull(cluster, registry):
    apply(cluster, pod("missing", f"{registry}/nowhere/missing:1", ["true"]))

    def pull_error():
        statuses = status_of(cluster, "missing").get("containerStatuses") or []
        waiting = statuses[0]["state"].get("waiting", {}) if statuses else {}
        return waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff") and waiting

    found = wait_for(pull_error, "a pull error for an image the registry lacks")
    assert "nowhere/missing" in found.get("message", "")


def host_state() -> dict:
    """What a real node adds to the host: iptables rules, addresses, links, mounts, netns."""
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    lo = subprocess.run(["ip", "-o", "addr", "show", "lo"], capture_output=True, text=True).stdout
    netns = Path("/var/run/netns")
    return {
        "kube chains": sorted({line for line in rules.splitlines() if "KUBE-" in line}),
        "node rules": [line for line in rules.splitlines() if node.RULE_COMMENT in line],
        "node address": node.NODE_IP in lo,
        "bridge": f" {node.BRIDGE}:" in links,
        "netns": sorted(p.name for p in netns.iterdir()) if netns.is_dir() else [],
        "mounts": [
            line.split()[4]
            for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if "/node/" in line.split()[4]
        ],
    }


def test_stopping_the_node_leaves_nothing_behind_and_it_starts_again(
    real_node, kubeconfig, registry, cluster
):
    """Runs last in this module: it stops the session's real node, checks, and restarts it."""
    running = host_state()
    assert running["kube chains"] and running["node rules"]
    assert running["node address"] and running["bridge"]
    state_dir = real_node.directory.parent
    assert node.stop(state_dir)
    left = host_state()
    assert left["kube chains"] == [] and left["node rules"] == []
    assert not left["node address"] and not left["bridge"]
    assert [m for m in left["mounts"] if m.startswith(str(real_node.directory))] == []
    assert not [n for n in left["netns"] if n.startswith("cni-")]
    assert not real_node.directory.exists()
    assert node.holder() is None
    cluster_name = json.loads((state_dir / "state.json").read_text())["cluster"]
    again = node.start(state_dir, cluster_name, kubeconfig, registry)
    assert again.name == real_node.name
