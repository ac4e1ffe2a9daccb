"""helm for one release: version detection, the upgrade and rollback commands, history, and what
each revision deployed.

The git commit and image tag of a deploy are recorded as helm release labels (`--labels`, helm
3.13+ and 4). helm keeps them on the release's storage Secret and copies them on rollback, so
the revision serving after a rollback still names what it runs.
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fleet.core import output, settings
from fleet.core.errors import FleetError
from fleet.core.runner import Runner
from fleet.tools import kube

LABEL_COMMIT = "fleet-commit"
LABEL_IMAGE_TAG = "fleet-image-tag"
LABEL_DIRTY = "fleet-dirty"
# Whose release it is; releases made before these labels are known by LABEL_COMMIT and their
# name, <hub>-<env>, in the namespace of that name (fleet.orphans).
LABEL_FLEET = "fleet-name"
# The evidence of a revision's last health check, written by that check only (record_health):
LABEL_HEALTH = "fleet-health"  # passed or failed
LABEL_HEALTH_AT = "fleet-health-at"  # when, in seconds since the epoch
LABEL_HEALTH_REVISION = "fleet-health-revision"  # the revision checked
LABEL_HEALTH_IMAGE = "fleet-health-image"  # the digest of the image the test server ran
HEALTH_LABELS = (LABEL_HEALTH, LABEL_HEALTH_AT, LABEL_HEALTH_REVISION, LABEL_HEALTH_IMAGE)
# helm's upgrade keeps the previous revision's labels unless the new value is "null".
DROPPED = "null"
DIGEST_CHARS = 56  # of a sha256 digest's 64 hex digits, as a label value holds at most 63
GOOD = ("deployed", "superseded")
DURATION_PATTERN = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]")


def binary(environ: Mapping[str, str] | None = None) -> str:
    """The helm to run: env FLEET_HELM (a path or a name on PATH), else `helm`."""
    return settings.current(environ).helm


def parse_timeout(text: str, option: str = "timeout") -> int:
    """A helm/kubectl duration such as 10m, 90s or 1h30m, in seconds; a clear error otherwise."""
    match = DURATION_PATTERN.match(str(text).strip())
    if not text or not match or not any(match.groups()):
        raise FleetError(f"{option} {text!r}: expected a duration such as 30s, 10m or 1h30m")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def label_value(text: str) -> str:
    """A Kubernetes label value: at most 63 of [A-Za-z0-9_.-], starting and ending alphanumeric."""
    return LABEL_VALUE.sub("-", text)[:63].strip("-_.")


@functools.cache
def _major(helm: str) -> int:
    proc = Runner(echo=False).run(
        [helm, "version", "--template", "{{.Version}}"], step="helm version", mutates=False
    )
    match = re.match(r"v?(\d+)\.", proc.stdout.strip())
    if not match:
        raise FleetError(f"{helm} version: cannot read a version from {proc.stdout.strip()!r}")
    major = int(match.group(1))
    if major not in (3, 4):
        raise FleetError(f"{helm} is helm {proc.stdout.strip()}; helm 3 or 4 is needed")
    return major


def major_version(helm: str | None = None) -> int:
    """The helm major version (3 or 4), asked once per binary."""
    return _major(helm or binary())


def rollback_flag(major: int) -> str:
    """helm 4 renamed --atomic to --rollback-on-failure."""
    return "--atomic" if major == 3 else "--rollback-on-failure"


def image_flags(name: str, tag: str) -> list[str]:
    """The values naming the hub's user image; none when the chart's default image is used."""
    if not name:
        return []
    return [
        "--set-string",
        f"jupyterhub.singleuser.image.name={name}",
        "--set-string",
        f"jupyterhub.singleuser.image.tag={tag}",
    ]


@dataclass(frozen=True)
class Render:
    """What helm needs to render a release: its inputs in order (fleet.release makes one)."""

    helm: str
    release: str  # and its namespace
    chart: str
    values_files: tuple[str, ...]  # helm's order; the decrypted secrets are `secrets`, last
    secrets: str
    image_name: str = ""
    image_tag: str = ""
    mirror_flags: tuple[str, ...] = ()


def render_argv(render: Render) -> list[str]:
    """What every upgrade of the release shares: chart, namespace, values in order, the images."""
    argv = [render.helm, "upgrade", "--install", render.release, render.chart]
    argv += ["--namespace", render.release, "--create-namespace"]
    for path in render.values_files:
        argv += ["--values", str(path)]
    return argv + image_flags(render.image_name, render.image_tag) + list(render.mirror_flags)


def upgrade_argv(
    render: Render,
    *,
    major: int,
    timeout: str,
    rollback: bool,
    labels: dict[str, str],
    description: str,
) -> list[str]:
    """The real upgrade: waits, cleans up on failure, rolls back unless told not to, records labels."""
    argv = render_argv(render)
    argv += ["--wait", "--timeout", timeout, "--cleanup-on-fail"]
    if rollback:
        argv.append(rollback_flag(major))
    if labels:
        argv += ["--labels", ",".join(f"{k}={v}" for k, v in sorted(labels.items()))]
    # The new revision's number and status come back on stdout: no helm history call after it.
    argv += ["--description", description, "--output", "json"]
    return argv


def upgraded(stdout: str, release: str) -> tuple[int, str]:
    """The revision and status that `helm upgrade --output json` reports (its values are dropped)."""
    try:
        data = json.loads(stdout)
        return int(data["version"]), str(data["info"]["status"])
    except (ValueError, KeyError, TypeError):
        raise FleetError(f"helm upgrade of {release}: no release in its JSON output") from None


def dry_run_argv(render: Render) -> list[str]:
    """helm's server-side dry run of the upgrade; JSON, so the manifest is read without the NOTES."""
    return render_argv(render) + ["--dry-run=server", "--output", "json"]


