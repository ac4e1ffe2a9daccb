"""Decrypted secret values where they must never be: the working tree and the staged changes.

`nox -s secrets` and the pre-commit hook decrypt every secrets file (with the key) and look for
each value (strings of 8 characters or more; never booleans or numbers) in every file git would
see: tracked, untracked but not ignored, and what is staged. A finding names the file, line and
secret, never the value. `secrets.decrypt` refuses to print into a file inside the repository.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from fleet.core import yamlfile
from fleet.core.errors import FleetError, StepFailed
from fleet.core.runner import Runner
from fleet.tools import sops

MIN_LENGTH = 8


@dataclass(frozen=True)
class Secret:
    source: str  # the secrets file, relative to the root
    key: str  # its dotted path in that file
    value: str


def _leaves(node: object, path: tuple[str, ...] = ()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, str(index)))
    elif isinstance(node, str) and len(node) >= MIN_LENGTH:
        yield ".".join(path), node


class _NoKey(Exception):
    """No key here decrypts the repository's secrets (a pull request's checks, say)."""


def secrets_of(root: Path, runner: Runner) -> list[Secret]:
    """Every secret value of the repository; an error naming the file sops cannot decrypt."""
    found = []
    for path in sops.secret_files(root):
        if not sops.is_encrypted(path):
            continue  # plaintext files are the other check's (sops.plaintext_files)
        try:
            text = sops.decrypt_text(root, path, runner)
        except StepFailed as exc:
            if "Failed to get the data key" in exc.stderr:
                raise _NoKey(f"{path}: no key here decrypts it") from None
            raise FleetError(f"{path}: sops cannot decrypt it: {exc.last_line()}") from None
        relative = str(path.relative_to(root))
        for key, value in _leaves(yamlfile.load(text, f"{relative} (decrypted)") or {}):
            found.append(Secret(relative, key, value))
    return found


def _git_files(root: Path, runner: Runner) -> list[str]:
    argv = ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    proc = runner.run(argv, step="list the repository's files", mutates=False)
    return sorted({name for name in proc.stdout.split("\0") if name})


def _staged(root: Path, runner: Runner) -> dict[str, str]:
    """Staged content of each added or changed file (it may differ from the working tree's)."""
    argv = ["git", "-C", str(root), "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR"]
    proc = runner.run(argv, step="list the staged files", mutates=False, check=False)
    staged = {}
    for name in filter(None, proc.stdout.split("\0")):
        shown = runner.run(
            ["git", "-C", str(root), "show", f":{name}"], step="read a staged file", mutates=False
        )
        staged[name] = shown.stdout
    return staged


def _read(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return None if b"\0" in data[:8192] else data.decode(errors="replace")


def find(root: Path, secrets: list[Secret], runner: Runner) -> list[str]:
    """One line per secret value found: file, line, which secret; never the value."""
    if not secrets:
        return []
    by_value: dict[str, list[Secret]] = {}
    for secret in secrets:
        by_value.setdefault(secret.value, []).append(secret)
    pattern = re.compile("|".join(re.escape(v) for v in sorted(by_value, key=len, reverse=True)))
    sources = {s.source for s in secrets}
    texts = [(name, _read(root / name)) for name in _git_files(root, runner) if name not in sources]
    texts += [(f"{name} (staged)", text) for name, text in _staged(root, runner).items()]
    found = []
    for name, text in texts:
        for number, line in enumerate((text or "").splitlines(), 1):
            for match in pattern.finditer(line):
                secret = by_value[match.group()][0]
                found.append(
                    f"{name}:{number}: the value of {secret.key} in {secret.source} (<redacted>)"
                )
    return found


def check(root: Path, runner: Runner, say) -> list[str]:
    """`invoke secrets.check`: plaintext under secrets/, and, with the key, leaked values."""
    problems = [
        f"{path.relative_to(root)}: not sops-encrypted (run `invoke secrets.encrypt {path.relative_to(root)}`)"
        for path in sops.plaintext_files(root)
    ]
    try:
        secrets = secrets_of(root, runner)
    except _NoKey as exc:
        say(f"{exc}: the check for leaked values needs the key, and was not run")
        return problems
    problems += find(root, secrets, runner)
    if not problems:
        say(f"{len(secrets)} secret values: none in the working tree or the staged changes")
    return problems


def refuse_stdout_inside(root: Path) -> None:
    """An error when stdout is a file inside the repository (`secrets.decrypt ... > hubs/x.yaml`)."""
    try:
        here = os.fstat(1)
    except OSError:
        return
    if not stat.S_ISREG(here.st_mode):
        return
    proc_fd = Path("/proc/self/fd/1")
    if proc_fd.exists():
        where = proc_fd.resolve()
    else:  # no /proc (macOS): find the file by its identity
        same = (p for p in root.rglob("*") if p.is_file() and os.path.samestat(p.stat(), here))
        where = next(same, None)
    if where is not None and where.is_relative_to(root.resolve()):
        raise FleetError(
            f"refusing to write decrypted secrets into {where}, inside the repository (the shell "
            "has made that file: remove it); print them to the terminal, or to a file elsewhere"
        )
