"""Unit tests of fleet.credentials: the cloud CLIs' argv (they cannot run here) and the kubeconfig
provider's choice of source. The kubeconfig copy itself runs the real kubectl."""

import stat
import tempfile
from pathlib import Path

import pytest
import yaml

from fleet import credentials
from fleet.config import Cluster
from fleet.errors import FleetError
from fleet.runner import Runner


def test_gcp_zone_and_region():
    zonal = credentials.gcp_argv(
        {"project": "my-proj", "cluster": "hubs", "location": "us-central1-b"}
    )
    assert zonal == [
        "gcloud",
        "container",
        "clusters",
        "get-credentials",
        "hubs",
        "--zone",
        "us-central1-b",
        "--project",
        "my-proj",
    ]
    regional = credentials.gcp_argv(
        {"project": "my-proj", "cluster": "hubs", "location": "europe-west1"}
    )
    assert regional[5:7] == ["--region", "europe-west1"]


def test_aws_argv_writes_only_the_temp_file():
    argv = credentials.aws_argv(
        {"cluster": "hubs", "region": "us-west-2"}, Path("/tmp/k/kubeconfig")
    )
    assert argv == [
        "aws",
        "eks",
        "update-kubeconfig",
        "--name",
        "hubs",
        "--region",
        "us-west-2",
        "--kubeconfig",
        "/tmp/k/kubeconfig",
    ]
    role = "arn:aws:iam::123456789012:role/deployer"
    argv = credentials.aws_argv(
        {"cluster": "hubs", "region": "us-west-2", "role_arn": role}, Path("/k")
    )
    assert argv[-2:] == ["--role-arn", role]


def test_azure_argv_writes_only_the_temp_file():
    argv = credentials.azure_argv(
        {"cluster": "hubs", "resource_group": "rg"}, Path("/tmp/k/kubeconfig")
    )
    assert argv[:3] == ["az", "aks", "get-credentials"]
    assert argv[argv.index("--file") + 1] == "/tmp/k/kubeconfig"
    assert argv[argv.index("--resource-group") + 1] == "rg"


def cluster(tmp_path, **settings):
    return Cluster("main", tmp_path / "clusters" / "main", "kubeconfig", settings)


def test_kubeconfig_source_precedence(tmp_path):
    c = cluster(tmp_path, path="~/k.yaml", context="ctx")
    assert credentials.kubeconfig_source(c, credentials.Access("/ci/kube", "other")) == (
        "path",
        "/ci/kube",
        "other",
    )
    kind, path, context = credentials.kubeconfig_source(c, credentials.Access())
    assert kind == "path" and path == str(Path("~/k.yaml").expanduser()) and context == "ctx"
    enc = cluster(tmp_path, encrypted="secrets/kubeconfig.yaml")
    with pytest.raises(FleetError, match="cluster.yaml: field kubeconfig"):
        credentials.kubeconfig_source(enc, credentials.Access())
    (enc.path / "secrets").mkdir(parents=True)
    (enc.path / "secrets" / "kubeconfig.yaml").write_text("sops: {}\n")
    assert credentials.kubeconfig_source(enc, credentials.Access())[0] == "encrypted"


KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [
        {"name": "a", "cluster": {"server": "https://127.0.0.1:1"}},
        {"name": "b", "cluster": {"server": "https://127.0.0.1:2"}},
    ],
    "users": [{"name": "u", "user": {"token": "tok"}}],
    "contexts": [
        {"name": "ctx-a", "context": {"cluster": "a", "user": "u"}},
        {"name": "ctx-b", "context": {"cluster": "b", "user": "u"}},
    ],
    "current-context": "ctx-a",
}


def test_temporary_kubeconfig_is_a_private_minified_copy(tmp_path, monkeypatch):
    source = tmp_path / "source.yaml"
    source.write_text(yaml.safe_dump(KUBECONFIG))
    before = source.read_text()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)
    c = cluster(tmp_path, path=str(source))
    with credentials.temporary_kubeconfig(
        None, c, Runner(echo=False), credentials.Access(context="ctx-b")
    ) as path:
        assert path.parent.parent == tmp_path / "tmp"
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        copy = yaml.safe_load(path.read_text())
        assert copy["current-context"] == "ctx-b"
        assert [x["name"] for x in copy["clusters"]] == ["b"]
    assert not path.exists() and not path.parent.exists()
    assert source.read_text() == before


def test_missing_kubeconfig_file_is_named(tmp_path):
    c = cluster(tmp_path)
    access = credentials.Access("/nope")
    with (
        pytest.raises(FleetError, match="kubeconfig /nope not found"),
        credentials.temporary_kubeconfig(None, c, Runner(echo=False), access),
    ):
        pass
