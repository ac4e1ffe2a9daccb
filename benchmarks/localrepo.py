"""What the benchmarks share: a generated repo wired to a local stack, and the env its tasks use."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the template and its test helpers

from bake import bake  # noqa: E402

from toolchain import cache, chartrepo, kwok, stack, versions  # noqa: E402

# Pods of one hub of the real jupyterhub chart on fake nodes: hub, proxy, two user-schedulers,
# and a continuous image puller per node (two nodes here).
PODS_PER_HUB = 6


def fit_hubs(up: stack.Stack, hubs: int) -> None:
    """Room on the stack's two fake nodes for `hubs` hubs in one environment: new nodes that
    take as many pods as needed (a kubelet takes 110 by default; a fleet's cluster would add
    nodes instead, each of which adds a continuous image puller to every hub)."""
    kwok.scale_nodes(up.cluster.name, 0)
    deadline = time.monotonic() + 60
    while kwok.ready_nodes(up.cluster) and time.monotonic() < deadline:
        time.sleep(0.5)
    kwok.scale_nodes(up.cluster.name, 2, pods=max(110, hubs * PODS_PER_HUB // 2 + 20))
    while kwok.ready_nodes(up.cluster) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)


def with_memory_db(values: str) -> str:
    """A hub's values.yaml text with an in-memory hub database (kwok's fake nodes have no
    storage), merged into its `jupyterhub.hub` rather than a second `hub:` key after it."""
    doc = yaml.safe_load(values) or {}
    hub = doc.setdefault("jupyterhub", {}).setdefault("hub", {})
    hub.setdefault("db", {})["type"] = "sqlite-memory"
    return yaml.safe_dump(doc, sort_keys=False)


def generate(up: stack.Stack, work: Path, hubs: str, helm: str) -> tuple[Path, dict[str, str]]:
    """Bake a repo whose registry, chart repository, cluster and age key are local; (repo, env)."""
    key = work / "age.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = next(
        line.split(":", 1)[1].strip()
        for line in key.read_text().splitlines()
        if "public key" in line
    )
    # Every image the jupyterhub chart runs, from a mirror in the stack's registry.
    mirror = f"{up.registry.address}/mirror"
    chartrepo.push_mirror(mirror)
    repo = bake(
        work,
        org_name="Bench",
        image_mirror=mirror,
        hubs=hubs,
        registry=f"{up.registry.address}/bench",
        jupyterhub_chart_repository=up.chart_repo.url,
        support_chart_repository=up.chart_repo.url,
        sops_recipient=public,
    )
    env = {
        "FLEET_KUBECONFIG": str(up.cluster.kubeconfig),
        "FLEET_HELM": str(cache.bin_dir() / helm),
        "FLEET_BASE_IMAGE": versions.BASE_IMAGE,
        "SOPS_AGE_KEY_FILE": str(key),
        # The hubs run on kwok's fake nodes (or crash on purpose): nothing serves to check.
        "FLEET_HEALTH_CHECK": "off",
    }
    return repo, env


def spread(repo: Path, hubs: list[str], clusters: list[str], kubeconfig: Path) -> dict[str, str]:
    """Cluster definitions (as `invoke new-cluster` makes them) all reaching one control plane,
    the hubs round-robin over them, committed; returns each hub's values.yaml text."""
    for name in clusters:
        folder = repo / "clusters" / name
        (folder / "secrets").mkdir(parents=True)
        (folder / "cluster.yaml").write_text(
            f"provider: kubeconfig\nkubeconfig:\n  path: {kubeconfig}\n"
        )
        for part in ("support.yaml", "secrets/support.yaml"):
            shutil.copy(repo / "clusters/main" / part, folder / part)
    shutil.rmtree(repo / "clusters/main")
    values = {}
    for number, hub in enumerate(hubs):
        path = repo / "hubs" / hub / "hub.yaml"
        cluster = clusters[number % len(clusters)]
        path.write_text(path.read_text().replace("cluster: main", f"cluster: {cluster}"))
        # No volume on fake nodes: a PVC would never bind and helm --wait would wait for it.
        text = (repo / "hubs" / hub / "values.yaml").read_text()
        values[hub] = with_memory_db(text)
        (repo / "hubs" / hub / "values.yaml").write_text(values[hub])
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "bench: clusters"], cwd=repo, check=True)
    return values
