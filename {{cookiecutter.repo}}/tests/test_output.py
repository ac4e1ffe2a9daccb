"""Unit tests of fleet.output: lines, and the counts of a many-release deploy as lines or a live
line; and that nothing else prints."""

import io
import re
from pathlib import Path

from fleet.core import output
from fleet.core.output import Progress, live_wanted


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_count_each_outcome_and_name_what_runs():
    out = io.StringIO()
    with Progress(4, out=out, live=False) as shown:
        shown.started("a/support")
        shown.started("ha/staging")
        shown.finished("a/support", ok=True)
        shown.finished("ha/staging", ok=False)
        shown.finished("hb/staging", ok=False, skipped=True)
    assert out.getvalue().splitlines() == [
        "progress: 1/4 done (1 deployed, 0 failed, 0 skipped); 1 running: ha/staging",
        "progress: 2/4 done (1 deployed, 1 failed, 0 skipped); 0 running",
        "progress: 3/4 done (1 deployed, 1 failed, 1 skipped); 0 running",
    ]


def test_many_running_are_counted_past_the_first_names():
    shown = Progress(10, out=io.StringIO(), live=False)
    for n in range(8):
        shown.started(f"h{n}/prod")
    assert shown.line().endswith(
        "8 running: h0/prod, h1/prod, h2/prod, h3/prod, h4/prod, h5/prod and 2 more"
    )


def test_a_terminal_gets_one_live_line_and_ci_plain_lines():
    terminal = Terminal()
    assert live_wanted(terminal, {}) is True
    assert live_wanted(terminal, {"CI": "true"}) is False
    assert live_wanted(io.StringIO(), {}) is False
    with Progress(2, out=terminal, live=True) as shown:
        shown.started("ha/staging")
        shown.finished("ha/staging", ok=True)
    drawn = terminal.getvalue()
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)
    assert "progress: 0/2 done (0 deployed, 0 failed, 0 skipped); 1 running: ha/staging" in plain
    assert "progress: 1/2 done (1 deployed, 0 failed, 0 skipped); 0 running" in plain
    # One line redrawn in place, and gone when the run ends (the summary follows).
    assert "\r\x1b[2K" in drawn and drawn.endswith("\x1b[2K")


def test_no_module_prints_but_the_output_one():
    """What a person reads goes through fleet.output (one write per line, threads or not)."""
    import ast  # noqa: PLC0415

    root = Path(__file__).resolve().parents[1]
    found = []
    for path in sorted([*root.glob("fleet/**/*.py"), *root.glob("tasks/*.py")]):
        if path.name == "output.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "print":
                found.append(f"{path.name}:{node.lineno}")
    assert found == []


def test_a_line_is_one_write(capsys):
    output.line("a\nb")
    output.note("warning: c")
    output.say("alpha", "staging", "helm upgrade")
    captured = capsys.readouterr()
    assert captured.out == "a\nb\n"
    assert captured.err == "warning: c\n==> [alpha/staging] helm upgrade\n"
