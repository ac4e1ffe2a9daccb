"""Private temporary files: 0700 folders and 0600 files, removed on every exit path.

Decrypted secrets and credentials only ever live here. `install_signal_handlers` is called once,
at the entry of each task: Ctrl-C and SIGTERM then unwind the stack (so every `directory` is
removed), whatever signal disposition the process inherited (a parent that ignores SIGINT, such as
`nohup` or a background job of a script, passes that on).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

# Folders that exist now, and the thread that made each, so a SIGTERM can remove them.
_LIVE: dict[Path, int] = {}
_LOCK = threading.Lock()


class Terminated(SystemExit):
    """SIGTERM: the process unwinds (every `directory` removed) and exits 143."""


def _remove_other_threads() -> None:
    main = threading.main_thread().ident
    with _LOCK:
        for path, owner in list(_LIVE.items()):
            if owner != main:
                shutil.rmtree(path, ignore_errors=True)


def _on_sigterm(signum, frame):
    # Python runs handlers in the main thread only, so deploys running in worker threads never
    # see the signal: their decrypted secrets are removed here. The main thread's are removed as
    # it unwinds, after a deploy it interrupted has rolled back (with its credentials).
    _remove_other_threads()
    raise Terminated(128 + signum)


def install_signal_handlers() -> None:
    """Ctrl-C raises KeyboardInterrupt and SIGTERM exits cleanly, even if they were ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)


@contextlib.contextmanager
def child_owns_ctrl_c() -> Iterator[None]:
    """While a foreground child runs (a shell, `logs --follow`), Ctrl-C is the child's alone.

    An interactive shell ignores Ctrl-C, and the credentials it uses must outlive it: this
    process waits for the child, then cleans up. A do-nothing handler, not SIG_IGN, so the
    child starts with Ctrl-C's default action.
    """
    previous = signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# fleet-[kind-]<pid>-<random>: the pid of the process that made it, for remove_stale.
_OWNED = re.compile(r"^fleet-(?:[a-z]+-)*?(\d+)-")


def remove_stale() -> list[Path]:
    """Remove the private dirs of processes of ours that died without cleaning up (SIGKILL).

    Called once at each task's entry: a killed deploy's decrypted secrets and credentials do
    not stay in the temp folder past the next task.
    """
    removed = []
    for path in Path(tempfile.gettempdir()).glob("fleet-*"):
        found = _OWNED.match(path.name)
        try:
            if not found or not path.is_dir() or path.stat().st_uid != os.getuid():
                continue
            os.kill(int(found.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        except OSError:  # alive as another user's, or gone meanwhile: not ours to remove
            continue
    return removed


@contextlib.contextmanager
def directory(prefix: str = "fleet-") -> Iterator[Path]:
    """A 0700 temp dir removed on every exit path: success, failure, Ctrl-C and SIGTERM."""
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))
    os.chmod(path, 0o700)
    with _LOCK:
        _LIVE[path] = threading.get_ident()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        with _LOCK:
            _LIVE.pop(path, None)


def write(path: Path, text: str) -> Path:
    """Write text to a new or existing file that only its owner can read (0600 from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path
