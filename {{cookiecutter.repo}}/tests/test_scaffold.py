"""Unit tests of fleet.scaffold: names, skeleton, cluster settings, new cluster (real sops, age)."""

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from fleet.core import config
from fleet.core.errors import FleetError, StepFailed
from fleet.core.runner import Runner
from fleet.ops import scaffold
from fleet.tools import sops


def test_check_name():
    assert scaffold.check_name("hub", "a" * 45, scaffold.HUB_MAX) == "a" * 45
    with pytest.raises(FleetError, match="46 characters, at most 45"):
        scaffold.check_name("hub", "a" * 46, scaffold.HUB_MAX)
    with pytest.raises(FleetError, match="'Hub_1': not a DNS-1123 label"):
        scaffold.check_name("hub", "Hub_1")


def test_skeleton_renders_valid_hub_files():
    files = scaffold.render_skeleton(
        "hub", hub="alpha", cluster="main", image="default", domain="x.org"
    )
    assert set(files) == {"hub.yaml", "values.yaml", "staging.yaml", "prod.yaml"}
    config.validate(yaml.safe_load(files["hub.yaml"]), "hub", "hub.yaml")
    assert yaml.safe_load(files["staging.yaml"])["jupyterhub"]["ingress"]["hosts"] == [
        "alpha.staging.x.org"
    ]
    assert yaml.safe_load(files["prod.yaml"])["jupyterhub"]["ingress"]["hosts"] == ["alpha.x.org"]


def test_initial_secrets_are_random_per_call():
    first, second = scaffold.initial_secrets(), scaffold.initial_secrets()
    assert len(first["jupyterhub"]["hub"]["cookieSecret"]) == 64
    assert first != second


@pytest.mark.parametrize(
    ("provider", "fields"),
    [
        ("kubeconfig", {}),
        ("gcp", {"project": "my-project", "location": "us-central1"}),
        ("aws", {"location": "us-east-1"}),
        ("azure", {"resource_group": "rg"}),
    ],
)
def test_cluster_settings_validate(provider, fields):
    doc = scaffold.cluster_settings(provider, "east", **fields)
    assert config.validate(doc, "cluster", "cluster.yaml")["provider"] == provider


def test_cluster_settings_name_the_missing_option():
    with pytest.raises(FleetError, match="provider gcp needs --project"):
        scaffold.cluster_settings("gcp", "east", location="us-central1")


@pytest.fixture
def age_repo(tmp_path, monkeypatch):
    """A repo folder with a fleet.yaml and a new age key that sops encrypts secrets/ for."""
    key = tmp_path / "age.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = subprocess.run(
        ["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True
    ).stdout.strip()
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key))
    (tmp_path / "fleet.yaml").write_text(
        "registry: ghcr.io/o\ndomain: x.org\nsecrets_backend: age\n"
    )
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: (^|/)secrets/\n    age: {public}\n"
    )
    return tmp_path


def test_new_cluster_writes_a_valid_file_and_its_support_values_and_secrets(tmp_path, age_repo):
    path = scaffold.new_cluster(tmp_path, "east", "aws", location="eu-west-1")
    fleet = config.load(tmp_path)
    east = fleet.clusters["east"]
    assert east.settings == {"cluster": "east", "region": "eu-west-1"}
    assert path.read_text().startswith("# How deploys reach cluster east.")
    assert "invoke deploy --support --cluster east" in east.support_values.read_text()
    assert sops.is_encrypted(east.support_secrets)
    decrypted = yaml.safe_load(sops.decrypt_text(tmp_path, east.support_secrets, Runner()))
    assert len(decrypted["grafana"]["adminPassword"]) >= 24
    with pytest.raises(FleetError, match="already exists"):
        scaffold.new_cluster(tmp_path, "east")


def test_a_new_cluster_whose_secrets_cannot_be_encrypted_leaves_nothing(tmp_path):
    (tmp_path / "fleet.yaml").write_text(
        "registry: ghcr.io/o\ndomain: x.org\nsecrets_backend: age\n"
    )
    with pytest.raises(StepFailed, match="sops encrypt clusters/east/secrets/support.yaml"):
        scaffold.new_cluster(tmp_path, "east", "aws", location="eu-west-1")
    assert not (tmp_path / "clusters" / "east").exists()


def test_a_new_clusters_support_values_and_the_defaults_meet_the_support_schema():
    root = Path(__file__).resolve().parents[1]
    schema = json.loads((root / "support/values.schema.json").read_text())
    made = yaml.safe_load(scaffold.render_skeleton("cluster", cluster="east")["support.yaml"])
    for values in (made, yaml.safe_load((root / "support/values.yaml").read_text())):
        jsonschema.validate(values, schema)
    with pytest.raises(jsonschema.ValidationError, match="'ingres-nginx' was unexpected"):
        jsonschema.validate({"ingres-nginx": {"enabled": False}}, schema)
    with pytest.raises(jsonschema.ValidationError, match="'maybe' is not of type 'boolean'"):
        jsonschema.validate({"grafana": {"enabled": "maybe"}}, schema)


def test_initial_secrets_hold_every_secret_the_chart_would_generate():
    made = scaffold.initial_secrets()["jupyterhub"]
    assert len(made["proxy"]["secretToken"]) == 64
    (key,) = made["hub"]["config"]["CryptKeeper"]["keys"]
    assert len(key) == 64 and int(key, 16) >= 0


def test_complete_secrets_adds_only_what_a_hubs_secrets_lack(tmp_path, age_repo):
    (tmp_path / "clusters" / "main").mkdir(parents=True)
    (tmp_path / "clusters" / "main" / "cluster.yaml").write_text(
        "provider: kubeconfig\nkubeconfig: {path: /k}\n"
    )
    hub = tmp_path / "hubs" / "alpha"
    (hub / "secrets").mkdir(parents=True)
    (hub / "hub.yaml").write_text("cluster: main\nenvironments: [staging]\n")
    old = "jupyterhub:\n  hub:\n    cookieSecret: kept-as-it-was\n"
    path = hub / "secrets" / "staging.yaml"
    path.write_text(sops.encrypt_text(tmp_path, "hubs/alpha/secrets/staging.yaml", old))
    fleet = config.load(tmp_path)

    lines = scaffold.complete_secrets(fleet, Runner(echo=False))
    assert lines == ["alpha/staging: added proxy.secretToken, hub.config.CryptKeeper.keys"]
    assert sops.is_encrypted(path)
    values = yaml.safe_load(sops.decrypt_text(tmp_path, path, Runner()))["jupyterhub"]
    assert values["hub"]["cookieSecret"] == "kept-as-it-was"
    assert len(values["proxy"]["secretToken"]) == 64
    assert len(values["hub"]["config"]["CryptKeeper"]["keys"]) == 1
    assert scaffold.complete_secrets(fleet, Runner(echo=False)) == ["alpha/staging: complete"]
