# /// script
# dependencies = ["nox>=2024.10.9"]
# ///
"""Checks for the template itself. The generated repo has a noxfile of its own."""

from pathlib import Path

import nox

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "unit"]

ROOT = Path(__file__).resolve().parent
GENERATED = ROOT / "{{cookiecutter.repo}}"
PYTHON_PATHS = [
    "hooks",
    "toolchain",
    "tests",
    "benchmarks",
    "tasks.py",
    "noxfile.py",
    "hubfleet_template.py",
]


@nox.session(venv_backend="none", tags=["lint"])
def lint(session: nox.Session) -> None:
    """Ruff (rules and format) over the template's Python; the generated repo's own Python lint."""
    session.run("ruff", "check", *PYTHON_PATHS, external=True)
    session.run("ruff", "format", "--check", *PYTHON_PATHS, external=True)
    # The generated repo's Python with its own settings (ruff.toml, the import-linter contract).
    session.chdir(GENERATED)
    session.run("ruff", "check", "fleet", "tests", "tasks", "noxfile.py", "images", external=True)
    session.run(
        "ruff",
        "format",
        "--check",
        "fleet",
        "tests",
        "tasks",
        "noxfile.py",
        "images",
        external=True,
    )
    session.run("lint-imports", "--no-cache", external=True)


@nox.session(venv_backend="none", tags=["test"])
def unit(session: nox.Session) -> None:
    """Unit tests: the hooks, and the generated repo's package (its tests/), no cluster needed."""
    session.run("pytest", "tests/unit", *session.posargs, external=True)
    session.chdir(GENERATED)
    session.run("pytest", *session.posargs, external=True)


@nox.session(venv_backend="none", tags=["test"])
def smoke(session: nox.Session) -> None:
    """Smoke tests: each real tool of the toolchain works (needs `invoke toolchain`)."""
    session.run("pytest", "-m", "smoke", *session.posargs, external=True)


@nox.session(venv_backend="none", tags=["test"])
def bake(session: nox.Session) -> None:
    """Bake tests: generate repos over many answer sets and check them."""
    session.run("pytest", "-m", "bake", *session.posargs, external=True)


@nox.session(venv_backend="none", tags=["test"])
def e2e(session: nox.Session) -> None:
    """End-to-end: generated repos' own nox and invoke against the local cluster and registry."""
    session.run("pytest", "-m", "e2e", *session.posargs, external=True)


@nox.session(venv_backend="none", tags=["lock"])
def lock(session: nox.Session) -> None:
    """Refresh requirements-dev.txt, the locked versions CI installs, from pyproject.toml's dev extra."""
    session.run(
        "pip-compile",
        "--quiet",
        "--extra=dev",
        "--strip-extras",
        "--no-emit-index-url",
        "--no-emit-find-links",
        "--output-file=requirements-dev.txt",
        "pyproject.toml",
        external=True,
        env={"CUSTOM_COMPILE_COMMAND": "nox -s lock"},
    )
