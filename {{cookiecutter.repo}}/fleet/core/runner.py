"""The one runner for every external program: echoes, honours dry-run, redacts, names the step.

Every program it starts dies with this process: on Linux it is started through util-linux's
`setpriv --pdeathsig KILL`, so a deploy killed with SIGKILL (the OOM killer, a runner's hard
cancel) takes its helm with it instead of leaving it upgrading alone; and `terminate_children`
(called on SIGTERM, fleet.private) stops every program still running, from any thread.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from fleet.core import output
from fleet.core.errors import FleetError, StepFailed, Stopped
from fleet.core.redact import redact_text

T = TypeVar("T")
_CHILDREN: set[subprocess.Popen] = set()
_CHILDREN_LOCK = threading.Lock()


@functools.cache
def _pdeathsig() -> list[str]:
    """The prefix that gives a child SIGKILL when its parent dies ([] where there is none)."""
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


GRACE = 5.0  # seconds a program has after SIGTERM before it is killed


def terminate_children() -> int:
    """SIGTERM to every program of ours still running, SIGKILL to those left GRACE seconds
    later (helm, told to stop, may go on rolling back with --atomic); how many there were."""
    with _CHILDREN_LOCK:
        children = [c for c in _CHILDREN if c.poll() is None]
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)

    def kill_the_rest() -> None:
        for child in children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()

    if children:
        timer = threading.Timer(GRACE, kill_the_rest)
        timer.daemon = True
        timer.start()
    return len(children)


def _popen(argv: list[str], env: Mapping[str, str], **kwargs) -> subprocess.Popen:
    """Start argv (with the parent-death prefix), registered until `_done`."""
    proc = subprocess.Popen([*_pdeathsig(), *argv], env=dict(env), **kwargs)
    with _CHILDREN_LOCK:
        _CHILDREN.add(proc)
    return proc


def _done(proc: subprocess.Popen) -> None:
    with _CHILDREN_LOCK:
        _CHILDREN.discard(proc)


@dataclass
class Runner:
    """Runs argv lists. `dry_run` prints instead of running commands that change anything."""

    dry_run: bool = False
    echo: bool = True
    env: dict[str, str] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    out = None  # sys.stderr when it is written (a live display may have replaced it)

    def copy(self, **changes: object) -> Runner:
        """A runner with these settings changed; its env and secrets are copies of its own."""
        settings = {
            "dry_run": self.dry_run,
            "echo": self.echo,
            "env": dict(self.env),
            "secrets": set(self.secrets),
        }
        return Runner(**{**settings, **changes})

    def with_env(self, **env: str) -> Runner:
        """A copy with extra environment variables, sharing this runner's secrets: what it
        learns (a release's decrypted values) is hidden by this runner too."""
        return self.copy(env={**self.env, **env}, secrets=self.secrets)

    def quiet(self) -> Runner:
        """A copy that does not echo the commands it runs, sharing this runner's secrets."""
        return self.copy(echo=False, secrets=self.secrets)

    def _line(self, text: str) -> None:
        """One write per line, so lines of commands run from threads never run into each other."""
        output.echo(text, self.out)

    def show(self, argv: Iterable[str]) -> str:
        """The command as printed: shell-quoted, with secret values replaced by <redacted>."""
        return redact_text(shlex.join(str(a) for a in argv), self.secrets)

    def start(self, argv: list[str], *, step: str) -> subprocess.Popen:
        """Start a program that runs until stopped (a port-forward); the caller stops it.

        It runs in a session of its own: a Ctrl-C at the terminal (SIGINT to the foreground
        process group) reaches this process, which cleans up through it, and not the program."""
        argv = [str(a) for a in argv]
        if self.echo:
            self._line("$ " + self.show(argv) + " &")
        _installed(argv[0], step)
        try:
            return _popen(
                argv,
                {**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise FleetError(f"{step}: `{argv[0]}` is not installed or not on PATH") from None

    def run(
        self,
        argv: list[str],
        *,
        step: str,
        mutates: bool = True,
        capture: bool = True,
        input: str | None = None,
        check: bool = True,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        watch: Callable[[], str | None] | None = None,
    ) -> subprocess.CompletedProcess:
        """Run argv; in dry-run, a command that `mutates` is printed, not run.

        `watch` is called every few seconds while the command runs; when it returns a reason,
        the command is stopped (SIGTERM, then SIGKILL) and `Stopped` raised with that reason.
        """
        argv = [str(a) for a in argv]
        if self.echo or (self.dry_run and mutates):
            prefix = "[dry-run] " if self.dry_run and mutates else "$ "
            self._line(prefix + self.show(argv))
        if self.dry_run and mutates:
            return subprocess.CompletedProcess(argv, 0, "", "")
        full_env = {**os.environ, **self.env, **(env or {})}
        _installed(argv[0], step, full_env)
        try:
            proc = _run(argv, full_env, input, capture, timeout, watch, step)
        except FileNotFoundError:
            raise FleetError(f"{step}: `{argv[0]}` is not installed or not on PATH") from None
        except subprocess.TimeoutExpired:
            raise StepFailed(step, -1, f"timed out after {timeout}s") from None
        if check and proc.returncode != 0:
            # Some tools (helm dependency update) say why on stdout: keep its last lines too.
            said = "\n".join((proc.stdout or "").strip().splitlines()[-5:] + [proc.stderr or ""])
            raise StepFailed(step, proc.returncode, redact_text(said.strip(), self.secrets))
        return proc

    def call(self, shown: str, send: Callable[[], T], *, mutates: bool) -> T | None:
        """An in-process request (fleet.tools.kube), shown and dry-run like a command: echoed
        as `$ <shown>`, and, when it `mutates`, printed instead of sent in a dry run (None)."""
        if self.echo or (self.dry_run and mutates):
            prefix = "[dry-run] " if self.dry_run and mutates else "$ "
            self._line(prefix + redact_text(shown, self.secrets))
        if self.dry_run and mutates:
            return None
        return send()


WATCH_EVERY = 2.0  # seconds between two calls of a command's watch


def _installed(program: str, step: str, env: Mapping[str, str] | None = None) -> None:
    """A missing program is one line (the parent-death prefix would hide which is missing)."""
    path = (env or os.environ).get("PATH")
    found = os.path.exists(program) if os.sep in program else shutil.which(program, path=path)
    if not found:
        raise FleetError(f"{step}: `{program}` is not installed or not on PATH")


def _run(
    argv: list[str],
    env: Mapping[str, str],
    input: str | None,
    capture: bool,
    timeout: float | None,
    watch: Callable[[], str | None] | None,
    step: str,
) -> subprocess.CompletedProcess:
    """Run argv to its end, or until `timeout` or `watch` (see Runner.run) stops it."""
    pipe = subprocess.PIPE if capture else None
    proc = _popen(
        argv,
        env,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL if watch else None,
        stdout=pipe,
        stderr=pipe,
        text=True,
    )
    try:
        if watch is None:
            out, err = proc.communicate(input=input, timeout=timeout)
            return subprocess.CompletedProcess(argv, proc.returncode, out, err)
        while True:
            try:
                out, err = proc.communicate(timeout=WATCH_EVERY)
                return subprocess.CompletedProcess(argv, proc.returncode, out, err)
            except subprocess.TimeoutExpired:
                reason = watch()
            if reason:
                proc.terminate()
                try:
                    proc.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate()
                raise Stopped(step, reason)
    finally:
        if proc.poll() is None:  # an exception (Ctrl-C, a timeout) while it ran
            proc.kill()
            proc.wait()
        _done(proc)
