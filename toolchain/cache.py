"""Where the toolchain keeps its pinned tools, builds, logs and process records."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """The cache root: $HUBFLEET_CACHE, else ~/.cache/hubfleet."""
    env = os.environ.get("HUBFLEET_CACHE")
    path = Path(env) if env else Path.home() / ".cache" / "hubfleet"
    return path.expanduser().resolve()


def bin_dir() -> Path:
    return cache_dir() / "bin"


def build_dir() -> Path:
    return cache_dir() / "build"


def log_dir() -> Path:
    return cache_dir() / "logs"


def run_dir() -> Path:
    """Records of running processes (pid files, state) of cluster-up and of test sessions."""
    return cache_dir() / "run"


def stamp_path(name: str) -> Path:
    return cache_dir() / "stamps" / name


def read_stamp(name: str) -> str | None:
    try:
        return stamp_path(name).read_text().strip()
    except FileNotFoundError:
        return None


def write_stamp(name: str, value: str) -> None:
    path = stamp_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value + "\n")


def fixtures_dir() -> Path:
    """The shared test fixtures: $HUBFLEET_FIXTURES, else `../shared/fixtures` beside the project
    (absent on a plain clone elsewhere)."""
    named = os.environ.get("HUBFLEET_FIXTURES")
    return Path(named) if named else PROJECT_ROOT.parent / "shared" / "fixtures"
