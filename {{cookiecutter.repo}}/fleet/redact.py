"""The one place that hides secret values in anything we print."""

from __future__ import annotations

import base64
from collections.abc import Iterable

REDACTED = "<redacted>"


def secret_strings(values: object) -> set[str]:
    """Every leaf of a decrypted secrets document, as strings, plus their base64 forms."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif node is not None and not isinstance(node, bool):
            text = str(node)
            if len(text) >= 4:
                found.add(text)
                found.add(base64.b64encode(text.encode()).decode())

    walk(values)
    return found


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Replace each secret string (longest first, so overlaps go whole) with <redacted>."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text
