"""Unit tests of fleet.settings: every variable parsed in one place, and the README's table of them."""

import dataclasses
import re
from pathlib import Path

from fleet.core import settings

ROOT = Path(__file__).resolve().parents[1]


def test_unset_variables_are_the_defaults_and_set_ones_are_parsed():
    assert settings.current({}) == settings.Settings()
    chosen = settings.current(
        {
            "FLEET_HEALTH_CHECK": "OFF",
            "FLEET_LABELS": " deploy:all, ,preview ",
            "FLEET_HELM": "/opt/helm4",
            "FLEET_KUBECONFIG": "/k",
            "GITHUB_ACTIONS": "true",
        }
    )
    assert chosen.health_check is False
    assert chosen.labels == ("deploy:all", "preview")
    assert (chosen.helm, chosen.kubeconfig, chosen.github_actions) == ("/opt/helm4", "/k", True)
    assert settings.current({"FLEET_HEALTH_CHECK": "on"}).health_check is True
    assert settings.current({"GITHUB_ACTIONS": "false"}).github_actions is False


def test_each_variable_sets_a_field_of_its_own():
    names = [name for name, _ in settings.VARIABLES.values()]
    assert sorted(names) == sorted(f.name for f in dataclasses.fields(settings.Settings))
    assert len(set(names)) == len(names)


def test_the_readme_table_is_the_variables_in_order():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| (.+) \|$", section, re.MULTILINE)
    assert rows == [(v, h) for v, (_, h) in settings.VARIABLES.items()]


def test_no_other_module_reads_a_fleet_variable():
    """The environment's FLEET_* settings reach the package through fleet.settings only."""
    readers = []
    for path in [*ROOT.glob("fleet/**/*.py"), *ROOT.glob("tasks/*.py"), ROOT / "noxfile.py"]:
        if path.name == "settings.py":
            continue
        text = path.read_text()
        if re.search(r"(?:environ(?:\.get\(|\[)|getenv\()\s*[\"'](?:HUB)?FLEET_", text):
            readers.append(path.name)
    assert readers == []
