"""What an upgrade would change: a unified diff of the live release's manifests against the new
ones, with Secret data replaced by keyed fingerprints, so a change shows without its content.
No helm plugin is needed.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import secrets as _random

import yaml

from .redact import redact_text
from .runner import Runner

SECRET_KINDS = {"Secret"}


def fingerprint(value: object, key: bytes) -> str:
    """A marker for a secret value: equal values match within one diff, and nothing can be guessed
    from it afterwards (the key is random for each run)."""
    digest = hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:12]
    return f"<redacted hmac:{digest}>"


def mask_secret(doc: dict, key: bytes) -> dict:
    """A copy of a Secret manifest with each data and stringData value replaced by its marker."""
    masked = dict(doc)
    for field in ("data", "stringData"):
        if isinstance(doc.get(field), dict):
            masked[field] = {k: fingerprint(v, key) for k, v in doc[field].items()}
    return masked


def documents(text: str, key: bytes) -> dict[str, dict]:
    """Manifests by kind/namespace/name, Secret data masked."""
    found = {}
    for doc in yaml.safe_load_all(text or ""):
        if not isinstance(doc, dict) or not doc.get("kind"):
            continue
        if doc["kind"] in SECRET_KINDS:
            doc = mask_secret(doc, key)
        meta = doc.get("metadata") or {}
        name = f"{doc['kind']}/{meta.get('namespace', '')}/{meta.get('name', '')}".replace(
            "//", "/"
        )
        found[name] = doc
    return found


def normalised(text: str, key: bytes) -> list[str]:
    """The manifests as sorted, stably formatted YAML lines, each headed by kind/name."""
    lines = []
    for name, doc in sorted(documents(text, key).items()):
        lines.append(f"# {name}")
        lines += yaml.safe_dump(doc, sort_keys=True, default_flow_style=False).splitlines()
    return lines


def unified(
    live: str,
    new: str,
    secrets: set[str],
    *,
    live_label: str,
    new_label: str,
    key: bytes | None = None,
) -> str:
    """The unified diff live -> new, Secret data masked and every known secret string redacted."""
    key = key or _random.token_bytes(32)
    lines = difflib.unified_diff(
        normalised(live, key),
        normalised(new, key),
        fromfile=live_label,
        tofile=new_label,
        lineterm="",
    )
    return redact_text("\n".join(lines), secrets)


def mask_manifests(text: str, secrets: set[str], key: bytes | None = None) -> str:
    """Manifests fit to print: Secret data masked, every known secret string redacted."""
    key = key or _random.token_bytes(32)
    return redact_text("\n".join(normalised(text, key)), secrets)


def live_manifest(runner, release: str, helm_bin: str) -> tuple[str, str]:
    """The manifests the release runs now, and a label for them ("" when not installed)."""
    from . import helm

    revisions = helm.history(runner, release, release, helm_bin)
    serving = [r for r in revisions if r["status"] == "deployed"]
    if not serving:
        return "", f"{release}: not installed"
    revision = serving[-1]["revision"]
    proc = runner.run(
        [helm_bin, "get", "manifest", release, "--namespace", release, "--revision", str(revision)],
        step=f"helm get manifest {release}",
        mutates=False,
    )
    return proc.stdout, f"{release} revision {revision} (live)"


def diff_hub(fleet, hub: str, env: str, options, runner) -> str:
    """The unified diff an upgrade of hub x env would make, redacted; "" when nothing changes."""
    from .deploy import prepared, server_dry_run

    own = Runner(True, runner.echo, dict(runner.env), set(runner.secrets))
    with prepared(fleet, hub, env, options, own, require_image=False) as release:
        live, live_label = live_manifest(release.runner, release.name, options.helm)
        new = server_dry_run(release)
        return unified(
            live,
            new,
            release.runner.secrets,
            live_label=live_label,
            new_label=f"{release.name} upgrade (work tree)",
        )
