# /// script
# dependencies = ["nox>=2024.10.9"]
# ///
"""Checks for the template itself. The generated repo has a noxfile of its own."""

import nox

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "unit"]

PYTHON_PATHS = ["hooks", "toolchain", "tests", "tasks.py", "noxfile.py", "benchmarks",
                "{{cookiecutter.repo}}/fleet", "{{cookiecutter.repo}}/tasks.py",
                "{{cookiecutter.repo}}/noxfile.py"]


@nox.session(tags=["lint"])
def lint(session: nox.Session) -> None:
    """Ruff over the template's own Python and the generated repo's package."""
    session.run("ruff", "check", *PYTHON_PATHS, external=True)


@nox.session(tags=["test"])
def unit(session: nox.Session) -> None:
    """Unit tests: pure functions, no tools needed."""
    session.run("pytest", "tests/unit", *session.posargs, external=True)


@nox.session(tags=["test"])
def smoke(session: nox.Session) -> None:
    """Smoke tests: each real tool of the toolchain works (needs `invoke toolchain`)."""
    session.run("pytest", "-m", "smoke", *session.posargs, external=True)


@nox.session(tags=["test"])
def bake(session: nox.Session) -> None:
    """Bake tests: generate repos over many answer sets and check them."""
    session.run("pytest", "-m", "bake", *session.posargs, external=True)


@nox.session(tags=["test"])
def e2e(session: nox.Session) -> None:
    """End-to-end: generated repos' own nox and invoke against the local cluster and registry."""
    session.run("pytest", "-m", "e2e", *session.posargs, external=True)
