"""The README's architecture section names every module of the generated repo's package."""

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "{{cookiecutter.repo}}" / "fleet"


def architecture_section() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## Architecture[^\n]*\n(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert match, "README.md has no '## Architecture' section"
    return match.group(1)


def test_architecture_names_every_module_in_the_diagram_and_the_table():
    section = architecture_section()
    diagram = re.search(r"```text\n(.*?)```", section, re.DOTALL).group(1)
    in_diagram = set(re.findall(r"\b[a-z_]+\b", diagram))
    in_table = set(re.findall(r"^\| `([a-z_]+/[a-z_]+)` \|", section, re.MULTILINE))
    # Every module in its folder (core/, tools/, release/, plan/, ops/), as folder/module.
    modules = {f"{p.parent.name}/{p.stem}" for p in PACKAGE.glob("*/*.py") if p.stem != "__init__"}
    assert {p.stem for p in PACKAGE.glob("*.py")} == {"__init__"}, "a module outside the folders"
    assert modules - in_table == set(), "modules missing from the table"
    assert {m.split("/")[1] for m in modules} - in_diagram == set(), "missing from the diagram"
    assert in_table - modules == set(), "the table names modules that do not exist"


def test_the_diagram_is_the_import_contract():
    """The layers drawn in the README are the ones import-linter enforces, in the same order."""
    diagram = re.search(r"```text\n(.*?)```", architecture_section(), re.DOTALL).group(1)
    drawn = []
    for line in diagram.splitlines()[1:]:
        names = line.split("  ")[1] if line.startswith("  ") else ""
        layer = re.findall(r"[a-z_]+", names.split("   ")[0]) if names else []
        drawn.append(sorted(layer))
    contract = (ROOT / "{{cookiecutter.repo}}" / "pyproject.toml").read_text()
    layers = re.findall(r'^\s+"(fleet\.[^"]+)",$', contract, re.MULTILINE)
    enforced = [
        sorted(name.strip().rsplit(".", 1)[-1] for name in line.split("|")) for line in layers
    ]
    assert drawn == enforced


def test_the_readme_lists_every_fault_the_fault_suite_tries():
    """The README's table of faults is FAULTS in tests/test_faults_e2e.py, row for row, and each
    names a test that exists."""
    tree = ast.parse((ROOT / "tests" / "test_faults_e2e.py").read_text())
    faults = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "FAULTS"
    )
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (.+?) \| `(test_\w+\.py)` `(test_\w+)` \|$", text, re.MULTILINE)
    expected = []
    for fault, test in faults.items():
        file, name = test.split("::") if "::" in test else ("test_faults_e2e.py", test)
        assert re.search(rf"^def {name}\(", (ROOT / "tests" / file).read_text(), re.MULTILINE), (
            f"{file} has no {name}"
        )
        expected.append((fault, file, name))
    assert rows == expected
