"""The one place that hides secret values in anything we print."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable

import yaml

REDACTED = "<redacted>"


def encodings(text: str) -> set[str]:
    """The forms a secret string takes in what tools print: itself, base64 (Kubernetes Secret
    data), and JSON's and YAML's escaped forms (non-ASCII as \\u00e9 or \\xE9, quotes and
    backslashes escaped), each as it appears inside a quoted string."""
    forms = {text, base64.b64encode(text.encode()).decode()}
    forms.add(json.dumps(text)[1:-1])
    forms.add(json.dumps(text, ensure_ascii=False)[1:-1])
    dumped = yaml.safe_dump(text, default_style='"', width=1_000_000).strip()
    forms.add(dumped.removesuffix("...").strip()[1:-1])
    return {form for form in forms if form}


def secret_strings(values: object) -> set[str]:
    """Every leaf of a decrypted secrets document, as strings, in each of its `encodings`."""
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
                found.update(encodings(text))

    walk(values)
    return found


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Replace each secret string (longest first, so overlaps go whole) with <redacted>."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text
