"""Unit tests of fleet.leaks over a real git repository: where a secret value is found, and not."""

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import write

from fleet.core.runner import Runner
from fleet.ops import leaks

VALUE = "s3cret-cookie-value"


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "t@example.org")
    git(tmp_path, "config", "user.name", "t")
    write(tmp_path / ".gitignore", "ignored.txt\n")
    write(tmp_path / "hubs/a/values.yaml", "jupyterhub: {}\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "start")
    return tmp_path


SECRETS = [leaks.Secret("hubs/a/secrets/staging.yaml", "jupyterhub.hub.cookieSecret", VALUE)]


def test_nothing_is_found_in_a_clean_tree(repo):
    assert leaks.find(repo, SECRETS, Runner(echo=False)) == []


def test_a_value_in_a_tracked_or_untracked_file_is_named_by_file_and_line_not_value(repo):
    write(repo / "hubs/a/values.yaml", f"jupyterhub:\n  hub:\n    x: {VALUE}\n")
    write(repo / "hubs/a/leak.yaml", f"cookieSecret: {VALUE}\n")
    found = leaks.find(repo, SECRETS, Runner(echo=False))
    assert found == [
        "hubs/a/leak.yaml:1: the value of jupyterhub.hub.cookieSecret in "
        "hubs/a/secrets/staging.yaml (<redacted>)",
        "hubs/a/values.yaml:3: the value of jupyterhub.hub.cookieSecret in "
        "hubs/a/secrets/staging.yaml (<redacted>)",
    ]
    assert all(VALUE not in line for line in found)


def test_an_ignored_file_is_not_searched_but_staged_content_is(repo):
    write(repo / "ignored.txt", VALUE)
    write(repo / "notes.txt", f"{VALUE}\n")
    git(repo, "add", "notes.txt")
    write(repo / "notes.txt", "cleaned up, but the staged copy still has it\n")
    found = leaks.find(repo, SECRETS, Runner(echo=False))
    assert [line.split(": ")[0] for line in found] == ["notes.txt (staged):1"]


def test_only_strings_of_eight_characters_or_more_count():
    values = {"a": "1234567", "b": "12345678", "c": 123456789, "d": True, "e": ["abcdefghij"]}
    assert list(leaks._leaves(values)) == [("b", "12345678"), ("e.0", "abcdefghij")]


def refuse(root: Path, stdout) -> subprocess.CompletedProcess:
    code = "import sys; from pathlib import Path; from fleet.ops import leaks\n"
    code += "leaks.refuse_stdout_inside(Path(sys.argv[1]))"
    here = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [sys.executable, "-c", code, str(root)],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        cwd=here,
        check=False,
    )


def test_decrypted_output_may_not_go_into_a_file_inside_the_repository(repo, tmp_path_factory):
    with (repo / "hubs/a/leak.yaml").open("w") as inside:
        proc = refuse(repo, inside)
    assert proc.returncode != 0
    assert "refusing to write decrypted secrets into" in proc.stderr
    assert "hubs/a/leak.yaml" in proc.stderr
    outside = tmp_path_factory.mktemp("elsewhere") / "copy.yaml"
    with outside.open("w") as elsewhere:
        assert refuse(repo, elsewhere).returncode == 0
    assert refuse(repo, subprocess.PIPE).returncode == 0
