"""Unit tests of fleet.notify's texts: the chat message, the job summary, the annotations."""

import json

import pytest

from fleet.core.errors import FleetError
from fleet.ops import notify

ROWS = [
    notify.Row(None, "support", "main", "deployed", revision=4),
    notify.Row("ada", "staging", "main", "failed", "rollout", "pod hub-1: CrashLoopBackOff\nmore"),
    notify.Row("bob", "staging", "main", "skipped", "", "staging hub ada of cluster main failed"),
    notify.Row("cy", "staging", "main", "deployed", revision=12),
]


def test_a_failure_names_each_hub_and_step_then_the_run():
    text = notify.failure_message(
        ROWS, fleet="uni-hubs", what="staging on cluster main", job_status="failure", run_url="U"
    )
    assert text.splitlines() == [
        "uni-hubs: deploy of staging on cluster main FAILED",
        "- ada/staging: failed at step rollout: pod hub-1: CrashLoopBackOff more",
        "- bob/staging: skipped: staging hub ada of cluster main failed",
        "deployed: support of cluster main, cy/staging",
        "run: U",
    ]


def test_nothing_failed_means_no_message_and_a_missing_results_file_is_a_failure(tmp_path):
    fine = [r for r in ROWS if r.result == "deployed"]
    assert (
        notify.failure_message(fine, fleet="f", what="w", job_status="success", run_url="") is None
    )
    missing = notify.read_results(tmp_path / "results.json")
    text = notify.failure_message(missing, fleet="f", what="w", job_status="failure", run_url="")
    assert "the job ended (failure) before it wrote any result" in text


def test_a_long_error_is_cut_to_one_short_line():
    row = notify.Row("ada", "prod", "main", "failed", "helm upgrade", "x" * 1000)
    text = notify.failure_message([row], fleet="f", what="w", job_status="failure", run_url="")
    line = text.splitlines()[1]
    assert line.endswith("...") and len(line) < notify.MAX_ERROR + 50


def test_the_summary_is_a_table_of_every_release():
    table = notify.summary_markdown(ROWS, "prod on cluster main", "U")
    assert "| ada/staging | failed | rollout | pod hub-1: CrashLoopBackOff more |" in table
    assert "| cy/staging | deployed |  |  |" in table
    assert table.rstrip().endswith("[the run](U)")


def test_one_annotation_per_deployed_release_tagged_for_grafana_filters():
    items = notify.annotations(ROWS, fleet="uni-hubs", run_url="", now_ms=1000)
    assert [i["text"] for i in items] == [
        "uni-hubs: deployed support of cluster main revision 4 on cluster main",
        "uni-hubs: deployed cy/staging revision 12 on cluster main",
    ]
    assert items[1]["tags"] == [
        "hubfleet",
        "deploy",
        "fleet:uni-hubs",
        "env:staging",
        "cluster:main",
        "hub:cy",
    ]
    assert items[0]["time"] == 1000


def test_a_file_that_is_not_results_is_one_line_naming_it(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"deploy": []}))
    with pytest.raises(FleetError, match=r"plan.json: not a results file"):
        notify.read_results(path)


def test_a_webhook_setting_that_is_not_a_url_is_refused_without_echoing_it():
    with pytest.raises(FleetError) as caught:
        notify.post_webhook("hooks.example/T000/SECRET", "text")
    assert "SECRET" not in str(caught.value)
    assert "FLEET_WEBHOOK_URL" in str(caught.value)
