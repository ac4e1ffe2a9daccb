"""Validate the cookiecutter answers: pure functions, each returning one clear line or nothing.

The shapes of the answers that become config fields (hub and cluster names, registry, domain,
providers and their settings, secrets backends, environments) are read from the `$defs` of the
generated repo's JSON schemas, the one source of them. Only the standard library: the pre-gen
hook runs under a bare cookiecutter install, without jsonschema.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

SCHEMAS = (
    Path(__file__).resolve().parents[1] / "{{cookiecutter.repo}}" / "fleet" / "core" / "schemas"
)
# The keywords `matches` understands; a definition using any other fails loudly, never silently.
KEYWORDS = {"description", "type", "pattern", "minLength", "maxLength", "enum"}


@cache
def definition(kind: str, name: str) -> dict:
    """One entry of `$defs` in fleet/core/schemas/<kind>.schema.json of the generated repo."""
    schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text())
    found = schema["$defs"][name]
    unknown = set(found) - KEYWORDS
    if unknown or found.get("type", "string") != "string":
        raise ValueError(
            f"{kind}.schema.json $defs/{name}: cannot check {sorted(unknown) or found}"
        )
    return found


def matches(kind: str, name: str, value: str) -> bool:
    """Whether value satisfies the string definition `$defs/name` of kind's schema.

    Patterns are anchored (^...$), so a full match is JSON Schema's search, minus a trailing
    newline that Python's `$` would let through.
    """
    found = definition(kind, name)
    if not isinstance(value, str):
        return False
    if "enum" in found and value not in found["enum"]:
        return False
    if not found.get("minLength", 0) <= len(value) <= found.get("maxLength", len(value)):
        return False
    return "pattern" not in found or re.fullmatch(found["pattern"], value) is not None


def choices(kind: str, name: str) -> tuple[str, ...]:
    """The values an enum definition allows, in the schema's order."""
    return tuple(definition(kind, name)["enum"])


ENVIRONMENTS = choices("fleet", "environment")
# Helm release names are at most 53 characters and ours are `<hub>-<env>`.
HELM_RELEASE_MAX = 53
HUB_MAX = HELM_RELEASE_MAX - max(len(f"-{env}") for env in ENVIRONMENTS)  # 45

# The repository (folder) name and the sops recipients are not fields of the repo's config.
REPO = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")
RECIPIENTS = {
    "age": (
        re.compile(r"^age1[02-9ac-hj-np-z]{58}$"),
        "an age public key (age1 followed by 58 characters)",
    ),
    "pgp": (re.compile(r"^[0-9A-F]{40}$"), "a PGP fingerprint (40 hex digits, no spaces)"),
    "gcp-kms": (
        re.compile(r"^projects/[^/\s]+/locations/[^/\s]+/keyRings/[^/\s]+/cryptoKeys/[^/\s]+$"),
        "a GCP KMS key id (projects/P/locations/L/keyRings/R/cryptoKeys/K)",
    ),
    "aws-kms": (
        re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/\S+$"),
        "an AWS KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)",
    ),
    "azure-kv": (
        re.compile(r"^https://[a-z0-9-]+\.vault\.azure\.net/keys/[^/\s]+/[0-9a-f]{32}$"),
        "an Azure Key Vault key URL (https://VAULT.vault.azure.net/keys/NAME/VERSION)",
    ),
}
# The answers each provider (cluster.schema.json $defs/provider) needs.
PROVIDER_FIELDS = {
    "kubeconfig": (),
    "gcp": ("gcp_project", "cloud_cluster", "cloud_location"),
    "aws": ("cloud_cluster", "cloud_location"),
    "azure": ("cloud_cluster", "azure_resource_group"),
}


def split_hubs(hubs: str) -> list[str]:
    """The hub names of the comma-separated answer, stripped."""
    return [name.strip() for name in hubs.split(",")]


