"""The sops wrapper: every encrypt, decrypt, edit and re-key of the files under a `secrets/` folder.

What the other modules use:
- `decrypted(target, runner)`: context manager yielding `(path, secret_strings)`; the path is
  the release's (a hub x env's, or a cluster's support) decrypted secrets in a private temporary
  folder (`fleet.private`). A file sops cannot decrypt is one line naming it. A missing secrets
  file yields empty values.
- `for_render(target, runner)`: like `decrypted`, but without a usable key it yields
  typed placeholders instead (so a render never runs without its secrets), and the mode.
- `is_encrypted`, `placeholder_values`, `secret_paths`: read encrypted files without a key.
- `encrypt_text`, `encrypt_file`, `edit`, `decrypt_text`, `decrypt_to_stdout`, `updatekeys`,
  `secret_files`, `plaintext_files`, `age_key_dir`, `age_key_file`.

The sops binary comes from env FLEET_SOPS (default `sops`). With the pgp backend, env FLEET_PGP_KEY
(an armored private key, as CI has it) is imported into a temporary GNUPGHOME for each call;
with age, the key generated with the repo (`age_key_file`) is used when no SOPS_AGE_KEY or
SOPS_AGE_KEY_FILE is set.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml

from fleet.core import private, settings, yamlfile
from fleet.core.errors import Failure, FleetError, StepFailed
from fleet.core.redact import secret_strings
from fleet.core.runner import Runner
from fleet.core.target import Target

ENC = re.compile(r"^ENC\[AES256_GCM,data:[^,]*,iv:[^,]*,tag:[^,]*,type:(\w+)\]$")
# sops exits with these when it finds no key it can use (CouldNotRetrieveKey, NoEncryptionKeyFound).
NO_KEY_CODES = {128, 111}
# ...and with these when the key worked but the content fails authentication: ErrorDecryptingMac,
# ErrorDecryptingTree (a value's GCM tag), MacMismatch, MacNotFound.
TAMPERED_CODES = {24, 25, 51, 52}
SKIP_DIRS = {".git", ".nox", "node_modules", ".venv", "charts"}

PLACEHOLDERS = {
    # Hex, so a placeholder also satisfies fields that expect a hex token (cookieSecret).
    "str": "0" * 64,
    "bytes": "0" * 64,
    "int": 1,
    "float": 1.0,
    "bool": False,
}


def sops_bin() -> str:
    return settings.current().sops


def _sops(root: Path, *args: str) -> list[str]:
    return [sops_bin(), "--config", str(root / ".sops.yaml"), *args]


def is_encrypted(path: Path) -> bool:
    """True when the file carries sops metadata (YAML/JSON `sops:` map, or dotenv/ini `sops_mac`)."""
    try:
        text = Path(path).read_text()
    except (UnicodeDecodeError, OSError):
        return False
    try:
        doc = yamlfile.load(text, path)
    except Failure:
        doc = None
    if isinstance(doc, dict):
        meta = doc.get("sops")
        return isinstance(meta, dict) and bool(meta.get("mac"))
    return bool(re.search(r"^\s*sops_mac\s*=", text, re.MULTILINE))


def _placeholder(value: object) -> object:
    if isinstance(value, str):
        match = ENC.match(value)
        if match:
            return PLACEHOLDERS.get(match.group(1), PLACEHOLDERS["str"])
    return value


def _replace(node: object) -> object:
    if isinstance(node, dict):
        return {k: _replace(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace(v) for v in node]
    return _placeholder(node)


def placeholder_values(path: Path) -> dict:
    """The encrypted document without its sops metadata, each encrypted value a typed placeholder."""
    path = Path(path)
    if not is_encrypted(path):
        raise FleetError(f"{path}: not sops-encrypted; run `invoke secrets.encrypt {path}`")
    doc = yamlfile.read(path)
    doc.pop("sops", None)
    return _replace(doc)


def secret_files(root: Path) -> list[Path]:
    """Every file under any `secrets/` folder of the repository."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        if "secrets" in Path(dirpath).relative_to(root).parts:
            found += [Path(dirpath) / f for f in sorted(filenames)]
    return found


def plaintext_files(root: Path) -> list[Path]:
    """Files under a `secrets/` folder that are not sops-encrypted."""
    return [p for p in secret_files(root) if not is_encrypted(p)]


