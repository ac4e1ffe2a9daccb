"""One real node per machine: a second cluster is refused, naming the one that holds it."""

import json
import os

import pytest

from toolchain import cache, node, procs
from toolchain.run import ToolError

pytestmark = pytest.mark.unit


@pytest.fixture
def held(tmp_path, monkeypatch):
    """The claim of cluster `first`, whose kubelet is this very process (so it is alive)."""
    monkeypatch.setenv("HUBFLEET_CACHE", str(tmp_path / "cache"))
    first = tmp_path / "first"
    pids = first / "node" / "pids"
    pids.mkdir(parents=True)
    start = procs._start_time(os.getpid())
    (pids / "kubelet.pid").write_text(f"{os.getpid()}\npython\n{start}\n")
    node.claim_file().parent.mkdir(parents=True)
    node.claim_file().write_text(json.dumps({"cluster": "first", "state_dir": str(first)}))
    return first


def test_a_second_cluster_is_refused_naming_the_first(held, tmp_path):
    assert node.holder()["cluster"] == "first"
    with pytest.raises(ToolError, match=r"belongs to cluster first \(state in .*first\)"):
        node._claim(tmp_path / "second", "second")


def test_the_holder_itself_may_claim_again(held):
    node._claim(held, "first")
    assert json.loads(node.claim_file().read_text())["cluster"] == "first"


def test_a_claim_whose_processes_are_gone_is_not_held(held):
    (held / "node" / "pids" / "kubelet.pid").unlink()
    assert node.holder() is None
    assert cache.run_dir() == node.claim_file().parent
