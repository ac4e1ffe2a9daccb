"""Run inside the built image by `nox -s images`."""

import shutil
import subprocess
import sys


def test_python_is_recent():
    assert sys.version_info >= (3, 10)


def test_requirements_are_installed():
    import pytest  # noqa: F401, PLC0415 - importing it is the check


def test_pip_check_passes():
    assert shutil.which("pip")
    subprocess.run([sys.executable, "-m", "pip", "check"], check=True)
