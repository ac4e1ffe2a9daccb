"""The chart's images under a registry mirror: names, which images, per-cluster overrides."""

import pytest
from helpers import FLEET_YAML, KUBECONFIG_CLUSTER, write

from fleet.core import config
from fleet.core.errors import FleetError
from fleet.tools import mirror

DEFAULTS = {
    "hub": {"image": {"name": "quay.io/jupyterhub/k8s-hub", "tag": "4.4.0"}},
    "proxy": {
        "chp": {"image": {"name": "quay.io/jupyterhub/configurable-http-proxy", "tag": "5.2.0"}},
        "traefik": {"image": {"name": "traefik", "tag": "v3.4.1"}},
        "https": {"enabled": False},
    },
    "scheduling": {
        "userScheduler": {
            "enabled": True,
            "image": {"name": "registry.k8s.io/kube-scheduler", "tag": "v1.30.14"},
        },
        "userPlaceholder": {
            "enabled": True,
            "image": {"name": "registry.k8s.io/pause", "tag": "3.10.1"},
        },
    },
    "singleuser": {"image": {"name": "quay.io/jupyterhub/k8s-singleuser-sample", "tag": "4.4.0"}},
}


def make_fleet(tmp_path, fleet_extra="", cluster_extra="", hub_values="", chart_values=""):
    write(tmp_path / "fleet.yaml", FLEET_YAML + fleet_extra)
    write(tmp_path / "clusters" / "main" / "cluster.yaml", KUBECONFIG_CLUSTER + cluster_extra)
    write(tmp_path / "clusters" / "other" / "cluster.yaml", KUBECONFIG_CLUSTER)
    write(tmp_path / "hubs" / "alpha" / "hub.yaml", "cluster: main\n")
    write(tmp_path / "hubs" / "beta" / "hub.yaml", "cluster: other\n")
    write(tmp_path / "hubs" / "alpha" / "values.yaml", hub_values)
    write(tmp_path / "chart" / "values.yaml", chart_values)
    return config.load(tmp_path)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("quay.io/jupyterhub/k8s-hub", "m.example/hub/jupyterhub/k8s-hub"),
        ("registry.k8s.io/pause", "m.example/hub/pause"),
        ("127.0.0.1:5000/a/b", "m.example/hub/a/b"),
        ("traefik", "m.example/hub/library/traefik"),
        ("someorg/tool", "m.example/hub/someorg/tool"),
    ],
)
def test_a_name_keeps_its_path_without_the_registry_host(name, expected):
    assert mirror.mirrored(name, "m.example/hub/") == expected


def test_without_a_mirror_no_image_is_renamed(tmp_path):
    fleet = make_fleet(tmp_path)
    assert mirror.flags(fleet, fleet.hub("alpha"), "staging", DEFAULTS) == []


def test_the_fleet_mirror_renames_every_chart_image_but_the_user_image(tmp_path):
    fleet = make_fleet(tmp_path, fleet_extra="image_mirror: m.example/z2jh\n")
    argv = mirror.flags(fleet, fleet.hub("beta"), "staging", DEFAULTS)
    names = dict(a.removeprefix("jupyterhub.").split("=") for a in argv[1::2])
    assert names == {
        "hub.image.name": "m.example/z2jh/jupyterhub/k8s-hub",
        "proxy.chp.image.name": "m.example/z2jh/jupyterhub/configurable-http-proxy",
        "scheduling.userScheduler.image.name": "m.example/z2jh/kube-scheduler",
        "scheduling.userPlaceholder.image.name": "m.example/z2jh/pause",
    }
    assert set(argv[0::2]) == {"--set-string"}


def test_a_cluster_mirror_overrides_the_fleets_and_empty_turns_it_off(tmp_path):
    fleet = make_fleet(
        tmp_path, fleet_extra="image_mirror: m.example/a\n", cluster_extra='image_mirror: ""\n'
    )
    assert mirror.flags(fleet, fleet.hub("alpha"), "staging", DEFAULTS) == []
    assert "m.example/a/jupyterhub/k8s-hub" in " ".join(
        mirror.flags(fleet, fleet.hub("beta"), "staging", DEFAULTS)
    )


def test_an_image_a_hub_names_itself_is_not_renamed_and_tags_come_from_the_values(tmp_path):
    fleet = make_fleet(
        tmp_path,
        fleet_extra="image_mirror: m.example/a\n",
        hub_values="jupyterhub:\n  hub:\n    image: {name: ghcr.io/org/my-hub, tag: '1'}\n",
        chart_values="jupyterhub:\n  scheduling:\n    userScheduler:\n      image: {tag: v1.32.2}\n",
    )
    found = mirror.chart_images(fleet, fleet.hub("alpha"), "staging", DEFAULTS)
    assert "hub.image" not in found
    assert found["scheduling.userScheduler.image"] == ("registry.k8s.io/kube-scheduler", "v1.32.2")
    wanted = mirror.copies(fleet, DEFAULTS, source="127.0.0.1:5000/up")
    assert (
        wanted["m.example/a/kube-scheduler:v1.32.2"] == "127.0.0.1:5000/up/kube-scheduler:v1.32.2"
    )
    # beta keeps the chart's hub image, so the mirror needs it; alpha's own is not copied.
    assert "m.example/a/jupyterhub/k8s-hub:4.4.0" in wanted
    assert not any("my-hub" in ref for ref in [*wanted, *wanted.values()])


def test_a_mirror_that_is_not_a_registry_path_names_the_file_and_field(tmp_path):
    with pytest.raises(FleetError, match=r"cluster.yaml: field image_mirror"):
        make_fleet(tmp_path, cluster_extra="image_mirror: 'https://m.example/a'\n")


def test_an_image_no_pod_runs_is_not_mirrored_until_its_part_is_enabled(tmp_path):
    https = "jupyterhub:\n  proxy:\n    https: {enabled: true}\n"
    off = "jupyterhub:\n  scheduling:\n    userScheduler: {enabled: false}\n"
    fleet = make_fleet(tmp_path, fleet_extra="image_mirror: m.example/a\n", hub_values=https)
    alpha = mirror.chart_images(fleet, fleet.hub("alpha"), "staging", DEFAULTS)
    beta = mirror.chart_images(fleet, fleet.hub("beta"), "staging", DEFAULTS)
    assert alpha["proxy.traefik.image"] == ("traefik", "v3.4.1")
    assert "proxy.traefik.image" not in beta
    (tmp_path / "hubs" / "alpha" / "values.yaml").write_text(off)
    fleet = config.load(tmp_path)
    alpha = mirror.chart_images(fleet, fleet.hub("alpha"), "staging", DEFAULTS)
    assert "scheduling.userScheduler.image" not in alpha
    assert "scheduling.userPlaceholder.image" in alpha
