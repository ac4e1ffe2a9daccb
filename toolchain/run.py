"""The one runner for external programs: argv lists, echoed, failures named by step."""

import collections
import os
import shlex
import subprocess
import sys
import threading
from pathlib import Path

TAIL_LINES = 20


class ToolError(RuntimeError):
    """An external program failed; the message names the step and shows its stderr tail."""


class MissingPrerequisite(RuntimeError):
    """Something the toolchain needs is absent; the message says how to get it."""


def run(
    argv: list[str | Path],
    *,
    step: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    capture: bool = False,
    input: str | None = None,
    check: bool = True,
    echo: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    """Run argv; with capture=True return its stdout in .stdout, else stream it.

    env is merged over os.environ. stderr is always kept (its tail goes into the error).
    """
    args = [str(a) for a in argv]
    if echo:
        print(f"$ {shlex.join(args)}", file=sys.stderr, flush=True)
    full_env = {**os.environ, **env} if env else None
    try:
        if capture:
            proc = subprocess.run(
                args,
                cwd=cwd,
                env=full_env,
                input=input,
                text=True,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        else:
            proc = _run_streaming(args, cwd=cwd, env=full_env, input=input, timeout=timeout)
    except FileNotFoundError:
        raise MissingPrerequisite(f"{step}: `{args[0]}` is not installed or not on PATH") from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"{step} failed: `{shlex.join(args)}` timed out after {timeout}s") from None
    if check and proc.returncode != 0:
        raise ToolError(failure_message(step, args, proc.returncode, proc.stderr or ""))
    return proc


def _run_streaming(args, *, cwd, env, input, timeout) -> subprocess.CompletedProcess:
    """Pass stdout and stderr through to the terminal, keeping the tail of stderr."""
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        text=True,
        errors="replace",
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def pump():
        for line in proc.stderr:
            tail.append(line)
            sys.stderr.write(line)
            sys.stderr.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    if input is not None:
        proc.stdin.write(input)
        proc.stdin.close()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    reader.join()
    return subprocess.CompletedProcess(args, proc.returncode, None, "".join(tail))


def failure_message(step: str, args: list[str], returncode: int, stderr: str) -> str:
    tail = "\n".join(stderr.rstrip().splitlines()[-TAIL_LINES:])
    msg = f"{step} failed: `{shlex.join(args)}` exited with {returncode}"
    return f"{msg}\n{tail}" if tail else msg
