"""Tasks for operating this fleet of hubs. Thin: the logic lives in the `fleet` package.

Run `invoke --list` for the tasks and `invoke --help TASK` for each one's options.
"""

from __future__ import annotations

import functools

from invoke import Collection, Exit, task

from fleet.errors import FleetError


def _errors_exit(fn):
    """Turn a FleetError into a one-line message and exit code 1, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FleetError as exc:
            raise Exit(f"error: {exc}", code=1) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None

    return wrapper


ns = Collection()
