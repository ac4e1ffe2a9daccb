"""`invoke secrets.*`: edit, encrypt, decrypt, check, complete and re-key the sops files."""

from __future__ import annotations

from pathlib import Path

from invoke import Collection, Exit

from fleet.core import config, output
from fleet.core.runner import Runner
from fleet.ops import leaks, scaffold
from fleet.tools import sops

from .task_entry import TARGET_HELP, errors_exit, target, task


def _secrets_file(hub, env, cluster, support) -> tuple[Path, Path]:
    fleet = config.load()
    return fleet.root, target(fleet, hub, env, cluster, support).secrets_file


@task(name="edit", help=TARGET_HELP)
@errors_exit
def edit(c, hub=None, env=None, support=False, cluster=None):
    """Edit a release's secrets in $EDITOR through sops (decrypted only in sops's temp file)."""
    root, path = _secrets_file(hub, env, cluster, support)
    changed = sops.edit(root, path)
    output.line(f"{path.relative_to(root)}: {'saved, encrypted' if changed else 'no change'}")


@task(name="encrypt", help={"path": "a plaintext file under a secrets/ folder"})
@errors_exit
def encrypt(c, path):
    """Encrypt a plaintext secrets file in place (refuses a file already encrypted)."""
    sops.encrypt_file(config.find_root(), Path(path))


@task(name="decrypt", help=TARGET_HELP)
@errors_exit
def decrypt(c, hub=None, env=None, support=False, cluster=None):
    """Print a release's decrypted secrets to stdout (never written to a file)."""
    root, path = _secrets_file(hub, env, cluster, support)
    leaks.refuse_stdout_inside(root)
    sops.decrypt_to_stdout(root, path)


@task(name="check")
@errors_exit
def check(c):
    """Secrets files are encrypted and, with the key, no secret value is in any other file or staged."""
    root = config.find_root()
    problems = leaks.check(root, Runner(echo=False), lambda text: output.note(text))
    if problems:
        raise Exit("error: secrets check failed:\n" + "\n".join(problems), code=1)


@task(name="complete")
@errors_exit
def complete(c):
    """Add the chart's own secrets (cookie secret, proxy token, CryptKeeper key) where a hub lacks them."""
    for line in scaffold.complete_secrets(config.load(), Runner()):
        output.line(line)


@task(name="updatekeys")
@errors_exit
def updatekeys(c):
    """Re-encrypt every secrets file for the keys now in .sops.yaml."""
    for path in sops.updatekeys(config.find_root()):
        output.line(f"re-keyed {path}")


collection = Collection("secrets", edit, encrypt, decrypt, updatekeys, complete, check)
