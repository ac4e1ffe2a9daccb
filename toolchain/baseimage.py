"""The base image hubfleet/base:bookworm, made with debootstrap: no registry pull needed.

Python 3 with pip in a venv on PATH, trusting the host's CA bundle (so pip in a container
reaches the package index from behind a TLS-intercepting proxy, as on CI machines).
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

from . import cache, versions
from .run import MissingPrerequisite, run

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
IMAGE_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# A copy update-ca-certificates in a derived image does not overwrite.
IMAGE_HOST_CA_BUNDLE = "/usr/local/share/hubfleet/host-ca-certificates.crt"
REVISION_LABEL = "org.hubfleet.base-revision"


def debian_mirror(
    sources: Path = Path("/etc/apt/sources.list.d/debian.sources"),
    sources_list: Path = Path("/etc/apt/sources.list"),
) -> str:
    """The first Debian mirror URI in the host's apt sources (deb822 or one-line format).

    No guessed default: a mirror this machine is not configured for may well be unreachable.
    """
    candidates = [sources, sources_list]
    for path in candidates:
        if not path.exists():
            continue
        text = path.read_text()
        for uri in re.findall(r"^URIs:\s*(\S+)", text, re.MULTILINE) + re.findall(
            r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, re.MULTILINE
        ):
            if "security" not in uri:
                return uri.rstrip("/")
    read = ", ".join(f"{path}{'' if path.exists() else ' (missing)'}" for path in candidates)
    raise MissingPrerequisite(
        f"no Debian mirror in the apt sources ({read}): add the mirror debootstrap should use, "
        f"as `URIs: <mirror>` in {sources} or a `deb <mirror> {versions.BASE_IMAGE_SUITE} main` "
        f"line in {sources_list}"
    )


def image_changes() -> list[str]:
    """The `docker import --change` instructions of the base image."""
    return [
        "ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV VIRTUAL_ENV=/opt/venv",
        f"ENV PIP_CERT={IMAGE_HOST_CA_BUNDLE}",
        f"ENV REQUESTS_CA_BUNDLE={IMAGE_HOST_CA_BUNDLE}",
        f"ENV SSL_CERT_FILE={IMAGE_HOST_CA_BUNDLE}",
        "ENV LANG=C.UTF-8",
        f"LABEL {REVISION_LABEL}={versions.BASE_IMAGE_REVISION}",
        'CMD ["python3"]',
    ]


def present(image: str = versions.BASE_IMAGE) -> bool:
    proc = subprocess.run(
        [
            "docker",
            "image",
            "inspect",
            "--format",
            f'{{{{index .Config.Labels "{REVISION_LABEL}"}}}}',
            image,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0 and proc.stdout.strip() == versions.BASE_IMAGE_REVISION


def tarball() -> Path:
    return cache.cache_dir() / "images" / f"base-{versions.BASE_IMAGE_SUITE}.tar"


def ensure(image: str = versions.BASE_IMAGE) -> str:
    """Build (or re-import) the base image unless docker has this revision; return a status."""
    if present(image):
        return f"{image} present"
    tar = tarball()
    if not (tar.exists() and cache.read_stamp("base-image") == versions.BASE_IMAGE_REVISION):
        build_rootfs_tarball(tar)
    run(
        ["docker", "import", *[a for c in image_changes() for a in ("--change", c)], tar, image],
        step=f"importing {image}",
    )
    return f"{image} imported from {tar}"


def build_rootfs_tarball(tar: Path) -> None:
    for tool in ("debootstrap", "chroot"):
        if not shutil.which(tool):
            raise MissingPrerequisite(
                f"`{tool}` is missing: run `invoke toolchain` (apt debootstrap)"
            )
    mirror = debian_mirror()
    rootfs = cache.build_dir() / f"rootfs-{versions.BASE_IMAGE_SUITE}"
    _remove_rootfs(rootfs)
    print(
        f"building the base image root filesystem with debootstrap from {mirror}... "
        "(about 1-2 min)",
        file=sys.stderr,
        flush=True,
    )
    try:
        run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,python3-pip,ca-certificates",
                versions.BASE_IMAGE_SUITE,
                rootfs,
                mirror,
            ],
            step="debootstrap of the base image",
        )
        run(
            ["chroot", rootfs, "python3", "-m", "venv", "/opt/venv"],
            step="creating /opt/venv in the base image",
        )
        host_copy = rootfs / IMAGE_HOST_CA_BUNDLE.lstrip("/")
        host_copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(HOST_CA_BUNDLE, host_copy)
        shutil.copyfile(HOST_CA_BUNDLE, rootfs / IMAGE_CA_BUNDLE.lstrip("/"))
        # Package caches and lists only make the image bigger.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / junk).glob("*"):
                if path.is_file():
                    path.unlink()
        tar.parent.mkdir(parents=True, exist_ok=True)
        partial = tar.with_suffix(".partial")
        run(
            ["tar", "-C", rootfs, "--numeric-owner", "-cf", partial, "."],
            step="archiving the base image root filesystem",
        )
        partial.replace(tar)
        cache.write_stamp("base-image", versions.BASE_IMAGE_REVISION)
    finally:
        _remove_rootfs(rootfs)


def _remove_rootfs(rootfs: Path) -> None:
    """Remove a root filesystem, first unmounting anything a failed debootstrap left mounted."""
    if not rootfs.exists():
        return
    prefix = str(rootfs.resolve()) + "/"
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)
    shutil.rmtree(rootfs, ignore_errors=True)
