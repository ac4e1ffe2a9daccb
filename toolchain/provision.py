"""`invoke toolchain`: provision every pinned tool, idempotently, cheap when all is present."""

import json
import os
import re
import shutil
import subprocess
import sys
import time

from . import act, baseimage, cache, chartrepo, dockerd, gobuild, hubimages, node, storage, versions
from .run import MissingPrerequisite, ToolError, run


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def missing_apt_packages(packages=versions.APT_PACKAGES) -> list[str]:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    installed = {
        line.split()[0] for line in proc.stdout.splitlines() if line.endswith(" installed")
    }
    return [p for p in packages if p not in installed]


def ensure_apt_packages(packages=versions.APT_PACKAGES) -> str:
    if not shutil.which("dpkg-query"):
        raise MissingPrerequisite("`dpkg-query` is missing: the toolchain needs Debian or Ubuntu")
    missing = missing_apt_packages(packages)
    if not missing:
        return f"apt packages present: {' '.join(packages)}"
    if os.geteuid() != 0:
        raise MissingPrerequisite(
            f"apt packages missing ({' '.join(missing)}) and not root: run "
            f"`sudo apt-get install -y {' '.join(missing)}`, then `invoke toolchain` again"
        )
    say(f"installing apt packages: {' '.join(missing)}...")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update"], step="apt-get update", env=env)
    run(
        ["apt-get", "install", "-y", "--no-install-recommends", *missing],
        step="installing apt packages",
        env=env,
    )
    return f"apt packages installed: {' '.join(missing)}"


def ensure_go_tools(names=tuple(versions.GO_TOOLS)) -> list[str]:
    lines = []
    for name in names:
        package, version = versions.GO_TOOLS[name]
        present = gobuild.installed(name, version)
        gobuild.go_install(name, package, version)
        lines.append(f"{name} {version}" + (" present" if present else " built"))
    helm = cache.bin_dir() / "helm"
    if not (helm.is_symlink() and os.readlink(helm) == "helm4"):
        helm.unlink(missing_ok=True)
        helm.symlink_to("helm4")
    lines.append("helm -> helm4")
    return lines


def ensure_optional_go_tools() -> list[str]:
    lines = []
    for name, (package, version) in versions.OPTIONAL_GO_TOOLS.items():
        try:
            present = gobuild.installed(name, version)
            gobuild.go_install(name, package, version)
            lines.append(f"{name} {version}" + (" present" if present else " built"))
        except ToolError as error:
            # Optional: only some lint checks use it; say so and carry on.
            lines.append(f"warning: optional {name} not built: {str(error).splitlines()[0]}")
    return lines


def ensure_kube_binaries() -> str:
    stamp = gobuild.kube_stamp(versions.KUBERNETES)
    present = all(gobuild.installed(n, stamp) for n in versions.KUBE_BINARIES)
    gobuild.build_kubernetes(versions.KUBERNETES)
    state = "present" if present else "built"
    return f"{', '.join(versions.KUBE_BINARIES)} {versions.KUBERNETES} {state}"


def minor_version(version: str) -> int:
    """The minor version of a Kubernetes version string: "v1.32.4-dispatcher" -> 32."""
    match = re.match(r"v?1\.(\d+)", version)
    if not match:
        raise ValueError(f"not a Kubernetes version: {version!r}")
    return int(match.group(1))


def check_kubectl() -> str:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        raise MissingPrerequisite(
            f"`kubectl` is not on PATH: install kubectl {versions.KUBERNETES} "
            "(or within one minor version of it), e.g. from https://dl.k8s.io"
        )
    out = run(
        [kubectl, "version", "--client", "-o", "json"],
        step="checking kubectl",
        capture=True,
        echo=False,
    ).stdout
    client = json.loads(out)["clientVersion"]["gitVersion"]
    skew = abs(minor_version(client) - minor_version(versions.KUBERNETES))
    if skew > 1:
        raise MissingPrerequisite(
            f"kubectl {client} ({kubectl}) is more than one minor version away from the "
            f"cluster's {versions.KUBERNETES}: install a kubectl 1.{minor_version(versions.KUBERNETES)}"
        )
    return (
        f"kubectl {client} ({kubectl}): skew with kube-apiserver {versions.KUBERNETES} "
        f"is {skew} minor version(s), supported"
    )


def ensure_etcd() -> str:
    present = gobuild.installed("etcd", gobuild.etcd_stamp(versions.ETCD))
    gobuild.build_etcd(versions.ETCD)
    return f"etcd {versions.ETCD} " + ("present" if present else "built")


# What generating a deployment repo runs: sops and age (or gpg) for its secrets, helm to lock its
# charts' dependencies.
GENERATION_APT_PACKAGES = ("age", "gnupg")
GENERATION_GO_TOOLS = ("helm3", "helm4", "sops")


def provision(*, optional: bool = True, generation: bool = False) -> float:
    """Provision everything (or only what generation needs); return the run time in seconds."""
    start = time.monotonic()
    cache.bin_dir().mkdir(parents=True, exist_ok=True)
    say(
        f"toolchain cache: {cache.cache_dir()}" + (" (what generation needs)" if generation else "")
    )
    if generation:
        steps = [
            ("apt packages", lambda: [ensure_apt_packages(GENERATION_APT_PACKAGES)]),
            ("go tools", lambda: ensure_go_tools(GENERATION_GO_TOOLS)),
        ]
    else:
        steps = [
            ("apt packages", lambda: [ensure_apt_packages()]),
            ("go tools", ensure_go_tools),
            ("kubernetes", lambda: [ensure_kube_binaries()]),
            ("etcd", lambda: [ensure_etcd()]),
            ("storage provisioner", lambda: [storage.ensure_provisioner()]),
            ("kubectl", lambda: [check_kubectl()]),
            ("dockerd", lambda: [dockerd.ensure_running()]),
            ("pause image", lambda: [node.ensure_pause_image()]),
            ("base image", lambda: [baseimage.ensure()]),
            ("jupyterhub images", hubimages.ensure),
            ("act", act.ensure),
            (
                "jupyterhub chart",
                lambda: [
                    f"{chartrepo.describe()}: {chartrepo.ensure_chart(cache.bin_dir() / 'helm4')}"
                ],
            ),
        ]
        if optional:
            steps.append(("optional tools", ensure_optional_go_tools))
    for _, step in steps:
        for line in step():
            say(f"  ok  {line}")
    elapsed = time.monotonic() - start
    say(
        f"toolchain ready in {elapsed:.1f}s; add it to PATH with:\n"
        f'  export PATH="{cache.bin_dir()}:$PATH"'
    )
    return elapsed
