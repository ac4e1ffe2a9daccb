"""What every unit test starts from: none of the settings a CI job or a shell may have set.

The checks workflow runs `nox -s tests` with FLEET_SECRETS=placeholders (its other sessions need
it), and an operator's shell may hold FLEET_LABELS or FLEET_KUBECONFIG: a test that wants one of
these sets it itself. Where the tools are (FLEET_HELM, FLEET_SOPS, FLEET_BASE_IMAGE,
FLEET_PRIVATE_DIR) is kept.
"""

import pytest

from fleet.core.settings import VARIABLES

# Where the tools are is kept; every other setting is cleared.
TOOLS = (
    "FLEET_HELM",
    "FLEET_SOPS",
    "FLEET_BASE_IMAGE",
    "FLEET_PRIVATE_DIR",
    "HUBFLEET_AGE_KEY_DIR",
)
SETTINGS = tuple(name for name in VARIABLES if name not in TOOLS)


@pytest.fixture(autouse=True)
def no_fleet_settings(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
