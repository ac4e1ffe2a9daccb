"""The one runner for every external program: echoes, honours dry-run, redacts, names the step."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .errors import FleetError, StepFailed
from .redact import redact_text


@dataclass
class Runner:
    """Runs argv lists. `dry_run` prints instead of running commands that change anything."""

    dry_run: bool = False
    echo: bool = True
    env: dict[str, str] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    out = sys.stderr

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

    def show(self, argv: Iterable[str]) -> str:
        """The command as printed: shell-quoted, with secret values replaced by <redacted>."""
        return redact_text(shlex.join(str(a) for a in argv), self.secrets)

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
    ) -> subprocess.CompletedProcess:
        """Run argv; in dry-run, a command that `mutates` is printed, not run."""
        argv = [str(a) for a in argv]
        if self.echo or (self.dry_run and mutates):
            prefix = "[dry-run] " if self.dry_run and mutates else "$ "
            print(prefix + self.show(argv), file=self.out, flush=True)
        if self.dry_run and mutates:
            return subprocess.CompletedProcess(argv, 0, "", "")
        full_env = {**os.environ, **self.env, **(env or {})}
        try:
            proc = subprocess.run(
                argv,
                input=input,
                text=True,
                capture_output=capture,
                env=full_env,
                timeout=timeout,
            )
        except FileNotFoundError:
            raise FleetError(f"{step}: `{argv[0]}` is not installed or not on PATH") from None
        except subprocess.TimeoutExpired:
            raise StepFailed(step, -1, f"timed out after {timeout}s") from None
        if check and proc.returncode != 0:
            # Some tools (helm dependency update) say why on stdout: keep its last lines too.
            said = "\n".join((proc.stdout or "").strip().splitlines()[-5:] + [proc.stderr or ""])
            raise StepFailed(step, proc.returncode, redact_text(said.strip(), self.secrets))
        return proc
