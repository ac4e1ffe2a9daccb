"""Wait until every workload of a release is rolled out, and say precisely why one is not."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from fleet.core import output
from fleet.core.errors import RolloutFailed, StepFailed, Stopped
from fleet.core.runner import Runner
from fleet.tools import kube

KINDS = ("deployment", "statefulset", "daemonset")
# A container waiting for one of these will not become ready by waiting longer.
HOPELESS = {
    "CrashLoopBackOff",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}
# Pods of users (KubeSpawner's servers), not of the release: watched by nobody but their user.
USER_COMPONENTS = {"singleuser-server"}
MAX_RESTARTS = 2  # a container restarted this often is crashing, whatever it waits for now
LOG_LINES = 10


def workloads(runner: Runner, namespace: str) -> list[str]:
    """Every Deployment, StatefulSet and DaemonSet in the namespace, as kind/name."""
    return [_name(item) for item in _workload_items(runner, namespace)]


def _name(item: dict) -> str:
    return f"{item['kind'].lower()}/{item['metadata']['name']}"


def _workload_items(runner: Runner, namespace: str | None) -> list[dict]:
    """Every Deployment, StatefulSet and DaemonSet in the namespace (None: all), with its status."""
    step = f"list workloads in {namespace or 'the cluster'}"
    found = []
    for kind in KINDS:
        found += kube.items(runner, kube.path("apps/v1", f"{kind}s", namespace), step=step)
    return found


def rolled_out(item: dict) -> bool:
    """What `kubectl rollout status` waits for, read from one workload's status once."""
    meta, spec, state = item["metadata"], item.get("spec", {}), item.get("status", {})
    if state.get("observedGeneration", 0) < meta.get("generation", 0):
        return False
    if item["kind"] == "DaemonSet":
        wanted = state.get("desiredNumberScheduled", 0)
        updated = state.get("updatedNumberScheduled", 0)
        return updated >= wanted and state.get("numberAvailable", 0) >= wanted
    wanted = spec.get("replicas", 1)
    if item["kind"] == "StatefulSet":
        if state.get("readyReplicas", 0) < wanted:
            return False
        partition = ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition")
        if partition:
            return state.get("updatedReplicas", 0) >= wanted - partition
        return state.get("updateRevision") == state.get("currentRevision")
    updated = state.get("updatedReplicas", 0)
    return (
        updated >= wanted
        and state.get("replicas", 0) <= updated
        and state.get("availableReplicas", 0) >= updated
    )


def readiness(runner: Runner) -> dict[str, dict[str, tuple[int, int]]]:
    """Namespace -> kind/name of each workload -> (ready, wanted) replicas, in one call per cluster."""
    found: dict[str, dict[str, tuple[int, int]]] = {}
    for item in _workload_items(runner, None):
        meta, spec, state = item["metadata"], item.get("spec", {}), item.get("status", {})
        if item["kind"] == "DaemonSet":
            wanted, ready = state.get("desiredNumberScheduled", 0), state.get("numberReady", 0)
        else:
            wanted, ready = spec.get("replicas", 1), state.get("readyReplicas", 0)
        found.setdefault(meta["namespace"], {})[_name(item)] = (ready, wanted)
    return found


def not_ready(workloads: dict[str, tuple[int, int]]) -> list[str]:
    """Each workload with fewer ready replicas than wanted, as "kind/name ready/wanted"."""
    return [f"{name} {r}/{w}" for name, (r, w) in workloads.items() if r < w]


def owner_workload(pod: str, names: list[str]) -> str | None:
    """The workload a pod belongs to, from its name (<deploy>-<hash>-<id>, <sts>-<n>, <ds>-<id>)."""
    best = None
    for workload in names:
        base = workload.split("/", 1)[1]
        if pod.startswith(base + "-") and (best is None or len(base) > len(best.split("/", 1)[1])):
            best = workload
    return best


