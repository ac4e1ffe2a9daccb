"""User images: content-hash tags, registry existence checks, build and push with the docker SDK.

An image's tag is a hash of the files that reach its build (after `.dockerignore`), so it is the
same on any clone, shallow or force-pushed, and nothing is rebuilt without a change.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
import stat
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from fleet.core import output, settings
from fleet.core.config import Fleet, Hub
from fleet.core.errors import FleetError, StepFailed

TAG_LENGTH = 16
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def dockerignore_patterns(context: Path) -> list[str]:
    """The context's .dockerignore patterns, read exactly as the docker SDK reads them for a build."""
    ignore = context / ".dockerignore"
    if not ignore.exists():
        return []
    lines = (line.strip() for line in ignore.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def context_files(context: Path) -> list[str]:
    """Relative paths of the files that reach the build, sorted; docker's own .dockerignore rules."""
    from docker.utils.build import exclude_paths  # noqa: PLC0415 - docker SDK: slow to import

    if not (context / "Dockerfile").is_file():
        raise FleetError(f"{context}: no Dockerfile")
    kept = exclude_paths(str(context), dockerignore_patterns(context), dockerfile="Dockerfile")
    files = []
    for rel in kept:
        path = context / rel
        if path.is_symlink() or path.is_file():
            files.append(Path(rel).as_posix())
    return sorted(files)


def context_tag(context: Path) -> str:
    """The image tag: a hash of each kept file's path, executable bit and content.

    Only the executable bit of the mode counts: it is all git records, so the tag does not
    depend on the umask of the clone.
    """
    digest = hashlib.sha256()
    for rel in context_files(context):
        path = context / rel
        if path.is_symlink():
            kind, content = "l", os.readlink(path).encode()
        else:
            mode = path.stat().st_mode
            kind = "x" if mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH) else "f"
            content = path.read_bytes()
        digest.update(f"{rel}\0{kind}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()[:TAG_LENGTH]


@dataclass(frozen=True)
class ImageRef:
    """A reference registry/repository:tag, split the way the registry API needs it."""

    registry: str
    repository: str
    tag: str

    @classmethod
    def parse(cls, ref: str) -> ImageRef:
        name, _, tag = ref.rpartition(":")
        if not name or "/" in tag:
            raise FleetError(f"image {ref!r}: expected registry/repository:tag")
        host, _, repository = name.partition("/")
        if not repository or not ("." in host or ":" in host or host == "localhost"):
            raise FleetError(f"image {ref!r}: expected a registry host before the first '/'")
        return cls(host, repository, tag)

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        return f"{self.name}:{self.tag}"


def registry_scheme(host: str) -> str:
    """Plain HTTP for a registry on the loopback interface (as docker does), else HTTPS."""
    if host.startswith("["):
        hostname = host[1 : host.index("]")]
    else:
        hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if hostname == "localhost":
        return "http"
    try:
        return "http" if ipaddress.ip_address(hostname).is_loopback else "https"
    except ValueError:
        return "https"


def registry_credentials(host: str) -> dict | None:
    """Username and password for a registry, read-only: FLEET_REGISTRY_USERNAME/PASSWORD, or
    the user's docker config (and its credential helpers). Nothing is written anywhere."""
    chosen = settings.current()
    user, password = chosen.registry_username, chosen.registry_password
    if user and password:
        return {"username": user, "password": password}
    from docker import auth  # noqa: PLC0415 - docker SDK: slow to import

    found = auth.resolve_authconfig(auth.load_config(), host)
    if found and found.get("username") and found.get("password"):
        return {"username": found["username"], "password": found["password"]}
    return None


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


def _basic(creds: dict) -> str:
    pair = f"{creds['username']}:{creds['password']}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def registry_has(ref: ImageRef, timeout: float = 15) -> bool:
    """Whether the registry has this tag."""
    return registry_digest(ref, timeout) is not None


def registry_digest(ref: ImageRef, timeout: float = 15) -> str | None:
    """The digest (sha256:...) the registry serves for this tag, or None when it has no such tag:
    HEAD /v2/<repository>/manifests/<tag>, with token auth."""
    url = (
        f"{registry_scheme(ref.registry)}://{ref.registry}/v2/{ref.repository}/manifests/{ref.tag}"
    )
    creds = None
    authorization = None
    for attempt in range(2):
        request = urllib.request.Request(url, method="HEAD", headers={"Accept": MANIFEST_TYPES})
        if authorization:
            request.add_header("Authorization", authorization)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.headers.get("Docker-Content-Digest") or ""
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            if exc.code == 401 and attempt == 0:
                creds = registry_credentials(ref.registry)
                authorization = _authorize(
                    ref, exc.headers.get("WWW-Authenticate", ""), creds, timeout
                )
                continue
            raise FleetError(
                f"registry {ref.registry}: checking {ref}: HTTP {exc.code} {exc.reason}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise FleetError(
                f"registry {ref.registry} unreachable while checking {ref}: {reason}"
            ) from None
    hint = (
        ""
        if creds
        else " (no credentials: set FLEET_REGISTRY_USERNAME and FLEET_REGISTRY_PASSWORD)"
    )
    raise FleetError(f"registry {ref.registry}: not authorized to read {ref}{hint}")


def _authorize(ref: ImageRef, header: str, creds: dict | None, timeout: float) -> str | None:
    scheme, params = _challenge(header)
    if scheme == "basic":
        return _basic(creds) if creds else None
    if scheme != "bearer" or "realm" not in params:
        return None
    query = {"scope": params.get("scope") or f"repository:{ref.repository}:pull"}
    if "service" in params:
        query["service"] = params["service"]
    request = urllib.request.Request(params["realm"] + "?" + urllib.parse.urlencode(query))
    if creds:
        request.add_header("Authorization", _basic(creds))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FleetError(
            f"registry {ref.registry}: getting a token from {params['realm']}: {exc}"
        ) from None
    token = body.get("token") or body.get("access_token")
    return f"Bearer {token}" if token else None


def image_context(root: Path, image: str) -> Path:
    return root / "images" / image


def image_ref(fleet: Fleet, image: str) -> ImageRef:
    """The reference a fleet image is pushed to: <registry>/<image>:<context hash>."""
    return ImageRef.parse(fleet.image_ref(image, context_tag(image_context(fleet.root, image))))


def hub_image(fleet: Fleet, hub: Hub) -> str:
    """The image a hub runs: its external image, its fleet image's content tag, or "" (chart's)."""
    if hub.external_image:
        return hub.external_image
    return str(image_ref(fleet, hub.image)) if hub.image else ""


def split_image(ref: str) -> tuple[str, str]:
    """name and tag for the chart's image.name/image.tag; a digest rides in the tag (tag@sha256:...)."""
    if not ref:
        return "", ""
    if "@" in ref:
        name, digest = ref.split("@", 1)
        return name, f"pinned@{digest}"
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:
        return ref, "latest"
    return name, tag


def _docker():
    import docker  # noqa: PLC0415 - docker SDK: slow to import

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # the SDK raises several kinds for "no daemon"
        raise FleetError(
            f"docker engine unreachable ({exc}); start docker or set DOCKER_HOST"
        ) from None
    return client


def build(
    fleet: Fleet, image: str, *, push: bool = False, no_cache: bool = False, out=sys.stderr
) -> ImageRef:
    """Build (and push) one image unless the registry already has its tag; returns its reference."""
    if image not in fleet.images:
        valid = ", ".join(fleet.images) or "(none)"
        raise FleetError(f"unknown image {image!r}; valid images: {valid}")
    context = image_context(fleet.root, image)
    ref = image_ref(fleet, image)
    if registry_has(ref):
        output.line(f"{ref}: already in the registry; build and push skipped", out)
        return ref
    client = _docker()
    build_args = {}
    base_image = settings.current().base_image
    if base_image:
        build_args["BASE_IMAGE"] = base_image
    output.line(f"{ref}: building images/{image} ({len(context_files(context))} files)", out)
    _stream_build(client, context, ref, build_args, no_cache, out)
    if push:
        _stream_push(client, ref, out)
    return ref


def _stream_build(
    client, context: Path, ref: ImageRef, build_args: dict, no_cache: bool, out
) -> None:
    tail: deque[str] = deque(maxlen=25)
    step = "(before the first step)"
    try:
        chunks = client.api.build(
            path=str(context),
            tag=str(ref),
            buildargs=build_args,
            nocache=no_cache,
            rm=True,
            forcerm=True,
            decode=True,
        )
        for chunk in chunks:
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk.get("error", "")
                tail.append(detail)
                raise StepFailed(f"build {ref} at {step}", 1, "\n".join(tail))
            for line in chunk.get("stream", "").splitlines():
                if not line.strip():
                    continue
                tail.append(line)
                if line.startswith("Step "):
                    step = line
                    output.line(f"  {line}", out)
    except StepFailed:
        raise
    except Exception as exc:  # docker.errors.APIError and connection errors
        raise StepFailed(f"build {ref} at {step}", 1, "\n".join([*tail, str(exc)])) from None
    output.line(f"{ref}: built", out)


def _stream_push(client, ref: ImageRef, out) -> None:
    creds = registry_credentials(ref.registry)
    output.line(f"{ref}: pushing", out)
    layers: dict[str, str] = {}
    try:
        chunks = client.api.push(ref.name, tag=ref.tag, stream=True, decode=True, auth_config=creds)
        for chunk in chunks:
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk.get("error", "")
                raise StepFailed(f"push {ref}", 1, detail)
            status, layer = chunk.get("status", ""), chunk.get("id", "")
            if (
                layer
                and status in ("Pushed", "Layer already exists", "Mounted from")
                and layers.get(layer) != status
            ):
                layers[layer] = status
                output.line(f"  {layer}: {status}", out)
            elif status.startswith(ref.tag + ": digest"):
                output.line(f"  {status}", out)
    except StepFailed:
        raise
    except Exception as exc:
        raise StepFailed(f"push {ref}", 1, str(exc)) from None
    if not registry_has(ref):
        raise StepFailed(f"push {ref}", 1, "the registry does not list the tag after the push")
    output.line(f"{ref}: pushed", out)


def build_all(fleet: Fleet, images: list[str] | None = None, **kwargs) -> list[ImageRef]:
    """Build each named image, or every image of the fleet."""
    return [build(fleet, image, **kwargs) for image in (images or fleet.images)]
