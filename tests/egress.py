"""A proxy on 127.0.0.1 that lets nothing through and keeps what it was asked for.

A workflow run's jobs get it as their HTTP and HTTPS proxy, with NO_PROXY naming this machine's
own addresses (127.0.0.1, localhost, the fake GitHub's `*.localhost` name): git, curl, pip, Go
(helm, kubectl, gh, sops), Python and the actions' own HTTP client then send any request for
anywhere else here, where it is refused (403) and recorded. The workflow tests assert that
nothing was.
"""

from __future__ import annotations

import http.server
import threading
from urllib.parse import urlsplit

LOCAL = ("127.0.0.1", "localhost", ".localhost", "::1")


class Egress:
    """`start()` it, give a run `env()`, read `asked` (host:port of each refused request)."""

    def __init__(self, also_local: tuple[str, ...] = ()):
        self.asked: list[str] = []
        self.local = (*LOCAL, *also_local)
        self._server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"egress": self})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def env(self) -> dict[str, str]:
        assert self._server, "start() the proxy first"
        proxy = f"http://127.0.0.1:{self._server.server_address[1]}"
        no_proxy = ",".join(self.local)
        return {
            name: value
            for names, value in (
                (("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"), proxy),
                (("NO_PROXY",), no_proxy),
            )
            for upper in names
            for name in (upper, upper.lower())
        }


class _Handler(http.server.BaseHTTPRequestHandler):
    egress: Egress

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _refuse(self) -> None:
        target = self.path if self.command == "CONNECT" else urlsplit(self.path).netloc
        self.egress.asked.append(target or self.path)
        self.send_response(403, "no traffic beyond this machine")
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    do_CONNECT = do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _refuse
