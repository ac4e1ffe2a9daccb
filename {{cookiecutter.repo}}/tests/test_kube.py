"""Unit tests of fleet.tools.kube: URL paths, the API server's refusals as errors, dry-run and echo
through the runner, metadata-only lists, one client per kubeconfig. Requests go over real HTTP
(the `kubernetes` client) to a small local server that answers as the API server would; the e2e
suite runs the same code against the real control plane."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from fleet.core.errors import StepFailed
from fleet.core.runner import Runner
from fleet.tools import helm, kube


class Handler(BaseHTTPRequestHandler):
    seen: list  # (method, path, accept, content type, body) of every request
    secrets: list = []  # what a list of Secrets answers

    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        headers = (self.headers.get("Accept"), self.headers.get("Content-Type"))
        self.seen.append((self.command, self.path, *headers, body))
        if "conflict" in self.path:
            status = {"kind": "Status", "reason": "AlreadyExists", "message": 'leases "x" exists'}
            self._send(409, status)
        elif "missing" in self.path:
            self._send(404, {"kind": "Status", "reason": "NotFound", "message": "not found"})
        elif "secrets" in self.path:
            self._send(200, {"kind": "PartialObjectMetadataList", "items": self.secrets})
        else:
            listed = {"kind": "PodList", "apiVersion": "v1", "items": [{"metadata": {"name": "a"}}]}
            self._send(200, listed)

    def _send(self, code, doc):
        data = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer


@pytest.fixture
def server(tmp_path):
    Handler.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    url = f"http://127.0.0.1:{httpd.server_port}"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": url}}],
        "users": [{"name": "u", "user": {"token": "t0ken"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    kubeconfig.write_text(yaml.safe_dump(doc))
    yield Runner(echo=False).with_env(KUBECONFIG=str(kubeconfig))
    kube.forget(str(kubeconfig))
    httpd.shutdown()


def test_paths():
    assert kube.path("", "pods", "alpha-staging") == "/api/v1/namespaces/alpha-staging/pods"
    assert kube.path("apps/v1", "deployments") == "/apis/apps/v1/deployments"
    lease = kube.path("coordination.k8s.io/v1", "leases", "ns", "fleet-deploy")
    assert lease == "/apis/coordination.k8s.io/v1/namespaces/ns/leases/fleet-deploy"


def test_a_list_fills_in_each_items_kind_and_sends_the_selector(server):
    found = kube.items(server, kube.path("", "pods", "ns"), step="pods", selector="a=b,c!=d")
    assert found == [{"metadata": {"name": "a"}, "kind": "Pod", "apiVersion": "v1"}]
    method, path, accept, _, _ = Handler.seen[-1]
    assert (method, path) == ("GET", "/api/v1/namespaces/ns/pods?labelSelector=a%3Db%2Cc%21%3Dd")
    assert accept == "application/json"


def test_metadata_only_asks_the_server_for_partial_objects(server):
    kube.items(server, kube.path("", "secrets"), step="s", metadata_only=True)
    assert Handler.seen[-1][2].startswith("application/json;as=PartialObjectMetadataList;")


def test_a_refusal_is_an_api_error_with_its_status_and_reason(server):
    url = kube.path("coordination.k8s.io/v1", "leases", "conflict")
    with pytest.raises(kube.ApiError) as caught:
        kube.request(server, "POST", url, step="take the deploy lock", body={"kind": "Lease"})
    assert caught.value.conflict and not caught.value.not_found
    assert caught.value.reason == "AlreadyExists"
    assert str(caught.value) == (
        'take the deploy lock failed (HTTP 409 AlreadyExists): leases "x" exists'
    )
    assert isinstance(caught.value, StepFailed)
    assert Handler.seen[-1][4] == {"kind": "Lease"}


def test_get_of_a_missing_object_is_none(server):
    assert kube.get(server, kube.path("", "pods", "missing", "p"), step="p") is None


def test_merge_patch_sends_its_content_type(server):
    kube.merge_patch(server, kube.path("", "secrets", "ns", "s"), {"metadata": {}}, step="label")
    method, _, _, content_type, body = Handler.seen[-1]
    assert (method, content_type, body) == (
        "PATCH",
        "application/merge-patch+json",
        {"metadata": {}},
    )


def test_a_dry_run_prints_a_write_and_sends_only_reads(server, capsys):
    dry = server.copy(dry_run=True)
    assert kube.request(dry, "DELETE", kube.path("", "pods", "ns", "p"), step="delete") == {}
    assert [seen[0] for seen in Handler.seen] == []
    assert "[dry-run] DELETE /api/v1/namespaces/ns/pods/p" in capsys.readouterr().err
    kube.items(dry, kube.path("", "pods", "ns"), step="pods")
    assert [seen[0] for seen in Handler.seen] == ["GET"]


def test_an_echoing_runner_shows_each_request(server, capsys):
    kube.items(server.copy(echo=True), kube.path("", "pods", "ns"), step="pods")
    assert "$ GET /api/v1/namespaces/ns/pods" in capsys.readouterr().err


def test_one_client_per_kubeconfig(server):
    kubeconfig = kube.kubeconfig_of(server)
    assert kube._client(kubeconfig) is kube._client(kubeconfig)
    kube.forget(kubeconfig)
    assert not [key for key in kube._CLIENTS if key[0] == kubeconfig]


def test_a_missing_kubeconfig_names_the_file(tmp_path):
    runner = Runner(echo=False).with_env(KUBECONFIG=str(tmp_path / "nope"))
    with pytest.raises(StepFailed, match="nope: not found"):
        kube.items(runner, kube.path("", "pods"), step="pods")


def test_an_unreachable_server_is_a_step_failure_naming_the_request(tmp_path):
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    (tmp_path / "kc").write_text(yaml.safe_dump(doc))
    runner = Runner(echo=False).with_env(KUBECONFIG=str(tmp_path / "kc"))
    with pytest.raises(StepFailed) as caught:
        kube.reachable(runner, 2.0)
    assert caught.value.last_line() == "GET /readyz: Connection refused"


def revision(number, status, created):
    """A helm storage Secret's metadata, as a metadata-only list gives it."""
    labels = {"owner": "helm", "name": "alpha-staging", "version": str(number), "status": status}
    return {
        "metadata": {
            "name": f"sh.helm.release.v1.alpha-staging.v{number}",
            "creationTimestamp": created,
            "labels": labels,
        }
    }


