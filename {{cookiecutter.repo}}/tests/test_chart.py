"""Unit tests of fleet.chart: command lines, the support values, what validation checks, and
the support schema with the real helm."""

import shutil
from pathlib import Path

import pytest
import yaml
from helpers import FLEET_YAML, KUBECONFIG_CLUSTER, write

from fleet.core import config
from fleet.core.errors import FleetError, StepFailed
from fleet.core.runner import Runner
from fleet.core.target import Target
from fleet.tools import chart

ROOT = Path(__file__).resolve().parents[1]
SERVICE = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80}]\n"
ISSUER = "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: le}\nspec: {}\n"
MONITOR = "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: m}\n"
POLICY = (
    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
    "spec: {podSelector: {}}\n"
)


def test_template_argv_puts_the_values_files_in_order_then_the_extra_args(monkeypatch):
    monkeypatch.delenv("FLEET_HELM", raising=False)
    monkeypatch.setenv("FLEET_K8S_VERSION", "1.31.4")
    argv = chart.template_argv(
        Path("/r/support"), "support", [Path("a.yaml"), Path("b.yaml")], ["--set", "x=1"]
    )
    assert argv == [
        "helm",
        "template",
        "support",
        "/r/support",
        "--namespace",
        "support",
        "--kube-version",
        "1.31.4",
        "--values",
        "a.yaml",
        "--values",
        "b.yaml",
        "--set",
        "x=1",
    ]


def test_custom_resources_are_the_objects_of_groups_kubernetes_does_not_have():
    text = "---\n".join([SERVICE, ISSUER, POLICY, MONITOR, "apiVersion: apps/v1\nkind: X\n"])
    assert chart.custom_resources(text) == ["ClusterIssuer/le", "ServiceMonitor/m"]


def test_validation_leaves_custom_resources_out_and_still_checks_the_rest():
    assert chart.validate_manifests("---\n".join([SERVICE, ISSUER, POLICY]), "a", "staging") == 2
    bad = SERVICE.replace("port: 80", "port: eighty")
    with pytest.raises(FleetError, match=r"cluster main support: Service/web: field spec\.ports"):
        chart.validate_manifests(ISSUER + "---\n" + bad, "", "", label="cluster main support")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write(tmp_path / "fleet.yaml", FLEET_YAML)
    write(tmp_path / "clusters/main/cluster.yaml", KUBECONFIG_CLUSTER)
    write(tmp_path / "clusters/east/cluster.yaml", KUBECONFIG_CLUSTER)
    write(tmp_path / "clusters/east/support.yaml", "prometheus: {enabled: false}\n")
    return tmp_path


def test_support_values_files_are_the_clusters_own_then_its_secrets(repo):
    fleet = config.load(repo)
    secrets = Path("/private/secrets.yaml")
    east = fleet.clusters["east"]
    assert Target.support(fleet, "east").values_files(secrets) == [east.support_values, secrets]
    assert Target.support(fleet, "main").values_files(secrets) == [secrets]


def test_an_unknown_cluster_is_named_with_the_valid_ones(repo):
    with pytest.raises(FleetError, match="unknown cluster 'west'; valid clusters: east, main"):
        Target.support(config.load(repo), "west")


@pytest.fixture
def support_repo(repo: Path) -> Path:
    """The repo's own support values and schema, with a template instead of the dependencies."""
    support = repo / "support"
    write(support / "Chart.yaml", "apiVersion: v2\nname: support\nversion: 0.1.0\n")
    for name in ("values.yaml", "values.schema.json"):
        shutil.copy(ROOT / "support" / name, support / name)
    write(support / "templates/on.yaml", ON_TEMPLATE)
    return repo


# One ConfigMap listing which dependencies are on.
ON_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: enabled
data:
{{- range $name, $values := .Values }}
{{- if and (kindIs "map" $values) (hasKey $values "enabled") }}
  {{ $name }}: {{ $values.enabled | quote }}
{{- end }}
{{- end }}
"""


def test_the_support_schema_takes_a_clusters_values_and_names_a_typo(support_repo):
    fleet = config.load(support_repo)
    runner = Runner(echo=False)
    east = fleet.clusters["east"]
    rendered = chart.template(Target.support(fleet, "east"), [east.support_values], runner)
    assert yaml.safe_load(rendered)["data"] == {
        "cert-manager": "true",
        "grafana": "true",
        "ingress-nginx": "true",
        "prometheus": "false",
    }
    chart.lint(fleet, runner, fleet.support_chart)
    east.support_values.write_text("ingres-nginx:\n  enabled: false\n")
    with pytest.raises(StepFailed, match="cluster east") as raised:
        chart.template(Target.support(fleet, "east"), [east.support_values], runner)
    assert "additional properties 'ingres-nginx' not allowed" in str(raised.value)
    east.support_values.write_text("grafana:\n  enabled: maybe\n")
    with pytest.raises(StepFailed, match="grafana"):
        chart.template(Target.support(fleet, "east"), [east.support_values], runner)


@pytest.mark.parametrize("locked", [False, True])
def test_an_unreachable_chart_repository_says_what_to_do_in_one_line(tmp_path, locked):
    """helm's own error ends in a hint (`helm repo update`) that fails the same way offline."""
    write(tmp_path / "fleet.yaml", FLEET_YAML)
    write(tmp_path / "clusters/main/cluster.yaml", KUBECONFIG_CLUSTER)
    deps = "dependencies:\n- {name: jupyterhub, version: 4.4.0, repository: 'http://127.0.0.1:9'}\n"
    write(tmp_path / "chart/Chart.yaml", f"apiVersion: v2\nname: hub\nversion: 0.1.0\n{deps}")
    if locked:
        write(
            tmp_path / "chart/Chart.lock",
            deps + "digest: sha256:0\ngenerated: '2026-01-01T00:00:00Z'\n",
        )
    with pytest.raises(FleetError) as error:
        chart.dependency_build(config.load(tmp_path), Runner(echo=False))
    message = str(error.value)
    assert message.startswith(
        "chart/Chart.yaml: its dependencies cannot be fetched from http://127.0.0.1:9 ("
    )
    assert "connection refused" in message
    assert "offline, copy the archives Chart.lock names into chart/charts/" in message
    assert "helm repo update" not in message and "\n" not in message
