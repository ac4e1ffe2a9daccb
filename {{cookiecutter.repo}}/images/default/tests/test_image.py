"""Run inside the built image by `nox -s images`."""

import os
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


def test_it_runs_as_the_user_servers_uid():
    assert os.getuid() == 1000


def test_the_single_user_server_and_a_kernel_are_there():
    version = subprocess.run(
        ["jupyterhub-singleuser", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip()
    kernels = subprocess.run(
        [sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "python3" in kernels.stdout
