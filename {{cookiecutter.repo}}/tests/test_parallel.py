"""Unit tests of fleet.parallel: which hub x env targets a multi-hub deploy takes, and how
results are reported. The deploys themselves run for real in tests/test_plan_e2e.py."""

import json
from pathlib import Path

import pytest
from helpers import FLEET_YAML, KUBECONFIG_CLUSTER, write

from fleet.core import config
from fleet.core.errors import FleetError
from fleet.core.runner import Runner
from fleet.core.target import Target
from fleet.plan import parallel
from fleet.release.deploy import DeployResult
from fleet.release.release import DeployOptions


@pytest.fixture
def fleet(tmp_path: Path) -> config.Fleet:
    write(tmp_path / "fleet.yaml", FLEET_YAML)
    write(tmp_path / "clusters/main/cluster.yaml", KUBECONFIG_CLUSTER)
    write(tmp_path / "clusters/edge/cluster.yaml", KUBECONFIG_CLUSTER)
    write(tmp_path / "hubs/alpha/hub.yaml", "cluster: main\n")
    write(tmp_path / "hubs/beta/hub.yaml", "cluster: edge\n")
    write(tmp_path / "hubs/gamma/hub.yaml", "cluster: main\nenvironments: [staging]\n")
    return config.load(tmp_path)


def labels(targets) -> list[str]:
    return [t.label for t in targets]


def test_hubs_all_and_cluster(fleet):
    assert labels(parallel.targets_from(fleet, hubs=["beta", "alpha", "beta"], env="prod")) == [
        "beta/prod",
        "alpha/prod",
    ]
    assert labels(parallel.targets_from(fleet, everything=True, env="prod")) == [
        "alpha/prod",
        "beta/prod",
    ]
    chosen = parallel.targets_from(fleet, everything=True, env="staging", cluster="main")
    assert labels(chosen) == ["alpha/staging", "gamma/staging"]


def test_support_of_every_cluster_or_one_and_never_with_prod_alone(fleet):
    assert labels(parallel.support_from(fleet, support=True)) == ["edge/support", "main/support"]
    assert labels(parallel.support_from(fleet, support=True, cluster="main")) == ["main/support"]
    assert parallel.support_from(fleet, support=True, env="prod") == []
    with pytest.raises(FleetError, match="unknown cluster 'far'"):
        parallel.support_from(fleet, support=True, cluster="far")


def test_a_plan_file_filtered_by_env(fleet, tmp_path):
    plan = write(
        tmp_path / "plan.json",
        json.dumps(
            {
                "deploy": [
                    {"hub": "alpha", "env": "staging", "reasons": []},
                    {"hub": "beta", "env": "prod", "reasons": []},
                ],
                "build": [],
            }
        ),
    )
    assert labels(parallel.targets_from(fleet, plan_file=str(plan))) == [
        "alpha/staging",
        "beta/prod",
    ]
    assert labels(parallel.targets_from(fleet, plan_file=str(plan), env="prod")) == ["beta/prod"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "name the hubs to deploy"),
        ({"hubs": ["alpha"], "everything": True, "env": "prod"}, "name the hubs to deploy"),
        ({"hubs": ["alpha"]}, "--env is required"),
        ({"hubs": ["nope"], "env": "prod"}, "unknown hub 'nope'; valid hubs: alpha, beta, gamma"),
        ({"hubs": ["gamma"], "env": "prod"}, "unknown env 'prod' for hub 'gamma'"),
        ({"hubs": ["alpha"], "env": "dev"}, "unknown env 'dev'; valid envs: staging, prod"),
        ({"everything": True, "env": "prod", "cluster": "far"}, "unknown cluster 'far'"),
    ],
)
def test_mistakes_are_caught_before_any_deploy(fleet, kwargs, message):
    with pytest.raises(FleetError, match=message):
        parallel.targets_from(fleet, **kwargs)


def test_a_plan_file_that_is_not_a_plan(fleet, tmp_path):
    bad = write(tmp_path / "plan.json", "[1, 2]")
    with pytest.raises(FleetError, match="not a plan"):
        parallel.targets_from(fleet, plan_file=str(bad))


