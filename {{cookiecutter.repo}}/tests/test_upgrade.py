"""Unit tests of fleet.upgrade: one line of Chart.yaml changed, and the default values compared."""

import pytest

from fleet.core.errors import FleetError
from fleet.ops import upgrade

CHART = """# Comments stay.
apiVersion: v2
name: support
dependencies:
  - name: ingress-nginx
    version: "4.12.1"   # pinned by upgrade-chart
    repository: https://charts.example
  - repository: https://other.example
    name: cert-manager
    version: v1.17.2
"""


def test_the_version_of_one_dependency_changes_and_nothing_else():
    out = upgrade.set_version(CHART, "cert-manager", "v1.18.0")
    assert out == CHART.replace("version: v1.17.2", 'version: "v1.18.0"')
    out = upgrade.set_version(CHART, "ingress-nginx", "4.13.0")
    assert '    version: "4.13.0"   # pinned by upgrade-chart\n' in out
    assert out.count("\n") == CHART.count("\n")
    with pytest.raises(FleetError, match="no dependency named grafana"):
        upgrade.set_version(CHART, "grafana", "1.0.0")


def test_default_values_are_compared_key_by_key():
    old = {"hub": {"image": {"tag": "4.4.0"}, "old": 1}, "proxy": {"chp": {}}, "list": [1]}
    new = {
        "hub": {"image": {"tag": "4.5.0"}, "new": {"a": True}},
        "proxy": {"chp": {}},
        "list": [2],
    }
    moved = upgrade.compare(upgrade.Upgrade("chart", "jupyterhub", "4.4.0", "4.5.0"), old, new)
    assert moved.added == {"hub.new.a": True}
    assert moved.removed == {"hub.old": 1}
    assert moved.changed == {"hub.image.tag": ("4.4.0", "4.5.0"), "list": ([1], [2])}
    assert upgrade.report_lines([moved]) == [
        "chart: jupyterhub 4.4.0 -> 4.5.0; default values: 1 added, 1 removed, 2 changed",
        "  + hub.new.a: true",
        "  - hub.old (was 1)",
        '  ~ hub.image.tag: "4.4.0" -> "4.5.0"',
        "  ~ list: [1] -> [2]",
    ]
    body = upgrade.markdown([moved])
    assert "| chart | jupyterhub | 4.4.0 | 4.5.0 |" in body
    assert '| `hub.image.tag` | `"4.4.0"` → `"4.5.0"` |' in body


def test_a_dependency_the_chart_lacks_is_one_line_naming_those_it_has(tmp_path):
    (tmp_path / "Chart.yaml").write_text(CHART)
    with pytest.raises(FleetError, match="no dependency 'jupyterhub'; it has ingress-nginx, cert"):
        upgrade.upgrade(tmp_path, runner=None, only="jupyterhub")
    with pytest.raises(FleetError, match="--version needs --dependency"):
        upgrade.upgrade(tmp_path, runner=None, version="1.0.0")
