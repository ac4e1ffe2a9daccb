"""`invoke health`: proof that a deployed hub serves, from its API to code run in a kernel.

The hub is reached through `kubectl port-forward` to its proxy's Service, which works before any
DNS or ingress exists, or through its public URL when its hub.yaml names one for the environment
(`urls:`), which proves the ingress, DNS and TLS too. With the hub's health-check service token (in its sops secrets, given its
role by its values), a test user is made, its server started from the hub's single-user image,
a line of code executed in a kernel there, then the server stopped and the user removed, on
every exit path. Each step is timed and retried a bounded number of times; a failure names the
step and, for the user's server, its pod's events and last log lines.
"""

from __future__ import annotations

import contextlib
import json
import select
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import websocket

from fleet.core import yamlfile
from fleet.core.errors import Failure, StepFailed
from fleet.core.runner import Runner
from fleet.release import rollout
from fleet.release.release import Release
from fleet.tools import kube

SERVICE = "health-check"
USER = "fleet-health-check"
CODE = "print(6 * 7)"
EXPECTED = "42"
ATTEMPTS = 3
SERVER_TIMEOUT = 300  # seconds for the user's server to start (an image pull included)


class HealthFailed(Exception):
    """A step of the health check failed; the message names it. Never leaves `run`: it becomes
    the check's error."""


class Hopeless(HealthFailed):
    """A failure that another attempt cannot mend (a server pod that cannot start): not retried."""


@dataclass
class Check:
    """The outcome of one health check: each step and its seconds, or the step that failed."""

    ok: bool = False
    steps: list[tuple[str, float]] = field(default_factory=list)
    step: str = ""
    error: str = ""
    image: str = ""  # the digest (sha256:...) of the image the test user's server ran

    def summary(self) -> str:
        timed = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in self.steps)
        if self.ok:
            return f"health check passed ({timed})"
        return f"health check FAILED at step {self.step}: {self.error}"


def token_of(secrets_file: str) -> str:
    """The hub's health-check service token, from its decrypted secrets."""
    values = yamlfile.read(Path(secrets_file)) or {}
    services = ((values.get("jupyterhub") or {}).get("hub") or {}).get("services") or {}
    token = (services.get(SERVICE) or {}).get("apiToken")
    if not token:
        raise HealthFailed(
            f"no jupyterhub.hub.services.{SERVICE}.apiToken in the hub's secrets: add one "
            "(`invoke secrets.edit`, any 64 hex digits) and the health-check role in its values"
        )
    return token


class Forward:
    """`kubectl port-forward` to a Service's port 80 on a free local port, started again (on a
    new port) when it died: `url()` is where it listens now."""

    def __init__(self, runner: Runner, namespace: str, service: str = "proxy-public"):
        self.runner, self.namespace, self.service = runner, namespace, service
        self.proc = None
        self._url = ""
        self.restarts = 0

    def url(self) -> str:
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                self.restarts += 1
            self._start()
        return self._url

    def _start(self) -> None:
        argv = ["kubectl", "port-forward", "--namespace", self.namespace]
        argv += [f"svc/{self.service}", ":80"]
        self.proc = self.runner.start(argv, step=f"port-forward to {self.service}")
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else ""
        if "127.0.0.1:" not in line:
            said = (
                self.proc.stderr.read() if self.proc.poll() is not None else "(no answer in 30 s)"
            )
            self.stop()
            raise HealthFailed(
                f"port-forward to {self.service} in {self.namespace}: {said.strip()}"
            )
        self._url = "http://127.0.0.1:" + line.split("127.0.0.1:", 1)[1].split()[0]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def port_forward(
    runner: Runner, namespace: str, service: str = "proxy-public"
) -> Iterator[Forward]:
    """A `Forward`, started now, stopped on every exit path."""
    forward = Forward(runner, namespace, service)
    try:
        forward.url()
        yield forward
    finally:
        forward.stop()