def _require_encrypted(path: Path) -> None:
    if not is_encrypted(path):
        raise FleetError(
            f"{path}: has no sops metadata, so it is plaintext or damaged; "
            f"encrypt it with `invoke secrets.encrypt {path}`"
        )


KeyPath = tuple[str, ...]


def leaf_paths(node: object, prefix: KeyPath = ()) -> set[KeyPath]:
    """The key paths of every leaf of a YAML document (list items by index)."""
    if isinstance(node, dict):
        items: Iterable = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return {prefix}
    found: set[KeyPath] = set()
    for name, value in items:
        found |= leaf_paths(value, (*prefix, str(name)))
    return found


def secret_paths(files: Iterable[Path]) -> set[KeyPath]:
    """The leaf paths of sops-encrypted files: sops leaves keys readable, so no key is needed."""
    found: set[KeyPath] = set()
    for path in map(Path, files):
        if path.exists() and is_encrypted(path):
            found |= leaf_paths(placeholder_values(path))
    return found


def age_key_dir() -> Path:
    """Where age keys generated for repos live: $HUBFLEET_AGE_KEY_DIR, else sops's own folder."""
    override = settings.current().age_key_dir
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "sops" / "age"


def age_key_file(root: Path) -> Path | None:
    """The age key made for this repo at its creation, if it is where the template put it."""
    folder = age_key_dir()
    names = {root.name}
    cruft = root / ".cruft.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        names.add(json.loads(cruft.read_text())["context"]["cookiecutter"]["repo"])
    for name in sorted(names):
        candidate = folder / f"{name}.txt"
        if candidate.is_file():
            return candidate
    return None


@contextlib.contextmanager
def sops_env(root: Path) -> Iterator[dict[str, str]]:
    """Extra env for sops: FLEET_PGP_KEY imported into a temporary GNUPGHOME, and the repo's
    generated age key when no SOPS_AGE_KEY / SOPS_AGE_KEY_FILE is set."""
    env: dict[str, str] = {}
    if not (os.environ.get("SOPS_AGE_KEY") or os.environ.get("SOPS_AGE_KEY_FILE")):
        key = age_key_file(Path(root))
        if key:
            env["SOPS_AGE_KEY_FILE"] = str(key)
    armored = settings.current().pgp_key
    if not armored:
        yield env
        return
    import gnupg  # noqa: PLC0415 - only the pgp backend needs python-gnupg

    with private.directory("fleet-gnupg-") as home:
        gpg = gnupg.GPG(gnupghome=str(home))
        result = gpg.import_keys(armored)
        if not result.fingerprints:
            raise FleetError("FLEET_PGP_KEY: no PGP key could be imported from it")
        yield {**env, "GNUPGHOME": str(home)}


def decrypt_text(root: Path, path: Path, runner: Runner) -> str:
    """The decrypted text of an encrypted file, in memory only."""
    _require_encrypted(path)
    with sops_env(root) as env:
        proc = runner.run(
            _sops(root, "--decrypt", str(path)), step=f"sops decrypt {path}", mutates=False, env=env
        )
    return proc.stdout


def decrypt_failure(source: Path, exc: StepFailed) -> FleetError:
    """One line on why sops could not decrypt a file: no usable key, or content changed."""
    if exc.returncode in TAMPERED_CODES:
        said = exc.last_line().split(". File has ")[0]  # a MAC mismatch goes on with two hashes
        return FleetError(
            f"{source}: fails sops's integrity check ({said}): it was changed outside sops or "
            "is damaged; restore it from git history, and never edit its ENC[...] values by hand"
        )
    if exc.returncode in NO_KEY_CODES:
        return FleetError(
            f"{source}: sops cannot decrypt it (is your key one of its recipients?): "
            f"{exc.last_line()}"
        )
    return FleetError(
        f"{source}: sops cannot decrypt it (exit {exc.returncode}): {exc.last_line()}"
    )


@contextlib.contextmanager
def decrypted(target: Target, runner: Runner) -> Iterator[tuple[Path, set[str]]]:
    """A release's secrets decrypted into a private temp file (`{}` when it has none): yields
    (path, secret strings)."""
    source, text = target.secrets_file, "{}\n"
    if source.exists():
        try:
            text = decrypt_text(target.fleet.root, source, runner)
        except StepFailed as exc:
            raise decrypt_failure(source, exc) from None
    with private.directory() as folder:
        path = private.write(folder / f"{target.secrets_name}.yaml", text)
        yield path, secret_strings(yamlfile.load(text, f"{source} (decrypted)") or {})


