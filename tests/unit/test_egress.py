"""The workflow runs' egress guard (tests/egress.py): real clients, sent through it, are refused
for anywhere beyond this machine and recorded, and reach this machine directly."""

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from egress import Egress  # noqa: E402

pytestmark = pytest.mark.unit


@pytest.fixture
def guard():
    egress = Egress()
    egress.start()
    yield egress
    egress.stop()


def test_requests_for_elsewhere_are_refused_and_kept(guard):
    env = {**os.environ, **guard.env()}
    curl = subprocess.run(
        ["curl", "-sS", "--max-time", "5", "https://pypi.org/simple/"], env=env,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert curl.returncode != 0
    git = subprocess.run(
        ["git", "ls-remote", "http://example.org/fleet.git"], env=env,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert git.returncode != 0
    python = subprocess.run(
        [sys.executable, "-c", "import urllib.request; urllib.request.urlopen('http://example.net/')"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert python.returncode != 0 and "403" in python.stderr
    assert guard.asked == ["pypi.org:443", "example.org", "example.net"]


def test_this_machine_is_reached_directly(guard):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        for host in ("127.0.0.1", "localhost", "github.localhost"):
            curl = subprocess.run(
                ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", f"http://{host}:{port}/"],
                env={**os.environ, **guard.env()}, capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert curl.stdout == "200", (host, curl.stderr)
    finally:
        server.shutdown()
        server.server_close()
    assert guard.asked == []
