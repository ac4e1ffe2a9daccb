"""The local stack: kwok cluster, registry and chart repository, recorded in a state dir.

`invoke cluster-up`/`cluster-down` and the test fixtures share these functions; each
piece records its process so that `down` can always stop it by PID.
"""

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from . import cache, chartrepo, kwok, node, procs, registry
from .run import ToolError

DEV_NAME = "hubfleet-dev"


@dataclass(frozen=True)
class Stack:
    cluster: kwok.Cluster
    registry: registry.Registry
    chart_repo: chartrepo.ChartRepo
    node: node.Node | None  # None: started without the real node
    reused: bool = False  # already running: nothing was started or stopped


def state_dir(name: str) -> Path:
    return cache.run_dir() / name


def _record(directory: Path, **fields) -> None:
    path = directory / "state.json"
    state = json.loads(path.read_text()) if path.exists() else {}
    state.update(fields)
    path.write_text(json.dumps(state, indent=2) + "\n")


def read_state(directory: Path) -> dict:
    path = directory / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def start_cluster(directory: Path, cluster_name: str) -> kwok.Cluster:
    directory.mkdir(parents=True, exist_ok=True)
    _record(directory, cluster=cluster_name)
    cluster = kwok.create(cluster_name)
    _record(directory, kubeconfig=str(cluster.kubeconfig))
    return cluster


def stop_cluster(directory: Path) -> None:
    name = read_state(directory).get("cluster")
    if name:
        kwok.delete(name)


def start_node(directory: Path, cluster: kwok.Cluster, registry_address: str) -> node.Node:
    """The cluster's real node, pulling from the stack's registry (one per machine)."""
    real = node.start(directory, cluster.name, cluster.kubeconfig, registry_address)
    _record(directory, node=real.name)
    return real


def start_registry(directory: Path) -> registry.Registry:
    directory.mkdir(parents=True, exist_ok=True)
    reg = registry.start(directory)
    _record(directory, registry=reg.address)
    return reg


def start_chart_repo(directory: Path) -> chartrepo.ChartRepo:
    directory.mkdir(parents=True, exist_ok=True)
    repo = chartrepo.start(directory, cache.bin_dir() / "helm4")
    _record(directory, chart_repo=repo.url)
    return repo


def _answers(check) -> bool:
    try:
        return bool(check())
    except Exception:  # noqa: BLE001 - any failure to answer means the part is down
        return False


def _parts(directory: Path, state: dict) -> dict[str, bool]:
    """Each part a stack's state records, and whether it answers now."""
    parts = {}
    if state.get("registry"):
        url = f"http://{state['registry']}/v2/"
        pid = directory / "registry.pid"
        parts["registry"] = _answers(lambda: procs.recorded_pid(pid) and procs.http_ok(url))
    if state.get("chart_repo"):
        url = f"{state['chart_repo']}/index.yaml"
        pid = directory / "chartrepo.pid"
        parts["chart repository"] = _answers(lambda: procs.recorded_pid(pid) and procs.http_ok(url))
    if state.get("kubeconfig"):
        cluster = kwok.Cluster(state.get("cluster", ""), Path(state["kubeconfig"]))
        parts["cluster"] = _answers(lambda: kwok.ready_nodes(cluster) >= 1)
    if state.get("node"):
        parts["real node"] = _answers(lambda: node.running(directory))
    return parts


def running(name: str, *, real_node: bool = True) -> Stack | None:
    """The stack `name` if all of it runs (to reuse); None if none of it does (to start afresh).

    Partly running, or running without the real node that is asked for, it is neither reused nor
    stopped: its releases and images would be lost. The error says how to start afresh.
    """
    directory = state_dir(name)
    state = read_state(directory)
    parts = _parts(directory, state)
    if not any(parts.values()):
        return None
    again = "stop it with `invoke cluster-down" + (f" --name {name}" if name != DEV_NAME else "")
    down = [part for part, up in parts.items() if not up]
    down += [part for part in ("registry", "chart repository", "cluster") if part not in parts]
    if down:
        raise ToolError(
            f"stack {name} is only partly running ({', '.join(down)} not answering): "
            f"{again}`, then run cluster-up again"
        )
    if real_node and "real node" not in parts:
        raise ToolError(
            f"stack {name} runs without a real node: reuse it with --no-real-node, or {again}`"
            " and run cluster-up again for one with a real node"
        )
    return Stack(
        cluster=kwok.Cluster(state["cluster"], Path(state["kubeconfig"])),
        registry=registry.Registry(state["registry"], directory / "registry.pid"),
        chart_repo=chartrepo.ChartRepo(state["chart_repo"], directory / "chartrepo.pid"),
        node=node.running(directory) if "real node" in parts else None,
        reused=True,
    )


def up(name: str = DEV_NAME, *, real_node: bool = True) -> Stack:
    """The stack under state dir `name`: the running one, reused, or else started afresh."""
    reused = running(name, real_node=real_node)
    if reused:
        return reused
    directory = state_dir(name)
    if directory.exists():
        down(name)  # what is left of a stack none of which runs (after a reboot, a kill)
    try:
        reg = start_registry(directory)
        repo = start_chart_repo(directory)
        cluster = start_cluster(directory, name)
        real = start_node(directory, cluster, reg.address) if real_node else None
    except BaseException:
        down(name)
        raise
    return Stack(cluster=cluster, registry=reg, chart_repo=repo, node=real)


def down_dir(directory: Path) -> bool:
    """Stop everything recorded in a state dir and remove it; False if there was none."""
    if not directory.exists():
        return False
    node.stop(directory)
    for inner in sorted(directory.glob("*/state.json")):  # more clusters of the same stack
        stop_cluster(inner.parent)
    stop_cluster(directory)
    registry.stop(directory)
    chartrepo.stop(directory)
    shutil.rmtree(directory, ignore_errors=True)
    return True


def down(name: str = DEV_NAME) -> bool:
    return down_dir(state_dir(name))


def clean_stale_test_sessions() -> None:
    """Stop what test sessions that died without tearing down left running."""
    if not cache.run_dir().is_dir():
        return
    for directory in cache.run_dir().glob("test-*"):
        try:
            pid = int(directory.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        if not Path(f"/proc/{pid}").exists():
            print(f"cleaning up after dead test session {pid}", file=sys.stderr)
            down_dir(directory)


def test_session_dir() -> Path:
    return cache.run_dir() / f"test-{os.getpid()}"
