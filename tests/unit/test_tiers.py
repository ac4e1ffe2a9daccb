"""Every test module of the template is in exactly one tier, so `-m unit|smoke|bake|e2e` selects
all the tests: a module without one would run only when everything does."""

import ast
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parents[1]
TIERS = {"unit", "smoke", "bake", "e2e"}


def tiers_of(module: Path) -> set[str]:
    """The tier marks of a module's `pytestmark` (one mark or a list of them)."""
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            marks = node.value.elts if isinstance(node.value, ast.List) else [node.value]
            return {m.attr for m in marks if isinstance(m, ast.Attribute) and m.attr in TIERS}
    return set()


def test_every_test_module_has_exactly_one_tier():
    modules = sorted(TESTS.rglob("test_*.py"))
    assert len(modules) > 20
    wrong = {str(m.relative_to(TESTS)): sorted(tiers_of(m)) for m in modules}
    wrong = {name: found for name, found in wrong.items() if len(found) != 1}
    assert wrong == {}, f"test modules without exactly one tier mark: {wrong}"


def test_every_tier_is_a_registered_marker():
    config = tomllib.loads((TESTS.parent / "pyproject.toml").read_text())
    markers = {m.split(":")[0] for m in config["tool"]["pytest"]["ini_options"]["markers"]}
    assert markers >= TIERS
