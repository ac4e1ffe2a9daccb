"""End to end: `invoke upgrade-chart` against a chart repository serving two versions of each chart.

The repository on 127.0.0.1 serves what the session's does (the real jupyterhub chart 4.4.0 and the
support stand-ins), plus a jupyterhub 4.5.0 made from it whose defaults gain a key, lose one and
change two, and a newer cert-manager stand-in. The generated repo is pinned to the older ones.
"""

from __future__ import annotations

import dataclasses
import functools
import subprocess
import threading
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from generated import assert_clean, local_repo
from workflowrun import Actions, Run, git

from toolchain import chartrepo, versions

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

OLD, NEW = versions.JUPYTERHUB_CHART, "4.5.0"
SUPPORT_NAME = "cert-manager"
SUPPORT_NEW = "v1.99.0"


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory, chart_repo, helm4):
    """A chart repository with the session's charts and a newer version of two of them."""
    serve = tmp_path_factory.mktemp("charts-two-versions")
    with urllib.request.urlopen(f"{chart_repo}/index.yaml", timeout=10) as response:
        index = yaml.safe_load(response.read())
    for entries in index["entries"].values():
        for entry in entries:
            url = entry["urls"][0]
            url = url if "://" in url else f"{chart_repo}/{url}"
            with urllib.request.urlopen(url, timeout=10) as response:
                (serve / url.rsplit("/", 1)[1]).write_bytes(response.read())
    chartrepo.package_next_release(helm4, NEW, serve)
    chartrepo.package_support(helm4, SUPPORT_NAME, SUPPORT_NEW, serve)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(serve))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_port}"
    subprocess.run([helm4, "repo", "index", serve, "--url", url], check=True, capture_output=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def ops(tmp_path_factory, local_stack, two_versions):
    stack = dataclasses.replace(local_stack, chart_repo=two_versions)
    repo = local_repo(tmp_path_factory.mktemp("upgrade-e2e"), stack, org="Upgrade", hubs="omega")
    repo.commit("e2e: sqlite-memory hub database")
    return repo


@pytest.fixture(autouse=True)
def restored(ops):
    """Each test starts from the committed repo, whatever the one before it left."""
    yield
    ops.git("checkout", "--", ".")


def locked(ops, chart: str) -> dict[str, str]:
    lock = yaml.safe_load((ops.path / chart / "Chart.lock").read_text())
    return {d["name"]: d["version"] for d in lock["dependencies"]}


def test_the_jupyterhub_chart_moves_to_the_newest_and_says_what_its_defaults_changed(ops):
    assert locked(ops, "chart") == {"jupyterhub": OLD}
    body = ops.tmp / "body.md"
    proc = ops.invoke("upgrade-chart", "--markdown", str(body))
    out = proc.stdout
    assert f"chart: jupyterhub {OLD} -> {NEW}; default values: 1 added, 1 removed, 2 changed" in out
    assert "  + hub.newSetting: true" in out
    assert "  - cull.every (was 600)" in out
    assert "  ~ singleuser.startTimeout: 300 -> 600" in out
    assert f'  ~ hub.image.tag: "{OLD}" -> "{NEW}"' in out
    # Only the version line of Chart.yaml changed, and the lock.
    assert ops.git("status", "--porcelain").split() == [
        "M",
        "chart/Chart.lock",
        "M",
        "chart/Chart.yaml",
    ]
    diff = ops.git("diff", "--unified=0", "chart/Chart.yaml")
    assert [
        line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ] == [
        f'-    version: "{OLD}"',
        f'+    version: "{NEW}"',
    ]
    assert locked(ops, "chart") == {"jupyterhub": NEW}
    assert (ops.path / "chart" / "charts" / f"jupyterhub-{NEW}.tgz").exists()
    # nox -s templates ran with the new chart, and passed.
    assert "Session templates was successful" in proc.stderr
    assert "nox > hub omega env staging: " in proc.stderr
    assert f"| chart | jupyterhub | {OLD} | {NEW} |" in body.read_text()
    assert_clean(proc)

    again = ops.invoke("upgrade-chart")
    assert again.stdout.strip() == f"chart: jupyterhub {NEW} is the newest; unchanged"
    assert "nox" not in again.stderr


def test_the_support_charts_dependencies_move_each_to_its_newest(ops):
    proc = ops.invoke("upgrade-chart", "--support", "--no-check")
    assert (
        f"support: {SUPPORT_NAME} {versions.SUPPORT_CHARTS[SUPPORT_NAME][0]} -> {SUPPORT_NEW}"
        in (proc.stdout)
    )
    for name, (version, _) in versions.SUPPORT_CHARTS.items():
        if name != SUPPORT_NAME:
            assert f"support: {name} {version} is the newest; unchanged" in proc.stdout
    assert locked(ops, "support")[SUPPORT_NAME] == SUPPORT_NEW


def test_a_version_the_repository_lacks_is_one_line_and_changes_nothing(ops, two_versions):
    proc = ops.invoke("upgrade-chart", "--version", "9.9.9", check=False)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: dependency jupyterhub 9.9.9: not found in {two_versions}")
    assert ops.git("status", "--porcelain") == ""


def test_the_upgrade_charts_workflow_opens_one_pull_request_with_the_defaults_diff(
    ops, act_ready, tmp_path
):
    """upgrade-charts.yaml under act (workflow_dispatch on the default branch): the branch
    pushed to the remote with the new lock, one pull request opened with what each chart's
    defaults changed, and the next (scheduled) run updating that pull request instead of opening
    another."""
    branch = "fleet/upgrade-charts"
    with Actions(ops.path, tmp_path / "ci") as ci:
        ci.push("staging", "prod")
        staging = ci.sha("staging")

        def upgrade(event: str, payload: dict) -> Run:
            run = ci.run(event, payload, "upgrade-charts.yaml", staging)
            assert run.ok, str(run)
            return run

        run = upgrade("workflow_dispatch", {"ref": "refs/heads/staging", "inputs": {}})
        assert "Session templates was successful" in run.output, str(run)
        opened = ci.github.sent("POST", rf"/repos/{ci.name}/pulls")
        assert len(opened) == 1, ci.github.requests
        sent = opened[0]["body"]
        assert (sent["head"], sent["base"]) == (branch, "staging"), sent
        assert sent["title"] == "Upgrade the chart dependencies"
        body = sent["body"]
        assert f"| chart | jupyterhub | {OLD} | {NEW} |" in body, body
        assert "hub.newSetting" in body and "cull.every" in body, body
        assert "singleuser.startTimeout" in body, body
        assert f"| {SUPPORT_NAME} |" in body and SUPPORT_NEW in body, body
        # The pushed branch is staging plus one commit: the two charts' versions and locks.
        pushed = git(ci.github.bare, "rev-parse", branch)
        assert git(ci.github.bare, "rev-parse", f"{pushed}~1") == staging
        changed = git(ci.github.bare, "diff", "--name-only", staging, pushed).split()
        assert sorted(changed) == [
            "chart/Chart.lock", "chart/Chart.yaml", "support/Chart.lock", "support/Chart.yaml"
        ]  # fmt: skip
        lock = yaml.safe_load(git(ci.github.bare, "show", f"{pushed}:chart/Chart.lock"))
        assert [d["version"] for d in lock["dependencies"]] == [NEW]

        # The weekly schedule, on the default branch: the same pull request, edited.
        upgrade("schedule", {"schedule": "17 6 * * 1"})
        assert len(ci.github.sent("POST", rf"/repos/{ci.name}/pulls")) == 1, ci.github.requests
        edited = ci.github.sent("PATCH", rf"/repos/{ci.name}/pulls/1")
        assert len(edited) == 1, ci.github.requests
        assert f"| chart | jupyterhub | {OLD} | {NEW} |" in edited[0]["body"]["body"]
        assert [p.state for p in ci.github.pulls.values()] == ["open"]