def test_history_is_one_metadata_read_of_the_storage_secrets(server):
    Handler.secrets = [
        revision(2, "deployed", "2026-12-07T10:00:00Z"),
        revision(10, "pending-upgrade", "2026-12-07T11:00:00Z"),
        revision(1, "superseded", "2026-12-07T09:00:00Z"),
    ]
    found = helm.history(server, "alpha-staging")
    assert [(r["revision"], r["status"], r["updated"]) for r in found] == [
        (1, "superseded", "2026-12-07T09:00:00Z"),
        (2, "deployed", "2026-12-07T10:00:00Z"),
        (10, "pending-upgrade", "2026-12-07T11:00:00Z"),
    ]
    assert found[1]["labels"]["version"] == "2"
    method, path, accept, _, _ = Handler.seen[-1]
    assert path == (
        "/api/v1/namespaces/alpha-staging/secrets?labelSelector=owner%3Dhelm%2Cname%3Dalpha-staging"
    )
    assert accept.startswith(kube.METADATA)
    assert helm.revision_age(found[2]) > 0


def test_the_clients_certificates_are_private_files_removed_with_it(tmp_path, monkeypatch):
    """The library writes a kubeconfig's certificates and keys to files for TLS: into a private
    folder (memory, FLEET_PRIVATE_DIR here), never the temp folder, and removed on forget."""
    private_dir, disk = tmp_path / "private", tmp_path / "disk"
    disk.mkdir()
    monkeypatch.setenv("FLEET_PRIVATE_DIR", str(private_dir))
    monkeypatch.setenv("TMPDIR", str(disk))
    key = base64.b64encode(b"-----BEGIN PRIVATE KEY-----\nnot a real key\n").decode()
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"client-certificate-data": key, "client-key-data": key}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text(yaml.safe_dump(doc))
    kube._client(str(kubeconfig))
    written = [p for p in private_dir.rglob("*") if p.is_file()]
    assert written and all(b"not a real key" in p.read_bytes() for p in written)
    assert list(disk.iterdir()) == []
    kube.forget(str(kubeconfig))
    assert list(private_dir.iterdir()) == []
