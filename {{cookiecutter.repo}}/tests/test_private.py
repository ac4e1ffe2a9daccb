"""Unit tests of fleet.private: private folders and files, and the signal handling of the tasks."""

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleet.core import private

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
from fleet.core import private
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
        env={**os.environ, "FLEET_PRIVATE_DIR": str(tmp_path)},
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
    monkeypatch.setenv("FLEET_PRIVATE_DIR", str(tmp_path))
    proc, made = _holding(tmp_path, ignore_sigint=False)
    with private.directory("fleet-kube-") as mine:
        proc.kill()
        proc.wait(timeout=10)
        assert all(path.exists() for path in made)
        assert sorted(private.remove_stale()) == sorted(made)
        assert mine.exists()  # this process is alive: its own dir stays
    assert list(tmp_path.iterdir()) == []


def test_private_dirs_are_on_a_memory_backed_filesystem_by_default(monkeypatch):
    """No plaintext reaches a disk: /dev/shm is tmpfs on Linux."""
    monkeypatch.delenv("FLEET_PRIVATE_DIR", raising=False)
    with private.directory() as folder:
        assert folder.parent == Path("/dev/shm")
        mounts = Path("/proc/mounts").read_text().splitlines()
        kinds = {line.split()[1]: line.split()[2] for line in mounts}
        assert kinds.get("/dev/shm") == "tmpfs"


RUN_PROGRAMS = f"""
import sys, threading, time
sys.path.insert(0, {str(ROOT)!r})
from fleet.core import private
from fleet.core.runner import Runner, terminate_children
private.install_signal_handlers(terminate_children)
ended, said = [], threading.Lock()
def work():
    with private.directory() as path:
        (path / "staging.yaml").write_text("cookieSecret: s3cret")
        with said:
            print(path, flush=True)
        try:
            Runner(echo=False).run(["sleep", "60"], step="sleep")
        except Exception as exc:
            ended.append(type(exc).__name__)
            time.sleep(0.5)  # a rollback after the stop: the secrets must still be there
            assert (path / "staging.yaml").exists()
            with said:  # one line at a time: print() writes the text and the newline apart
                print("worker saw", private.stopping(), ended[0], flush=True)
threads = [threading.Thread(target=work) for _ in range(2)]
try:  # the signal may come while the threads start, or while they run
    for t in threads:
        t.start()
    for t in threads:
        t.join()
except SystemExit:
    for t in threads:
        if t.ident is not None:
            t.join()
    raise
"""


def test_sigterm_stops_every_program_of_the_workers_and_they_unwind_before_the_exit(tmp_path):
    """The old handler removed the workers' secrets while their programs went on running."""
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_PROGRAMS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "FLEET_PRIVATE_DIR": str(tmp_path)},
    )
    made = [Path(proc.stdout.readline().strip()) for _ in range(2)]
    deadline = time.monotonic() + 10
    while len(_sleeps_of(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    children = _sleeps_of(proc.pid)
    assert len(children) == 2
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert time.monotonic() - began < 5
    assert out.splitlines() == ["worker saw True StepFailed"] * 2, err
    assert _gone(children)
    assert not any(path.exists() for path in made)


def test_a_program_dies_with_a_process_killed_by_sigkill(tmp_path):
    """Its parent-death signal: an orphaned helm would go on upgrading alone."""
    script = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from fleet.core.runner import Runner\n"
        "Runner(echo=False).run(['sleep', '60'], step='sleep')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 10
    while not _sleeps_of(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    children = _sleeps_of(proc.pid)
    assert len(children) == 1
    proc.kill()
    proc.wait(timeout=10)
    assert _gone(children)


def _gone(pids: list[int], within: float = 5) -> bool:
    """Whether the processes end (and are reaped) within `within` seconds."""
    deadline = time.monotonic() + within
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _sleeps_of(parent: int) -> list[int]:
    """The `sleep` processes whose parent is `parent`."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if fields.get("Name") == "sleep" and int(fields.get("PPid", 0)) == parent:
            found.append(int(status.parent.name))
    return found
