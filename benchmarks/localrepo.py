"""What the benchmarks share: a generated repo wired to a local stack, and the env its tasks use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the template and its test helpers

from bake import bake  # noqa: E402

from toolchain import cache, stack, versions  # noqa: E402


def generate(up: stack.Stack, work: Path, hubs: str, helm: str) -> tuple[Path, dict[str, str]]:
    """Bake a repo whose registry, chart repository, cluster and age key are local; (repo, env)."""
    key = work / "age.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = next(
        line.split(":", 1)[1].strip()
        for line in key.read_text().splitlines()
        if "public key" in line
    )
    repo = bake(
        work,
        org_name="Bench",
        hubs=hubs,
        registry=f"{up.registry.address}/bench",
        jupyterhub_chart_repository=up.chart_repo.url,
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
