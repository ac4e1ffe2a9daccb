"""The two kinds of failure, and what they share: every task reports a `Failure` as one
`error:` line and exit code 1 (fleet.release's results carry its message instead).

- `FleetError`: a mistake in input or config (a file, a field, a hub, a flag); the message
  says what is wrong and how to fix it. Nothing was run for it.
- `StepFailed`: an external tool that failed (helm, kubectl, sops, docker...), with the step
  it was and the last lines it said. `Stopped` is one stopped early by its watch, and
  `RolloutFailed` a rollout that did not become ready.

A handler that means either says `Failure`; one that means a tool says `StepFailed`.
"""


class Failure(Exception):
    """What went wrong, in words for the person who runs the task."""


class FleetError(Failure):
    """A mistake in input or config; the message says what is wrong and how to fix it."""


class StepFailed(Failure):
    """An external program failed; carries the step name and the tail of its stderr."""

    def __init__(self, step: str, returncode: int, stderr: str = ""):
        self.step = step
        self.returncode = returncode
        self.stderr = stderr
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        message = f"{step} failed (exit {returncode})"
        super().__init__(f"{message}:\n{tail}" if tail else message)

    def last_line(self, default: str = "no output") -> str:
        """The last line the tool said: usually the one that says why."""
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else default


class Stopped(StepFailed):
    """A command stopped early by its watch: waiting longer could not help (see fleet.rollout)."""

    def __init__(self, step: str, reason: str):
        self.reason = reason
        super().__init__(step, -1, reason)


class RolloutFailed(StepFailed):
    """A workload did not become ready; the message names it, its pods, containers and events."""

    def __init__(self, message: str):
        super().__init__("rollout", -1, message)
        self.args = (message,)

    def __str__(self) -> str:
        return self.args[0]
