"""Unit tests of fleet.secrets without sops: metadata detection, placeholders, file discovery."""

import os
import stat
from pathlib import Path

import pytest
import yaml
from fleet import secrets
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


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_is_encrypted(tmp_path):
    assert secrets.is_encrypted(write(tmp_path / "enc.yaml", ENCRYPTED))
    assert not secrets.is_encrypted(write(tmp_path / "plain.yaml", "jupyterhub: {hub: {cookieSecret: x}}\n"))
    assert not secrets.is_encrypted(write(tmp_path / "fake.yaml", "sops: {}\na: 1\n"))
    assert not secrets.is_encrypted(write(tmp_path / "bad.yaml", "a: [\n"))
    assert secrets.is_encrypted(write(tmp_path / "x.env", "A=ENC[...]\nsops_mac=ENC[...]\n"))
    binary = tmp_path / "b.bin"
    binary.write_bytes(b"\xff\xfe\x00")
    assert not secrets.is_encrypted(binary)


def test_placeholders_keep_types_and_drop_metadata(tmp_path):
    values = secrets.placeholder_values(write(tmp_path / "enc.yaml", ENCRYPTED))
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
        secrets.placeholder_values(path)


def test_secret_files_and_plaintext_ones(tmp_path):
    enc = write(tmp_path / "hubs/a/secrets/staging.yaml", ENCRYPTED)
    plain = write(tmp_path / "clusters/main/secrets/kubeconfig.yaml", "apiVersion: v1\n")
    write(tmp_path / "hubs/a/values.yaml", "a: 1\n")
    write(tmp_path / ".git/secrets/x", "ignored")
    assert secrets.secret_files(tmp_path) == [plain, enc]
    assert secrets.plaintext_files(tmp_path) == [plain]


def test_private_dir_is_private_and_removed_on_error():
    with pytest.raises(RuntimeError), secrets.private_dir() as folder:
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        file = secrets._write_private(folder, "x.yaml", "secret")
        assert stat.S_IMODE(os.stat(file).st_mode) == 0o600
        raise RuntimeError
    assert not folder.exists()


def test_age_key_file_found_by_repo_name(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBFLEET_AGE_KEY_DIR", str(tmp_path / "keys"))
    root = tmp_path / "my-hubs"
    root.mkdir()
    assert secrets.age_key_file(root) is None
    key = write(tmp_path / "keys" / "my-hubs.txt", "AGE-SECRET-KEY-1...")
    assert secrets.age_key_file(root) == key


def test_encrypt_file_refuses_encrypted(tmp_path):
    path = write(tmp_path / "secrets" / "staging.yaml", ENCRYPTED)
    with pytest.raises(FleetError, match="already sops-encrypted"):
        secrets.encrypt_file(tmp_path, path)


def test_sigterm_removes_the_private_dirs_of_every_thread(tmp_path):
    """A real process with private dirs open in worker threads, terminated with SIGTERM."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    code = (
        "import sys, threading, time\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2] / '{{cookiecutter.repo}}')!r})\n"
        "from fleet import secrets\n"
        "secrets.install_sigterm_cleanup()\n"
        "lock = threading.Lock()\n"
        "def hold():\n"
        "    with secrets.private_dir() as path:\n"
        "        (path / 'staging.yaml').write_text('cookieSecret: s3cret')\n"
        "        with lock:\n"
        "            print(path, flush=True)\n"
        "        time.sleep(60)\n"
        "for _ in range(2):\n"
        "    threading.Thread(target=hold, daemon=True).start()\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    made = [Path(proc.stdout.readline().strip()) for _ in range(2)]
    assert all((path / "staging.yaml").exists() for path in made)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 128 + signal.SIGTERM
    time.sleep(0.1)
    assert list(tmp_path.iterdir()) == []
