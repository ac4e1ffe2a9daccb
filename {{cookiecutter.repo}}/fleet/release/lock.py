"""One deploy per release at a time: a Lease in the release's namespace, visible to everyone.

The holder names who and where (CI run URL or user@host, pid, command), renews the Lease while it
lives and deletes it when done; a holder that died (SIGKILL, a laptop closed) stops renewing and
its Lease expires. A second deploy of the same release waits for the Lease, showing its holder,
and fails naming it after `--lock-timeout`. Expiry is judged by what this process sees, not by
the holder's clock: a Lease whose resourceVersion has not changed for its whole duration, or
whose renewTime is far in the past, has no live holder. Only then may a release left `pending-*`
be recovered.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shlex
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from fleet.core import output
from fleet.core.errors import Failure, FleetError
from fleet.core.runner import Runner
from fleet.tools import kube

NAME = "fleet-deploy"
LABEL = "fleet-lock"
LEASE_SECONDS = 20  # seconds a Lease lives without being renewed
RENEW_EVERY = 5.0
STALE = 600  # a renewTime this many seconds old is dead whatever the clocks say
POLL = 2.0
EXPIRED = "1970-01-01T00:00:00.000000Z"  # the renewTime of a Lease its holder left expired


def holder() -> str:
    """Who and where: the CI run's URL, or user@host; then the pid and the command."""
    env = os.environ
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        who = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    else:
        who = f"{getpass.getuser()}@{socket.gethostname()}"
    command = shlex.join(["invoke", *sys.argv[1:]]) if sys.argv else "invoke"
    return f"{who} pid {os.getpid()}: {command}"[:1000]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _age(stamp: str | None) -> float:
    """Seconds since an RFC 3339 MicroTime, by this machine's clock (inf when absent)."""
    if not stamp:
        return float("inf")
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (datetime.now(UTC) - when).total_seconds()


def describe(lease: dict) -> str:
    """The holder and since when, as `status` and a waiting deploy show it."""
    spec = lease.get("spec") or {}
    since = (spec.get("acquireTime") or "?")[:19].replace("T", " ")
    return f"{spec.get('holderIdentity')} (since {since} UTC)"


def is_held(lease: dict) -> bool:
    """Held by someone, by the Lease's own record (what `status` shows)."""
    spec = lease.get("spec") or {}
    duration = spec.get("leaseDurationSeconds") or LEASE_SECONDS
    return bool(spec.get("holderIdentity")) and _age(spec.get("renewTime")) < duration + STALE


def _lease(namespace: str, who: str, version: str | None = None, acquired: str | None = None):
    metadata = {"name": NAME, "namespace": namespace, "labels": {LABEL: "true"}}
    if version:
        metadata["resourceVersion"] = version
    now = _now()
    spec = {"holderIdentity": who, "leaseDurationSeconds": LEASE_SECONDS}
    spec |= {"acquireTime": acquired or now, "renewTime": now}
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": spec,
    }


class _Lost(Exception):
    """Someone else changed the Lease between our read and our write."""


def _url(namespace: str, name: str | None = None) -> str:
    return kube.path("coordination.k8s.io/v1", "leases", namespace, name)


def _write(runner: Runner, verb: str, lease: dict, step: str) -> dict:
    """Create the Lease, or replace it at the resourceVersion it carries; _Lost on a conflict."""
    namespace = lease["metadata"]["namespace"]
    try:
        if verb == "create":
            return kube.request(runner, "POST", _url(namespace), step=step, body=lease)
        return kube.request(runner, "PUT", _url(namespace, NAME), step=step, body=lease)
    except kube.ApiError as exc:
        if exc.conflict:
            raise _Lost() from None
        raise


def _read(runner: Runner, namespace: str) -> dict | None:
    return kube.get(runner, _url(namespace, NAME), step=f"read the deploy lock of {namespace}")


def _create(runner: Runner, namespace: str, who: str) -> dict:
    """A new Lease held by `who`; its namespace too when the release has none yet."""
    try:
        return _write(runner, "create", _lease(namespace, who), "take the deploy lock")
    except kube.ApiError as exc:
        if not exc.not_found:
            raise
    _ensure_namespace(runner, namespace)
    return _write(runner, "create", _lease(namespace, who), "take the deploy lock")


def _delete(runner: Runner, lease: dict) -> None:
    """Delete the Lease only if it is still the one we last wrote (a precondition on its version)."""
    meta = lease["metadata"]
    options = {"kind": "DeleteOptions", "apiVersion": "v1"}
    options["preconditions"] = {"resourceVersion": meta["resourceVersion"]}
    url = _url(meta["namespace"], NAME)
    try:
        kube.request(runner, "DELETE", url, step="release the deploy lock", body=options)
    except kube.ApiError as exc:
        if exc.conflict:
            raise _Lost() from None
        if not exc.not_found:
            raise


