"""Unit tests of fleet.shell's prompt: bash keeps the user's rc file and names the cluster."""

import subprocess

from fleet.ops import shell


def test_bash_reads_the_users_bashrc_then_prefixes_the_prompt_with_the_cluster(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("PS1='me> '\nexport FROM_BASHRC=yes\n")
    folder = tmp_path / "private"
    folder.mkdir()
    argv, env = shell.shell_argv("/bin/bash", "main", folder)
    assert env == {}
    assert argv[:2] == ["/bin/bash", "--rcfile"]
    # Read as an interactive bash reads its rc file.
    script = f'. "{argv[2]}"; printf "%s|%s" "$PS1" "$FROM_BASHRC"'
    out = subprocess.run(
        ["bash", "-c", script], env={"HOME": str(home)}, capture_output=True, text=True, check=True
    ).stdout
    assert out == "(cluster main) me> |yes"


def test_other_shells_get_the_prompt_from_the_environment(tmp_path):
    argv, env = shell.shell_argv("/usr/bin/zsh", "eu-west", tmp_path)
    assert argv == ["/usr/bin/zsh"]
    assert env == {"PS1": "(cluster eu-west) $ "}
