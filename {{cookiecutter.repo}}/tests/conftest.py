"""What every unit test starts from: none of the settings a CI job or a shell may have set.

The checks workflow runs `nox -s tests` with FLEET_SECRETS=placeholders (its other sessions need
it), and an operator's shell may hold FLEET_LABELS or FLEET_KUBECONFIG: a test that wants one of
these sets it itself. Where the tools are (FLEET_HELM, FLEET_SOPS, FLEET_BASE_IMAGE,
FLEET_PRIVATE_DIR) is kept.
"""

import pytest

SETTINGS = (
    "FLEET_SECRETS",
    "FLEET_LABELS",
    "FLEET_HEALTH_CHECK",
    "FLEET_PLAN_BASE",
    "FLEET_JOBS",
    "FLEET_TIMEOUT",
    "FLEET_LOCK_TIMEOUT",
    "FLEET_CONTEXT",
    "FLEET_KUBECONFIG",
    "FLEET_PGP_KEY",
    "FLEET_REGISTRY_USERNAME",
    "FLEET_REGISTRY_PASSWORD",
)


@pytest.fixture(autouse=True)
def no_fleet_settings(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
