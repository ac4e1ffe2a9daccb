"""A many-release deploy's progress: done, running and failed, live on a terminal, lines in CI."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

SHOWN_RUNNING = 6  # names of running releases shown; the rest are counted


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
        self._live = (
            Live(self.line(), console=Console(file=self.out), transient=True) if wanted else None
        )

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

    def line(self) -> Text:
        running = sorted(self.running, key=self.running.get)
        names = ", ".join(running[:SHOWN_RUNNING])
        if len(running) > SHOWN_RUNNING:
            names += f" and {len(running) - SHOWN_RUNNING} more"
        text = Text(f"progress: {self.done}/{self.total} done (")
        text.append(f"{self.deployed} deployed", style="green")
        text.append(", ")
        text.append(f"{self.failed} failed", style="bold red" if self.failed else "")
        text.append(f", {self.skipped} skipped); {len(running)} running")
        return text + Text(f": {names}" if names else "")

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
                self.out.write(self.line().plain + "\n")
                self.out.flush()
