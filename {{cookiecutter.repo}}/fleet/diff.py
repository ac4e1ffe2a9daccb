"""What an upgrade would change: a unified diff of the live release's manifests against the new
ones, with secret values replaced by keyed fingerprints, so a change shows without its content.
No helm plugin is needed.

A Secret's data is shown decoded only when it is a YAML or JSON mapping (the jupyterhub chart keeps
the hub's whole configuration in one, `values.yaml`) and the paths of the hub's sops-encrypted
values are known: each leaf at such a path, or equal to a known secret string, is a fingerprint.
Every other Secret value is a fingerprint whole.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import hmac
import secrets as _random
from collections.abc import Iterable
from pathlib import Path

import yaml

from .redact import redact_text
from .runner import Runner

SECRET_KINDS = {"Secret"}


def fingerprint(value: object, key: bytes) -> str:
    """A marker for a secret value: equal values match within one diff, and nothing can be guessed
    from it afterwards (the key is random for each run)."""
    digest = hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:12]
    return f"<redacted hmac:{digest}>"


Path_ = tuple[str, ...]


def leaf_paths(node: object, prefix: Path_ = ()) -> set[Path_]:
    """The key paths of every leaf of a YAML document (list items by index)."""
    if isinstance(node, dict):
        items: Iterable = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return {prefix}
    found: set[Path_] = set()
    for name, value in items:
        found |= leaf_paths(value, (*prefix, str(name)))
    return found


def secret_paths(files: Iterable[Path]) -> set[Path_]:
    """The leaf paths of sops-encrypted files: sops leaves keys readable, so no key is needed."""
    from .secrets import is_encrypted, placeholder_values

    found: set[Path_] = set()
    for path in files:
        if Path(path).exists() and is_encrypted(Path(path)):
            found |= leaf_paths(placeholder_values(Path(path)))
    return found


def is_secret_path(path: Path_, secret: set[Path_]) -> bool:
    """A leaf is secret when its path and a secret path end alike (two keys, or a whole path)."""
    for known in secret:
        overlap = min(len(path), len(known))
        if overlap and path[-overlap:] == known[-overlap:] and (overlap >= 2 or overlap == len(known)):
            return True
    return False


def _mask_leaves(node: object, secret: set[Path_], strings: set[str], key: bytes, prefix: Path_ = ()):
    if isinstance(node, dict):
        return {k: _mask_leaves(v, secret, strings, key, (*prefix, str(k))) for k, v in node.items()}
    if isinstance(node, list):
        return [_mask_leaves(v, secret, strings, key, (*prefix, str(i))) for i, v in enumerate(node)]
    if is_secret_path(prefix, secret) or (node is not None and str(node) in strings):
        return fingerprint(node, key)
    return node


def _decoded_mapping(value: object, encoded: bool) -> dict | None:
    if not isinstance(value, str):
        return None
    try:
        text = base64.b64decode(value, validate=True).decode() if encoded else value
        parsed = yaml.safe_load(text)
    except (binascii.Error, UnicodeDecodeError, yaml.YAMLError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


def mask_secret(
    doc: dict, key: bytes, secret: set[Path_] | None = None, strings: set[str] = frozenset()
) -> dict:
    """A copy of a Secret manifest whose values are fingerprints (see the module docstring)."""
    masked = dict(doc)
    for field in ("data", "stringData"):
        if not isinstance(doc.get(field), dict):
            continue
        masked[field] = {}
        for name, value in doc[field].items():
            mapping = _decoded_mapping(value, field == "data") if secret is not None else None
            if mapping is None:
                masked[field][name] = fingerprint(value, key)
            else:
                masked[field][f"{name} (decoded)"] = _mask_leaves(mapping, secret, set(strings), key)
    return masked


def documents(
    text: str, key: bytes, secret: set[Path_] | None = None, strings: set[str] = frozenset()
) -> dict[str, dict]:
    """Manifests by kind/namespace/name, Secret data masked."""
    found = {}
    for doc in yaml.safe_load_all(text or ""):
        if not isinstance(doc, dict) or not doc.get("kind"):
            continue
        if doc["kind"] in SECRET_KINDS:
            doc = mask_secret(doc, key, secret, strings)
        meta = doc.get("metadata") or {}
        name = f"{doc['kind']}/{meta.get('namespace', '')}/{meta.get('name', '')}".replace(
            "//", "/"
        )
        found[name] = doc
    return found


def normalised(
    text: str, key: bytes, secret: set[Path_] | None = None, strings: set[str] = frozenset()
) -> list[str]:
    """The manifests as sorted, stably formatted YAML lines, each headed by kind/name."""
    lines = []
    for name, doc in sorted(documents(text, key, secret, strings).items()):
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
    secret: set[Path_] | None = None,
) -> str:
    """The unified diff live -> new, Secret data masked and every known secret string redacted.

    `secret`: the paths of the hub's encrypted values (`secret_paths`); with them, Secret data
    that is a mapping is shown decoded, its secret leaves masked.
    """
    key = key or _random.token_bytes(32)
    lines = difflib.unified_diff(
        normalised(live, key, secret, secrets),
        normalised(new, key, secret, secrets),
        fromfile=live_label,
        tofile=new_label,
        lineterm="",
    )
    return redact_text("\n".join(lines), secrets)


def mask_manifests(
    text: str, secrets: set[str], key: bytes | None = None, secret: set[Path_] | None = None
) -> str:
    """Manifests fit to print: Secret data masked, every known secret string redacted."""
    key = key or _random.token_bytes(32)
    return redact_text("\n".join(normalised(text, key, secret, secrets)), secrets)


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
            secret=secret_paths([release.hub.secrets_file(env)]),
        )
