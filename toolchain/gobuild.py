"""Build pinned Go tools into the cache bin dir."""

import json
import os
import shutil
import sys
from pathlib import Path

from . import cache, gomod, versions
from .run import MissingPrerequisite, run


def require_go() -> str:
    go = shutil.which("go")
    if not go:
        raise MissingPrerequisite(
            f"`go` is not installed: install Go {versions.GO_MIN} or newer from https://go.dev/dl/ "
            "and put its bin directory on PATH"
        )
    return go


def installed(name: str, version: str) -> bool:
    """Cheap presence check: the binary exists and its stamp records the pinned version."""
    return (cache.bin_dir() / name).exists() and cache.read_stamp(name) == version


def go_install(name: str, package: str, version: str) -> Path:
    """`go install package@version` and put the binary in the cache bin dir as `name`."""
    target = cache.bin_dir() / name
    if installed(name, version):
        return target
    go = require_go()
    gobin = cache.build_dir() / "gobin" / name
    shutil.rmtree(gobin, ignore_errors=True)
    gobin.mkdir(parents=True)
    print(
        f"building {name} {version} with go install... (a few minutes on first run)",
        file=sys.stderr,
        flush=True,
    )
    run([go, "install", f"{package}@{version}"], step=f"building {name}", env={"GOBIN": str(gobin)})
    built = gobin / package.rsplit("/", 1)[-1]
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(built, target)
    cache.write_stamp(name, version)
    return target


def download_module(go: str, module: str, version: str) -> dict:
    """`go mod download -json module@version`: where its go.mod, info and sources are."""
    return json.loads(
        run(
            [go, "mod", "download", "-json", f"{module}@{version}"],
            step=f"downloading {module}",
            capture=True,
        ).stdout
    )


def kube_stamp(version: str) -> str:
    """What the stamps of the Kubernetes binaries record: the version and the build recipe."""
    return f"{version} build-{versions.KUBE_BUILD_REVISION}"


def build_kubernetes(version: str = versions.KUBERNETES) -> list[Path]:
    """Build the Kubernetes binaries the toolchain needs (versions.KUBE_BINARIES) of a release."""
    targets = [cache.bin_dir() / name for name in versions.KUBE_BINARIES]
    stamp = kube_stamp(version)
    if all(installed(t.name, stamp) for t in targets):
        return targets
    go = require_go()
    staging = "v0." + version.removeprefix("v1.")
    info = download_module(go, "k8s.io/kubernetes", version)
    scratch = cache.build_dir() / f"kubernetes-{version}"
    scratch.mkdir(parents=True, exist_ok=True)
    text = gomod.scratch_gomod(
        Path(info["GoMod"]).read_text(),
        module="hubfleet/kubebuild",
        require="k8s.io/kubernetes",
        version=version,
        staging_version=staging,
    )
    (scratch / "go.mod").write_text(text)
    build_date = json.loads(Path(info["Info"]).read_text())["Time"]
    outdir = scratch / "out"
    outdir.mkdir(exist_ok=True)
    print(
        f"building {', '.join(versions.KUBE_BINARIES)} {version}... "
        "(this takes ~15-25 min on 2 cores on first run)",
        file=sys.stderr,
        flush=True,
    )
    # -mod=mod lets go fill in go.sum (`go mod tidy` would need the sources of every package).
    run(
        [
            go,
            "build",
            "-mod=mod",
            "-ldflags",
            gomod.kube_version_ldflags(version, build_date),
            "-o",
            f"{outdir}/",
            *[f"k8s.io/kubernetes/cmd/{name}" for name in versions.KUBE_BINARIES],
        ],
        step="building Kubernetes (control plane, kubelet, kube-proxy)",
        cwd=scratch,
    )
    cache.bin_dir().mkdir(parents=True, exist_ok=True)
    for target in targets:
        os.replace(outdir / target.name, target)
        cache.write_stamp(target.name, stamp)
    print(f"built {', '.join(versions.KUBE_BINARIES)} {version}", file=sys.stderr)
    return targets


def etcd_stamp(version: str) -> str:
    """What the stamp of the etcd binary records: the version and the build recipe."""
    return f"{version} build-{versions.ETCD_BUILD_REVISION}"


def build_etcd(version: str = versions.ETCD) -> Path:
    """Build the etcd server of a release from its Go module, in a scratch module."""
    target = cache.bin_dir() / "etcd"
    stamp = etcd_stamp(version)
    if installed(target.name, stamp):
        return target
    go = require_go()
    info = download_module(go, versions.ETCD_MODULE, version)
    scratch = cache.build_dir() / f"etcd-{version}"
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "go.mod").write_text(
        gomod.pinned_scratch_gomod(
            Path(info["GoMod"]).read_text(),
            module="hubfleet/etcdbuild",
            require=versions.ETCD_MODULE,
            version=version,
        )
    )
    outdir = scratch / "out"
    outdir.mkdir(exist_ok=True)
    print(f"building etcd {version}... (about a minute on first run)", file=sys.stderr, flush=True)
    # The etcd command is the main package at the root of go.etcd.io/etcd/server/v3.
    run(
        [go, "build", "-mod=mod", "-o", f"{outdir}/etcd", versions.ETCD_MODULE],
        step="building etcd",
        cwd=scratch,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(outdir / "etcd", target)
    cache.write_stamp(target.name, stamp)
    print(f"built etcd {version}", file=sys.stderr)
    return target
