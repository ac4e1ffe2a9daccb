"""Finish a generated repo: hub folders, unused folders removed, keys, encrypted secrets, git.

Called by hooks/post_gen_project.py with the answers and the generated repo's path. When cruft
regenerates the template to compute an update, only the deterministic part runs (`regenerating`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

AGE_MARKER = "AGE_PUBLIC_KEY_GENERATED_AT_CREATION"
INSTALL = {
    "git": "git: https://git-scm.com/downloads (Debian/Ubuntu: apt-get install git)",
    "sops": "sops 3.9 or newer: https://github.com/getsops/sops/releases",
    "age-keygen": "age: https://github.com/FiloSottile/age#installation (Debian/Ubuntu: apt-get install age)",
    "gpg": "GnuPG: https://gnupg.org/download/ (Debian/Ubuntu: apt-get install gnupg)",
}


class Stop(Exception):
    """Generation cannot finish; the message says what to do."""


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


def age_key_dir() -> Path:
    """Where generated age private keys go: $HUBFLEET_AGE_KEY_DIR, else sops's default folder."""
    override = os.environ.get("HUBFLEET_AGE_KEY_DIR")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "sops" / "age"


def make_age_key(repo: str) -> tuple[str, Path]:
    """A new age key pair (or the one already made for this repo): (public key, private key file)."""
    folder = age_key_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_file = folder / f"{repo}.txt"
    if not key_file.exists():
        subprocess.run(["age-keygen", "-o", str(key_file)], check=True, capture_output=True)
    key_file.chmod(0o600)
    public = subprocess.run(
        ["age-keygen", "-y", str(key_file)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return public, key_file


def template_source(answers: dict) -> str:
    """The template as cruft can find it again: an absolute path for a local template."""
    template = str(answers.get("_template", ""))
    repo_dir = answers.get("_repo_dir")
    if repo_dir and Path(template).expanduser().is_dir():
        return str(Path(repo_dir).resolve())
    return template


def template_commit(answers: dict) -> str | None:
    repo_dir = answers.get("_repo_dir")
    if not repo_dir or not shutil.which("git"):
        return None
    argv = ["git", "-C", repo_dir, "rev-parse", "HEAD"]
    proc = subprocess.run(argv, check=False, capture_output=True, text=True)
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def fill_cruft(root: Path, answers: dict, recipient: str) -> None:
    """Record the template's location and commit, and the recipient actually used.

    Written the same way when cruft regenerates, so `cruft diff` shows template changes only.
    """
    path = root / ".cruft.json"
    state = json.loads(path.read_text())
    context = state["context"]["cookiecutter"]
    if regenerating(answers):
        state["template"], state["commit"] = answers["_template"], answers["_commit"]
    else:
        state["template"] = template_source(answers)
        state["commit"] = template_commit(answers) or state.get("commit")
    context["sops_recipient"] = recipient
    context["_template"] = state["template"]
    if state["commit"]:
        context["_commit"] = state["commit"]
    path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


def remove_unused(root: Path, answers: dict) -> None:
    """Folders the answers do not use (single files use conditional names instead)."""
    if answers["ci"] != "github":
        shutil.rmtree(root / ".github", ignore_errors=True)


def git(root: Path, *args: str) -> None:
    identity = []
    argv = ["git", "config", "user.email"]
    probe = subprocess.run(argv, check=False, cwd=root, capture_output=True, text=True)
    if not probe.stdout.strip():
        identity = ["-c", "user.name=hubfleet", "-c", "user.email=hubfleet@localhost"]
    subprocess.run(["git", *identity, *args], cwd=root, check=True, capture_output=True, text=True)


def init_git(root: Path) -> None:
    """One commit on `staging` (the default branch), and `prod` at the same commit."""
    git(root, "init", "--quiet", "--initial-branch=staging")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--no-verify", "-m", "Generated from the hubfleet template")
    git(root, "branch", "prod")


def regenerating(answers: dict) -> bool:
    """cruft is regenerating the template to compute an update (it passes `_commit`)."""
    return "_commit" in answers and "_repo_dir" not in answers


def make_hubs(root: Path, answers: dict, recipient: str = "") -> None:
    """One hub folder per answer, made by the generated repo's own code (`invoke new-hub`).

    With a recipient, each hub gets its encrypted secrets; without one, none (never plaintext).
    """
    sys.path.insert(0, str(root))
    try:
        from fleet import scaffold
        from fleet.errors import FleetError
        from fleet.runner import Runner
    except ImportError as exc:
        raise Stop(
            f"the generated repo's code needs the Python package {exc.name!r}: "
            f"`pip install {exc.name}`, then run cookiecutter again"
        ) from None

    runner = Runner(echo=False)
    try:
        for name in hub_names(answers):
            scaffold.new_hub(
                root, name, cluster=answers["cluster"], runner=runner, with_secrets=bool(recipient)
            )
    except FleetError as exc:
        backend = answers["secrets_backend"]
        raise Stop(
            f"cannot make the hubs with {backend} key {recipient or '(none)'}: {exc}\n"
            "Nothing was kept. Make the key usable here (import it, or log in to the cloud),"
            " then run cookiecutter again."
        ) from None


def lock_chart(root: Path) -> list[str]:
    """Write chart/Chart.lock (committed with the rest) when the chart repository answers.

    Deploys then run `helm dependency build` against the committed lock; without it the first
    deploy writes the lock and records a dirty work tree.
    """
    helm = shutil.which(os.environ.get("FLEET_HELM", "helm"))
    later = "`helm dependency update chart`, then commit chart/Chart.lock"
    if not helm:
        return [f"helm is not on PATH, so chart/Chart.lock was not written: run {later}."]
    try:
        proc = subprocess.run(
            [helm, "dependency", "update", "chart"],
            check=False, cwd=root, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return [f"the chart repository did not answer in 120 s: run {later}."]
    if proc.returncode:
        said = [line.strip() for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
        # helm names the unreachable repository on a line of its own, then why on the next.
        reached = [n for n, line in enumerate(said) if "Unable to get an update" in line]
        why = " ".join(said[reached[0]:reached[0] + 2]) if reached else (said or ["no output"])[-1]
        return [f"could not fetch the jupyterhub chart: {why}", f"Once it is reachable, run {later}."]
    return []


def main(answers: dict, root: Path) -> list[str]:
    """Finish the repo at root; returns the lines to print for the operator."""
    remove_unused(root, answers)
    if regenerating(answers):
        fill_cruft(root, answers, answers["sops_recipient"])
        make_hubs(root, answers)
        return []

    missing = [tool for tool in needed_tools(answers) if not shutil.which(tool)]
    if missing:
        raise Stop(missing_tools_message(missing, answers))

    notes = []
    backend, recipient = answers["secrets_backend"], answers["sops_recipient"]
    sops_yaml = root / ".sops.yaml"
    if backend == "age" and not recipient:
        recipient, key_file = make_age_key(answers["repo"])
        sops_yaml.write_text(sops_yaml.read_text().replace(AGE_MARKER, recipient))
        notes += [
            f"Generated an age key for {answers['repo']}: public key {recipient} (in .sops.yaml),",
            f"private key in {key_file} (mode 0600, outside the repo; back it up, never commit it).",
            "sops finds it when you export SOPS_AGE_KEY_FILE=" + str(key_file),
            "Give it to CI as the GitHub secret SOPS_AGE_KEY, e.g.:",
            f"  gh secret set SOPS_AGE_KEY < {key_file}",
        ]
    fill_cruft(root, answers, recipient)

    make_hubs(root, answers, recipient)
    if not recipient:
        notes += [
            f"No sops_recipient for {backend}: put your key in .sops.yaml, then create each hub's",
            "secrets with `invoke secrets.edit HUB staging` and `invoke secrets.edit HUB prod`.",
        ]

    notes += lock_chart(root)
    init_git(root)
    notes += [
        f"Created {root} with hubs {', '.join(hub_names(answers))}; branches staging (default) and prod.",
        "Next: cd into it, `pip install -r requirements.txt`, then `nox -s lint templates secrets`.",
    ]
    return notes
