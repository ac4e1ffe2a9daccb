# /// script
# dependencies = ["nox>=2024.10.9"]
# ///
"""Checks of this repository: `nox` runs lint, tests, templates and secrets (CI runs the same).

The sessions use the tools of the current environment (`pip install -r requirements.txt`, plus
helm, sops, hadolint and docker on PATH). A missing tool fails the session; nothing is skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # the fleet package of this repository

from fleet.core import config, settings  # noqa: E402 - importable once ROOT is on sys.path
from fleet.core.errors import Failure, FleetError  # noqa: E402
from fleet.core.runner import Runner  # noqa: E402
from fleet.ops import checks, leaks  # noqa: E402 - importable once ROOT is on sys.path
from fleet.tools import chart, sops  # noqa: E402 - importable once ROOT is on sys.path

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "none"
nox.options.error_on_external_run = True
nox.options.sessions = ["lint", "tests", "templates", "secrets"]

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
CONFIGS = {
    "fleet": ["fleet.yaml"],
    "cluster": ["clusters/*/cluster.yaml"],
    "hub": ["hubs/*/hub.yaml"],
}


def _files(*patterns: str) -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for pattern in patterns for p in ROOT.glob(pattern))


@nox.session(venv_backend="none", tags=["lint"])
def lint(session: nox.Session) -> None:
    """Lint YAML, Python (rules, format, import layers), Dockerfiles, workflows and config."""
    session.run("yamllint", "--strict", ".", external=True)
    session.run("ruff", "check", ".", external=True)
    session.run("ruff", "format", "--check", ".", external=True)
    session.run("lint-imports", "--no-cache", external=True)
    dockerfiles = _files("images/*/Dockerfile")
    if dockerfiles:
        session.run("hadolint", *dockerfiles, external=True)
    if WORKFLOWS:
        workflows = [str(p.relative_to(ROOT)) for p in WORKFLOWS]
        session.run("zizmor", "--offline", *workflows, external=True)
        schema = "vendor.github-workflows"
        session.run("check-jsonschema", "--builtin-schema", schema, *workflows, external=True)
    for kind, patterns in CONFIGS.items():
        files = _files(*patterns)
        if files:
            schema = f"fleet/core/schemas/{kind}.schema.json"
            session.run("check-jsonschema", "--schemafile", schema, *files, external=True)
    support = _files("clusters/*/support.yaml")
    if support:  # the support chart's own schema: the one helm checks its values against
        schema = "support/values.schema.json"
        session.run("check-jsonschema", "--schemafile", schema, *support, external=True)
    try:
        fleet = config.load(ROOT)  # cross-file checks: each hub's cluster and image exist
        for hub in fleet.hubs.values():
            for env in hub.environments:
                hub.required_secrets(env)
    except Failure as exc:
        session.error(str(exc))
    counts = f"{len(fleet.clusters)} clusters, {len(fleet.hubs)} hubs, {len(fleet.images)} images"
    session.log(f"config: {counts}")


@nox.session(venv_backend="none", tags=["tests"])
def tests(session: nox.Session) -> None:
    """Unit tests of the fleet package (tests/): pure functions and real sops, git and docker."""
    session.run("pytest", *session.posargs, external=True)


@nox.session(venv_backend="none", tags=["chart"])
def templates(session: nox.Session) -> None:
    """helm lint both charts, then render and validate every hub x env and every cluster's support."""
    runner = Runner()
    try:
        jobs, names = _jobs_and_hubs(session.posargs)
        fleet = config.load(ROOT)
        chart.lint(fleet, runner)
        hubs = [fleet.hub(name) for name in names] or list(fleet.hubs.values())
        clusters = [] if names else sorted(fleet.clusters)
        if clusters:
            chart.lint(fleet, runner, fleet.support_chart)
        count = sum(len(hub.environments) for hub in hubs) + len(clusters)
        session.log(f"rendering {count} releases, {jobs} at a time")
        results = checks.check_all(fleet, hubs, clusters, runner, jobs)
    except Failure as exc:
        session.error(str(exc))
    for result in results:
        if not result.error:
            session.log(result.line())
    failures = [result.line() for result in results if result.error]
    if failures:
        session.error("templates failed for:\n" + "\n".join(failures))


