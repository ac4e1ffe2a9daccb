"""The repository's git history, read through the one runner: commits, changed paths, trees.

Nothing here changes git state: a commit's files are extracted with `git archive` into a private
temporary folder, never checked out.
"""

from __future__ import annotations

import contextlib
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fleet.core import private
from fleet.core.runner import Runner

NO_COMMIT = "0" * 40  # GitHub's `before` for a newly created branch
# What a deploy reads from the work tree: a new file here makes a deploy "uncommitted".
INPUTS = ("fleet.yaml", "hubs", "clusters", "chart", "support", "images", "fleet")


@dataclass(frozen=True)
class Git:
    """The git repository at `root`, read with `runner`."""

    root: Path
    runner: Runner

    def _run(self, *args: str, step: str, check: bool = True):
        argv = ["git", "-C", str(self.root), *args]
        return self.runner.run(argv, step=step, mutates=False, check=check)

    def resolve(self, ref: str) -> str | None:
        """The full commit id a ref names, or None when this clone does not have it."""
        if not ref or ref == NO_COMMIT:
            return None
        proc = self._run(
            "rev-parse",
            "--verify",
            "--quiet",
            f"{ref}^{{commit}}",
            step="git rev-parse",
            check=False,
        )
        return proc.stdout.strip() if proc.returncode == 0 else None

    def exists(self, ref: str) -> bool:
        return self.resolve(ref) is not None

    def first_parent_depth(self, ref: str) -> int:
        """How many commits the first-parent chain from ref holds, ref included (1: a root)."""
        proc = self._run("rev-list", "--count", "--first-parent", ref, step="git rev-list")
        return int(proc.stdout.strip())

    def is_ancestor(self, older: str, newer: str) -> bool:
        """Whether `older` is an ancestor of `newer` (both commits this clone has)."""
        proc = self._run(
            "merge-base", "--is-ancestor", older, newer, step="git merge-base", check=False
        )
        return proc.returncode == 0

    def changed_files(self, base: str, head: str) -> list[str]:
        """Paths that differ between two commits; a rename counts as both its old and new path."""
        proc = self._run(
            "diff", "--name-only", "--no-renames", "-z", base, head, "--", step="git diff"
        )
        return [p for p in proc.stdout.split("\0") if p]

    def head(self, inputs: Iterable[str] = INPUTS) -> tuple[str, bool]:
        """The commit checked out, and whether the work tree has uncommitted changes: to a
        tracked file, or a new file under the folders a deploy reads (`inputs`). Other new files
        (a plan file, a results file, the CI's downloaded artifacts) change no deploy."""
        commit = self.resolve("HEAD")
        if commit is None:
            return "unknown", True
        tracked = self._run("status", "--porcelain", "--untracked-files=no", step="git status")
        new = self._run(
            "status", "--porcelain", "--untracked-files=all", "--", *inputs, step="git status"
        )
        return commit, bool(tracked.stdout.strip() or new.stdout.strip())

    @contextlib.contextmanager
    def tree(self, ref: str) -> Iterator[Path]:
        """The files of a commit, extracted into a private temporary folder."""
        with private.directory("fleet-tree-") as folder:
            archive = folder / "tree.tar"
            self._run("archive", "--format=tar", "-o", str(archive), ref, step=f"git archive {ref}")
            tree = folder / "tree"
            with tarfile.open(archive) as tar:
                tar.extractall(tree, filter="data")
            archive.unlink()
            yield tree
