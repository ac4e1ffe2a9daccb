"""Unit tests of how the hooks find the template: the Jinja extension and the cruft record."""

import json
from pathlib import Path

import pytest
from cookiecutter.environment import StrictEnvironment

from hooks import generate

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_cookiecutter_json_loads_the_template_dir_extension():
    context = json.loads((ROOT / "cookiecutter.json").read_text())
    assert context["_extensions"] == ["hubfleet_template.TemplateDir"]
    env = StrictEnvironment(context={"cookiecutter": context})
    assert env.from_string("{{ hubfleet_template_dir }}").render() == str(ROOT)


def test_a_local_template_is_recorded_by_its_absolute_folder(tmp_path):
    # cookiecutter keeps the path as typed: `_repo_dir` is `_template`, here relative.
    answers = {"_template": "template", "_repo_dir": "template"}
    assert generate.template_source(answers, tmp_path / "template") == str(tmp_path / "template")


def test_a_remote_template_is_recorded_by_its_url(tmp_path):
    url = "https://github.com/example-org/hubfleet.git"
    answers = {"_template": url, "_repo_dir": str(tmp_path / ".cookiecutters" / "hubfleet")}
    assert generate.template_source(answers, tmp_path / ".cookiecutters" / "hubfleet") == url


def test_regenerating_is_crufts_context_only():
    assert generate.regenerating({"_template": "/t", "_commit": "abc"})
    assert not generate.regenerating({"_template": "t", "_repo_dir": "t", "_checkout": None})


def test_a_missing_module_names_the_pip_package():
    message = generate.missing_module_message(ModuleNotFoundError("no yaml", name="yaml"))
    assert "'yaml'" in message and "-m pip install pyyaml`" in message
    message = generate.missing_module_message(
        ModuleNotFoundError("x", name="jsonschema.exceptions")
    )
    assert "'jsonschema'" in message and "pip install jsonschema`" in message
