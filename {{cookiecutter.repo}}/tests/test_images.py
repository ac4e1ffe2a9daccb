"""Unit tests of fleet.images: content-hash tags, .dockerignore, image references, registry checks."""

import base64
import json
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from fleet.core.errors import FleetError
from fleet.tools import images


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def context(tmp_path: Path) -> Path:
    root = tmp_path / "images" / "default"
    write(root / "Dockerfile", "FROM base\nCOPY . /src\n")
    write(root / "requirements.txt", "pytest==8.3.5\n")
    write(root / "tests" / "test_image.py", "def test(): pass\n")
    write(root / "tests" / "__pycache__" / "x.pyc", "junk")
    write(root / "notes.md", "not for the build\n")
    write(root / "keep.md", "for the build\n")
    write(root / ".dockerignore", "# comment\n**/__pycache__\n*.md\n!keep.md\n")
    return root


def test_dockerignore_rules_decide_which_files_count(context: Path):
    files = images.context_files(context)
    assert files == [
        ".dockerignore",
        "Dockerfile",
        "keep.md",
        "requirements.txt",
        "tests/test_image.py",
    ]


def test_dockerfile_counts_even_when_ignored(context: Path):
    (context / ".dockerignore").write_text("Dockerfile\n*\n")
    assert "Dockerfile" in images.context_files(context)


def test_tag_changes_with_a_kept_file_only(context: Path):
    tag = images.context_tag(context)
    assert len(tag) == images.TAG_LENGTH
    (context / "notes.md").write_text("edited, but ignored\n")
    (context / "tests" / "__pycache__" / "y.pyc").write_text("more junk")
    assert images.context_tag(context) == tag
    (context / "requirements.txt").write_text("pytest==8.3.6\n")
    assert images.context_tag(context) != tag


def test_tag_changes_with_a_rename_and_the_executable_bit(context: Path):
    tag = images.context_tag(context)
    (context / "keep.md").chmod(0o755)
    executable = images.context_tag(context)
    assert executable != tag
    (context / "keep.md").chmod(0o644)
    assert images.context_tag(context) == tag
    (context / "keep.md").rename(context / "kept.md")
    (context / ".dockerignore").write_text("**/__pycache__\nnotes.md\n")
    assert images.context_tag(context) != tag


def test_tag_ignores_timestamps_and_group_write(context: Path):
    tag = images.context_tag(context)
    os.utime(context / "requirements.txt", (1, 1))
    (context / "requirements.txt").chmod(0o664)
    assert images.context_tag(context) == tag


def test_tag_is_the_same_on_a_fresh_shallow_clone(context: Path, tmp_path: Path):
    repo = context.parent.parent
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "x"], check=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(clone)], check=True)
    # The ignored __pycache__ was committed too; the clone has it, the tag still ignores it.
    assert images.context_tag(clone / "images" / "default") == images.context_tag(context)
    shutil.rmtree(context / "tests" / "__pycache__")
    assert images.context_tag(clone / "images" / "default") == images.context_tag(context)


def test_context_without_dockerfile_is_an_error(tmp_path: Path):
    with pytest.raises(FleetError, match="no Dockerfile"):
        images.context_files(tmp_path)


def test_image_ref_parsing():
    ref = images.ImageRef.parse("127.0.0.1:5000/hubfleet/default:abc123")
    assert (ref.registry, ref.repository, ref.tag) == (
        "127.0.0.1:5000",
        "hubfleet/default",
        "abc123",
    )
    assert str(ref) == "127.0.0.1:5000/hubfleet/default:abc123"
    assert images.ImageRef.parse("ghcr.io/org/default:t").name == "ghcr.io/org/default"
    with pytest.raises(FleetError, match="registry host"):
        images.ImageRef.parse("org/default:t")
    with pytest.raises(FleetError, match="expected"):
        images.ImageRef.parse("ghcr.io/org/default")


@pytest.mark.parametrize(
    ("host", "scheme"),
    [
        ("127.0.0.1:5000", "http"),
        ("127.8.0.2", "http"),
        ("localhost:5000", "http"),
        ("[::1]:5000", "http"),
        ("ghcr.io", "https"),
        ("registry.example.org:5000", "https"),
        ("10.0.0.1:5000", "https"),
    ],
)
def test_registry_scheme(host, scheme):
    assert images.registry_scheme(host) == scheme


class FakeRegistry(BaseHTTPRequestHandler):
    """A registry speaking the real token protocol: 401 + Bearer challenge, then a token."""

    manifests: ClassVar[dict[str, set[str]]] = {"org/app": {"present"}}
    password = "s3cret"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/token"):
            expected = "Basic " + base64.b64encode(f"bot:{self.password}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.end_headers()
                return
            body = json.dumps({"token": "T0K"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_HEAD(self):
        if self.headers.get("Authorization") != "Bearer T0K":
            port = self.server.server_address[1]
            self.send_response(401)
            self.send_header(
                "WWW-Authenticate",
                f'Bearer realm="http://127.0.0.1:{port}/token",service="reg",scope="repository:org/app:pull"',
            )
            self.end_headers()
            return
        _, _, repo_and_ref = self.path.partition("/v2/")
        repo, _, tag = repo_and_ref.partition("/manifests/")
        assert "manifest" in self.headers.get("Accept", "")
        self.send_response(200 if tag in self.manifests.get(repo, ()) else 404)
        self.end_headers()


@pytest.fixture
def fake_registry():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_registry_has_with_token_auth(fake_registry, monkeypatch):
    monkeypatch.setenv("FLEET_REGISTRY_USERNAME", "bot")
    monkeypatch.setenv("FLEET_REGISTRY_PASSWORD", "s3cret")
    assert images.registry_has(images.ImageRef(fake_registry, "org/app", "present"))
    assert not images.registry_has(images.ImageRef(fake_registry, "org/app", "absent"))


def test_registry_without_credentials_says_so(fake_registry, monkeypatch, tmp_path):
    monkeypatch.delenv("FLEET_REGISTRY_USERNAME", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # an empty docker config, read only
    with pytest.raises(FleetError, match="token|not authorized"):
        images.registry_has(images.ImageRef(fake_registry, "org/app", "present"))
    assert list(tmp_path.iterdir()) == []


def test_unreachable_registry_is_one_line():
    with pytest.raises(FleetError) as err:
        images.registry_has(images.ImageRef("127.0.0.1:9", "org/app", "t"), timeout=2)
    assert "unreachable" in str(err.value) and "\n" not in str(err.value)
