"""Private temporary files: 0700 folders and 0600 files, removed on every exit path.

Decrypted secrets and credentials only ever live here, on a memory-backed filesystem where the
system has one (/dev/shm; `FLEET_PRIVATE_DIR` chooses another folder), so no plaintext reaches a
disk; elsewhere (macOS) in the temp folder. A process killed with SIGKILL cannot remove its
folder: the next task of any kind removes it at its start (`remove_stale`).

`install_signal_handlers` is called once, at the entry of each task: Ctrl-C and SIGTERM then
unwind the stack (so every `directory` is removed), whatever signal disposition the process
inherited (a parent that ignores SIGINT, such as `nohup` or a background job of a script, passes
that on). On SIGTERM, every program still running is stopped first and `stopping()` turns true,
so that deploys in worker threads roll back what they started and start nothing new.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from fleet.core import settings

MEMORY = Path("/dev/shm")
# Folders that exist now, so that whatever is left at exit is removed.
_LIVE: dict[Path, int] = {}
_LOCK = threading.Lock()
_STOPPING = threading.Event()
_ON_TERMINATE: list[Callable[[], object]] = []


class Terminated(SystemExit):
    """SIGTERM: the process unwinds (every `directory` removed) and exits 143."""


def base() -> Path:
    """Where private folders are made: FLEET_PRIVATE_DIR, else /dev/shm, else the temp folder."""
    chosen = settings.current().private_dir
    if chosen:
        path = Path(chosen)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path
    if MEMORY.is_dir() and os.access(MEMORY, os.W_OK | os.X_OK):
        return MEMORY
    return Path(tempfile.gettempdir())


def _remove_left() -> None:
    """At exit, after every thread ended: what a thread never got to remove (a daemon thread)."""
    with _LOCK:
        for path in list(_LIVE):
            shutil.rmtree(path, ignore_errors=True)
            _LIVE.pop(path, None)


def stopping() -> bool:
    """Whether a SIGTERM asked this process to stop: start nothing new, undo what is under way."""
    return _STOPPING.is_set()


def _on_sigterm(signum, frame):
    # Python runs handlers in the main thread only: deploys in worker threads learn of it from
    # `stopping()` and from their programs, stopped here, failing; they roll back and unwind,
    # removing their own secrets, while the main thread unwinds too.
    _STOPPING.set()
    for callback in _ON_TERMINATE:
        callback()
    raise Terminated(128 + signum)


def install_signal_handlers(on_terminate: Callable[[], object] | None = None) -> None:
    """Ctrl-C raises KeyboardInterrupt and SIGTERM exits cleanly, even if they were ignored;
    `on_terminate` runs first on SIGTERM (fleet.runner.terminate_children)."""
    if on_terminate is not None and on_terminate not in _ON_TERMINATE:
        _ON_TERMINATE.append(on_terminate)
    atexit.register(_remove_left)
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
    folders = {base(), Path(tempfile.gettempdir())}  # the temp folder: where older versions wrote
    for path in [p for folder in folders for p in folder.glob("fleet-*")]:
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
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=base()))
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
