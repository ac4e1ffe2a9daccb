"""Unit tests of fleet.sops without sops: metadata detection, placeholders, file discovery."""

import pytest
import yaml
from helpers import write

from fleet import sops
from fleet.errors import FleetError

ENCRYPTED = """\
jupyterhub:
    hub:
        cookieSecret: ENC[AES256_GCM,data:vgWP0S==,iv:ahU8=,tag:sd7u==,type:str]
        replicas: ENC[AES256_GCM,data:kQ==,iv:GqMH=,tag:VVe0==,type:int]
        ratio: ENC[AES256_GCM,data:+kal,iv:kMwt=,tag:r26O==,type:float]
        enabled: ENC[AES256_GCM,data:ol12qA==,iv:DHI5=,tag:cgEE==,type:bool]
        hosts:
            - ENC[AES256_GCM,data:QA==,iv:KA/W=,tag:ypdE==,type:str]
sops:
    age:
        - recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
    lastmodified: "2026-01-01T00:00:00Z"
    mac: ENC[AES256_GCM,data:abc=,iv:def=,tag:ghi=,type:str]
    version: 3.13.3
"""


def test_is_encrypted(tmp_path):
    assert sops.is_encrypted(write(tmp_path / "enc.yaml", ENCRYPTED))
    assert not sops.is_encrypted(
        write(tmp_path / "plain.yaml", "jupyterhub: {hub: {cookieSecret: x}}\n")
    )
    assert not sops.is_encrypted(write(tmp_path / "fake.yaml", "sops: {}\na: 1\n"))
    assert not sops.is_encrypted(write(tmp_path / "bad.yaml", "a: [\n"))
    assert sops.is_encrypted(write(tmp_path / "x.env", "A=ENC[...]\nsops_mac=ENC[...]\n"))
    binary = tmp_path / "b.bin"
    binary.write_bytes(b"\xff\xfe\x00")
    assert not sops.is_encrypted(binary)


def test_placeholders_keep_types_and_drop_metadata(tmp_path):
    values = sops.placeholder_values(write(tmp_path / "enc.yaml", ENCRYPTED))
    hub = values["jupyterhub"]["hub"]
    assert "sops" not in values
    assert isinstance(hub["cookieSecret"], str) and hub["cookieSecret"]
    assert hub["replicas"] == 1 and isinstance(hub["replicas"], int)
    assert isinstance(hub["ratio"], float)
    assert hub["enabled"] is False
    assert isinstance(hub["hosts"][0], str) and hub["hosts"][0]
    assert "ENC[" not in yaml.safe_dump(values)


def test_placeholders_refuse_plaintext(tmp_path):
    path = write(tmp_path / "secrets" / "staging.yaml", "a: 1\n")
    with pytest.raises(FleetError, match="not sops-encrypted"):
        sops.placeholder_values(path)


def test_secret_files_and_plaintext_ones(tmp_path):
    enc = write(tmp_path / "hubs/a/secrets/staging.yaml", ENCRYPTED)
    plain = write(tmp_path / "clusters/main/secrets/kubeconfig.yaml", "apiVersion: v1\n")
    write(tmp_path / "hubs/a/values.yaml", "a: 1\n")
    write(tmp_path / ".git/secrets/x", "ignored")
    assert sops.secret_files(tmp_path) == [plain, enc]
    assert sops.plaintext_files(tmp_path) == [plain]


def test_age_key_file_found_by_repo_name(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBFLEET_AGE_KEY_DIR", str(tmp_path / "keys"))
    root = tmp_path / "my-hubs"
    root.mkdir()
    assert sops.age_key_file(root) is None
    key = write(tmp_path / "keys" / "my-hubs.txt", "AGE-SECRET-KEY-1...")
    assert sops.age_key_file(root) == key


def test_encrypt_file_refuses_encrypted(tmp_path):
    path = write(tmp_path / "secrets" / "staging.yaml", ENCRYPTED)
    with pytest.raises(FleetError, match="already sops-encrypted"):
        sops.encrypt_file(tmp_path, path)
