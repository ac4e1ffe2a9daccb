"""Validate the cookiecutter answers: pure functions, each returning one clear line or nothing."""

from __future__ import annotations

import re

ENVIRONMENTS = ("staging", "prod")
# Helm release names are at most 53 characters and ours are `<hub>-<env>`.
HELM_RELEASE_MAX = 53
HUB_MAX = HELM_RELEASE_MAX - max(len(f"-{env}") for env in ENVIRONMENTS)  # 45

REPO = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
REGISTRY = re.compile(
    r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
)
RECIPIENTS = {
    "age": (re.compile(r"^age1[02-9ac-hj-np-z]{58}$"), "an age public key (age1 followed by 58 characters)"),
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
PROVIDER_FIELDS = {
    "kubeconfig": (),
    "gcp": ("gcp_project", "cloud_cluster", "cloud_location"),
    "aws": ("cloud_cluster", "cloud_location"),
    "azure": ("cloud_cluster", "azure_resource_group"),
}
GCP_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
GCP_LOCATION = re.compile(r"^[a-z]+-[a-z]+[0-9](-[a-z])?$")
AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]$")


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
    if not DNS_LABEL.match(name):
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


def check_repo(repo: str) -> str | None:
    if not REPO.match(repo):
        return f"repo: {repo!r} is not a repository name (letters, digits, '.', '_', '-')"
    return None


def check_dns_label(answer: str, value: str) -> str | None:
    if not DNS_LABEL.match(value) or len(value) > 63:
        return f"{answer}: {value!r} is not a DNS-1123 label (lowercase letters, digits, '-')"
    return None


def check_registry(registry: str) -> str | None:
    if not REGISTRY.match(registry):
        return (
            f"registry: {registry!r} is not host[:port]/namespace in lowercase, "
            "e.g. ghcr.io/my-org"
        )
    return None


def check_domain(domain: str) -> str | None:
    if not DOMAIN.match(domain):
        return f"domain: {domain!r} is not a lowercase DNS name with a dot, e.g. hubs.example.org"
    return None


def check_recipient(backend: str, recipient: str) -> str | None:
    """The recipient must have the shape of the backend's keys; empty is allowed."""
    if backend not in RECIPIENTS:
        return f"secrets_backend: {backend!r} is not one of {', '.join(RECIPIENTS)}"
    if not recipient:
        return None
    pattern, shape = RECIPIENTS[backend]
    if not pattern.match(recipient):
        return f"sops_recipient: {recipient!r} is not {shape}, as secrets_backend {backend} needs"
    return None


def check_provider(answers: dict) -> str | None:
    """The fields the provider needs are present and well-formed."""
    provider = answers.get("provider", "")
    if provider not in PROVIDER_FIELDS:
        return f"provider: {provider!r} is not one of {', '.join(PROVIDER_FIELDS)}"
    for key in PROVIDER_FIELDS[provider]:
        if not str(answers.get(key, "")).strip():
            return f"{key}: required when provider is {provider}"
    location = answers.get("cloud_location", "")
    if provider == "gcp":
        if not GCP_PROJECT.match(answers["gcp_project"]):
            return f"gcp_project: {answers['gcp_project']!r} is not a GCP project id"
        if not GCP_LOCATION.match(location):
            return f"cloud_location: {location!r} is not a GCP region or zone, e.g. us-central1"
    if provider == "aws" and not AWS_REGION.match(location):
        return f"cloud_location: {location!r} is not an AWS region, e.g. us-east-1"
    return None


def problems(answers: dict) -> list[str]:
    """Every problem with the answers, one line each, in the order the answers are asked."""
    checks = [
        check_repo(answers.get("repo", "")),
        check_hubs(answers.get("hubs", "")),
        check_dns_label("cluster", answers.get("cluster", "")),
        check_provider(answers),
        check_registry(answers.get("registry", "")),
        check_domain(answers.get("domain", "")),
        check_recipient(answers.get("secrets_backend", ""), answers.get("sops_recipient", "")),
    ]
    return [p for p in checks if p]
