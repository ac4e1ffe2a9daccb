"""`invoke shell`: a subshell, or one command, with one cluster's credentials and nothing else.

The KUBECONFIG is the same private, temporary file a deploy makes (fleet.credentials), for every
provider; it is removed when the shell or command exits, whatever way it exits. The user's own
kubeconfig, cloud CLI login and docker config are never read for this or changed.
"""

from __future__ import annotations

import os
from pathlib import Path

from fleet.core import output, private
from fleet.core.config import Fleet
from fleet.core.runner import Runner
from fleet.tools.credentials import Access, describe, temporary_kubeconfig


def shell_argv(shell: str, cluster: str, folder: Path) -> tuple[list[str], dict[str, str]]:
    """The interactive shell's argv and extra env: its prompt starts with the cluster's name.

    bash reads the user's ~/.bashrc, then our one line; other shells get PS1 from the env (which
    sh and dash honour) and FLEET_CLUSTER, for a prompt of the user's own.
    """
    prompt = f"(cluster {cluster}) "
    if Path(shell).name == "bash":
        rcfile = folder / "bashrc"
        private.write(
            rcfile,
            f'[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"\nPS1=\'{prompt}\'"${{PS1:-\\$ }}"\n',
        )
        return [shell, "--rcfile", str(rcfile)], {}
    return [shell], {"PS1": f"{prompt}$ "}


def run(
    fleet: Fleet,
    cluster_name: str,
    command: list[str],
    access: Access,
    runner: Runner | None = None,
) -> int:
    """Run `command` (or the user's $SHELL) with the cluster's KUBECONFIG; its exit code."""
    runner = runner or Runner()
    cluster = fleet.cluster(cluster_name)
    with temporary_kubeconfig(fleet, cluster, runner.quiet(), access) as kubeconfig:
        env = {"KUBECONFIG": str(kubeconfig), "FLEET_CLUSTER": cluster.name}
        if command:
            argv, step = command, f"{command[0]} with cluster {cluster.name}'s credentials"
        else:
            shell = os.environ.get("SHELL") or "/bin/sh"
            argv, extra = shell_argv(shell, cluster.name, kubeconfig.parent)
            env.update(extra)
            step = f"a shell with cluster {cluster.name}'s credentials"
            output.note(
                f"shell: {describe(cluster, access)}, in KUBECONFIG={kubeconfig}; your own "
                "kubeconfig is not used. The file is removed when you exit this shell."
            )
        with private.child_owns_ctrl_c():
            proc = runner.quiet().run(
                argv, step=step, mutates=False, capture=False, check=False, env=env
            )
    if not command:
        output.note(f"shell: left cluster {cluster.name}; its credentials are removed")
    return proc.returncode