@contextlib.contextmanager
def reached(release: Release, say: Callable[[str], None]) -> Iterator[Callable[[], str]]:
    """Where the check goes through, asked before each call: the hub's public URL if hub.yaml
    names it, or a port-forward's (started again if it died)."""
    public = release.target.hub.urls.get(release.target.env)
    if public:
        say(f"health check: through the hub's public URL {public}")
        yield lambda: public.rstrip("/")
        return
    with port_forward(release.runner, release.name) as forward:
        say(f"health check: through a port-forward to svc/proxy-public ({forward.url()})")

        def url() -> str:
            restarts = forward.restarts
            found = forward.url()
            if forward.restarts != restarts:
                say(f"health check: the port-forward had died; started again ({found})")
            return found

        yield url


class HubAPI:
    """The hub's REST API, and its user servers' API, through the proxy."""

    def __init__(self, url: Callable[[], str], token: str):
        self.base, self.token = url, token

    @property
    def url(self) -> str:
        return self.base()

    def call(self, method: str, path: str, body: object = None, ok=(200, 201, 202, 204)):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"token {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return None
            detail = exc.read().decode(errors="replace")[:300]
            raise HealthFailed(f"{method} {path}: HTTP {exc.code} {detail}") from None
        except OSError as exc:
            raise HealthFailed(f"{method} {path}: {exc}") from None

    def server(self) -> dict:
        user = self.call("GET", f"/hub/api/users/{USER}") or {}
        return (user.get("servers") or {}).get("", {})

    def run_code(self) -> str:
        """Start a kernel on the test user's server, run CODE, return what it printed."""
        kernel = self.call("POST", f"/user/{USER}/api/kernels", {"name": "python3"})
        socket_url = "ws" + self.url.removeprefix("http")  # http: ws, https: wss
        channels = f"{socket_url}/user/{USER}/api/kernels/{kernel['id']}/channels"
        ws = websocket.create_connection(
            channels, header=[f"Authorization: token {self.token}"], timeout=60
        )
        try:
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps(_execute_request(msg_id)))
            printed = []
            while True:
                message = json.loads(ws.recv())
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = message.get("msg_type") or message["header"]["msg_type"]
                if kind == "stream":
                    printed.append(message["content"]["text"])
                elif kind == "error":
                    raise HealthFailed(f"the kernel raised {message['content']['ename']}")
                elif kind == "execute_reply":
                    return "".join(printed).strip()
        finally:
            ws.close()


def _execute_request(msg_id: str) -> dict:
    header = {"msg_id": msg_id, "msg_type": "execute_request", "username": USER}
    header |= {"session": uuid.uuid4().hex, "version": "5.3", "date": datetime.now(UTC).isoformat()}
    content = {"code": CODE, "silent": False, "store_history": False, "user_expressions": {}}
    content |= {"allow_stdin": False, "stop_on_error": True}
    return {
        "header": header,
        "parent_header": {},
        "metadata": {},
        "content": content,
        "channel": "shell",
    }


def _retried(
    action: Callable[[], object],
    attempts: int = ATTEMPTS,
    pause: float = 2.0,
    before_retry: Callable[[], object] = lambda: None,
):
    """The action's result; a HealthFailed is tried `attempts` times in all, then raised.

    A `Hopeless` failure is raised at once; `before_retry` cleans up between attempts.
    """
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Hopeless:
            raise
        except HealthFailed:
            if attempt == attempts:
                raise
            time.sleep(pause * attempt)
            before_retry()
    raise AssertionError("unreachable")


def _wait_for_server(hub: HubAPI, runner: Runner, namespace: str, since: datetime) -> None:
    """Until the test user's server is ready.

    Stops at once when its pod cannot start (fleet.rollout) or the time is up: `Hopeless`, since
    another attempt would fail the same way or wait as long again. A spawn the hub gave up on (the
    server gone, never ready) is a plain failure, which the caller may try again.
    """
    deadline = time.monotonic() + SERVER_TIMEOUT
    while True:
        server = hub.server()
        if server.get("ready"):
            return
        hopeless = rollout.hopeless(runner, namespace, since, users=True)
        if hopeless:
            raise Hopeless(f"the test user's server cannot start:\n{hopeless}")
        if not server:
            raise HealthFailed("the hub gave up starting the test user's server")
        if time.monotonic() > deadline:
            lines = rollout.diagnose(runner.quiet(), namespace)
            raise Hopeless("\n".join([f"no server within {SERVER_TIMEOUT}s", *lines]))
        time.sleep(2)


