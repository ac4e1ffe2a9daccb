"""Unit tests of fleet.helm: the argv for helm 3 and 4, durations, labels, revision choice."""

import base64
import dataclasses
import gzip
import json
import re
from pathlib import Path

import pytest

from fleet.core.errors import FleetError
from fleet.tools import helm

RENDER = helm.Render(
    helm="helm",
    release="alpha-staging",
    chart="/repo/chart",
    values_files=(
        "/repo/hubs/alpha/values.yaml",
        "/repo/hubs/alpha/staging.yaml",
        "/tmp/x/secrets.yaml",
    ),
    secrets="/tmp/x/secrets.yaml",
    image_name="127.0.0.1:5000/hubfleet/default",
    image_tag="0123abcd",
)


def upgrade(major, rollback=True):
    return helm.upgrade_argv(
        RENDER,
        major=major,
        timeout="30s",
        rollback=rollback,
        labels={"fleet-commit": "abc", "fleet-image-tag": "0123abcd"},
        description="fleet: commit abc",
    )


def test_upgrade_argv_helm3_uses_atomic():
    argv = upgrade(3)
    assert argv[:8] == [
        "helm",
        "upgrade",
        "--install",
        "alpha-staging",
        "/repo/chart",
        "--namespace",
        "alpha-staging",
        "--create-namespace",
    ]
    assert "--atomic" in argv and "--rollback-on-failure" not in argv
    assert argv[argv.index("--timeout") + 1] == "30s"
    assert {"--wait", "--cleanup-on-fail"} <= set(argv)
    assert argv[argv.index("--labels") + 1] == "fleet-commit=abc,fleet-image-tag=0123abcd"


def test_upgrade_argv_helm4_uses_rollback_on_failure():
    argv = upgrade(4)
    assert "--rollback-on-failure" in argv and "--atomic" not in argv


def test_no_rollback_drops_the_flag_on_both():
    for major in (3, 4):
        argv = upgrade(major, rollback=False)
        assert "--atomic" not in argv and "--rollback-on-failure" not in argv
        assert "--wait" in argv


def test_values_order_common_env_secrets_and_image():
    argv = upgrade(4)
    values = [argv[i + 1] for i, a in enumerate(argv) if a == "--values"]
    assert values == list(RENDER.values_files)
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set-string"]
    assert sets == [
        "jupyterhub.singleuser.image.name=127.0.0.1:5000/hubfleet/default",
        "jupyterhub.singleuser.image.tag=0123abcd",
    ]


def test_no_image_sets_nothing():
    argv = helm.render_argv(dataclasses.replace(RENDER, image_name="", image_tag=""))
    assert "--set-string" not in argv


def test_dry_run_is_server_side_and_never_waits_or_records():
    argv = helm.dry_run_argv(RENDER)
    assert "--dry-run=server" in argv
    assert not {"--wait", "--atomic", "--rollback-on-failure", "--labels"} & set(argv)


def test_rollback_argv():
    assert helm.rollback_argv(helm="helm4", release="a-prod", revision=3, timeout="1m") == [
        "helm4",
        "rollback",
        "a-prod",
        "3",
        "--namespace",
        "a-prod",
        "--wait",
        "--timeout",
        "1m",
        "--cleanup-on-fail",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"), [("10m", 600), ("30s", 30), ("1h30m", 5400), ("2m5s", 125)]
)
def test_parse_timeout(text, seconds):
    assert helm.parse_timeout(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "ten minutes", "5d", "m"])
def test_parse_timeout_rejects(text):
    with pytest.raises(FleetError, match="timeout"):
        helm.parse_timeout(text)


def test_label_value():
    assert helm.label_value("a" * 40) == "a" * 40
    assert helm.label_value("sha256:" + "f" * 64) == ("sha256-" + "f" * 64)[:63]
    assert helm.label_value("1.0@sha256:ab") == "1.0-sha256-ab"


def test_last_good_revision():
    revisions = [
        {"revision": 1, "status": "superseded"},
        {"revision": 2, "status": "superseded"},
        {"revision": 3, "status": "failed"},
        {"revision": 4, "status": "deployed"},
        {"revision": 5, "status": "pending-upgrade"},
    ]
    assert helm.last_good_revision(revisions) == 4
    assert helm.last_good_revision(revisions, before=4) == 2
    assert helm.last_good_revision(revisions[2:3]) is None


def test_major_version_reads_the_binary(tmp_path):
    fake = tmp_path / "helm-fake"
    fake.write_text('#!/bin/sh\necho "v4.3.1"\n')
    fake.chmod(0o755)
    assert helm.major_version(str(fake)) == 4
    old = tmp_path / "helm-old"
    old.write_text('#!/bin/sh\necho "v2.17.0"\n')
    old.chmod(0o755)
    with pytest.raises(FleetError, match="helm 3 or 4"):
        helm.major_version(str(old))


