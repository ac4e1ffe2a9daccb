"""Unit tests of fleet.crds: which dependencies are enabled, and their CRDs read from archives."""

import io
import tarfile
from pathlib import Path

import pytest
from helpers import write

from fleet.tools import crds

CHART = """apiVersion: v2
name: support
version: 0.1.0
dependencies:
  - {name: cert-manager, version: 1.0.0, repository: "http://x", condition: cert-manager.enabled}
  - {name: grafana, version: 1.0.0, repository: "http://x", condition: grafana.enabled}
  - {name: plain, version: 1.0.0, repository: "http://x"}
"""


def archive(path: Path, chart: str, files: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{chart}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    write(tmp_path / "Chart.yaml", CHART)
    write(tmp_path / "values.yaml", "cert-manager: {enabled: true}\ngrafana: {enabled: true}\n")
    archive(
        tmp_path / "charts/cert-manager-1.0.0.tgz",
        "cert-manager",
        {"Chart.yaml": "name: cert-manager\n", "crds/certificates.yaml": "kind: CRD\n"},
    )
    archive(
        tmp_path / "charts/grafana-1.0.0.tgz",
        "grafana",
        {"crds/dashboards.yaml": "kind: CRD\n", "templates/crds/not-a-crd.yaml": "x\n"},
    )
    return tmp_path


def test_a_cluster_can_disable_a_dependency_and_its_crds_go_with_it(chart, tmp_path):
    cluster = write(tmp_path / "cluster-support.yaml", "grafana: {enabled: false}\n")
    assert crds.enabled_dependencies(chart, []) == ["cert-manager", "grafana", "plain"]
    assert crds.enabled_dependencies(chart, [cluster]) == ["cert-manager", "plain"]
    found = crds.documents(chart, crds.enabled_dependencies(chart, [cluster]))
    assert found == {"cert-manager/crds/certificates.yaml": "kind: CRD\n"}


def test_only_the_crds_folder_at_the_top_of_a_chart_counts(chart):
    assert sorted(crds.documents(chart, ["grafana"])) == ["grafana/crds/dashboards.yaml"]
