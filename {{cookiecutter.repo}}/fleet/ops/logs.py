"""`invoke logs`: the logs of a hub's components, or of one user's server, found by their labels.

Pods are found in the release's namespace by the chart's `component` label (hub, proxy,
singleuser-server, ...); a user's server also by KubeSpawner's username label or annotation. A
container that restarted shows its previous run's logs first: that is where a crash says why.
"""

from __future__ import annotations

import json
import sys

from fleet.core import output, private
from fleet.core.config import Fleet
from fleet.core.errors import FleetError
from fleet.core.runner import Runner
from fleet.release.release import cluster_runner
from fleet.tools import helm
from fleet.tools.credentials import Access

USER_COMPONENT = "singleuser-server"
USERNAME = "hub.jupyter.org/username"  # KubeSpawner's label (escaped) and annotation (as given)


def selector(component: str, user: str | None) -> str:
    return f"component={USER_COMPONENT if user else component}"


def is_users(pod: dict, user: str) -> bool:
    meta = pod["metadata"]
    names = {
        (meta.get("annotations") or {}).get(USERNAME),
        (meta.get("labels") or {}).get(USERNAME),
    }
    return user in names


def containers(pod: dict) -> list[tuple[str, dict]]:
    """(name, status) of the pod's containers that have run, init containers first."""
    status = pod.get("status") or {}
    found = [
        (s["name"], s)
        for s in status.get("initContainerStatuses") or []
        if "waiting" not in (s.get("state") or {})
    ]
    names = [c["name"] for c in pod["spec"]["containers"]]
    statuses = {s["name"]: s for s in status.get("containerStatuses") or []}
    return found + [(name, statuses.get(name, {})) for name in names]


def describe(status: dict) -> str:
    """The container's state in a few words: running, waiting (why), restarts and the last exit."""
    state = status.get("state") or {}
    kind = next(iter(state), "not started")
    why = (state.get(kind) or {}).get("reason")
    text = f"{kind} ({why})" if why else kind
    restarts = status.get("restartCount", 0)
    if restarts:
        last = (status.get("lastState") or {}).get("terminated") or {}
        text += f", restarted {restarts} time{'s' * (restarts != 1)}"
        if last:
            text += f", last exit code {last.get('exitCode')}"
            text += f" ({last['reason']})" if last.get("reason") else ""
    return text


def find_pods(runner: Runner, namespace: str, component: str, user: str | None) -> list[dict]:
    argv = ["kubectl", "get", "pods", "--namespace", namespace, "--selector"]
    argv += [selector(component, user), "--output", "json"]
    proc = runner.run(argv, step=f"find the {component} pods", mutates=False)
    pods = json.loads(proc.stdout)["items"]
    if user:
        pods = [pod for pod in pods if is_users(pod, user)]
    return sorted(pods, key=lambda pod: pod["metadata"]["name"])


def _none_found(runner: Runner, namespace: str, component: str, user: str | None) -> FleetError:
    if user:
        servers = find_pods(runner, namespace, USER_COMPONENT, None)
        running = sorted(
            (p["metadata"].get("annotations") or {}).get(USERNAME) or p["metadata"]["name"]
            for p in servers
        )
        listed = ", ".join(running) or "none"
        return FleetError(f"namespace {namespace}: user {user} has no server (servers: {listed})")
    return FleetError(
        f"namespace {namespace}: no pod with label component={component}; components are e.g. "
        "hub, proxy, singleuser-server (--user NAME for one user's server)"
    )


def show(
    fleet: Fleet,
    hub_name: str,
    env: str,
    access: Access,
    *,
    component: str = "hub",
    user: str | None = None,
    since: str | None = None,
    follow: bool = False,
    runner: Runner | None = None,
) -> None:
    """Print the logs of the release's pods of `component` (or `user`'s server)."""
    runner = (runner or Runner()).quiet()
    hub = fleet.hub(hub_name)
    fleet.hub_env(hub, env)
    if since:
        helm.parse_timeout(since, "--since")
    namespace = hub.release(env)
    with cluster_runner(fleet, hub.cluster, access, runner) as own:
        pods = find_pods(own, namespace, component, user)
        if not pods:
            raise _none_found(own, namespace, component, user)
        base = ["kubectl", "logs", "--namespace", namespace]
        base += [f"--since={since}"] if since else []
        for pod in pods:
            _print_pod(own, base, pod, follow)
        if follow:
            _say(f"==> following {len(pods)} pod(s) until Ctrl-C <==")
            argv = [*base, "--follow", "--prefix", "--all-containers"]
            argv += [f"--max-log-requests={max(5, 4 * len(pods))}"]
            argv += (
                [p["metadata"]["name"] for p in pods[:1]]
                if len(pods) == 1
                else ["--selector", _follow_selector(pods, component, user)]
            )
            with private.child_owns_ctrl_c():
                own.run(argv, step="follow the logs", mutates=False, capture=False, check=False)


def _print_pod(runner: Runner, base: list[str], pod: dict, follow: bool) -> None:
    """Each container's logs (a restarted one's previous run first); its header alone to follow."""
    name = pod["metadata"]["name"]
    for container, status in containers(pod):
        where = f"pod {name}, container {container}"
        argv = [*base, name, "-c", container]
        if status.get("restartCount"):
            _say(f"==> {where}: previous run <==")
            runner.run([*argv, "--previous"], step=where, mutates=False, capture=False, check=False)
        _say(f"==> {where}: {describe(status)} <==")
        if not follow:
            runner.run(argv, step=where, mutates=False, capture=False, check=False)


def _follow_selector(pods: list[dict], component: str, user: str | None) -> str:
    if not user:
        return selector(component, None)
    label = (pods[0]["metadata"].get("labels") or {}).get(USERNAME, user)
    return f"{selector(component, user)},{USERNAME}={label}"


def _say(line: str) -> None:
    output.line(line)
    sys.stderr.flush()