def rollback_argv(
    *, helm: str, release: str, revision: int, timeout: str, wait: bool = True
) -> list[str]:
    """The rollback; without `wait` (a deploy stopping) it returns once the revision is written."""
    argv = [helm, "rollback", release, str(revision), "--namespace", release]
    return argv + (["--wait"] if wait else []) + ["--timeout", timeout, "--cleanup-on-fail"]


def uninstall_argv(helm: str, release: str, wait: bool = True) -> list[str]:
    return [helm, "uninstall", release, "--namespace", release] + (["--wait"] if wait else [])


def manifest_argv(helm: str, release: str, revision: int | None = None) -> list[str]:
    """The manifests a release (a revision of it: default the newest) was rendered to."""
    argv = [helm, "get", "manifest", release, "--namespace", release]
    return argv + (["--revision", str(revision)] if revision is not None else [])


def template_argv(
    chart: str, release: str, values_files: Sequence[str], kube_version: str, extra: Sequence[str]
) -> list[str]:
    """`helm template` of a release (in the namespace of its name), values files in order, for
    the Kubernetes version it is validated against."""
    argv = [binary(), "template", release, str(chart), "--namespace", release]
    argv += ["--kube-version", kube_version]
    for path in values_files:
        argv += ["--values", str(path)]
    return argv + list(extra)


def dependency_argv(action: str, chart: str, flags: Sequence[str] = ()) -> list[str]:
    """`helm dependency build` or `update` of a chart folder."""
    return [binary(), "dependency", action, str(chart), *flags]


def repo_add_argv(name: str, url: str, flags: Sequence[str] = ()) -> list[str]:
    return [binary(), "repo", "add", name, url, *flags]


def lint_argv(chart: str) -> list[str]:
    return [binary(), "lint", str(chart)]


def show_argv(what: str, ref: Sequence[str], flags: Sequence[str] = ()) -> list[str]:
    """`helm show chart|values` of a chart in a repository (ref: its name and --repo/--version)."""
    return [binary(), "show", what, *ref, *flags]


def history(runner: Runner, release: str, described: bool = False) -> list[dict]:
    """The release's revisions, oldest first ([] when there is no release), from one read of
    its storage Secrets (what `helm history` reads): each revision's number, status, the
    labels recorded with it, and when it was written ("updated": its Secret's creation, which a
    pending revision never changes). Only their metadata leave the server, unless `described`:
    then each revision's description too ("Rollback to 3"), from the Secrets' bodies."""
    revisions = []
    for item in _storage(runner, release, f"owner=helm,name={release}", whole=described):
        meta = item["metadata"]
        labels = meta.get("labels") or {}
        entry = {
            "revision": int(labels.get("version", 0)),
            "status": labels.get("status", ""),
            "updated": meta.get("creationTimestamp", ""),
            "labels": labels,
        }
        if described:
            entry["description"] = _stored(item)["description"]
        revisions.append(entry)
    return sorted(revisions, key=lambda r: r["revision"])


