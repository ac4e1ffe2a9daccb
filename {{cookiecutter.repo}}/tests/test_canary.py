"""Unit tests of fleet.canary's fingerprints: what staging and prod share, and what they do not."""

from pathlib import Path

import pytest
from helpers import FLEET_YAML, KUBECONFIG_CLUSTER, write

from fleet.core import config
from fleet.release import canary


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write(tmp_path / "fleet.yaml", FLEET_YAML)
    write(tmp_path / "clusters/main/cluster.yaml", KUBECONFIG_CLUSTER)
    write(tmp_path / "images/default/Dockerfile", "FROM x\n")
    write(tmp_path / "hubs/alpha/hub.yaml", "cluster: main\nimage: default\n")
    write(tmp_path / "hubs/alpha/values.yaml", "jupyterhub: {}\n")
    write(tmp_path / "hubs/alpha/prod.yaml", "jupyterhub: {}\n")
    write(tmp_path / "chart/Chart.yaml", "name: hub\n")
    write(tmp_path / "fleet/deploy.py", "# the package\n")
    return tmp_path


def prints(root: Path) -> dict[str, str]:
    fleet = config.load(root)
    return canary.fingerprints(fleet, fleet.hub("alpha"))


@pytest.mark.parametrize(
    ("path", "text", "changed"),
    [
        ("hubs/alpha/values.yaml", "jupyterhub: {hub: {}}\n", {"fleet-in-config"}),
        ("images/default/Dockerfile", "FROM y\n", {"fleet-in-image"}),
        ("chart/values.yaml", "x: 1\n", {"fleet-in-chart"}),
        ("fleet/plan.py", "# more\n", {"fleet-in-package"}),
        # What prod alone has, and what is not an input, changes nothing.
        ("hubs/alpha/prod.yaml", "jupyterhub: {prod: true}\n", set()),
        ("hubs/alpha/secrets/prod.yaml", "sops: {}\n", set()),
        ("chart/charts/jupyterhub-4.4.0.tgz", "archive", set()),
        ("fleet/__pycache__/deploy.cpython-311.pyc", "bytes", set()),
    ],
)
def test_a_fingerprint_changes_with_its_inputs_only(root, path, text, changed):
    before = prints(root)
    write(root / path, text)
    after = prints(root)
    assert {key for key in before if before[key] != after[key]} == changed
    assert set(after) == set(canary.INPUTS)
    assert all(len(value) == 12 for value in after.values())
