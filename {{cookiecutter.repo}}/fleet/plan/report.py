"""How plans and deploy results are shown: JSON, rich tables, and markdown for GitHub.

Text from the repository (paths, hub names: a fork's pull request may choose them) goes into
markdown only through `cell` and `fenced`, so it cannot break out of a table or a code block.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

MARKER = "<!-- deployment-plan -->"
MAX_DIFF_CHARS = 20_000  # per hub; a GitHub comment holds at most 65,536 characters
MAX_COMMENT_CHARS = 60_000


def cell(text: str) -> str:
    """Text made inert inside a markdown table cell (several lines become one)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", "<br>")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A markdown table; every cell goes through `cell` except those already made markdown."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def fenced(text: str, lang: str = "diff") -> str:
    """A code block whose fence is longer than any backtick run inside, so it cannot close early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2)


def print_plan(data: dict, notes: list[str], console=None) -> None:
    """The plan as rich tables, for a terminal."""
    # rich is imported only to print: a deploy's start does not pay for it.
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = console or Console()
    table = Table(title="Deploy", title_justify="left")
    for column in ("hub", "env", "cluster", "reasons"):
        table.add_column(column)
    for entry in data["deploy"]:
        table.add_row(entry["hub"], entry["env"], entry["cluster"], "\n".join(entry["reasons"]))
    builds = Table(title="Build", title_justify="left")
    for column in ("image", "tag", "reasons"):
        builds.add_column(column)
    for entry in data["build"]:
        builds.add_row(entry["image"], entry["tag"], "\n".join(entry["reasons"]))
    if data.get("support"):
        support = Table(title="Support (before the hubs of its cluster)", title_justify="left")
        for column in ("cluster", "reasons"):
            support.add_column(column)
        for entry in data["support"]:
            support.add_row(entry["cluster"], "\n".join(entry["reasons"]))
        console.print(support)
    console.print(table if data["deploy"] else "Deploy: nothing")
    console.print(builds if data["build"] else "Build: nothing")
    for note in notes:
        # A note may hold a command to copy: never wrapped, never read as markup.
        console.print(f"note: {note}", soft_wrap=True, markup=False, highlight=False)


def _reasons(reasons: list[str]) -> str:
    return "<br>".join(cell(r) for r in reasons)


def _diff_block(hub: str, env: str, diff: str) -> str:
    changed = sum(
        1 for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))
    )
    text = diff if len(diff) <= MAX_DIFF_CHARS else diff[:MAX_DIFF_CHARS] + "\n... (truncated)"
    shown = fenced(text) if diff else "No change in the rendered manifests."
    summary = f"{cell(hub)} ({env}): {changed} changed lines"
    return f"<details><summary>{summary}</summary>\n\n{shown}\n\n</details>\n"


def plan_markdown(
    data: dict, notes: list[str], diffs: dict[tuple[str, str], str], base: str | None = None
) -> str:
    """The pull-request comment: marker, deploy and build tables, notes, a collapsed diff per hub."""
    lines = [MARKER, "## Deployment plan", ""]
    if base:
        lines += [f"Compared with `{cell(base)}`.", ""]
    if data.get("support"):
        rows = [[cell(d["cluster"]), _reasons(d["reasons"])] for d in data["support"]]
        lines += [f"**Support** ({len(rows)} clusters, before their hubs)", ""]
        lines += markdown_table(["cluster", "reasons"], rows) + [""]
    if data["deploy"]:
        rows = [
            [cell(d["hub"]), d["env"], cell(d["cluster"]), _reasons(d["reasons"])]
            for d in data["deploy"]
        ]
        lines += [f"**Deploy** ({len(data['deploy'])} hub environments)", ""]
        lines += markdown_table(["hub", "env", "cluster", "reasons"], rows)
    else:
        lines.append("**Nothing to deploy.**")
    lines.append("")
    if data["build"]:
        rows = [[cell(b["image"]), f"`{b['tag']}`", _reasons(b["reasons"])] for b in data["build"]]
        lines += ["**Build**", ""] + markdown_table(["image", "tag", "reasons"], rows)
    else:
        lines.append("**Nothing to build.**")
    lines.append("")
    lines += [f"> {cell(note)}" for note in notes] + ([""] if notes else [])
    if diffs:
        lines += [
            "### Manifest changes",
            "",
            "Rendered with `helm template`: secret values are typed placeholders, Secret data are "
            "fingerprints; no secret value is ever shown.",
            "",
        ]
    body = "\n".join(lines)
    for (hub, env), diff in diffs.items():
        block = _diff_block(hub, env, diff)
        if len(body) + len(block) > MAX_COMMENT_CHARS:
            body += "\nMore diffs left out: the comment is at GitHub's size limit.\n"
            break
        body += "\n" + block
    return body