def test_jobs_must_be_positive(fleet):
    with pytest.raises(FleetError, match="--jobs 0"):
        target = Target.of_hub(fleet, "alpha", "prod")
        parallel.deploy_many(fleet, [target], DeployOptions(), Runner(echo=False), jobs=0)


def test_summary_and_github_report(fleet, tmp_path):
    results = [
        DeployResult(Target.of_hub(fleet, "alpha", "staging"), ok=True, revision=3, image="r/i:t"),
        DeployResult(
            Target.of_hub(fleet, "beta", "staging"),
            ok=False,
            step="rollout",
            error="pod Pending\nmore",
        ),
        parallel._skipped(
            Target.of_hub(fleet, "beta", "prod"), "staging hub beta of cluster main failed"
        ),
    ]
    text = parallel.summary(results)
    assert "ok      alpha/staging: deployed revision 3" in text
    assert "FAILED  beta/staging: FAILED at step rollout: pod Pending" in text
    assert "SKIPPED beta/prod: skipped: staging hub beta of cluster main failed" in text
    assert text.endswith("1 deployed, 1 failed, 1 skipped")
    summary = tmp_path / "summary.md"
    out = tmp_path / "out.txt"
    with open(out, "w") as handle:
        parallel.report_to_github(
            results, {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}, handle
        )
    assert out.read_text() == (
        "::error title=deploy beta/staging failed at rollout::pod Pending%0Amore\n"
        "::error title=deploy beta/prod skipped::staging hub beta of cluster main failed\n"
    )
    assert "| beta | staging | ❌ failed | failed at rollout: pod Pending |" in summary.read_text()


def test_an_earlier_runs_results_hold_back_their_clusters_only(fleet, tmp_path):
    """The workflow's prod job: what staging's `--results` recorded decides, cluster by cluster."""
    earlier = [
        DeployResult(Target.support(fleet, "main"), ok=True, revision=2),
        DeployResult(
            Target.of_hub(fleet, "alpha", "staging"),
            ok=False,
            step="health check",
            error="no kernel",
        ),
        DeployResult(Target.of_hub(fleet, "beta", "staging"), ok=True, revision=4),
    ]
    path = tmp_path / "results.json"
    path.write_text(parallel.results_json(earlier))
    written = json.loads(path.read_text())
    assert written["peak_memory_mb"] > 10  # this test process's own, in megabytes
    rows = written["results"]
    assert [(r["cluster"], r["hub"], r["env"], r["result"]) for r in rows] == [
        ("main", None, "support", "deployed"),
        ("main", "alpha", "staging", "failed"),
        ("edge", "beta", "staging", "deployed"),
    ]
    assert parallel.blocked_by(fleet, str(path)) == {
        "main": "staging hub alpha of cluster main failed (results.json)"
    }
    # The held-back cluster's hubs are skipped without being tried; nothing runs at all here.
    results = parallel.deploy_many(
        fleet,
        [Target.of_hub(fleet, "alpha", "prod")],
        DeployOptions(build=False),
        Runner(echo=False, dry_run=True),
        blocked=parallel.blocked_by(fleet, str(path)),
    )
    assert [(r.target.label, r.skipped, r.error) for r in results] == [
        ("alpha/prod", True, "staging hub alpha of cluster main failed (results.json)")
    ]
    skipped_support = [parallel._skipped(Target.support(fleet, "edge"), "x")]
    path.write_text(parallel.results_json(skipped_support))
    assert parallel.blocked_by(fleet, str(path)) == {
        "edge": "the support deploy of cluster edge was skipped (results.json)"
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "no such results file"),
        ("[]", "not a results file of `invoke deploy --results`"),
        (
            '{"results": [{"cluster": "moon", "env": "staging", "hub": "x", "result": "failed"}]}',
            "a result on unknown cluster 'moon'",
        ),
    ],
)
def test_a_bad_results_file_is_named(fleet, tmp_path, text, message):
    path = tmp_path / "staging.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(FleetError, match=message) as caught:
        parallel.blocked_by(fleet, str(path))
    assert str(caught.value).startswith(str(path))