def test_the_upgrade_reports_its_revision_as_json():
    argv = upgrade(4)
    assert argv[argv.index("--output") + 1] == "json"
    out = json.dumps({"version": 7, "info": {"status": "deployed"}, "config": {"x": 1}})
    assert helm.upgraded(out, "alpha-staging") == (7, "deployed")
    with pytest.raises(FleetError, match="helm upgrade of alpha-staging: no release"):
        helm.upgraded("Release upgraded", "alpha-staging")


def storage_secret(name: str, version: int, status: str, labels=None, values=None) -> dict:
    """A release as helm stores it: JSON, gzip, base64; then base64 again in the Secret's data."""
    release = {
        "name": name,
        "namespace": name,
        "version": version,
        "info": {"status": status, "last_deployed": "2026-11-22T18:00:00Z", "description": "d"},
        "config": values or {},
        "manifest": "kind: ConfigMap",
    }
    payload = base64.b64encode(gzip.compress(json.dumps(release).encode()))
    meta = {"name": f"sh.helm.release.v1.{name}.v{version}", "namespace": name}
    meta["labels"] = {"name": name, "owner": "helm", "status": status, "version": str(version)}
    meta["labels"] |= labels or {}
    return {"metadata": meta, "data": {"release": base64.b64encode(payload).decode()}}


def test_every_release_of_a_cluster_from_its_storage_secrets():
    image = {"jupyterhub": {"singleuser": {"image": {"name": "reg/default", "tag": "abc"}}}}
    items = [
        storage_secret("alpha-staging", 3, "failed", {"fleet-commit": "c3"}),
        storage_secret("alpha-staging", 2, "deployed", {"fleet-commit": "c2"}, image),
        storage_secret("support", 1, "deployed", {"fleet-commit": "s1", "fleet-dirty": "true"}),
    ]
    found = helm.releases_from(items)
    alpha = found[("alpha-staging", "alpha-staging")]
    assert (alpha["latest"]["revision"], alpha["latest"]["status"]) == (3, "failed")
    assert alpha["latest"]["commit"] == "c3" and alpha["latest"]["image"] == ""
    assert alpha["serving"]["revision"] == 2
    assert alpha["serving"]["image"] == "reg/default:abc"
    assert alpha["serving"]["updated"] == "2026-11-22T18:00:00Z"
    support = found[("support", "support")]
    assert support["latest"] is support["serving"] and support["latest"]["dirty"] is True
    assert set(support["latest"]) == {
        "revision",
        "status",
        "commit",
        "dirty",
        "image",
        "image_tag",
        "updated",
        "description",
    }
    # Only the releases asked for are decoded (each holds its whole chart).
    assert list(helm.releases_from(items, {("support", "support")})) == [("support", "support")]


def test_a_plan_reads_the_releases_from_their_metadata_alone():
    """Without images, the same rows come from the Secrets' metadata (no bodies decoded)."""
    items = [
        storage_secret("alpha-staging", 3, "failed", {"fleet-commit": "c3"}),
        storage_secret(
            "alpha-staging", 2, "deployed", {"fleet-commit": "c2", "fleet-dirty": "true"}
        ),
    ]
    for item in items:
        del item["data"]
        item["metadata"]["creationTimestamp"] = "2026-11-22T18:00:00Z"
    alpha = helm.releases_from(items)[("alpha-staging", "alpha-staging")]
    assert (alpha["latest"]["revision"], alpha["latest"]["commit"]) == (3, "c3")
    assert (alpha["serving"]["revision"], alpha["serving"]["dirty"]) == (2, True)
    assert alpha["serving"]["image"] == "" and alpha["serving"]["updated"] == "2026-11-22T18:00:00Z"


def test_no_module_but_helm_builds_a_helm_command_line():
    """fleet.helm owns every helm argv: a helm subcommand list anywhere else is a defect."""
    root = Path(__file__).resolve().parents[1]
    pattern = re.compile(
        r"\[\s*(?:helm_bin\(\)|[\w.]*helm\w*(?:\(\))?(?: or binary\(\))?)\s*,\s*"
        r"\"(?:upgrade|install|uninstall|rollback|history|get|template|dependency|repo|lint|show|list)\""
    )
    found = [
        f"{path.name}:{text[: m.start()].count(chr(10)) + 1}"
        for path in sorted(root.glob("fleet/**/*.py"))
        if path.name != "helm.py"
        for text in [path.read_text()]
        for m in pattern.finditer(text)
    ]
    assert found == []
    assert pattern.search('argv = [options.helm, "uninstall", name]')
    assert pattern.search('[helm_bin(), "lint", str(chart)]')