def check_hub_name(name: str) -> str | None:
    """A hub name must be a DNS-1123 label short enough for `<hub>-staging` as a helm release."""
    if not name:
        return "hubs: an empty hub name (check for a stray comma)"
    if len(name) > HUB_MAX:
        return (
            f"hubs: {name!r} is {len(name)} characters; at most {HUB_MAX}, so the release "
            f"`{name[:8]}...-staging` fits helm's {HELM_RELEASE_MAX}"
        )
    if not matches("hub", "dnsLabel", name):
        return (
            f"hubs: {name!r} is not a DNS-1123 label: use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return None


def check_hubs(hubs: str) -> str | None:
    """A non-empty list of valid, distinct hub names."""
    if not hubs.strip():
        return "hubs: the list is empty; give at least one hub name, e.g. `example`"
    names = split_hubs(hubs)
    for name in names:
        problem = check_hub_name(name)
        if problem:
            return problem
    seen = set()
    for name in names:
        if name in seen:
            return f"hubs: {name!r} is listed twice; hub names must be unique"
        seen.add(name)
    return None


def check_org_name(org_name: str) -> str | None:
    """The organisation's name: the README's title, and the default `repo` is made from it."""
    if not org_name.strip():
        return "org_name: empty: give the organisation's name, e.g. 'Example University'"
    if "\n" in org_name or len(org_name) > 100:
        return f"org_name: {org_name!r}: one line of at most 100 characters"
    return None


def check_repo(repo: str) -> str | None:
    if not REPO.fullmatch(repo):
        return f"repo: {repo!r} is not a repository name (letters, digits, '.', '_', '-')"
    if not matches("fleet", "fleetName", repo):
        return (
            f"repo: {repo!r} becomes the fleet's name (fleet.yaml `name`, a label on its releases): "
            "at most 63 characters, starting and ending with a letter or digit"
        )
    return None


def check_dns_label(answer: str, value: str) -> str | None:
    """A name that becomes a folder and a `cluster:` of hub.yaml (hub.schema.json $defs/dnsLabel)."""
    if not matches("hub", "dnsLabel", value):
        return f"{answer}: {value!r} is not a DNS-1123 label (lowercase letters, digits, '-')"
    return None


def check_registry(registry: str) -> str | None:
    if not matches("fleet", "registry", registry):
        return (
            f"registry: {registry!r} is not host[:port]/namespace in lowercase, e.g. ghcr.io/my-org"
        )
    return None


def check_domain(domain: str) -> str | None:
    if not matches("fleet", "domain", domain):
        return f"domain: {domain!r} is not a lowercase DNS name with a dot, e.g. hubs.example.org"
    return None


def check_recipient(backend: str, recipient: str, answer: str = "sops_recipient") -> str | None:
    """The recipient must have the shape of the backend's keys; empty is allowed."""
    if not matches("fleet", "secretsBackend", backend):
        backends = ", ".join(choices("fleet", "secretsBackend"))
        return f"secrets_backend: {backend!r} is not one of {backends}"
    if not recipient:
        return None
    pattern, shape = RECIPIENTS[backend]
    if not pattern.fullmatch(recipient):
        return f"{answer}: {recipient!r} is not {shape}, as secrets_backend {backend} needs"
    return None


def check_prod_recipient(answers: dict) -> str | None:
    """prod's own key: the backend's shape, and not the staging key itself."""
    prod = answers.get("sops_recipient_prod", "")
    if not prod:
        return None
    backend = answers.get("secrets_backend", "")
    if not answers.get("sops_recipient") and backend != "age":
        return "sops_recipient_prod: give sops_recipient too (staging's key), or neither"
    if prod == answers.get("sops_recipient", ""):
        return "sops_recipient_prod: the same key as sops_recipient: leave it empty for one key"
    if backend not in RECIPIENTS:
        return None  # check_recipient names the backend
    return check_recipient(backend, prod, "sops_recipient_prod")


def check_provider(answers: dict) -> str | None:
    """The fields the provider needs are present and well-formed."""
    provider = answers.get("provider", "")
    if not matches("cluster", "provider", provider):
        providers = ", ".join(choices("cluster", "provider"))
        return f"provider: {provider!r} is not one of {providers}"
    for key in PROVIDER_FIELDS[provider]:
        if not str(answers.get(key, "")).strip():
            return f"{key}: required when provider is {provider}"
    location = answers.get("cloud_location", "")
    if provider == "gcp":
        if not matches("cluster", "gcpProject", answers["gcp_project"]):
            return f"gcp_project: {answers['gcp_project']!r} is not a GCP project id"
        if not matches("cluster", "gcpLocation", location):
            return f"cloud_location: {location!r} is not a GCP region or zone, e.g. us-central1"
    if provider == "aws" and not matches("cluster", "awsRegion", location):
        return f"cloud_location: {location!r} is not an AWS region, e.g. us-east-1"
    return None


def check_chart_repository(url: str) -> str | None:
    """support_chart_repository: a Helm repository URL, or empty (each dependency's upstream)."""
    if url and not re.fullmatch(r"(https?|oci)://[^\s\"']+", url):
        return (
            f"support_chart_repository: {url!r} is not a URL (https://..., or empty for upstream)"
        )
    return None


def check_image_mirror(mirror: str) -> str | None:
    if not matches("fleet", "imageMirror", mirror):
        return (
            f"image_mirror: {mirror!r} is not host[:port]/path in lowercase "
            "(e.g. registry.example.org/jupyterhub), or empty for the chart's own registries"
        )
    return None


def check_promotion(promotion: str) -> str | None:
    if not matches("fleet", "promotion", promotion):
        valid = ", ".join(choices("fleet", "promotion"))
        return f"promotion: {promotion!r} is not one of {valid}"
    return None


def problems(answers: dict) -> list[str]:
    """Every problem with the answers, one line each, in the order the answers are asked."""
    checks = [
        check_org_name(answers["org_name"]) if "org_name" in answers else None,
        check_repo(answers.get("repo", "")),
        check_hubs(answers.get("hubs", "")),
        check_dns_label("cluster", answers.get("cluster", "")),
        check_provider(answers),
        check_registry(answers.get("registry", "")),
        check_image_mirror(answers.get("image_mirror", "")),
        check_domain(answers.get("domain", "")),
        check_recipient(answers.get("secrets_backend", ""), answers.get("sops_recipient", "")),
        check_prod_recipient(answers),
        check_promotion(answers.get("promotion", "branches")),
        check_chart_repository(answers.get("support_chart_repository", "")),
    ]
    return [p for p in checks if p]
