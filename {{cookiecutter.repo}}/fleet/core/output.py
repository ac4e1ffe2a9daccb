"""Everything a person reads goes through here: lines (`line` to stdout, `note` to stderr),
a release's `==>` steps (`say`), the runner's command echo (`echo`), tables (`table`), and a
many-release deploy's progress (`Progress`: done, running and failed, live on a terminal, lines
in CI). Each line is one write, so lines from threads never run into each other."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

SHOWN_RUNNING = 6  # names of running releases shown; the rest are counted


def line(text: str, out: TextIO | None = None) -> None:
    """One line (or several) for a person: stdout unless `out` is given."""
    stream = out or sys.stdout
    stream.write(f"{text}\n")
    stream.flush()


def note(text: str) -> None:
    """A line beside the output (a warning, what is being done): stderr."""
    line(text, sys.stderr)


def say(hub: str, env: str, text: str, out: TextIO | None = None) -> None:
    """A step of one release: `==> [hub/env] text` (or `[cluster/support]`), on stderr."""
    line(f"==> [{hub}/{env}] {text}", out or sys.stderr)


def echo(text: str, out: TextIO | None = None) -> None:
    """The runner's echo of a command it runs (stderr unless `out`)."""
    line(text, out or sys.stderr)


def table(renderable: object) -> None:
    """A rich table (or text) to stdout, 200 columns wide whatever the terminal."""
    from rich.console import Console  # noqa: PLC0415 - rich: slow to import

    Console(width=200).print(renderable)


def live_wanted(out: TextIO, environ=os.environ) -> bool:
    """A live display on an interactive terminal; plain lines in CI, in a pipe or a log."""
    return out.isatty() and not environ.get("CI") and environ.get("TERM") != "dumb"


class Progress:
    """Counts of a run's releases, shown after each change: one line each, or one live line."""

    def __init__(self, total: int, out: TextIO | None = None, live: bool | None = None):
        self.total, self.out = total, out or sys.stderr
        self.running: dict[str, float] = {}
        self.deployed = self.failed = self.skipped = 0
        self._guard = threading.Lock()
        wanted = live_wanted(self.out) if live is None else live
        self._live = _live_line(self.line(), self.out) if wanted else None

    def __enter__(self) -> Progress:
        if self._live:
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live:
            self._live.stop()

    @property
    def done(self) -> int:
        return self.deployed + self.failed + self.skipped

    def line(self) -> str:
        running = sorted(self.running, key=self.running.get)
        names = ", ".join(running[:SHOWN_RUNNING])
        if len(running) > SHOWN_RUNNING:
            names += f" and {len(running) - SHOWN_RUNNING} more"
        counts = f"{self.deployed} deployed, {self.failed} failed, {self.skipped} skipped"
        text = f"progress: {self.done}/{self.total} done ({counts}); {len(running)} running"
        return text + (f": {names}" if names else "")

    def started(self, name: str) -> None:
        with self._guard:
            self.running[name] = time.monotonic()
            if self._live:
                self._live.update(self.line(), refresh=True)

    def finished(self, name: str, ok: bool, skipped: bool = False) -> None:
        """Count a release's outcome and show the counts (a skipped one never started)."""
        with self._guard:
            self.running.pop(name, None)
            if skipped:
                self.skipped += 1
            elif ok:
                self.deployed += 1
            else:
                self.failed += 1
            if self._live:
                self._live.update(self.line(), refresh=True)
            else:
                self.out.write(self.line() + "\n")
                self.out.flush()


def _live_line(text: str, out: TextIO):
    """A rich Live display of one line, redrawn in place; gone when it stops."""
    # rich is imported only here: a run in CI or a log never needs it.
    from rich.console import Console  # noqa: PLC0415
    from rich.live import Live  # noqa: PLC0415

    return Live(text, console=Console(file=out, highlight=False), transient=True)
