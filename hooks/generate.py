"""Finish a generated repo: hub folders, unused folders removed, keys, encrypted secrets, git.

Called by hooks/post_gen_project.py with the answers, the generated repo's path and the
template's folder. When cruft regenerates the template to compute an update, only the
deterministic part runs (`regenerating`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

AGE_MARKER = "AGE_PUBLIC_KEY_GENERATED_AT_CREATION"
INSTALL = {
    "git": "git: https://git-scm.com/downloads (Debian/Ubuntu: apt-get install git)",
    "sops": "sops 3.9 or newer: https://github.com/getsops/sops/releases",
    "age-keygen": "age: https://github.com/FiloSottile/age#installation (Debian/Ubuntu: apt-get install age)",
    "gpg": "GnuPG: https://gnupg.org/download/ (Debian/Ubuntu: apt-get install gnupg)",
}


# pip's names of the modules the generated repo's code imports, where they differ.
PIP_NAMES = {"yaml": "pyyaml"}


class Stop(Exception):
    """Generation cannot finish; the message says what to do."""


def missing_module_message(exc: ImportError) -> str:
    """One line naming the module this Python lacks and how to install it."""
    module = (exc.name or str(exc)).split(".")[0]
    package = PIP_NAMES.get(module, module)
    return (
        f"the generated repo's code needs the Python module {module!r}, missing from the Python "
        f"that runs cookiecutter: run `{sys.executable} -m pip install {package}`, "
        "then run cookiecutter again"
    )


class Fleet(NamedTuple):
    """The generated repo's own modules: they make its hubs, and know where its key and lock go."""

    scaffold: ModuleType
    sops: ModuleType
    chart: ModuleType
    Failure: type[Exception]  # a mistake in input or a tool that failed
    Runner: type


def load_fleet(root: Path) -> Fleet:
    """Import the generated repo's code, before anything is made: Stop names a missing module."""
    sys.path.insert(0, str(root))
    # The generated repo's package exists only once cookiecutter has rendered it.
    try:
        from fleet.core.errors import Failure  # noqa: PLC0415
        from fleet.core.runner import Runner  # noqa: PLC0415
        from fleet.ops import scaffold  # noqa: PLC0415
        from fleet.tools import chart, sops  # noqa: PLC0415
    except ImportError as exc:
        raise Stop(missing_module_message(exc)) from None
    return Fleet(scaffold, sops, chart, Failure, Runner)


def hub_names(answers: dict) -> list[str]:
    return [name.strip() for name in answers["hubs"].split(",")]


def needed_tools(answers: dict) -> list[str]:
    """The programs generation runs, for these answers."""
    tools = ["git", "sops"]
    if answers["secrets_backend"] == "age" and not answers["sops_recipient"]:
        tools.append("age-keygen")
    if answers["secrets_backend"] == "pgp":
        tools.append("gpg")
    return tools


def missing_tools_message(missing: list[str], answers: dict) -> str:
    """What to install and what to run afterwards, for the missing programs."""
    lines = ["cannot finish generating: these programs are not on PATH:"]
    lines += [f"  - {INSTALL.get(tool, tool)}" for tool in missing]
    lines.append("Nothing was kept (no secret was written). After installing them, run again:")
    lines.append(f"  cookiecutter {answers.get('_template', '<template>')} --replay")
    return "\n".join(lines)


def age_key_file(fleet: Fleet, repo: str) -> Path:
    """Where the repo's age key goes: the folder the generated repo's sops wrapper reads."""
    return fleet.sops.age_key_dir() / f"{repo}.txt"