def _ensure_namespace(runner: Runner, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    step = f"create namespace {namespace}"
    try:
        kube.request(runner, "POST", kube.path("", "namespaces"), step=step, body=body)
    except kube.ApiError as exc:
        if not exc.conflict:
            raise


@dataclass
class _Seen:
    """When this process first saw the Lease at its current resourceVersion."""

    version: str = ""
    since: float = 0.0

    def unchanged_for(self, lease: dict) -> float:
        version = lease["metadata"]["resourceVersion"]
        if version != self.version:
            self.version, self.since = version, time.monotonic()
        return time.monotonic() - self.since


def _free(lease: dict, seen: _Seen) -> bool:
    spec = lease.get("spec") or {}
    if not spec.get("holderIdentity"):
        return True
    duration = spec.get("leaseDurationSeconds") or LEASE_SECONDS
    return seen.unchanged_for(lease) > duration or _age(spec.get("renewTime")) > duration + STALE


class Lock:
    """A held release lock: renewed by a thread until released."""

    def __init__(self, runner: Runner, namespace: str, lease: dict, who: str):
        self.runner, self.namespace, self.who = runner, namespace, who
        # The holder whose expired Lease this one replaced ("" when the Lease was free).
        self.took_over = lease.pop("fleet_took_over", "")
        self.lease, self.lost, self._forgotten = lease, "", False
        # Set when this deploy ends leaving its release pending (its helm stopped, not rolled
        # back): the Lease is then left expired, not deleted, so the next deploy recovers at once.
        self.left_pending = False
        self.wrote = False  # set by the deploy once it starts a helm write of the release
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"lock {namespace}", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_EVERY):
            try:
                self.lease = self._renewed()
            except _Lost:
                self.lost = f"the deploy lock of {self.namespace} was taken over by someone else"
                output.note(f"warning: {self.lost}")
                return
            except Failure as exc:  # the API unreachable for a moment: try again
                output.note(f"warning: renewing the deploy lock: {exc}")

    def _renewed(self) -> dict:
        """The Lease renewed. A write by someone else (a label, an annotation) that leaves us
        the holder is no loss: renewed on top of it. A deleted Lease is taken again at once,
        before a second deploy can take it; only another holder means the lock is lost."""
        step = f"renew the deploy lock of {self.namespace}"
        meta, spec = self.lease["metadata"], self.lease["spec"]
        lease = _lease(self.namespace, self.who, meta["resourceVersion"], spec.get("acquireTime"))
        try:
            return _write(self.runner, "replace", lease, step)
        except _Lost:
            current = _read(self.runner, self.namespace)
        except kube.ApiError as exc:
            if not exc.not_found:
                raise
            current = None
        if current is None:
            output.note(
                f"warning: the deploy lock of {self.namespace} was deleted by someone else: "
                "taken again"
            )
            created = _lease(self.namespace, self.who, acquired=spec.get("acquireTime"))
            return _write(self.runner, "create", created, step)  # _Lost if another took it
        if (current.get("spec") or {}).get("holderIdentity") != self.who:
            raise _Lost()
        output.note(
            f"warning: the deploy lock of {self.namespace} was written by someone else; "
            "this deploy still holds it"
        )
        version = current["metadata"]["resourceVersion"]
        lease = _lease(self.namespace, self.who, version, spec.get("acquireTime"))
        return _write(self.runner, "replace", lease, step)

    def forget(self) -> None:
        """Stop renewing and never write the Lease again: its namespace is being deleted."""
        self._stop.set()
        self._thread.join()
        self._forgotten = True

    def release(self) -> None:
        """Stop renewing and delete the Lease, so the next deploy takes it in one call."""
        self._stop.set()
        self._thread.join()
        if self.lost or self._forgotten:
            return
        with contextlib.suppress(_Lost, Failure):
            if self.left_pending:
                meta, spec = self.lease["metadata"], self.lease["spec"]
                who = f"{self.who} (ended, its helm stopped, leaving the release pending)"
                lease = _lease(
                    self.namespace, who, meta["resourceVersion"], spec.get("acquireTime")
                )
                lease["spec"]["renewTime"] = EXPIRED
                _write(self.runner, "replace", lease, "leave the deploy lock expired")
            else:
                _delete(self.runner, self.lease)


def _acquire(runner: Runner, namespace: str, who: str, wait: float, say) -> dict:
    deadline, seen, shown = time.monotonic() + wait, _Seen(), ""
    with contextlib.suppress(_Lost):  # the usual case: no Lease, as the last holder deleted it
        return _create(runner, namespace, who)
    while True:
        lease = _read(runner, namespace)
        try:
            if lease is None:
                return _create(runner, namespace, who)
            if _free(lease, seen):
                version = lease["metadata"]["resourceVersion"]
                taken = _write(
                    runner, "replace", _lease(namespace, who, version), "take the deploy lock"
                )
                if (lease.get("spec") or {}).get("holderIdentity"):
                    taken["fleet_took_over"] = describe(lease)  # a holder that died
                return taken
        except _Lost:
            continue  # another process got there first: look again
        if describe(lease) != shown:
            shown = describe(lease)
            say(f"waiting for the deploy lock of {namespace}, held by {shown}")
        if time.monotonic() > deadline:
            raise FleetError(
                f"release {namespace} is being deployed by {shown}; try again when it is done, "
                "or wait longer with --lock-timeout"
            )
        time.sleep(POLL)


@contextlib.contextmanager
def held(
    runner: Runner, namespace: str, wait: float, say: Callable[[str], None]
) -> Iterator[Lock | None]:
    """The release's lock for the duration of the block (nothing to hold in a dry run)."""
    if runner.dry_run:
        yield None
        return
    quiet, who = runner.quiet(), holder()
    lease = _acquire(quiet, namespace, who, wait, say)
    lock = Lock(quiet, namespace, lease, who)
    say(f"deploy lock of {namespace} held")
    try:
        yield lock
    finally:
        lock.release()


def held_locks(runner: Runner) -> dict[str, str]:
    """Namespace -> holder of every deploy lock held in the cluster (for `invoke status`)."""
    url = kube.path("coordination.k8s.io/v1", "leases")
    found = {}
    for lease in kube.items(runner, url, step="read the deploy locks", selector=f"{LABEL}=true"):
        if not is_held(lease):
            continue
        spec, text = lease["spec"], describe(lease)
        silent = _age(spec.get("renewTime"))
        if silent > (spec.get("leaseDurationSeconds") or LEASE_SECONDS):
            text += f", not renewed for {silent:.0f}s: its holder is gone, the next deploy takes it"
        found[lease["metadata"]["namespace"]] = text
    return found
