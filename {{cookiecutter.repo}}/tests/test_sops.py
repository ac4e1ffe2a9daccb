"""Unit tests of fleet.sops: metadata detection, placeholders, file discovery without sops; why\na file cannot be decrypted, with the real sops and age keys."""

import subprocess

import pytest
import yaml
from helpers import FLEET_YAML, KUBECONFIG_CLUSTER, write

from fleet.core import config
from fleet.core.errors import FleetError
from fleet.core.runner import Runner
from fleet.core.target import Target
from fleet.tools import sops

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


# -- real sops and age keys: why a file cannot be decrypted -------------------------------------


def age_keygen(path):
    subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
    return subprocess.run(
        ["age-keygen", "-y", str(path)], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def encrypted_hub(tmp_path, monkeypatch):
    """A repo whose hub alpha has staging secrets encrypted to a fresh age key (in SOPS_AGE_KEY_FILE)."""
    public = age_keygen(tmp_path / "key.txt")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(tmp_path / "key.txt"))
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)
    repo = tmp_path / "repo"
    write(
        repo / ".sops.yaml", f"creation_rules:\n  - path_regex: (^|/)secrets/\n    age: {public}\n"
    )
    write(repo / "fleet.yaml", FLEET_YAML)
    write(repo / "clusters/main/cluster.yaml", KUBECONFIG_CLUSTER)
    write(repo / "hubs/alpha/hub.yaml", "cluster: main\n")
    text = "jupyterhub:\n  hub:\n    cookieSecret: aaaa\n  proxy:\n    secretToken: bbbb\n"
    secrets = write(repo / "hubs/alpha/secrets/staging.yaml", text)
    sops.encrypt_file(repo, secrets, Runner(echo=False))
    return config.load(repo), secrets


def decrypt_error(fleet) -> str:
    with (
        pytest.raises(FleetError) as failed,
        sops.decrypted(Target.of_hub(fleet, "alpha", "staging"), Runner(echo=False)),
    ):
        pass
    return str(failed.value)


def test_decrypted_with_the_key(encrypted_hub):
    fleet, _ = encrypted_hub
    with sops.decrypted(Target.of_hub(fleet, "alpha", "staging"), Runner(echo=False)) as (
        path,
        secrets,
    ):
        assert {"aaaa", "bbbb"} <= secrets
        assert "cookieSecret: aaaa" in path.read_text()


def test_a_key_that_is_not_a_recipient_is_named_as_such(encrypted_hub, tmp_path, monkeypatch):
    fleet, secrets = encrypted_hub
    age_keygen(tmp_path / "other.txt")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(tmp_path / "other.txt"))
    message = decrypt_error(fleet)
    assert message.startswith(f"{secrets}: ") and "\n" not in message
    assert "is your key one of its recipients?" in message


@pytest.mark.parametrize("tamper", ["swap values", "drop a value", "edit the mac"])
def test_a_tampered_file_is_an_integrity_failure_not_a_missing_key(encrypted_hub, tamper):
    fleet, secrets = encrypted_hub
    lines = secrets.read_text().splitlines(keepends=True)
    cookie = next(i for i, line in enumerate(lines) if "cookieSecret:" in line)
    token = next(i for i, line in enumerate(lines) if "secretToken:" in line)
    if tamper == "swap values":
        # Each value is bound to its own key path: moved to another, it fails authentication.
        a, b = lines[cookie].split(": ", 1), lines[token].split(": ", 1)
        lines[cookie], lines[token] = f"{a[0]}: {b[1]}", f"{b[0]}: {a[1]}"
    elif tamper == "drop a value":
        del lines[token], lines[token - 1]  # proxy: and its secretToken
    else:
        mac = next(i for i, line in enumerate(lines) if line.strip().startswith("mac: ENC["))
        lines[mac] = lines[mac].replace("data:", "data:AAAA", 1)
    secrets.write_text("".join(lines))
    message = decrypt_error(fleet)
    assert message.startswith(f"{secrets}: ") and "\n" not in message, message
    assert "recipients" not in message
    assert "integrity check" in message and "changed outside sops" in message
    # A render never falls back to placeholders for a tampered file: the same line.
    with (
        pytest.raises(FleetError) as failed,
        sops.for_render(Target.of_hub(fleet, "alpha", "staging"), Runner(echo=False)),
    ):
        pass
    assert str(failed.value) == message
