"""The package stays readable: short functions in fleet/, small task modules in tasks/."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LONGEST_FUNCTION = 49  # lines, its signature and docstring included
LONGEST_TASK_MODULE = 199


def test_every_function_of_the_package_is_under_50_lines():
    long = []
    for path in sorted(ROOT.glob("fleet/**/*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > LONGEST_FUNCTION:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert long == []


def test_every_task_module_is_under_200_lines():
    modules = sorted(ROOT.glob("tasks/*.py"))
    assert len(modules) > 2
    big = [p.name for p in modules if len(p.read_text().splitlines()) > LONGEST_TASK_MODULE]
    assert big == []
