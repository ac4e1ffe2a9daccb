"""A small stand-in for github.com on 127.0.0.1, for running the generated workflows under act.

It serves, over TLS with a certificate from a CA the test makes (`ca.pem`):
- the repository itself over git's smart HTTP (`git http-backend`), so actions/checkout fetches
  as it would on GitHub;
- the REST endpoints the tested workflows call (`/api/v3/...`, where gh looks on an enterprise
  host): listing, opening and editing pull requests, the pull requests of a commit, and
  creating, listing and editing issue comments;
- the artifacts of a finished run, found in what act's artifact server stored for it (so the
  comment workflow downloads the plan run's artifact by run id, as it does on GitHub).

Every API request is kept in `requests` (method, path, parsed JSON body), for tests to read what
the workflows really sent.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import trustme

# The server's name for git and the web (GITHUB_SERVER_URL): @actions/artifact refuses a host it
# takes for GitHub Enterprise Server, and it takes github.com, *.ghe.com and *.localhost for
# GitHub. curl (so git) resolves any *.localhost to 127.0.0.1 by itself; the API stays on the
# address, which Node and gh resolve without help.
SERVER_NAME = "github.localhost"
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}


@dataclass
class Pull:
    number: int
    head_ref: str
    head_sha: str
    base_ref: str
    labels: list[str] = field(default_factory=list)
    title: str = ""
    body: str = ""
    state: str = "open"
    # What the repo's commits belong to (repos/{repo}/commits/{sha}/pulls).
    merge_sha: str = ""
    # OWNER/NAME of the fork the head branch is on; empty for a branch of the repo itself.
    fork: str = ""

    def json(self, repo: str) -> dict:
        return {
            "number": self.number,
            "html_url": f"https://{SERVER_NAME}/{repo}/pull/{self.number}",
            "state": self.state,
            "title": self.title,
            "body": self.body,
            "head": {
                "ref": self.head_ref,
                "sha": self.head_sha,
                "repo": {"full_name": self.fork or repo, "fork": bool(self.fork)},
            },
            "base": {"ref": self.base_ref, "repo": {"full_name": repo}},
            "labels": [{"name": name} for name in self.labels],
            "merge_commit_sha": self.merge_sha or None,
        }


class FakeGitHub:
    """The server; `start()` it, `stop()` it. `repo` is OWNER/NAME, `git_root` holds OWNER/NAME.git."""

    def __init__(self, workdir: Path, repo: str, artifact_dir: Path):
        self.workdir, self.repo, self.artifact_dir = workdir, repo, artifact_dir
        self.git_root = workdir / "git"
        self.bare = self.git_root / f"{repo}.git"
        self.requests: list[dict] = []
        self.pulls: dict[int, Pull] = {}
        self.comments: dict[int, dict] = {}
        self._ids = iter(range(1001, 10**9))
        self._lock = threading.Lock()
        ca = trustme.CA()
        self.ca_file = workdir / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        cert = ca.issue_cert("127.0.0.1", SERVER_NAME)
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self._context)
        self._server: http.server.ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> str:
        handler = type("Handler", (_Handler,), {"github": self})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.socket = self._context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        port = self._server.server_address[1]
        self.host = f"127.0.0.1:{port}"  # the API's, gh's GH_HOST
        self.url = f"https://{self.host}"
        self.api_url = f"{self.url}/api/v3"
        self.server_host = f"{SERVER_NAME}:{port}"  # git's and the web's
        self.server_url = f"https://{self.server_host}"  # GITHUB_SERVER_URL
        return self.url

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def trust_env(self) -> dict[str, str]:
        """What makes git, Node, Go (gh) and Python trust the server's certificate, on top of
        the system's CAs (a job still reaches PyPI)."""
        bundle = self.workdir / "ca-bundle.pem"
        if not bundle.exists():
            system = Path(ssl.get_default_verify_paths().cafile or SYSTEM_CA_BUNDLE)
            bundle.write_text(system.read_text() + "\n" + self.ca_file.read_text())
        return {
            "GIT_SSL_CAINFO": str(bundle),
            "NODE_EXTRA_CA_CERTS": str(self.ca_file),
            "SSL_CERT_FILE": str(bundle),
            "REQUESTS_CA_BUNDLE": str(bundle),
        }

    # -- state -----------------------------------------------------------------------------
    def open_pull(self, head_ref: str, head_sha: str, base_ref: str, **kw) -> Pull:
        with self._lock:
            number = len(self.pulls) + 1
            pull = self.pulls[number] = Pull(number, head_ref, head_sha, base_ref, **kw)
        return pull

    def sent(self, method: str, pattern: str) -> list[dict]:
        """The API requests of this method whose path matches the regular expression."""
        return [
            r for r in self.requests if r["method"] == method and re.fullmatch(pattern, r["path"])
        ]

    def _new_id(self) -> int:
        return next(self._ids)

    # -- the API ---------------------------------------------------------------------------
    def api(self, method: str, path: str, query: dict, body) -> tuple[int, object, dict]:
        """(status, JSON, extra headers) for one API request."""
        repo = re.escape(self.repo)
        routes = [
            ("GET", rf"/repos/{repo}/pulls", self._list_pulls),
            ("POST", rf"/repos/{repo}/pulls", self._create_pull),
            ("GET", rf"/repos/{repo}/pulls/(\d+)", self._pull),
            ("PATCH", rf"/repos/{repo}/pulls/(\d+)", self._edit_pull),
            ("GET", rf"/repos/{repo}/commits/([0-9a-f]{{40}})/pulls", self._commit_pulls),
            ("GET", rf"/repos/{repo}/issues/(\d+)/comments", self._list_comments),
            ("POST", rf"/repos/{repo}/issues/(\d+)/comments", self._create_comment),
            ("PATCH", rf"/repos/{repo}/issues/comments/(\d+)", self._edit_comment),
            ("GET", rf"/repos/{repo}/actions/runs/(\d+)/artifacts", self._run_artifacts),
            ("GET", rf"/repos/{repo}/actions/artifacts/(\d+)/zip", self._artifact_zip),
        ]
        for verb, pattern, answer in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                with self._lock:
                    return answer(*match.groups(), query=query, body=body)
        return 404, {"message": f"the fake GitHub does not serve {method} {path}"}, {}

    def _pull(self, number, **_):
        pull = self.pulls.get(int(number))
        if pull is None:
            return 404, {"message": "Not Found"}, {}
        return 200, pull.json(self.repo), {}

    def _list_pulls(self, query, **_):
        """`?state=` (open by default, or all) and `?head=OWNER:BRANCH`, as GitHub filters."""
        state = query.get("state", ["open"])[0]
        head = query.get("head", [None])[0]
        owner = self.repo.split("/")[0]
        found = [
            p
            for p in self.pulls.values()
            if state in ("all", p.state) and head in (None, f"{owner}:{p.head_ref}")
        ]
        return 200, [p.json(self.repo) for p in found], {}

    def _create_pull(self, body, **_):
        """Opens a pull request of a branch already on the remote (422 otherwise, as GitHub)."""
        head, base = body.get("head", ""), body.get("base", "")
        shas = [self._branch_sha(head), self._branch_sha(base)]
        if not all(shas):
            return 422, {"message": "Validation Failed", "errors": [{"field": "head/base"}]}, {}
        number = len(self.pulls) + 1
        title, text = body.get("title", ""), body.get("body", "")
        pull = self.pulls[number] = Pull(number, head, shas[0], base, title=title, body=text)
        return 201, pull.json(self.repo), {}

    def _edit_pull(self, number, body, **_):
        pull = self.pulls.get(int(number))
        if pull is None:
            return 404, {"message": "Not Found"}, {}
        for name in ("title", "body", "state"):
            if name in body:
                setattr(pull, name, body[name])
        return 200, pull.json(self.repo), {}

    def _branch_sha(self, branch: str) -> str:
        proc = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
            cwd=self.bare,
            capture_output=True,
            text=True,
            check=False,
        )
        return proc.stdout.strip()

    def _commit_pulls(self, sha, **_):
        """The pull requests a commit belongs to: as their head, or as their merge."""
        found = [p for p in self.pulls.values() if sha in (p.head_sha, p.merge_sha)]
        return 200, [p.json(self.repo) for p in found], {}

    def _list_comments(self, number, **_):
        found = [c for c in self.comments.values() if c["issue"] == int(number)]
        return 200, [_public(c) for c in found], {}

    def _create_comment(self, number, body, **_):
        comment = {"id": self._new_id(), "issue": int(number), "user": BOT, "body": body["body"]}
        self.comments[comment["id"]] = comment
        return 201, _public(comment), {}

    def _edit_comment(self, comment_id, body, **_):
        comment = self.comments.get(int(comment_id))
        if comment is None:
            return 404, {"message": "Not Found"}, {}
        comment["body"] = body["body"]
        return 200, _public(comment), {}

    def _artifacts(self, run_id: str) -> list[dict]:
        """What act's artifact server stored for one run: `<dir>/<run>/<name>/<name>.zip`, the
        zip the upload sent, which is what GitHub serves for an artifact."""
        found = []
        for i, folder in enumerate(sorted((self.artifact_dir / run_id).glob("*/"))):
            archive = folder / f"{folder.name}.zip"
            if archive.is_file():
                found.append({"id": int(run_id) * 1000 + i, "name": folder.name, "zip": archive})
        return found

    def _run_artifacts(self, run_id, query, **_):
        name = query.get("name", [None])[0]
        listed = [
            {
                "id": a["id"],
                "name": a["name"],
                "size_in_bytes": a["zip"].stat().st_size,
                "expired": False,
                "workflow_run": {"id": int(run_id)},
            }
            for a in self._artifacts(run_id)
            if name in (None, a["name"])
        ]
        return 200, {"total_count": len(listed), "artifacts": listed}, {}

    def _artifact_zip(self, artifact_id, **_):
        run_id = str(int(artifact_id) // 1000)
        for a in self._artifacts(run_id):
            if a["id"] == int(artifact_id):
                return 302, None, {"Location": f"{self.url}/_artifact/{run_id}/{a['name']}.zip"}
        return 404, {"message": "Not Found"}, {}

    def artifact_zip(self, run_id: str, name: str) -> bytes | None:
        for a in self._artifacts(run_id):
            if a["name"] == name:
                return a["zip"].read_bytes()
        return None


def _public(comment: dict) -> dict:
    return {k: v for k, v in comment.items() if k != "issue"}


class _Handler(http.server.BaseHTTPRequestHandler):
    github: FakeGitHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, payload: bytes, headers: dict) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        raw = self._body()
        github = self.github
        if url.path.startswith("/api/v3/"):
            path = url.path.removeprefix("/api/v3")
            body = json.loads(raw) if raw.strip() else None
            github.requests.append({"method": self.command, "path": path, "body": body})
            status, answer, headers = github.api(self.command, path, parse_qs(url.query), body)
            payload = b"" if answer is None else json.dumps(answer).encode()
            self._send(status, payload, {"Content-Type": "application/json", **headers})
        elif url.path.startswith("/_artifact/"):
            run_id, name = url.path.removeprefix("/_artifact/").split("/", 1)
            data = github.artifact_zip(run_id, name.removesuffix(".zip"))
            if data is None:
                self._send(404, b"", {})
            else:
                self._send(200, data, {"Content-Type": "application/zip"})
        else:
            self._git(url.path, url.query, raw)

    def _git(self, path: str, query: str, body: bytes) -> None:
        """git's smart HTTP through `git http-backend` (as a CGI program); `/OWNER/NAME` and
        `/OWNER/NAME.git` both name the bare repository."""
        repo = self.github.repo
        match = re.fullmatch(rf"/{re.escape(repo)}(?:\.git)?(/.*)", path)
        if not match:
            self._send(404, b"", {})
            return
        env = {
            **os.environ,
            "GIT_PROJECT_ROOT": str(self.github.git_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{repo}.git{match.group(1)}",
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            # Any token may push, as the workflow's token may on GitHub.
            "REMOTE_USER": "x-access-token",
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        out = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        ).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = out.partition(b"\n\n")
        status, headers = 200, {}
        for line in head.decode().splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers[name] = value.strip()
        self._send(status, payload, headers)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle
