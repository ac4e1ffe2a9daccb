"""Helpers to generate a repo from the template and run its own commands (bake and e2e tests)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Caches that tools drop into the working tree; cookiecutter would try to render them.
JUNK = shutil.ignore_patterns(
    ".git",
    ".ruff_cache",
    "__pycache__",
    ".nox",
    ".pytest_cache",
    ".import_linter_cache",
    ".hypothesis",
    "*.egg-info",
    "tmpcharts*",
)


def clean_template(tmp_path: Path) -> Path:
    """A copy of the template without tool caches (the working tree may hold some)."""
    target = tmp_path / "template"
    if not target.exists():
        shutil.copytree(ROOT, target, ignore=JUNK)
        for chart in ("chart", "support"):
            shutil.rmtree(target / "{{cookiecutter.repo}}" / chart / "charts", ignore_errors=True)
    return target


class BakeFailed(subprocess.CalledProcessError):
    """Generation failed; the message carries cookiecutter's stderr (the hooks' error lines)."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n{(self.stderr or '')[-3000:]}"


def bake_env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Env for generation: the age key goes under tmp_path, never into the real home."""
    return {"HUBFLEET_AGE_KEY_DIR": str(tmp_path / "age-keys"), **(extra or {})}


# Where the chart repositories are, unless a test gives the local one: a port of 127.0.0.1
# where nothing listens, so generation's `helm dependency update` fails at once, on this machine,
# instead of looking up the upstream repositories' names.
NO_CHART_REPOSITORY = "http://127.0.0.1:9/"


def bake(tmp_path: Path, env: dict[str, str] | None = None, **answers: str) -> Path:
    """Run cookiecutter (hooks included) on the template; returns the generated repo's path."""
    return Path(generate(tmp_path, env, **answers).stdout.strip().splitlines()[-1])


def generate(
    tmp_path: Path, env: dict[str, str] | None = None, **answers: str
) -> subprocess.CompletedProcess:
    """Run cookiecutter as `bake` does; returns the process, whose stdout has the hooks' notes.

    Runs in a child process so the hooks see `env` (and the hooks' exit ends only that process),
    from tmp_path: `python -c` puts its folder first on sys.path, and from this checkout that
    would load its hubfleet_template.py rather than the copy's.
    Raises subprocess.CalledProcessError (with stderr) when generation fails.
    """
    answers = {
        "jupyterhub_chart_repository": NO_CHART_REPOSITORY,
        "support_chart_repository": NO_CHART_REPOSITORY,
        **answers,
    }
    output = tmp_path / "out"
    output.mkdir(parents=True, exist_ok=True)
    code = (
        "import json, sys\n"
        "from cookiecutter.main import cookiecutter\n"
        "print(cookiecutter(sys.argv[1], no_input=True, extra_context=json.loads(sys.argv[2]),"
        " output_dir=sys.argv[3]))\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(clean_template(tmp_path)),
            json.dumps(answers),
            str(output),
        ],
        env={**os.environ, **bake_env(tmp_path, env)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BakeFailed(proc.returncode, proc.args, proc.stdout, proc.stderr)
    return proc


def run_in(
    repo: Path,
    argv: list[str],
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = 1800,
) -> subprocess.CompletedProcess:
    """Run a command (the generated repo's own `invoke`/`nox`) inside repo; output captured."""
    proc = subprocess.run(
        [str(a) for a in argv],
        cwd=repo,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, argv))} failed in {repo} (exit {proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc
