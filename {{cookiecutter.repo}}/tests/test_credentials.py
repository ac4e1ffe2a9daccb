"""Unit tests of fleet.credentials: the cloud CLIs' argv (they cannot run here; a failing one is a
fake `aws` first on PATH) and the kubeconfig provider's choice of source. The kubeconfig copy
itself runs the real kubectl."""

import os
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from helpers import FLEET_YAML, write

from fleet.core import config
from fleet.core.config import Cluster
from fleet.core.errors import FleetError
from fleet.core.runner import Runner
from fleet.release import release
from fleet.tools import credentials


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
    monkeypatch.setenv("FLEET_PRIVATE_DIR", str(tmp_path / "tmp"))
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


# -- a cloud provider's CLI: only a fake `aws` first on PATH ever runs here ------------------------


@pytest.fixture
def fake_aws(tmp_path, monkeypatch):
    """An `aws` that records its call and fails as the real one does without credentials."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    script = bin_dir / "aws"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {tmp_path / "aws-calls"}\n'
        "echo 'Unable to locate credentials. You can configure credentials by running "
        '"aws configure".\' >&2\n'
        "exit 255\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    assert shutil.which("aws") == str(script)
    return tmp_path / "aws-calls"


def aws_cluster(tmp_path):
    settings = {"cluster": "hubs", "region": "eu-west-1"}
    return Cluster("main", tmp_path / "clusters" / "main", "aws", settings)


def test_failed_aws_credentials_are_one_line_naming_the_kubeconfig_override(tmp_path, fake_aws):
    with (
        pytest.raises(FleetError) as failed,
        credentials.temporary_kubeconfig(None, aws_cluster(tmp_path), Runner(echo=False)),
    ):
        pass
    message = str(failed.value)
    assert fake_aws.read_text().startswith("eks update-kubeconfig --name hubs")
    assert "\n" not in message, message
    assert message.startswith("cluster main: aws credentials failed")
    assert "Unable to locate credentials" in message
    assert "--kubeconfig" in message and "FLEET_KUBECONFIG" in message


def test_a_kubeconfig_override_is_used_and_said_instead_of_aws(tmp_path, fake_aws):
    source = tmp_path / "ci-kubeconfig.yaml"
    source.write_text(yaml.safe_dump(KUBECONFIG))
    access = credentials.Access(str(source), "ctx-b")
    cluster = aws_cluster(tmp_path)
    with credentials.temporary_kubeconfig(None, cluster, Runner(echo=False), access) as path:
        assert yaml.safe_load(path.read_text())["current-context"] == "ctx-b"
    assert not fake_aws.exists()  # aws never ran
    said = credentials.describe(cluster, access)
    assert said == (
        f"cluster main (kubeconfig {source}, context ctx-b, from --kubeconfig / "
        "FLEET_KUBECONFIG instead of aws)"
    )
    assert credentials.describe(cluster, credentials.Access()) == "cluster main (aws)"


def test_the_credentials_step_says_a_kubeconfig_override_replaces_aws(tmp_path):
    write(tmp_path / "fleet.yaml", FLEET_YAML)
    write(
        tmp_path / "clusters/main/cluster.yaml",
        "provider: aws\naws: {cluster: hubs, region: eu-west-1}\n",
    )
    fleet = config.load(tmp_path)
    said = []
    access = credentials.Access("/nonexistent")
    with (
        pytest.raises(FleetError, match="kubeconfig /nonexistent not found"),
        release.cluster_runner(
            fleet, "main", access, Runner(echo=False), lambda *a: said.append(a)
        ),
    ):
        pass
    assert said == [
        (
            "credentials",
            "cluster main (kubeconfig /nonexistent, from --kubeconfig / FLEET_KUBECONFIG instead "
            "of aws)",
        )
    ]