def make_age_key(fleet: Fleet, repo: str) -> tuple[str, Path, bool]:
    """A new age key pair, or the one already made for this repo: (public key, private key file,
    whether it was made now)."""
    key_file = age_key_file(fleet, repo)
    key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    made = not key_file.exists()
    if made:
        subprocess.run(["age-keygen", "-o", str(key_file)], check=True, capture_output=True)
    key_file.chmod(0o600)
    public = subprocess.run(
        ["age-keygen", "-y", str(key_file)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return public, key_file, made


def age_key_notes(repo: str, public: str, key_file: Path, made: bool) -> list[str]:
    """What the operator needs to know about the repo's age key, saying whether it is new."""
    if made:
        first = [
            f"Generated an age key for {repo}: public key {public} (in .sops.yaml),",
            f"private key in {key_file} (mode 0600, outside the repo; back it up, never commit it).",
        ]
    else:
        first = [
            f"Reused the age key {key_file}, left by an earlier repo named {repo}: no new key was",
            f"made. Public key {public} (in .sops.yaml); move that file away for a new key.",
        ]
    return [
        *first,
        "sops finds it when you export SOPS_AGE_KEY_FILE=" + str(key_file),
        "Give it to CI as the GitHub secret SOPS_AGE_KEY, e.g.:",
        f"  gh secret set SOPS_AGE_KEY < {key_file}",
    ]


def template_source(answers: dict, template_dir: Path) -> str:
    """The template as cruft can find it again: the absolute folder of a local template.

    cookiecutter keeps a local template's path as typed (`_repo_dir` is `_template`, maybe
    relative to a folder the hooks do not run in); a remote one is cloned elsewhere, and its
    URL is what cruft clones again.
    """
    template = str(answers.get("_template", ""))
    if answers.get("_repo_dir") == template:
        return str(template_dir)
    return template


def template_commit(template_dir: Path) -> str | None:
    """The template's commit, when it is a git work tree."""
    if not shutil.which("git"):
        return None
    argv = ["git", "-C", str(template_dir), "rev-parse", "HEAD"]
    proc = subprocess.run(argv, check=False, capture_output=True, text=True)
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def fill_cruft(root: Path, answers: dict, recipient: str, template_dir: Path) -> None:
    """Record the template's location and commit, and the recipient actually used.

    Written the same way when cruft regenerates, so `cruft diff` shows template changes only.
    """
    path = root / ".cruft.json"
    state = json.loads(path.read_text())
    context = state["context"]["cookiecutter"]
    if regenerating(answers):
        state["template"], state["commit"] = answers["_template"], answers["_commit"]
    else:
        state["template"] = template_source(answers, template_dir)
        state["commit"] = template_commit(template_dir) or state.get("commit")
    context["sops_recipient"] = recipient
    context["_template"] = state["template"]
    if state["commit"]:
        context["_commit"] = state["commit"]
    path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


def remove_unused(root: Path, answers: dict) -> None:
    """Folders the answers do not use (single files use conditional names instead)."""
    if answers["ci"] != "github":
        shutil.rmtree(root / ".github", ignore_errors=True)
    elif answers.get("promotion") == "one-branch":
        # One branch: no `prod` branch to guard.
        (root / ".github" / "workflows" / "prod-guard.yaml").unlink(missing_ok=True)


def git(root: Path, *args: str) -> None:
    identity = []
    argv = ["git", "config", "user.email"]
    probe = subprocess.run(argv, check=False, cwd=root, capture_output=True, text=True)
    if not probe.stdout.strip():
        identity = ["-c", "user.name=hubfleet", "-c", "user.email=hubfleet@localhost"]
    subprocess.run(["git", *identity, *args], cwd=root, check=True, capture_output=True, text=True)


def branches(answers: dict) -> list[str]:
    """The branches made, the default first: staging and prod, or main alone (one-branch)."""
    return ["main"] if answers.get("promotion") == "one-branch" else ["staging", "prod"]


def init_git(root: Path, answers: dict) -> None:
    """One commit on the default branch; the other branches at the same commit."""
    default, *others = branches(answers)
    git(root, "init", "--quiet", f"--initial-branch={default}")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--no-verify", "-m", "Generated from the hubfleet template")
    for name in others:
        git(root, "branch", name)


def regenerating(answers: dict) -> bool:
    """cruft is regenerating the template to compute an update (it passes `_commit`)."""
    return "_commit" in answers and "_repo_dir" not in answers


def make_hubs(fleet: Fleet, root: Path, answers: dict, recipient: str = "") -> None:
    """One hub folder per answer, made by the generated repo's own code (`invoke new-hub`).

    With a recipient, each hub gets its encrypted secrets; without one, none (never plaintext).
    """
    runner = fleet.Runner(echo=False)
    try:
        for name in hub_names(answers):
            fleet.scaffold.new_hub(
                root, name, cluster=answers["cluster"], runner=runner, with_secrets=bool(recipient)
            )
        # The first cluster's support values and secrets, as `invoke new-cluster` makes them.
        fleet.scaffold.add_support(root, answers["cluster"], runner, with_secrets=bool(recipient))
    except fleet.Failure as exc:
        backend = answers["secrets_backend"]
        raise Stop(
            f"cannot make the hubs with {backend} key {recipient or '(none)'}: {exc}\n"
            "Nothing was kept. Make the key usable here (import it, or log in to the cloud),"
            " then run cookiecutter again."
        ) from None


def main(answers: dict, root: Path, template_dir: Path) -> list[str]:
    """Finish the repo at root; returns the lines to print for the operator.

    Everything that can be checked is checked before anything is made; an age key made here is
    removed again when a later step fails, so a failure leaves nothing behind.
    """
    fleet = load_fleet(root)
    remove_unused(root, answers)
    if regenerating(answers):
        fill_cruft(root, answers, answers["sops_recipient"], template_dir)
        make_hubs(fleet, root, answers)
        return []

    missing = [tool for tool in needed_tools(answers) if not shutil.which(tool)]
    if missing:
        raise Stop(missing_tools_message(missing, answers))

    backend, recipient = answers["secrets_backend"], answers["sops_recipient"]
    new_key = None
    if backend == "age" and not recipient and not age_key_file(fleet, answers["repo"]).exists():
        new_key = age_key_file(fleet, answers["repo"])
    try:
        return finish(fleet, root, answers, template_dir)
    except BaseException:
        if new_key:
            new_key.unlink(missing_ok=True)
        raise


def finish(fleet: Fleet, root: Path, answers: dict, template_dir: Path) -> list[str]:
    """Key, cruft record, hubs with encrypted secrets, chart lock, git: the lines to print."""
    notes = []
    backend, recipient = answers["secrets_backend"], answers["sops_recipient"]
    sops_yaml = root / ".sops.yaml"
    if backend == "age" and not recipient:
        recipient, key_file, made = make_age_key(fleet, answers["repo"])
        sops_yaml.write_text(sops_yaml.read_text().replace(AGE_MARKER, recipient))
        notes += age_key_notes(answers["repo"], recipient, key_file, made)
    fill_cruft(root, answers, recipient, template_dir)

    make_hubs(fleet, root, answers, recipient)
    if not recipient:
        notes += [
            f"No sops_recipient for {backend}: put your key in .sops.yaml, then create each hub's",
            "secrets with `invoke secrets.edit --hub HUB --env staging` and `--env prod`.",
        ]

    # Committed with the rest, so deploys `helm dependency build` exactly the locked chart.
    notes += fleet.chart.write_lock(root, fleet.Runner(echo=False))
    init_git(root, answers)
    notes += [
        f"Created {root} with hubs {', '.join(hub_names(answers))}; "
        + (
            "branches staging (default) and prod."
            if len(branches(answers)) > 1
            else "branch main (a push deploys support, staging, then prod)."
        ),
        "Next: cd into it, `pip install -r requirements.txt`, then `nox` (lint, tests, templates, secrets).",
    ]
    return notes