def not_ready_containers(pod: dict) -> list[str]:
    """Why a pod is not ready: each container not ready with its state, or the pod's own condition."""
    reasons = []
    status = pod.get("status", {})
    for container in status.get("containerStatuses") or []:
        if container.get("ready"):
            continue
        state = container.get("state", {})
        detail = next(iter(state.values()), {}) if state else {}
        why = detail.get("reason") or next(iter(state), "unknown")
        message = detail.get("message")
        reasons.append(
            f"container {container['name']} not ready ({why}{': ' + message if message else ''})"
        )
    if not reasons:
        for condition in status.get("conditions") or []:
            if condition.get("status") != "True":
                why = condition.get("reason") or condition["type"]
                message = condition.get("message")
                reasons.append(
                    f"{condition['type']}={condition['status']} ({why}{': ' + message if message else ''})"
                )
                break
        else:
            if status.get("phase") not in ("Running", "Succeeded"):
                reasons.append(f"phase {status.get('phase', 'unknown')}")
    return reasons


def _listed(runner: Runner, kind: str, namespace: str) -> list[dict]:
    """The namespace's objects of a kind, as the API lists them; [] when they cannot be read."""
    try:
        return kube.items(runner, kube.path("", kind, namespace), step=f"{kind} in {namespace}")
    except StepFailed:
        return []