@contextlib.contextmanager
def for_render(target: Target, runner: Runner) -> Iterator[tuple[Path, set[str], str]]:
    """`decrypted` when a key is available, else typed placeholders: yields (path, secrets, mode),
    mode one of decrypted, placeholders, or none (the release has no secrets file).

    Env FLEET_SECRETS=placeholders forces placeholders.
    """
    source, text, mode = target.secrets_file, "{}\n", "none"
    if source.exists():
        _require_encrypted(source)
        text = ""
        if settings.current().secrets != "placeholders":
            try:
                text = decrypt_text(target.fleet.root, source, runner)
            except StepFailed as exc:
                if exc.returncode not in NO_KEY_CODES:
                    raise decrypt_failure(source, exc) from None
        mode = "decrypted"
        if not text:
            text, mode = yaml.safe_dump(placeholder_values(source), sort_keys=False), "placeholders"
    with private.directory() as folder:
        path = private.write(folder / f"{target.secrets_name}.yaml", text)
        found = (yamlfile.load(text, f"{source} (decrypted)") or {}) if mode == "decrypted" else {}
        yield path, secret_strings(found), mode


def encrypt_text(root: Path, relpath: str | Path, text: str, runner: Runner | None = None) -> str:
    """Encrypt YAML text in memory for the file that will live at relpath; returns the ciphertext."""
    relpath = str(relpath)
    with sops_env(root) as env:
        proc = (runner or Runner()).run(
            _sops(
                root,
                "--encrypt",
                "--filename-override",
                relpath,
                "--input-type",
                "yaml",
                "--output-type",
                "yaml",
                "/dev/stdin",
            ),
            step=f"sops encrypt {relpath}",
            mutates=False,
            input=text,
            env=env,
        )
    if not proc.stdout.strip():
        raise FleetError(f"sops encrypt {relpath}: produced no output")
    return proc.stdout


def set_value(root: Path, path: Path, keys: KeyPath, value: object, runner: Runner) -> None:
    """Set one value of an encrypted file in place (`sops set`): the value goes through stdin,
    never argv or a plaintext file."""
    _require_encrypted(path)
    index = "".join(f"[{json.dumps(k)}]" for k in keys)
    with sops_env(root) as env:
        runner.run(
            _sops(root, "set", "--value-stdin", str(path), index),
            step=f"sops set {index} in {path}",
            input=json.dumps(value),
            env=env,
        )


def encrypt_file(root: Path, path: Path, runner: Runner | None = None) -> None:
    """Encrypt a plaintext file in place; refuses a file that is already encrypted."""
    path = Path(path)
    if not path.is_file():
        raise FleetError(f"{path}: file not found")
    if is_encrypted(path):
        raise FleetError(f"{path}: already sops-encrypted; edit it with `invoke secrets.edit`")
    with sops_env(root) as env:
        (runner or Runner()).run(
            _sops(root, "--encrypt", "--in-place", str(path)), step=f"sops encrypt {path}", env=env
        )


UNCHANGED = 200  # sops's exit code when the editor saved no change


def edit(root: Path, path: Path, runner: Runner | None = None) -> bool:
    """Open the file in $EDITOR through sops (a new file is created encrypted); whether the
    file changed (an editor that saves nothing new is not a failure)."""
    path = Path(path)
    if path.exists():
        _require_encrypted(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with sops_env(root) as env:
        try:
            (runner or Runner()).run(
                _sops(root, str(path)), step=f"sops edit {path}", capture=False, env=env
            )
        except StepFailed as exc:
            if exc.returncode == UNCHANGED:
                return False
            raise
    return True


def decrypt_to_stdout(root: Path, path: Path, runner: Runner | None = None) -> None:
    """Print the decrypted file to stdout only; nothing is written to disk."""
    _require_encrypted(path)
    with sops_env(root) as env:
        (runner or Runner()).run(
            _sops(root, "--decrypt", str(path)),
            step=f"sops decrypt {path}",
            mutates=False,
            capture=False,
            env=env,
        )


def updatekeys(root: Path, runner: Runner | None = None) -> list[Path]:
    """Re-key every secrets file to the recipients now in .sops.yaml."""
    files = secret_files(root)
    for path in files:
        _require_encrypted(path)
    with sops_env(root) as env:
        for path in files:
            (runner or Runner()).run(
                _sops(root, "updatekeys", "--yes", str(path)),
                step=f"sops updatekeys {path}",
                env=env,
            )
    return files