def _storage(runner: Runner, release: str, selector: str, whole: bool = False) -> list[dict]:
    """The metadata of a release's storage Secrets (one per revision), chosen by `selector`;
    `whole`: the Secrets themselves (each holds its revision's chart and values)."""
    url = kube.path("", "secrets", release)
    step = f"read the revisions of release {release}"
    return kube.items(runner, url, step=step, selector=selector, metadata_only=not whole)


def deployed_image(runner: Runner, release: str, revision: int, helm: str | None = None) -> str:
    """The user image a revision was deployed with, from its values (kept in memory, never printed)."""
    argv = [helm or binary(), "get", "values", release, "--namespace", release]
    argv += ["--revision", str(revision), "--output", "json"]
    proc = runner.run(argv, step=f"helm get values {release}", mutates=False)
    return _image_of(json.loads(proc.stdout or "{}") or {})


def _image_of(values: dict) -> str:
    image = ((values.get("jupyterhub") or {}).get("singleuser") or {}).get("image") or {}
    if not image.get("name"):
        return ""
    return f"{image['name']}:{image.get('tag') or 'latest'}"


def cluster_releases(
    runner: Runner, wanted: set[tuple[str, str]] | None = None, images: bool = True
) -> dict[tuple[str, str], dict]:
    """(namespace, release) -> {"latest": info, "serving": info or None} for every release of a
    cluster (or those `wanted`), in one read of helm's storage Secrets (each info as
    `latest_info` gives it). Without `images`, only the Secrets' metadata leave the server
    (revision, status, commit: what a plan needs) and each info's image is "".

    Superseded revisions are left out: the newest revision and the one serving never are.
    """
    selector = "owner=helm,status!=superseded"
    if wanted is not None:  # chosen by the API server: a release's storage holds its whole chart
        selector += f",name in ({','.join(sorted({name for _, name in wanted}))})"
    url, step = kube.path("", "secrets"), "read the cluster's releases"
    listed = kube.items(runner, url, step=step, selector=selector, metadata_only=not images)
    return releases_from(listed, wanted)


def releases_from(
    items: list[dict], wanted: set[tuple[str, str]] | None = None
) -> dict[tuple[str, str], dict]:
    """`cluster_releases` from helm's storage Secrets as the API lists them (or their metadata)."""
    revisions: dict[tuple[str, str], list[dict]] = {}
    for item in items:
        meta = item["metadata"]
        key = (meta["namespace"], (meta.get("labels") or {}).get("name", ""))
        if wanted is not None and key not in wanted:
            continue  # the same name in another namespace
        revisions.setdefault(key, []).append(_stored(item) if "data" in item else _labelled(item))
    found = {}
    for key, infos in revisions.items():
        infos.sort(key=lambda info: info["revision"])
        serving = [info for info in infos if info["status"] == "deployed"]
        found[key] = {"latest": infos[-1], "serving": serving[-1] if serving else None}
    return found


def _labelled(item: dict) -> dict:
    """What a storage Secret's metadata says of its revision (no image: that is in its body)."""
    meta = item["metadata"]
    labels = meta.get("labels") or {}
    return {
        "revision": int(labels.get("version") or 0),
        "status": labels.get("status", ""),
        "commit": labels.get(LABEL_COMMIT, ""),
        "dirty": labels.get(LABEL_DIRTY) == "true",
        "image": "",
        "image_tag": labels.get(LABEL_IMAGE_TAG, ""),
        "updated": meta.get("creationTimestamp", ""),
        "description": "",
    }


def _stored(item: dict) -> dict:
    """A helm storage Secret's release: base64 (Kubernetes') of base64 of gzip of JSON."""
    labels = item["metadata"].get("labels") or {}
    payload = base64.b64decode(base64.b64decode(item["data"]["release"]))
    if payload[:2] == b"\x1f\x8b":
        payload = gzip.decompress(payload)
    release = json.loads(payload)
    info = release.get("info") or {}
    # Only the image is taken from the values (they hold the hub's secrets).
    return {
        "revision": int(release.get("version") or labels.get("version") or 0),
        "status": info.get("status") or labels.get("status", ""),
        "commit": labels.get(LABEL_COMMIT, ""),
        "dirty": labels.get(LABEL_DIRTY) == "true",
        "image": _image_of(release.get("config") or {}),
        "image_tag": labels.get(LABEL_IMAGE_TAG, ""),
        "updated": info.get("last_deployed", ""),
        "description": info.get("description", ""),
    }