def _events(runner: Runner, namespace: str) -> list[dict]:
    items = _listed(runner, "events", namespace)
    return sorted(items, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")


def _pods(runner: Runner, namespace: str) -> list[dict]:
    return _listed(runner, "pods", namespace)


def _at(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def _since(item_time: datetime | None, since: datetime | None) -> bool:
    return since is None or (item_time is not None and item_time >= since)


def diagnose(
    runner: Runner,
    namespace: str,
    names: list[str] | None = None,
    events_per_pod: int = 3,
    since: datetime | None = None,
) -> list[str]:
    """Lines naming each workload with a pod that is not ready, the container and its last events.

    Pods already gone (scaled away by a rollback) are still found through their events. With
    `since`, only pods made and events seen since then: an earlier deploy's are not this one's.
    """
    quiet = runner.quiet()
    names = names if names is not None else workloads(quiet, namespace)
    events = [
        e
        for e in _events(quiet, namespace)
        if _since(_at(e.get("lastTimestamp") or e.get("eventTime")), since)
    ]
    by_pod: dict[str, list[dict]] = {}
    for event in events:
        involved = event.get("involvedObject", {})
        if involved.get("kind") == "Pod":
            by_pod.setdefault(involved.get("name", ""), []).append(event)
    lines: list[str] = []
    seen: set[str] = set()
    for pod in _pods(quiet, namespace):
        name = pod["metadata"]["name"]
        seen.add(name)  # not "gone now", whether it is this upgrade's or an earlier one's
        reasons = not_ready_containers(pod)
        if not reasons or not _since(_at(pod["metadata"].get("creationTimestamp")), since):
            continue
        workload = owner_workload(name, names) or "(no workload)"
        lines.append(f"{workload}: pod {name}: {'; '.join(reasons)}")
        lines += _event_lines(by_pod.get(name, []), events_per_pod)
    for name, pod_events in by_pod.items():
        warnings = [e for e in pod_events if e.get("type") == "Warning"]
        if name in seen or not warnings:
            continue
        workload = owner_workload(name, names) or "(no workload)"
        lines.append(f"{workload}: pod {name} (gone now) had warnings:")
        lines += _event_lines(warnings, events_per_pod)
    return lines


def _event_lines(events: list[dict], count: int) -> list[str]:
    lines = []
    for event in events[-count:]:
        message = " ".join(str(event.get("message", "")).split())
        lines.append(f"    {event.get('type', '')} {event.get('reason', '')}: {message}")
    return lines


def wait(
    runner: Runner,
    namespace: str,
    timeout_seconds: int,
    out=sys.stderr,
    watch: Callable[[], str | None] | None = None,
    since: datetime | None = None,
) -> list[str]:
    """Every workload rolled out, within one shared deadline; returns their names.

    One read finds those already rolled out; `kubectl rollout status` waits for each other one.

    With a `watch` (see `watcher`), a hopeless pod ends the wait at once; a failure report names
    the pods made since `since` only.
    """
    items = _workload_items(runner, namespace)
    names = [_name(item) for item in items]
    # helm's --wait has usually seen to it: one read says so, with no process per workload.
    waiting = [_name(item) for item in items if not rolled_out(item)]
    for workload in names:
        if workload not in waiting:
            output.line(f"  {workload}: rolled out", out)
    deadline = time.monotonic() + timeout_seconds
    for workload in waiting:
        left = max(1, int(deadline - time.monotonic()))
        try:
            argv = ["kubectl", "rollout", "status", workload, "--namespace", namespace]
            argv.append(f"--timeout={left}s")
            runner.run(argv, step=f"rollout status {workload}", mutates=False, watch=watch)
        except Stopped as exc:
            raise RolloutFailed(
                f"rollout: {workload} in {namespace} cannot become ready:\n{exc.reason}"
            ) from None
        except StepFailed as exc:
            last = exc.last_line("not ready in time")
            detail = diagnose(runner, namespace, names, since=since)
            raise RolloutFailed(
                "\n".join([f"rollout: {workload} in {namespace} not ready: {last}", *detail])
            ) from None
        output.line(f"  {workload}: rolled out", out)
    return names


def _hopeless_containers(pod: dict) -> list[tuple[str, str]]:
    """(container, why) for each container of the pod that waiting longer cannot make ready."""
    status = pod.get("status", {})
    found = []
    for container in (status.get("initContainerStatuses") or []) + (
        status.get("containerStatuses") or []
    ):
        waiting = (container.get("state") or {}).get("waiting") or {}
        restarts = container.get("restartCount", 0)
        if waiting.get("reason") in HOPELESS:
            message = " ".join(str(waiting.get("message", "")).split())[:300]
            found.append(
                (container["name"], f"{waiting['reason']}{': ' + message if message else ''}")
            )
        elif restarts >= MAX_RESTARTS and not container.get("ready"):
            found.append((container["name"], f"restarted {restarts} times"))
    return found


def _log_lines(runner: Runner, namespace: str, pod: str, container: str) -> list[str]:
    """The last log lines of the container's previous run (of this one if it never restarted)."""
    for previous in (["--previous"], []):
        argv = ["kubectl", "logs", pod, "--namespace", namespace, "--container", container]
        proc = runner.run(
            [*argv, *previous, f"--tail={LOG_LINES}"],
            step=f"logs of {pod}",
            mutates=False,
            check=False,
        )
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        if proc.returncode == 0 and lines:
            label = "previous run" if previous else "log"
            return [f"    {container} {label}: {line}" for line in lines[-LOG_LINES:]]
    return []


def is_user_server(pod: dict) -> bool:
    """Whether a pod is a user's server (KubeSpawner's), not one of the release's own."""
    return (pod["metadata"].get("labels") or {}).get("component") in USER_COMPONENTS


def hopeless(runner: Runner, namespace: str, since: datetime, users: bool = False) -> str | None:
    """Why a pod created since `since` cannot become ready (events, last log lines), or None.

    The release's own pods are judged (its workloads' and hooks'), never users' servers: a
    user's broken server is not the release's failure. With `users`, only users' servers are.
    """
    quiet = runner.quiet()
    for pod in _pods(quiet, namespace):
        if not _since(_at(pod["metadata"].get("creationTimestamp")), since):
            continue
        if is_user_server(pod) != users:
            continue
        found = _hopeless_containers(pod)
        if not found:
            continue
        name = pod["metadata"]["name"]
        lines = [f"pod {name}: " + "; ".join(f"container {c} {why}" for c, why in found)]
        events = [
            e for e in _events(quiet, namespace) if e.get("involvedObject", {}).get("name") == name
        ]
        lines += _event_lines(events, 3)
        for container, _ in found:
            lines += _log_lines(quiet, namespace, name, container)
        return "\n".join(lines)
    return None


def watcher(runner: Runner, namespace: str, since: datetime) -> Callable[[], str | None]:
    """A watch for Runner.run: stops a wait as soon as a pod made since `since` is hopeless."""
    return lambda: hopeless(runner, namespace, since)


def now() -> datetime:
    """The time a rollout starts, at the resolution of the API's timestamps (seconds)."""
    return datetime.now(UTC).replace(microsecond=0)
