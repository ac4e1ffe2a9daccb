"""Unit tests of fleet.checks with the real helm: renders in parallel, reported in hub order."""

from pathlib import Path

import pytest
from helpers import FLEET_YAML, KUBECONFIG_CLUSTER, write

from fleet.core import config
from fleet.core.errors import FleetError
from fleet.core.runner import Runner
from fleet.ops import checks

# A ConfigMap whose data comes from the hub's values: a map inside is not a string, which the
# Kubernetes schema rejects (helm renders it happily).
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
{{ toYaml .Values.data | indent 2 }}
"""
HUBS = [f"h{n:02}" for n in range(6)]


@pytest.fixture
def fleet(tmp_path: Path):
    write(tmp_path / "fleet.yaml", FLEET_YAML)
    write(tmp_path / "clusters/main/cluster.yaml", KUBECONFIG_CLUSTER)
    write(tmp_path / "chart/Chart.yaml", "apiVersion: v2\nname: hub\nversion: 0.1.0\n")
    write(tmp_path / "chart/templates/data.yaml", CONFIGMAP)
    for hub in HUBS:
        write(tmp_path / f"hubs/{hub}/hub.yaml", "cluster: main\n")
        write(tmp_path / f"hubs/{hub}/values.yaml", f"data:\n  name: {hub}\n")
    write(tmp_path / "hubs/h03/prod.yaml", "data:\n  nested: {not: a string}\n")
    return config.load(tmp_path)


def test_parallel_renders_come_back_in_hub_order_with_the_broken_one_named(fleet):
    hubs = list(fleet.hubs.values())
    serial = checks.check_all(fleet, hubs, [], Runner(echo=False), jobs=1)
    parallel = checks.check_all(fleet, hubs, [], Runner(echo=False), jobs=4)
    assert parallel == serial
    assert [c.label for c in parallel] == [
        f"hub {hub} env {env}" for hub in HUBS for env in ("staging", "prod")
    ]
    broken = [c for c in parallel if c.error]
    assert [c.label for c in broken] == ["hub h03 env prod"]
    assert "ConfigMap/h03-prod: field data.nested" in broken[0].error
    assert all(c.valid == "1 objects valid (no secrets file)" for c in parallel if not c.error)


def test_jobs_come_from_fleet_jobs_or_the_cores():
    assert checks.default_jobs({"FLEET_JOBS": "3"}) == 3
    assert checks.default_jobs({}) >= 1
    with pytest.raises(FleetError, match="FLEET_JOBS='zero'"):
        checks.default_jobs({"FLEET_JOBS": "zero"})
