"""The Kubernetes API, read and written in this process: one client per cluster per run.

What the tasks read and write themselves (the deploy lock's Lease, workloads, pods, events, helm's
storage Secrets and their labels, namespaces) goes through the official `kubernetes` client
instead of a `kubectl` process per call: a deploy's dozen reads cost one TLS connection, not a
dozen Go programs starting. `kubectl` stays for what a person runs or reads as a command
(`invoke shell`, `invoke logs`, the health check's port-forward, `kubectl rollout status` waits).

Each request goes through the runner (`Runner.call`): echoed as `$ GET /api/...`, and a request
that changes something is only printed in a dry run. Bodies are JSON dicts, as `kubectl -o json`
gives them; nothing is turned into the client's model classes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from pathlib import Path
from urllib.parse import quote, urlencode

from fleet.core import private
from fleet.core.errors import StepFailed
from fleet.core.runner import Runner

TIMEOUT = 30.0  # seconds one request may take: an API server that hangs is a failure, not a wait
_CLIENTS: dict[tuple[str, int], _Client] = {}
_GUARD = threading.Lock()


class ApiError(StepFailed):
    """A request the API server refused: its HTTP status and reason (NotFound, Conflict...)."""

    def __init__(self, step: str, status: int, reason: str, message: str):
        self.status, self.reason = status, reason
        super().__init__(step, status, message)
        Exception.__init__(self, f"{step} failed (HTTP {status} {reason}): {message}".strip())

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        """AlreadyExists or Conflict (a write on a resourceVersion someone else changed)."""
        return self.status == 409


def kubeconfig_of(runner: Runner) -> str:
    """The kubeconfig the runner's commands would use (its KUBECONFIG, else kubectl's default)."""
    found = runner.env.get("KUBECONFIG") or os.environ.get("KUBECONFIG")
    return (found or str(Path.home() / ".kube" / "config")).split(os.pathsep)[0]


class _Client:
    """An API client and the private folder its certificates and keys are written to: the
    library hands them to the TLS layer as files, which must never reach a disk."""

    def __init__(self, kubeconfig: str):
        # Imported when a cluster is first reached: commands that reach none skip its cost.
        from kubernetes.client import ApiClient, Configuration  # noqa: PLC0415
        from kubernetes.config import kube_config  # noqa: PLC0415

        self._files = contextlib.ExitStack()
        self.folder = self._files.enter_context(private.directory())
        settings = Configuration()
        settings.retries = False  # one attempt: a failure is said at once, in one line
        try:
            kube_config.load_kube_config(
                config_file=kubeconfig,
                client_configuration=settings,
                persist_config=False,
                temp_file_path=str(self.folder),
            )
        except Exception as exc:  # the library's own errors: a bad or incomplete file
            self.close()
            raise StepFailed("read the kubeconfig", 1, f"{kubeconfig}: {exc}") from None
        self.api = ApiClient(configuration=settings)

    def close(self) -> None:
        from kubernetes.config import kube_config  # noqa: PLC0415

        if hasattr(self, "api"):
            with contextlib.suppress(Exception):  # closing idle connections: nothing to lose
                self.api.close()
        # The library remembers the files it wrote, by content, to reuse them: not once removed.
        cache = kube_config._temp_files
        for content, name in list(cache.items()):
            if Path(name).is_relative_to(self.folder):
                cache.pop(content, None)
        self._files.close()


def _client(kubeconfig: str):
    """The API client of a kubeconfig file, made once per file (and per version of it)."""
    try:
        stamp = Path(kubeconfig).stat().st_mtime_ns
    except OSError:
        raise StepFailed("read the kubeconfig", 1, f"{kubeconfig}: not found") from None
    with _GUARD:
        made = _CLIENTS.get((kubeconfig, stamp))
        if made is None:
            made = _CLIENTS[(kubeconfig, stamp)] = _Client(kubeconfig)
        return made.api


def forget(kubeconfig: str) -> None:
    """Close the clients of a kubeconfig about to be removed (the end of a run), and remove
    the certificates they were given."""
    with _GUARD:
        for key in [key for key in _CLIENTS if key[0] == kubeconfig]:
            _CLIENTS.pop(key).close()


def path(group: str, kind: str, namespace: str | None = None, name: str | None = None) -> str:
    """A resource's URL path: group "" is the core API (v1); others are "group/version"."""
    base = "/api/v1" if not group else f"/apis/{group}"
    where = f"/namespaces/{quote(namespace)}" if namespace else ""
    return f"{base}{where}/{kind}" + (f"/{quote(name)}" if name else "")