def _remove_test_user(hub: HubAPI) -> None:
    """Stop the test user's server and delete the user (nothing when there is none)."""
    if hub.call("GET", f"/hub/api/users/{USER}", ok=(404,)) is None:
        return
    _stop_server(hub)
    hub.call("DELETE", f"/hub/api/users/{USER}", ok=(204, 404))


def _make_user(hub: HubAPI) -> None:
    _remove_test_user(hub)  # one left by a check that was killed
    hub.call("POST", f"/hub/api/users/{USER}")


def _hub_log(runner: Runner, namespace: str, lines: int = 15) -> list[str]:
    """The hub's last log lines: why it refused or failed to start a server."""
    argv = ["kubectl", "logs", "--namespace", namespace, "deployment/hub", f"--tail={lines}"]
    proc = runner.quiet().run(argv, step="hub log", mutates=False, check=False)
    return [f"    hub log: {line}" for line in proc.stdout.splitlines() if line.strip()]


def _start_server(hub: HubAPI, runner: Runner, namespace: str) -> None:
    since = datetime.now(UTC).replace(microsecond=0)
    try:
        hub.call("POST", f"/hub/api/users/{USER}/server")
        _wait_for_server(hub, runner, namespace, since)
    except HealthFailed as exc:
        raise type(exc)("\n".join([str(exc), *_hub_log(runner, namespace)])) from None


def server_image(runner: Runner, namespace: str) -> str:
    """The digest of the image the test user's server runs, as the node pulled it ("" unknown)."""
    url = kube.path("", "pods", namespace)
    try:
        pods = kube.items(
            runner.quiet(),
            url,
            step="the test server's image",
            selector="component=singleuser-server",
        )
    except StepFailed:
        return ""
    for pod in pods:
        annotations = pod["metadata"].get("annotations") or {}
        if annotations.get("hub.jupyter.org/username") != USER:
            continue
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            if status.get("name") == "notebook" and "@" in status.get("imageID", ""):
                return status["imageID"].rpartition("@")[2]
    return ""


def _stop_server(hub: HubAPI) -> None:
    """Stop the test user's server before it is started again."""
    hub.call("DELETE", f"/hub/api/users/{USER}/server", ok=(204, 202, 400, 404))
    deadline = time.monotonic() + 120
    while hub.server() and time.monotonic() < deadline:
        time.sleep(1)


def _run_code(hub: HubAPI) -> None:
    printed = hub.run_code()
    if printed != EXPECTED:
        raise HealthFailed(f"`{CODE}` printed {printed!r}, expected {EXPECTED}")


def run(release: Release, expected_version: str, say: Callable[[str], None]) -> Check:
    """The health check of a deployed release; never raises for a failed step (see `Check`)."""
    check, runner, namespace = Check(), release.runner, release.name

    def step(name: str, action: Callable[[], object]) -> object:
        check.step = name
        began = time.monotonic()
        result = action()
        check.steps.append((name, time.monotonic() - began))
        say(f"health check: {name} ok ({check.steps[-1][1]:.1f}s)")
        return result

    def version_is_expected(hub: HubAPI) -> None:
        found = (hub.call("GET", "/hub/api") or {}).get("version")
        if found != expected_version:
            raise HealthFailed(f"the hub runs JupyterHub {found}, expected {expected_version}")

    try:
        token = token_of(release.render.secrets)
        with reached(release, say) as url:
            hub = HubAPI(url, token)

            def start_server() -> None:  # twice at most, the first attempt's server stopped
                attempt = lambda: _start_server(hub, runner, namespace)  # noqa: E731
                _retried(attempt, attempts=2, before_retry=lambda: _stop_server(hub))

            step("hub api", lambda: _retried(lambda: version_is_expected(hub)))
            try:
                step("test user", lambda: _retried(lambda: _make_user(hub)))
                step("server start", start_server)
                check.image = server_image(runner, namespace)
                step("kernel", lambda: _retried(lambda: _run_code(hub)))
            finally:
                # Also after a failure or Ctrl-C: the test user and its server never stay.
                with contextlib.suppress(Failure, HealthFailed):
                    _remove_test_user(hub)
        check.ok = True
    except (Failure, HealthFailed) as exc:
        check.error = str(exc)
    return check
