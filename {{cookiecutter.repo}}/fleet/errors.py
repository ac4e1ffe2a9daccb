"""The two kinds of failure: a user mistake, and a tool that failed."""


class FleetError(Exception):
    """A mistake in input or config; the message says what is wrong and how to fix it."""


class StepFailed(FleetError):
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
