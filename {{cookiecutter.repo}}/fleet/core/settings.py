"""Every setting the environment can give: the one module that reads `FLEET_*` variables.

`current()` reads them all into one `Settings`; the tasks layer their flags over it (see
fleet.release.DeployOptions), and every other module takes what it needs from there. VARIABLES
is the table of them, the one the README documents (a unit test holds the two together).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

OFF = ("off", "0", "false", "no")


@dataclass(frozen=True)
class Settings:
    """The FLEET_* variables, parsed; "" (or None) where a variable is unset."""

    timeout: str = ""
    lock_timeout: str = ""
    kubeconfig: str | None = None
    context: str | None = None
    helm: str = "helm"
    health_check: bool = True
    secrets: str = ""  # "placeholders": renders never decrypt
    labels: tuple[str, ...] = ()
    plan_base: str = ""
    jobs: str = ""
    sops: str = "sops"
    pgp_key: str = ""
    age_key_dir: str = ""
    k8s_version: str = ""
    registry_username: str = ""
    registry_password: str = ""
    base_image: str = ""
    private_dir: str = ""
    webhook_url: str = ""
    grafana_url: str = ""
    grafana_token: str = ""
    github_step_summary: str = ""
    github_actions: bool = False


# variable -> (field, what it sets): the README's table.
VARIABLES = {
    "FLEET_TIMEOUT": ("timeout", "how long a deploy waits for its rollout (`--timeout`; 10m)"),
    "FLEET_LOCK_TIMEOUT": (
        "lock_timeout",
        "how long a deploy waits for another's release lock (`--lock-timeout`; 5m)",
    ),
    "FLEET_KUBECONFIG": ("kubeconfig", "credentials over every cluster.yaml's (`--kubeconfig`)"),
    "FLEET_CONTEXT": ("context", "the context in that kubeconfig (`--context`)"),
    "FLEET_HELM": ("helm", "the helm to run, a path or a name on PATH (helm)"),
    "FLEET_HEALTH_CHECK": ("health_check", "`off` skips the health check (`--no-health-check`)"),
    "FLEET_SECRETS": ("secrets", "`placeholders`: renders use typed placeholders, never decrypt"),
    "FLEET_LABELS": ("labels", "pull-request labels for `invoke plan`, comma-separated"),
    "FLEET_PLAN_BASE": ("plan_base", "`invoke plan`'s base commit, or `deployed` (HEAD~1)"),
    "FLEET_JOBS": ("jobs", "renders at a time in `nox -s templates` (one per core)"),
    "FLEET_SOPS": ("sops", "the sops to run (sops)"),
    "FLEET_PGP_KEY": ("pgp_key", "an armored PGP private key, imported for each sops call"),
    "HUBFLEET_AGE_KEY_DIR": ("age_key_dir", "where generated age keys are kept"),
    "FLEET_K8S_VERSION": ("k8s_version", "the Kubernetes version renders are validated for"),
    "FLEET_REGISTRY_USERNAME": ("registry_username", "registry user for build and push"),
    "FLEET_REGISTRY_PASSWORD": ("registry_password", "its password (else the docker config)"),
    "FLEET_BASE_IMAGE": ("base_image", "BASE_IMAGE build argument of every image"),
    "FLEET_PRIVATE_DIR": (
        "private_dir",
        "where decrypted files go (/dev/shm, else the temp folder)",
    ),
    "FLEET_WEBHOOK_URL": ("webhook_url", "`invoke notify`: a Slack-compatible webhook"),
    "FLEET_GRAFANA_URL": ("grafana_url", "`invoke notify`: Grafana, for deploy annotations"),
    "FLEET_GRAFANA_TOKEN": ("grafana_token", "its API token"),
    "GITHUB_STEP_SUMMARY": ("github_step_summary", "set by GitHub Actions: the job summary file"),
    "GITHUB_ACTIONS": ("github_actions", "set by GitHub Actions: error annotations on"),
}


def current(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of the environment given (the process's by default), read now."""
    environ = os.environ if environ is None else environ
    given: dict[str, object] = {}
    defaults = {f.name: f.default for f in fields(Settings)}
    for variable, (name, _) in VARIABLES.items():
        text = environ.get(variable, "")
        if not text:
            continue
        if name == "health_check":
            given[name] = text.lower() not in OFF
        elif name == "github_actions":
            given[name] = text == "true"
        elif name == "labels":
            given[name] = tuple(x.strip() for x in text.split(",") if x.strip())
        else:
            given[name] = text
    return Settings(**{**defaults, **given})
