"""The one runner for every external program: echoes, honours dry-run, redacts, names the step."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from .errors import FleetError, StepFailed, Stopped
from .redact import redact_text


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
        """A copy with extra environment variables."""
        return self.copy(env={**self.env, **env})

    def quiet(self) -> Runner:
        """A copy that does not echo the commands it runs."""
        return self.copy(echo=False)

    def _line(self, text: str) -> None:
        """One write per line, so lines of commands run from threads never run into each other."""
        out = self.out or sys.stderr
        out.write(text + "\n")
        out.flush()

    def show(self, argv: Iterable[str]) -> str:
        """The command as printed: shell-quoted, with secret values replaced by <redacted>."""
        return redact_text(shlex.join(str(a) for a in argv), self.secrets)

    def start(self, argv: list[str], *, step: str) -> subprocess.Popen:
        """Start a program that runs until stopped (a port-forward); the caller stops it."""
        argv = [str(a) for a in argv]
        if self.echo:
            self._line("$ " + self.show(argv) + " &")
        try:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, **self.env},
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
        try:
            if watch is None:
                proc = subprocess.run(
                    argv,
                    input=input,
                    text=True,
                    capture_output=capture,
                    env=full_env,
                    timeout=timeout,
                )
            else:
                proc = _watched(argv, full_env, watch, step)
        except FileNotFoundError:
            raise FleetError(f"{step}: `{argv[0]}` is not installed or not on PATH") from None
        except subprocess.TimeoutExpired:
            raise StepFailed(step, -1, f"timed out after {timeout}s") from None
        if check and proc.returncode != 0:
            # Some tools (helm dependency update) say why on stdout: keep its last lines too.
            said = "\n".join((proc.stdout or "").strip().splitlines()[-5:] + [proc.stderr or ""])
            raise StepFailed(step, proc.returncode, redact_text(said.strip(), self.secrets))
        return proc


WATCH_EVERY = 2.0  # seconds between two calls of a command's watch


def _watched(argv: list[str], env: dict, watch, step: str) -> subprocess.CompletedProcess:
    """Run argv with output captured, calling watch() while it runs (see Runner.run)."""
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
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
        if proc.poll() is None:
            proc.kill()
            proc.wait()
