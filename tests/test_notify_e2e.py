"""End to end: a real deploy's results become one chat message and Grafana annotations.

A fleet deploy on the local cluster where one hub deploys and one fails (its image was never
built), then `invoke notify` on its `--results`, against a webhook receiver and a Grafana
stand-in on 127.0.0.1 that record what they are sent.
"""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from generated import local_repo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ENV = "staging"


@contextlib.contextmanager
def receiver(status: int = 200):
    """An HTTP server on 127.0.0.1 that answers `status` and records each POST."""
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append(
                {
                    "path": self.path,
                    "auth": self.headers.get("Authorization"),
                    "type": self.headers.get("Content-Type"),
                    "body": json.loads(body),
                }
            )
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", got
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def ops(tmp_path_factory, local_stack):
    repo = local_repo(
        tmp_path_factory.mktemp("notify-e2e"), local_stack, org="Notify", hubs="nu,xi"
    )
    repo.unpulled_image("nu")  # xi keeps images/default, which nothing built: it fails
    repo.commit("e2e: nu on an external image; xi's image never built")
    with repo.own_releases():
        results = repo.tmp / "results.json"
        proc = repo.invoke("deploy", "--all", "--env", ENV, "--results", str(results), check=False)
        assert proc.returncode == 1, proc.output[-2000:]
        repo.results = results
        yield repo


def test_a_failed_deploy_posts_one_message_naming_the_hub_the_step_and_the_run(ops):
    summary = ops.tmp / "summary.md"
    with receiver() as (webhook, posts), receiver() as (grafana, annotations):
        proc = ops.invoke(
            "notify",
            "--results",
            str(ops.results),
            "--what",
            "staging on cluster main",
            "--job-status",
            "failure",
            "--run-url",
            "https://ci.example/run/7",
            env={
                "FLEET_WEBHOOK_URL": f"{webhook}/hooks/T0/SECRET",
                "FLEET_GRAFANA_URL": grafana,
                "FLEET_GRAFANA_TOKEN": "glsa_token",
                "GITHUB_STEP_SUMMARY": str(summary),
            },
        )
    assert len(posts) == 1
    post = posts[0]
    assert post["path"] == "/hooks/T0/SECRET" and post["type"] == "application/json"
    assert list(post["body"]) == ["text"]
    lines = post["body"]["text"].splitlines()
    assert lines[0] == "notify-hubs: deploy of staging on cluster main FAILED"
    assert lines[1].startswith("- xi/staging: failed at step image: hub xi: image default tag")
    assert "run: https://ci.example/run/7" in lines
    assert "deployed: " in post["body"]["text"] and "nu/staging" in post["body"]["text"]
    # Grafana: one annotation, for the hub that deployed, with the token.
    assert [a["path"] for a in annotations] == ["/api/annotations"]
    assert annotations[0]["auth"] == "Bearer glsa_token"
    assert "hub:nu" in annotations[0]["body"]["tags"]
    assert annotations[0]["body"]["text"].startswith("notify-hubs: deployed nu/staging revision 1")
    table = summary.read_text()
    assert "| xi/staging | failed | image |" in table and "| nu/staging | deployed |" in table
    assert "failure posted to the chat webhook" in proc.stdout
    assert "SECRET" not in proc.stdout.replace(post["body"]["text"], "") + proc.stderr


def test_without_a_webhook_only_the_summary_and_a_webhook_that_fails_is_an_error(ops):
    summary = ops.tmp / "summary-only.md"
    args = ["notify", "--results", str(ops.results), "--what", "staging", "--job-status", "failure"]
    proc = ops.invoke(*args, env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert "no chat webhook (FLEET_WEBHOOK_URL) set, so the job summary only" in proc.stdout
    assert "| xi/staging | failed | image |" in summary.read_text()

    with receiver(status=500) as (webhook, posts):
        failed = ops.invoke(*args, env={"FLEET_WEBHOOK_URL": f"{webhook}/SECRET"}, check=False)
    assert len(posts) == 1
    assert failed.returncode == 1
    assert failed.stderr.strip() == (
        "error: chat webhook (FLEET_WEBHOOK_URL): HTTP 500 Internal Server Error"
    )


def test_a_deploy_that_stopped_before_its_results_is_still_reported(ops):
    with receiver() as (webhook, posts):
        ops.invoke(
            "notify",
            "--results",
            str(ops.tmp / "never-written.json"),
            "--what",
            "prod on cluster main",
            "--job-status",
            "failure",
            env={"FLEET_WEBHOOK_URL": webhook},
        )
    assert posts[0]["body"]["text"].splitlines()[:2] == [
        "notify-hubs: deploy of prod on cluster main FAILED",
        "the job ended (failure) before it wrote any result",
    ]