def _jobs_and_hubs(posargs: list[str]) -> tuple[int, list[str]]:
    """`nox -s templates -- [--jobs N] [HUB...]`: renders at a time (FLEET_JOBS, else the cores)."""
    args, jobs = list(posargs), None
    if "--jobs" in args:
        at = args.index("--jobs")
        value = args[at + 1] if at + 1 < len(args) else ""
        if not value.isdigit() or int(value) < 1:
            raise FleetError(f"--jobs {value!r}: expected a whole number, 1 or more")
        jobs = int(value)
        del args[at : at + 2]
    return jobs or checks.default_jobs(), args


@nox.session(venv_backend="none", tags=["secrets"])
def secrets(session: nox.Session) -> None:
    """Secrets files are sops-encrypted, and (with the key) no secret value is anywhere else."""
    problems = leaks.check(ROOT, Runner(echo=False), session.log)
    if problems:
        session.error("secrets check failed:\n" + "\n".join(problems))
    session.log(f"{len(sops.secret_files(ROOT))} secrets files, all sops-encrypted")


@nox.session(venv_backend="none", tags=["image"])
def images(session: nox.Session) -> None:
    """Build each image (BASE_IMAGE from env FLEET_BASE_IMAGE if set) and run its tests inside it."""
    base = settings.current().base_image
    folders = sorted(p.parent for p in ROOT.glob("images/*/Dockerfile"))
    names = session.posargs or [f.name for f in folders]
    try:
        hub_version = chart.jupyterhub_version(config.load(ROOT), Runner())
    except Failure as exc:
        session.error(str(exc))
    for name in names:
        folder = ROOT / "images" / name
        if not (folder / "Dockerfile").exists():
            session.error(f"images/{name}/Dockerfile: not found")
        if not (folder / "tests").is_dir():
            session.error(f"images/{name}/tests: missing; every image carries its tests")
        tag = f"fleet-check/{name}:nox"
        build_args = ["--build-arg", f"BASE_IMAGE={base}"] if base else []
        session.run("docker", "build", *build_args, "-t", tag, str(folder), external=True)
        pytest = ["python", "-m", "pytest", "-p", "no:cacheprovider", "/opt/image-tests"]
        session.run("docker", "run", "--rm", tag, *pytest, external=True)
        _check_singleuser_version(session, name, tag, hub_version)


def _check_singleuser_version(session: nox.Session, name: str, tag: str, hub_version: str) -> None:
    """The image's jupyterhub (its single-user server) has the hub's major.minor version."""
    probe = "import jupyterhub; print(jupyterhub.__version__)"
    said = session.run(
        "docker", "run", "--rm", tag, "python", "-c", probe, external=True, silent=True
    )
    found = (said or "").strip().splitlines()[-1] if said else ""
    if found.split(".")[:2] != hub_version.split(".")[:2]:
        session.error(
            f"images/{name}: jupyterhub {found or '(none)'} in the image, but the hub runs "
            f"{hub_version} (the jupyterhub chart's appVersion): pin jupyterhub=={hub_version} "
            f"in images/{name}/requirements.txt"
        )
    session.log(
        f"images/{name}: single-user jupyterhub {found}, hub {hub_version}: same major.minor"
    )


@nox.session(venv_backend="none", tags=["lock"])
def lock(session: nox.Session) -> None:
    """Refresh requirements.txt, the locked versions CI installs, from requirements.in."""
    session.run(
        "pip-compile",
        "--quiet",
        "--strip-extras",
        "--no-emit-index-url",
        "--no-emit-find-links",
        "--output-file=requirements.txt",
        "requirements.in",
        external=True,
        env={"CUSTOM_COMPILE_COMMAND": "nox -s lock"},
    )
