"""Unit tests of fleet.lock's rules: who holds a Lease, when it counts as held, and when a waiting
deploy may take it (the Lease itself, on a real API server, is tests/test_lock_e2e.py's in the
template)."""

from datetime import UTC, datetime, timedelta

import pytest

from fleet.release import lock


def stamp(seconds_ago: float) -> str:
    when = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease(holder: str = "ops@host pid 1: invoke deploy", renewed: float = 0.0, version="7"):
    spec = {"leaseDurationSeconds": lock.LEASE_SECONDS, "acquireTime": stamp(renewed + 60)}
    if holder:
        spec["holderIdentity"] = holder
    spec["renewTime"] = stamp(renewed)
    return {"metadata": {"name": lock.NAME, "resourceVersion": version}, "spec": spec}


def test_a_ci_run_names_its_run_url(monkeypatch):
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    monkeypatch.setenv("GITHUB_REPOSITORY", "uni/hubs")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example.edu")
    monkeypatch.setattr("sys.argv", ["invoke", "deploy", "--hub", "alpha"])
    who = lock.holder()
    assert who.startswith("https://github.example.edu/uni/hubs/actions/runs/42 pid ")
    assert who.endswith(": invoke deploy --hub alpha")


def test_elsewhere_the_holder_is_user_at_host(monkeypatch):
    monkeypatch.delenv("GITHUB_RUN_ID", raising=False)
    monkeypatch.setattr(lock.getpass, "getuser", lambda: "ops")
    monkeypatch.setattr(lock.socket, "gethostname", lambda: "laptop")
    assert lock.holder().startswith("ops@laptop pid ")


def test_a_holder_is_at_most_1000_characters(monkeypatch):
    monkeypatch.setattr("sys.argv", ["invoke", "deploy", *["--hub", "h" * 60] * 30])
    assert len(lock.holder()) == 1000


def test_a_new_lease_is_ours_now_labelled_and_versioned_only_when_replacing():
    made = lock._lease("alpha-staging", "me", version="12", acquired="2026-01-01T00:00:00.0Z")
    assert made["kind"] == "Lease" and made["apiVersion"] == "coordination.k8s.io/v1"
    assert made["metadata"] == {
        "name": lock.NAME,
        "namespace": "alpha-staging",
        "labels": {lock.LABEL: "true"},
        "resourceVersion": "12",
    }
    spec = made["spec"]
    assert spec["holderIdentity"] == "me" and spec["leaseDurationSeconds"] == lock.LEASE_SECONDS
    assert spec["acquireTime"] == "2026-01-01T00:00:00.0Z"
    assert lock._age(spec["renewTime"]) < 5
    assert "resourceVersion" not in lock._lease("alpha-staging", "me")["metadata"]


def test_describe_names_the_holder_and_since_when():
    held = lease()
    held["spec"]["acquireTime"] = "2026-12-07T10:11:12.123456Z"
    assert lock.describe(held) == "ops@host pid 1: invoke deploy (since 2026-12-07 10:11:12 UTC)"
    assert lock.describe({}) == "None (since ? UTC)"


@pytest.mark.parametrize(
    ("the_lease", "held"),
    [
        (lease(renewed=1), True),
        # A holder that stopped renewing is still shown as holding until it is long dead: a
        # clock between the API server and here may differ.
        (lease(renewed=lock.LEASE_SECONDS + 30), True),
        (lease(renewed=lock.LEASE_SECONDS + lock.STALE + 5), False),
        (lease(holder=""), False),
    ],
    ids=["renewed", "late", "dead", "no holder"],
)
def test_is_held_by_the_leases_own_record(the_lease, held):
    assert lock.is_held(the_lease) is held


def test_an_expired_stamp_is_long_past():
    assert lock._age(lock.EXPIRED) > 50 * 365 * 86400
    assert lock._age(None) == float("inf")


def test_a_lease_is_free_once_unchanged_here_for_its_whole_duration(monkeypatch):
    """Expiry by what this process sees: the same resourceVersion for a whole duration."""
    clock = [1000.0]
    monkeypatch.setattr(lock.time, "monotonic", lambda: clock[0])
    seen = lock._Seen()
    held = lease(renewed=0, version="7")
    assert not lock._free(held, seen)
    clock[0] += lock.LEASE_SECONDS - 1
    assert not lock._free(held, seen)
    # The holder renewed (a new resourceVersion): its duration starts again.
    renewed = lease(renewed=0, version="8")
    assert not lock._free(renewed, seen)
    clock[0] += lock.LEASE_SECONDS - 1
    assert not lock._free(renewed, seen)
    clock[0] += 2
    assert lock._free(renewed, seen)


def test_a_lease_renewed_long_ago_or_without_a_holder_is_free_at_once():
    assert lock._free(lease(renewed=lock.LEASE_SECONDS + lock.STALE + 5), lock._Seen())
    assert lock._free(lease(holder=""), lock._Seen())
    left = lease()
    left["spec"]["renewTime"] = lock.EXPIRED  # what a deploy that left its release pending writes
    assert lock._free(left, lock._Seen())
