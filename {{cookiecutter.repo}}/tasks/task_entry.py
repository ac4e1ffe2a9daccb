"""What every task shares: the @task decorator, the entry that turns a FleetError into one
line and exit 1, the options and release target built once from flags and the environment."""

from __future__ import annotations

import functools
import inspect

from invoke import Exit
from invoke import task as invoke_task
from invoke.parser.parser import ParseMachine

from fleet.core import private
from fleet.core.config import Fleet
from fleet.core.errors import Failure, FleetError
from fleet.core.runner import terminate_children
from fleet.core.target import Target
from fleet.release.release import DeployOptions

ACCESS_HELP = {
    "kubeconfig": "kubeconfig file to take the cluster's credentials from (env FLEET_KUBECONFIG)",
    "context": "context in that kubeconfig (env FLEET_CONTEXT)",
}
LOCK_HELP = {
    "lock-timeout": "how long to wait while another deploy holds the release, e.g. 5m "
    "(default 5m; env FLEET_LOCK_TIMEOUT)",
}
# A release command names a hub x env, or with --support a cluster's support release.
TARGET_HELP = {
    "hub": "hub name (a folder under hubs/)",
    "env": "environment: staging or prod",
    "support": "the support release of --cluster instead of a hub's",
    "cluster": "with --support: the cluster (a folder under clusters/)",
}
TIMEOUT_HELP = "how long to wait for the rollout, e.g. 10m (env FLEET_TIMEOUT)"
DRY_RUN_HELP = "print the commands and run helm's server-side dry run; change nothing"


def task(*args, **kwargs):
    """invoke's @task, with no automatic short flags (so `-h` is --help in every task and no
    letter means two options), and the positional arguments named in the task's help."""

    def decorate(fn):
        params = list(inspect.signature(fn).parameters.values())[1:]
        needed = [p.name for p in params if p.default is inspect.Parameter.empty]
        if needed:
            flags = ", ".join("--" + name.replace("_", "-") for name in needed)
            doc = inspect.cleandoc(fn.__doc__ or "")
            fn.__doc__ = (
                f"{doc}\n\nArguments: {' '.join(n.upper() for n in needed)}, in this order "
                f"or as {flags}."
            )
        return invoke_task(auto_shortflags=False, **kwargs)(fn)

    return decorate(args[0]) if args and callable(args[0]) else decorate


def _help_before_positionals(handle):
    """invoke takes `TASK --help` as the value of TASK's first positional argument: see it as
    the help it asks for (nothing runs after a task's help is printed)."""

    @functools.wraps(handle)
    def patched(self, token):
        context = self.context
        if (
            token in ("--help", "-h")
            and context is not None
            and context.missing_positional_args
            and not self.waiting_for_flag_value
        ):
            self.initial.flags["--help"].value = context.name
            for argument in context.missing_positional_args:
                argument.value = ""  # given, so that the parse ends in the task's help
            return None
        return handle(self, token)

    return patched


ParseMachine.handle = _help_before_positionals(ParseMachine.handle)


def errors_exit(fn):
    """The entry of every task: signal handlers set, a FleetError as one line and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        private.install_signal_handlers(terminate_children)
        private.remove_stale()
        try:
            return fn(*args, **kwargs)
        except Failure as exc:
            raise Exit(f"error: {exc}", code=1) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None
        except private.Terminated as exc:
            raise Exit("terminated (SIGTERM)", code=exc.code) from None

    return wrapper


def options(**given) -> DeployOptions:
    """The deploy options: the flags given, the rest from FLEET_* variables and the defaults."""
    return DeployOptions.from_env(**given)


def target(fleet: Fleet, hub=None, env=None, cluster=None, support=False) -> Target:
    """The one release a task names (fleet.target), checked against the fleet."""
    return Target.of(fleet, hub=hub or None, env=env or None, cluster=cluster, support=support)


def revision_number(revision) -> int | None:
    if revision is not None and not str(revision).isdigit():
        raise FleetError(f"--revision {revision!r}: expected a revision number")
    return int(revision) if revision is not None else None