def _info(runner: Runner, release: str, entry: dict, helm: str | None) -> dict:
    labels = entry["labels"]
    return {
        "revision": entry["revision"],
        "status": entry["status"],
        "commit": labels.get(LABEL_COMMIT, ""),
        "dirty": labels.get(LABEL_DIRTY) == "true",
        "image": deployed_image(runner, release, entry["revision"], helm),
        "image_tag": labels.get(LABEL_IMAGE_TAG, ""),
        "updated": entry.get("updated", ""),
        "labels": labels,
    }


def deployed_info(runner: Runner, release: str, helm: str | None = None) -> dict | None:
    """The revision now serving (status deployed): revision, status, commit, image, updated; or None."""
    revisions = [r for r in history(runner, release) if r["status"] == "deployed"]
    return _info(runner, release, revisions[-1], helm) if revisions else None


def latest_info(runner: Runner, release: str, helm: str | None = None) -> dict | None:
    """The newest revision whatever its status (a failed or pending one shows here), or None."""
    revisions = history(runner, release)
    return _info(runner, release, revisions[-1], helm) if revisions else None


def revision_age(entry: dict) -> float | None:
    """Seconds since a `history` entry was last written (its "updated"), or None."""
    stamp = str(entry.get("updated") or "")
    pattern = r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(\.\d+)?\s*(Z|[+-]\d\d:?\d\d)?"
    match = re.match(pattern, stamp)
    if not match:
        return None
    day, clock, fraction, zone = match.groups()
    zone = "+00:00" if zone in (None, "Z") else zone
    text = f"{day}T{clock}{(fraction or '')[:7]}{zone}"
    try:
        written = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (datetime.now(UTC) - written).total_seconds()


def last_good_revision(revisions: list[dict], before: int | None = None) -> int | None:
    """The newest revision that served successfully (deployed or superseded), older than `before`."""
    good = [
        r["revision"]
        for r in revisions
        if r["status"] in GOOD and (before is None or r["revision"] < before)
    ]
    return good[-1] if good else None


def recover_pending(
    runner: Runner,
    release: str,
    timeout: str,
    helm: str | None = None,
    out=sys.stderr,
    revisions: list[dict] | None = None,
    wait: bool = True,
) -> str | None:
    """Undo a revision left pending (an upgrade killed by Ctrl-C), so the next upgrade can run.

    Rolls back to the last good revision, or uninstalls a release that never deployed.
    Returns what it did, or None when nothing was pending. Only a holder of the release's
    deploy lock (fleet.lock) may call it: then no live process is upgrading it.
    """
    helm = helm or binary()
    if revisions is None:
        revisions = history(runner, release)
    if not revisions or not revisions[-1]["status"].startswith("pending-"):
        return None
    stuck = revisions[-1]
    good = last_good_revision(revisions)
    if good is None:
        action = "uninstalling it (it never deployed)"
        message = f"release {release} was left in {stuck['status']} at revision {stuck['revision']}; {action}"
        output.line(message, out)
        runner.run(
            uninstall_argv(helm, release),
            step=f"recover {release}",
        )
    else:
        action = f"rolling back to revision {good}"
        message = f"release {release} was left in {stuck['status']} at revision {stuck['revision']}; {action}"
        output.line(message, out)
        runner.run(
            rollback_argv(helm=helm, release=release, revision=good, timeout=timeout, wait=wait),
            step=f"recover {release}",
        )
    return message


def digest_label(digest: str) -> str:
    """A label value for an image digest (sha256:<hex>): its first DIGEST_CHARS hex digits."""
    return digest.partition(":")[2][:DIGEST_CHARS] if ":" in digest else ""


def health_labels(passed: bool, revision: int, at: float, image_digest: str) -> dict[str, str]:
    """The evidence one health check of `revision` leaves on it, for the canary gate."""
    return {
        LABEL_HEALTH: "passed" if passed else "failed",
        LABEL_HEALTH_AT: str(int(at)),
        LABEL_HEALTH_REVISION: str(revision),
        LABEL_HEALTH_IMAGE: digest_label(image_digest) or "unknown",
    }


def record_health(runner: Runner, release: str, revision: int, labels: dict[str, str]) -> None:
    """Label the revision's storage Secret with its health check (`health_labels`)."""
    step = f"record the health check of {release}"
    for item in _storage(runner, release, f"owner=helm,name={release},version={revision}"):
        url = kube.path("", "secrets", release, item["metadata"]["name"])
        kube.merge_patch(runner, url, {"metadata": {"labels": labels}}, step=step)
