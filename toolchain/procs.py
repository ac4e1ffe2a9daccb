"""Background processes recorded by pid file, so they can always be stopped by PID."""

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(
    argv: list[str | Path], *, pid_file: Path, log_file: Path, env: dict[str, str] | None = None
) -> int:
    """Start argv in its own session, logging to log_file; record its pid in pid_file."""
    args = [str(a) for a in argv]
    print(f"$ {shlex.join(args)} &  (log: {log_file})", file=sys.stderr, flush=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **env} if env else None,
        )
    pid_file.write_text(f"{proc.pid}\n{args[0]}\n{_start_time(proc.pid)}\n")
    return proc.pid


def recorded_pid(pid_file: Path) -> int | None:
    """The pid in pid_file if that very process still runs (not one that reused its pid)."""
    try:
        pid_text, program, *rest = pid_file.read_text().splitlines()
        pid = int(pid_text)
        if _is_zombie(pid):
            return None
        if rest:
            # The start time of a process tells it apart from a later one with the same pid.
            return pid if _start_time(pid) == rest[0] else None
        # Older pid files have no start time: compare the program instead.
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    if not cmdline or os.path.basename(cmdline[0].decode()) != os.path.basename(program):
        return None
    return pid


def _start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def stop(pid_file: Path, *, timeout: float = 10) -> bool:
    """Stop the process group recorded in pid_file (TERM, then KILL); True if one was running."""
    pid = recorded_pid(pid_file)
    was_running = pid is not None
    if pid is not None:
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while recorded_pid(pid_file) is not None and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if recorded_pid(pid_file) is not None:
            _signal_group(pid, signal.SIGKILL)
            time.sleep(0.2)
        _reap(pid)
    pid_file.unlink(missing_ok=True)
    return was_running


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect the exit status if pid is our child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    log_file: Path | None = None,
    interval: float = 0.2,
) -> None:
    """Poll check() until it is true; on timeout raise naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001, S110 - not ready yet, whatever the reason
            pass
        if time.monotonic() > deadline:
            hint = f"; see {log_file}" if log_file else ""
            tail = ""
            if log_file and log_file.exists():
                tail = "\n" + "\n".join(log_file.read_text(errors="replace").splitlines()[-15:])
            raise TimeoutError(f"{what} did not happen within {timeout:.0f}s{hint}{tail}")
        time.sleep(interval)


# Local services are on 127.0.0.1: never send those requests through a proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_ok(url: str) -> bool:
    with _OPENER.open(url, timeout=2) as response:
        return response.status == 200
