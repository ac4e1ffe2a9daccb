"""`invoke notify`: after a deploy job, one chat message when it failed, a Grafana annotation per
deployed release, and the GitHub job summary.

The message is built from the deploy's `--results` file: which hubs failed or were skipped, at
which step, and the run's link. The chat webhook takes the Slack-compatible incoming-webhook JSON,
`{"text": ...}`, which most chat servers accept. The webhook URL and the Grafana token are secrets:
they are never printed, and an error names the setting, not its value.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from fleet.core.errors import FleetError
from fleet.core.settings import Settings

WEBHOOK = "FLEET_WEBHOOK_URL"
GRAFANA_URL = "FLEET_GRAFANA_URL"
GRAFANA_TOKEN = "FLEET_GRAFANA_TOKEN"  # noqa: S105 - the setting's name, not a token
TIMEOUT = 10  # seconds for each request
MAX_ERROR = 300  # characters of a failure's error in the message


@dataclass(frozen=True)
class Row:
    """One release of a `--results` file."""

    hub: str | None  # None: the cluster's support chart
    env: str
    cluster: str
    result: str  # deployed, failed or skipped
    step: str = ""
    error: str = ""
    revision: int | None = None

    @property
    def who(self) -> str:
        return (
            f"support of cluster {self.cluster}" if self.hub is None else f"{self.hub}/{self.env}"
        )


def read_results(path: Path) -> list[Row] | None:
    """The rows of a results file; None when the deploy wrote none (it stopped before the end)."""
    if not path.exists():
        return None
    try:
        rows = json.loads(path.read_text())["results"]
        return [
            Row(
                r["hub"],
                r["env"],
                r["cluster"],
                r["result"],
                r.get("step") or "",
                r.get("error") or "",
                r.get("revision"),
            )
            for r in rows
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise FleetError(
            f"{path}: not a results file of `invoke deploy --results` ({exc})"
        ) from None


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_ERROR else line[: MAX_ERROR - 3] + "..."


def failure_message(
    rows: list[Row] | None, *, fleet: str, what: str, job_status: str, run_url: str
) -> str | None:
    """The chat message for a job that failed, or None when nothing failed."""
    bad = [r for r in rows or [] if r.result != "deployed"]
    if rows is not None and not bad and job_status in ("success", ""):
        return None
    lines = [f"{fleet}: deploy of {what} FAILED"]
    if rows is None:
        lines.append(f"the job ended ({job_status or 'failed'}) before it wrote any result")
    for row in bad:
        if row.result == "failed":
            lines.append(f"- {row.who}: failed at step {row.step}: {_short(row.error)}")
        else:
            lines.append(f"- {row.who}: skipped: {_short(row.error)}")
    if rows is not None and not bad:
        lines.append(f"every release deployed, but the job ended with status {job_status}")
    deployed = [r.who for r in rows or [] if r.result == "deployed"]
    if deployed:
        lines.append(f"deployed: {', '.join(deployed)}")
    if run_url:
        lines.append(f"run: {run_url}")
    return "\n".join(lines)


def summary_markdown(rows: list[Row] | None, what: str, run_url: str) -> str:
    """The job summary: a table of every release of the run."""
    if rows is None:
        return f"### deploy of {what}\n\nNo results were written: the job stopped before the end.\n"
    out = [f"### deploy of {what}", "", "| release | result | step | error |", "|---|---|---|---|"]
    for r in rows:
        error = _short(r.error).replace("|", "\\|")
        out.append(
            f"| {r.who} | {r.result} | {r.step if r.result != 'deployed' else ''} | {error} |"
        )
    if run_url:
        out += ["", f"[the run]({run_url})"]
    return "\n".join(out) + "\n"


def _post(url: str, body: dict, what: str, headers: dict[str, str] | None = None) -> None:
    """POST body as JSON; a failure names `what` (the setting), never the URL (it may be secret)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as exc:
        raise FleetError(f"{what}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FleetError(f"{what}: not reached ({reason})") from None


def post_webhook(url: str, text: str) -> None:
    if not url.startswith(("https://", "http://")):
        raise FleetError(f"{WEBHOOK}: not an http(s) URL")
    _post(url, {"text": text}, f"chat webhook ({WEBHOOK})")


def annotations(rows: list[Row], *, fleet: str, run_url: str, now_ms: int) -> list[dict]:
    """Grafana annotations (its HTTP API's body), one per deployed release."""
    found = []
    for r in rows:
        if r.result != "deployed":
            continue
        tags = ["hubfleet", "deploy", f"fleet:{fleet}", f"env:{r.env}", f"cluster:{r.cluster}"]
        tags += [f"hub:{r.hub}"] if r.hub else ["support"]
        revision = f" revision {r.revision}" if r.revision else ""
        text = f"{fleet}: deployed {r.who}{revision} on cluster {r.cluster}"
        found.append(
            {"time": now_ms, "tags": tags, "text": text + (f" ({run_url})" if run_url else "")}
        )
    return found


def post_annotations(url: str, token: str, items: list[dict]) -> None:
    if not url.startswith(("https://", "http://")):
        raise FleetError(f"{GRAFANA_URL}: not an http(s) URL: {url}")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    endpoint = url.rstrip("/") + "/api/annotations"
    for item in items:
        _post(endpoint, item, f"Grafana annotation ({GRAFANA_URL})", headers)


def notify(
    results: Path,
    *,
    fleet: str,
    what: str,
    job_status: str,
    run_url: str,
    settings: Settings,
) -> list[str]:
    """Do what the settings ask for; the lines that say what was done."""
    rows = read_results(results)
    done = []
    if settings.github_step_summary:
        with open(settings.github_step_summary, "a", encoding="utf-8") as summary:
            summary.write(summary_markdown(rows, what, run_url))
        done.append("job summary written")
    message = failure_message(rows, fleet=fleet, what=what, job_status=job_status, run_url=run_url)
    if message is None:
        done.append("nothing failed: no message")
    elif settings.webhook_url:
        post_webhook(settings.webhook_url, message)
        done.append("failure posted to the chat webhook")
    else:
        done.append(f"failure: no chat webhook ({WEBHOOK}) set, so the job summary only")
    if settings.grafana_url and rows:
        items = annotations(rows, fleet=fleet, run_url=run_url, now_ms=int(time.time() * 1000))
        post_annotations(settings.grafana_url, settings.grafana_token, items)
        done.append(f"{len(items)} Grafana annotation(s) posted")
    return ([message] if message else []) + done
