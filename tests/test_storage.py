"""Storage on the real node: a PVC that names no StorageClass binds, and its data outlives pods.

The real node brings the cluster's default StorageClass, `local-path`, whose volumes are
directories of the node's state dir made by local-path-provisioner (toolchain/storage.py). A pod
pinned to the node writes to a claim, a second pod reads it back, and deleting the claim
deletes its volume and directory. Stopping the node leaves no provisioner, class or volume.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from toolchain import node, procs, storage

pytestmark = [pytest.mark.smoke, pytest.mark.timeout(600)]

NAMESPACE = "storage-smoke"


def kubectl(kubeconfig: Path, *args: str, check: bool = True, stdin: str | None = None):
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


def get(kubeconfig: Path, kind: str, name: str, *, namespace: str | None = NAMESPACE) -> dict:
    scope = ["-n", namespace] if namespace else []
    found = kubectl(kubeconfig, "get", kind, name, *scope, "-o", "json", "--ignore-not-found")
    return json.loads(found.stdout) if found.stdout.strip() else {}


def apply(kubeconfig: Path, *docs: dict) -> None:
    kubectl(kubeconfig, "apply", "-f", "-", stdin="\n".join(json.dumps(d) for d in docs))


def claim(name: str) -> dict:
    """A claim as the jupyterhub chart makes them: no storageClassName at all."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def pod(name: str, image: str, script: str, claim_name: str, *, real: bool = True) -> dict:
    """A pod that runs script with the claim mounted at /data; pinned to the real node if real."""
    key, value = node.REAL_NODE_LABEL
    spec = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 1,
        "containers": [
            {
                "name": "main",
                "image": image,
                "command": ["sh", "-c", script],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }
        ],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}],
    }
    if real:
        spec["nodeSelector"] = {key: value}
        spec["tolerations"] = [{"key": key, "operator": "Equal", "value": value}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


def wait_for(check, what: str, timeout: float = 120, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f}s")


def finished(kubeconfig: Path, name: str) -> dict:
    """The pod once it has Succeeded or Failed."""

    def done():
        found = get(kubeconfig, "pod", name)
        return found if found.get("status", {}).get("phase") in ("Succeeded", "Failed") else None

    return wait_for(done, f"pod {name} finished")


@pytest.fixture(scope="module")
def cluster(real_node, kubeconfig):
    kubectl(kubeconfig, "create", "namespace", NAMESPACE)
    try:
        yield kubeconfig
    finally:
        kubectl(kubeconfig, "delete", "namespace", NAMESPACE, "--wait=false", check=False)


def test_the_cluster_default_storage_class_is_local_path_on_the_real_node(real_node, kubeconfig):
    assert storage.default_classes(kubeconfig) == [storage.STORAGE_CLASS]
    found = get(kubeconfig, "storageclass", storage.STORAGE_CLASS, namespace=None)
    assert found["provisioner"] == storage.PROVISIONER_NAME
    assert found["volumeBindingMode"] == "WaitForFirstConsumer"
    assert found["reclaimPolicy"] == "Delete"
    assert storage.provisioner_running(real_node.directory)
    assert storage.volumes_dir(real_node.directory).is_dir()


def test_a_claim_without_a_class_binds_keeps_its_data_across_pods_and_is_deleted(
    real_node, cluster, base_image
):
    token = uuid.uuid4().hex
    apply(cluster, claim("home"))
    created = get(cluster, "pvc", "home")
    assert created["spec"]["storageClassName"] == storage.STORAGE_CLASS
    # WaitForFirstConsumer: no volume before a pod uses the claim.
    time.sleep(2)
    assert get(cluster, "pvc", "home")["status"]["phase"] == "Pending"
    assert not get(cluster, "pvc", "home")["spec"].get("volumeName")

    started = time.monotonic()
    apply(cluster, pod("writer", base_image, f"printf %s {token} > /data/token", "home"))
    bound = wait_for(
        lambda: (found := get(cluster, "pvc", "home"))["status"]["phase"] == "Bound" and found,
        "the claim Bound",
    )
    bind_seconds = time.monotonic() - started
    print(f"\nclaim bound {bind_seconds:.1f}s after its first pod was created")
    written = finished(cluster, "writer")
    assert written["status"]["phase"] == "Succeeded", written["status"]
    assert written["spec"]["nodeName"] == real_node.name

    volume = bound["spec"]["volumeName"]
    pv = get(cluster, "pv", volume, namespace=None)
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert pv["spec"]["storageClassName"] == storage.STORAGE_CLASS
    terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == [real_node.name]
    directory = Path(pv["spec"]["hostPath"]["path"])
    assert directory.parent == storage.volumes_dir(real_node.directory)
    # The data is in the node's state dir on this machine, not in the pod's own filesystem.
    assert (directory / "token").read_text() == token

    kubectl(cluster, "delete", "pod", "writer", "-n", NAMESPACE, "--wait=true")
    apply(cluster, pod("reader", base_image, "cat /data/token", "home"))
    read = finished(cluster, "reader")
    assert read["status"]["phase"] == "Succeeded", read["status"]
    logs = kubectl(cluster, "logs", "-n", NAMESPACE, "reader").stdout
    assert logs == token

    kubectl(cluster, "delete", "pod", "reader", "-n", NAMESPACE, "--wait=true")
    kubectl(cluster, "delete", "pvc", "home", "-n", NAMESPACE, "--wait=true")
    wait_for(lambda: not get(cluster, "pv", volume, namespace=None), f"volume {volume} deleted")
    wait_for(lambda: not directory.exists(), f"{directory} removed")
    # The provisioner deletes its helper pods once they are done.
    wait_for(
        lambda: not kubectl(cluster, "get", "pods", "-n", storage.NAMESPACE, "-o", "name").stdout,
        "no helper pods left",
        timeout=30,
    )


def test_a_claim_for_a_pod_on_a_fake_node_fails_to_provision_saying_why(cluster, base_image):
    """kwok's nodes have no disks: the provisioner refuses rather than wait on a fake helper."""
    apply(cluster, claim("fake"), pod("on-fake", base_image, "true", "fake", real=False))

    def refused():
        events = kubectl(
            cluster,
            "get",
            "events",
            "-n",
            NAMESPACE,
            "--field-selector",
            "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=fake",
            "-o",
            "json",
        )
        return [
            e["message"]
            for e in json.loads(events.stdout)["items"]
            if e["reason"] == "ProvisioningFailed"
        ]

    messages = wait_for(refused, "a ProvisioningFailed event for the claim", timeout=90)
    assert "config doesn't contain node" in messages[0]
    assert get(cluster, "pvc", "fake")["status"]["phase"] == "Pending"
    kubectl(cluster, "delete", "pod", "on-fake", "-n", NAMESPACE, "--wait=false")
    kubectl(cluster, "delete", "pvc", "fake", "-n", NAMESPACE, "--wait=false")


def test_stopping_the_node_removes_provisioner_class_and_volumes_then_it_starts_again(
    real_node, kubeconfig, registry, cluster
):
    """Runs last in this module: it stops the session's real node, checks, and restarts it."""
    pid = procs.recorded_pid(real_node.directory / "pids" / f"{storage.PROVISIONER}.pid")
    assert pid
    volumes = storage.volumes_dir(real_node.directory)
    state_dir = real_node.directory.parent
    assert node.stop(state_dir)
    assert not Path(f"/proc/{pid}").exists()
    assert not volumes.exists()
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    assert [m for m in mounts if m.startswith(str(real_node.directory))] == []
    assert get(kubeconfig, "storageclass", storage.STORAGE_CLASS, namespace=None) == {}
    cluster_name = json.loads((state_dir / "state.json").read_text())["cluster"]
    node.start(state_dir, cluster_name, kubeconfig, registry)
    assert storage.default_classes(kubeconfig) == [storage.STORAGE_CLASS]
    assert storage.provisioner_running(real_node.directory)
