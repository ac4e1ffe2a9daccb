"""Manifests fit to print and compare: Secret data masked, known secret strings redacted.

A Secret's data is shown decoded only when it is a YAML or JSON mapping (the jupyterhub chart keeps
the hub's whole configuration in one, `values.yaml`) and the paths of the hub's sops-encrypted
values are known: each leaf at such a path, or equal to a known secret string, is a keyed
fingerprint. Every other Secret value is a fingerprint whole. Pure functions over text.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import hmac
from secrets import token_bytes

import yaml

from fleet.core.redact import redact_text

SECRET_KINDS = {"Secret"}
KeyPath = tuple[str, ...]  # as fleet.sops.secret_paths gives them


def fingerprint(value: object, key: bytes) -> str:
    """A marker for a secret value: equal values match within one diff, and nothing can be guessed
    from it afterwards (the key is random for each run)."""
    digest = hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:12]
    return f"<redacted hmac:{digest}>"


def is_secret_path(path: KeyPath, secret: set[KeyPath]) -> bool:
    """A leaf is secret when its path and a secret path end alike (two keys, or a whole path)."""
    for known in secret:
        overlap = min(len(path), len(known))
        if (
            overlap
            and path[-overlap:] == known[-overlap:]
            and (overlap >= 2 or overlap == len(known))
        ):
            return True
    return False


def _mask_leaves(
    node: object, secret: set[KeyPath], strings: set[str], key: bytes, prefix: KeyPath = ()
):
    if isinstance(node, dict):
        return {
            k: _mask_leaves(v, secret, strings, key, (*prefix, str(k))) for k, v in node.items()
        }
    if isinstance(node, list):
        return [
            _mask_leaves(v, secret, strings, key, (*prefix, str(i))) for i, v in enumerate(node)
        ]
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


def _redacted_leaves(node: object, strings: set[str]) -> object:
    """Every string in a parsed document with the known secret strings in it redacted."""
    if not strings:
        return node
    if isinstance(node, dict):
        return {k: _redacted_leaves(v, strings) for k, v in node.items()}
    if isinstance(node, list):
        return [_redacted_leaves(v, strings) for v in node]
    return redact_text(node, strings) if isinstance(node, str) else node


def mask_secret(
    doc: dict, key: bytes, secret: set[KeyPath] | None = None, strings: set[str] = frozenset()
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
                masked[field][f"{name} (decoded)"] = _mask_leaves(
                    mapping, secret, set(strings), key
                )
    return masked


def documents(
    text: str, key: bytes, secret: set[KeyPath] | None = None, strings: set[str] = frozenset()
) -> dict[str, dict]:
    """Manifests by kind/namespace/name, Secret data masked."""
    found = {}
    for doc in yaml.safe_load_all(text or ""):
        if not isinstance(doc, dict) or not doc.get("kind"):
            continue
        if doc["kind"] in SECRET_KINDS:
            doc = mask_secret(doc, key, secret, strings)
        # Before YAML dumps it again: a dumped string may be escaped (non-ASCII) or folded
        # (long, with spaces), where the text of the secret no longer appears.
        doc = _redacted_leaves(doc, strings)
        meta = doc.get("metadata") or {}
        name = f"{doc['kind']}/{meta.get('namespace', '')}/{meta.get('name', '')}".replace(
            "//", "/"
        )
        found[name] = doc
    return found


def normalised(
    text: str, key: bytes, secret: set[KeyPath] | None = None, strings: set[str] = frozenset()
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
    secret: set[KeyPath] | None = None,
) -> str:
    """The unified diff live -> new, Secret data masked and every known secret string redacted.

    `secret`: the paths of the hub's encrypted values (`secret_paths`); with them, Secret data
    that is a mapping is shown decoded, its secret leaves masked.
    """
    key = key or token_bytes(32)
    lines = difflib.unified_diff(
        normalised(live, key, secret, secrets),
        normalised(new, key, secret, secrets),
        fromfile=live_label,
        tofile=new_label,
        lineterm="",
    )
    return redact_text("\n".join(lines), secrets)


def mask_manifests(
    text: str, secrets: set[str], key: bytes | None = None, secret: set[KeyPath] | None = None
) -> str:
    """Manifests fit to print: Secret data masked, every known secret string redacted."""
    key = key or token_bytes(32)
    return redact_text("\n".join(normalised(text, key, secret, secrets)), secrets)