def request(
    runner: Runner,
    method: str,
    url: str,
    *,
    step: str,
    body: dict | None = None,
    query: dict[str, str] | None = None,
    content_type: str = "application/json",
    accept: str = "application/json",
    timeout: float = TIMEOUT,
) -> dict:
    """One request as the runner's cluster (its KUBECONFIG); the response's JSON body.

    A GET never changes anything: it runs in a dry run too. Refused requests raise ApiError."""
    full = url + (f"?{urlencode(query)}" if query else "")
    mutates = method != "GET"
    answer = runner.call(
        f"{method} {full}",
        lambda: _send(
            kubeconfig_of(runner), method, full, body, (content_type, accept), timeout, step
        ),
        mutates=mutates,
    )
    return answer if answer is not None else {}


def _send(
    kubeconfig: str,
    method: str,
    url: str,
    body: dict | None,
    types: tuple[str, str],
    timeout: float,
    step: str,
) -> dict:
    client = _client(kubeconfig)
    headers = {"Content-Type": types[0], "Accept": types[1]}
    try:
        prepared = client.param_serialize(
            method, url, header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        response = client.call_api(*prepared, _request_timeout=timeout)
        data = response.read()
    except Exception as exc:  # urllib3's and the library's: the server cannot be reached
        if isinstance(exc, StepFailed):
            raise
        raise StepFailed(step, -1, f"{method} {url}: {_why(exc)}") from None
    text = data.decode() if isinstance(data, bytes) else str(data or "")
    if response.status >= 400:
        raise _refused(step, response.status, text)
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return {"text": text}


def _why(exc: Exception) -> str:
    """A connection failure in a few words ("Connection refused"), not urllib3's whole chain."""
    said = str(getattr(exc, "reason", None) or exc)
    errno = re.search(r"\[Errno -?\d+\] ([^'\")]+)", said)
    return errno.group(1).strip() if errno else said


def _refused(step: str, status: int, text: str) -> ApiError:
    """The API server's Status object as an ApiError (its reason and message)."""
    try:
        said = json.loads(text)
    except ValueError:
        said = {}
    if not isinstance(said, dict):
        said = {}
    return ApiError(step, status, said.get("reason", ""), said.get("message") or text.strip())


def get(runner: Runner, url: str, *, step: str, query: dict[str, str] | None = None) -> dict | None:
    """A resource, or None when it does not exist."""
    try:
        return request(runner, "GET", url, step=step, query=query)
    except ApiError as exc:
        if exc.not_found:
            return None
        raise


# The API server's own answer with each object's metadata only (no Secret's data, no spec).
METADATA = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"


def items(
    runner: Runner, url: str, *, step: str, selector: str = "", metadata_only: bool = False
) -> list[dict]:
    """A list's items (each with its kind filled in, as kubectl gives them); with
    `metadata_only`, only their metadata leave the server (what labels and names need)."""
    query = {"labelSelector": selector} if selector else None
    accept = METADATA if metadata_only else "application/json"
    listed = request(runner, "GET", url, step=step, query=query, accept=accept)
    kind = str(listed.get("kind", "")).removesuffix("List")
    version = listed.get("apiVersion", "")
    found = listed.get("items") or []
    for item in found:
        item.setdefault("kind", kind)
        item.setdefault("apiVersion", version)
    return found


def merge_patch(runner: Runner, url: str, patch: dict, *, step: str) -> dict:
    """A JSON merge patch of one resource (labels, annotations)."""
    return request(
        runner, "PATCH", url, step=step, body=patch, content_type="application/merge-patch+json"
    )


def reachable(runner: Runner, timeout: float) -> None:
    """One quick read of the API server's /readyz: a StepFailed saying why when it does not answer."""
    request(runner, "GET", "/readyz", step="reach the cluster", timeout=timeout)
