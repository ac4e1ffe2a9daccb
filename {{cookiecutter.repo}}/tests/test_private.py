"""Unit tests of fleet.private: private folders and files, and the signal handling of the tasks."""

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleet import private

ROOT = Path(__file__).resolve().parents[1]


def test_directory_is_private_and_removed_on_error():
    with pytest.raises(RuntimeError), private.directory() as folder:
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        file = private.write(folder / "x.yaml", "secret")
        assert stat.S_IMODE(os.stat(file).st_mode) == 0o600
        raise RuntimeError
    assert not folder.exists()


HOLD_SECRETS = f"""
import sys, threading, time
sys.path.insert(0, {str(ROOT)!r})
from fleet import private
private.install_signal_handlers()
lock = threading.Lock()
def hold():
    with private.directory() as path:
        (path / "staging.yaml").write_text("cookieSecret: s3cret")
        with lock:
            print(path, flush=True)
        time.sleep(60)
try:  # a signal may come while the threads start (they print first): the try covers it all
    for _ in range(2):
        threading.Thread(target=hold, daemon=True).start()
    time.sleep(60)
except KeyboardInterrupt:
    sys.exit(130)
"""


def _holding(tmp_path: Path, ignore_sigint: bool) -> tuple[subprocess.Popen, list[Path]]:
    """A real process holding two private folders in worker threads."""

    def ignore() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_SECRETS],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        preexec_fn=ignore if ignore_sigint else None,
    )
    made = [Path(proc.stdout.readline().strip()) for _ in range(2)]
    assert all((path / "staging.yaml").exists() for path in made)
    return proc, made


@pytest.mark.parametrize("ignore_sigint", [False, True])
def test_sigterm_removes_the_private_dirs_of_every_thread(tmp_path, ignore_sigint):
    proc, _ = _holding(tmp_path, ignore_sigint)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 128 + signal.SIGTERM
    time.sleep(0.1)
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_works_when_the_parent_ignored_sigint(tmp_path):
    """`nohup` or a background job of a script starts us with SIGINT ignored: Ctrl-C still works."""
    proc, _ = _holding(tmp_path, ignore_sigint=True)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 130


def test_the_private_dirs_of_a_killed_process_are_removed_by_the_next_task(tmp_path, monkeypatch):
    """SIGKILL cannot be caught: the next task's entry removes what the dead process left."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(private.tempfile, "tempdir", None)
    proc, made = _holding(tmp_path, ignore_sigint=False)
    with private.directory("fleet-kube-") as mine:
        proc.kill()
        proc.wait(timeout=10)
        assert all(path.exists() for path in made)
        assert sorted(private.remove_stale()) == sorted(made)
        assert mine.exists()  # this process is alive: its own dir stays
    assert list(tmp_path.iterdir()) == []
