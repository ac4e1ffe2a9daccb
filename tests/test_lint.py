"""The template's lint runs in CI too: ruff rules and format, and the generated package's layers."""

import subprocess
import sys

import pytest
from bake import ROOT

pytestmark = pytest.mark.unit


def test_template_lint_session_passes():
    proc = subprocess.run(
        [sys.executable, "-m", "nox", "-s", "lint"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "Contracts: 1 kept, 0 broken." in log
    assert "ruff format --check" in log
