"""Unit tests of fleet.plan: rules applied to a fleet, labels, unknown bases, the live-release plan."""

import json
import subprocess
from pathlib import Path

import pytest
from helpers import FLEET_YAML, KUBECONFIG_CLUSTER, write

from fleet.core import config
from fleet.core.errors import FleetError
from fleet.core.runner import Runner
from fleet.plan import plan, report
from fleet.tools.git import Git


@pytest.fixture
def fleet(tmp_path: Path) -> config.Fleet:
    """alpha, beta on cluster main (image default); gamma on cluster edge (image other, staging only);
    delta on main with an external image."""
    write(tmp_path / "fleet.yaml", FLEET_YAML)
    write(tmp_path / "clusters/main/cluster.yaml", KUBECONFIG_CLUSTER)
    write(
        tmp_path / "clusters/edge/cluster.yaml",
        "provider: gcp\ngcp: {project: my-project, cluster: edge, location: europe-west1}\n",
    )
    for image in ("default", "other"):
        write(tmp_path / f"images/{image}/Dockerfile", f"FROM {image}\n")
    write(tmp_path / "hubs/alpha/hub.yaml", "cluster: main\nimage: default\n")
    write(tmp_path / "hubs/beta/hub.yaml", "cluster: main\nimage: default\n")
    write(
        tmp_path / "hubs/gamma/hub.yaml", "cluster: edge\nimage: other\nenvironments: [staging]\n"
    )
    write(tmp_path / "hubs/delta/hub.yaml", "cluster: main\nexternal_image: quay.io/a/b:1\n")
    return config.load(tmp_path)


EVERY = {(h, e) for h in ("alpha", "beta", "delta") for e in ("staging", "prod")} | {
    ("gamma", "staging")
}


def pairs(p: plan.Plan) -> set[tuple[str, str]]:
    return set(p.deploy)


# -- every rule, applied to the fleet -----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "deploy", "build"),
    [
        ("hubs/alpha/values.yaml", {("alpha", "staging"), ("alpha", "prod")}, set()),
        ("hubs/alpha/hub.yaml", {("alpha", "staging"), ("alpha", "prod")}, set()),
        ("hubs/alpha/prod.yaml", {("alpha", "prod")}, set()),
        ("hubs/alpha/secrets/staging.yaml", {("alpha", "staging")}, set()),
        ("hubs/alpha/secrets/extra.yaml", {("alpha", "staging"), ("alpha", "prod")}, set()),
        ("hubs/gamma/prod.yaml", set(), set()),  # gamma has no prod environment
        (
            "clusters/main/cluster.yaml",
            {(h, e) for h in ("alpha", "beta", "delta") for e in ("staging", "prod")},
            set(),
        ),
        ("clusters/edge/secrets/kubeconfig.yaml", {("gamma", "staging")}, set()),
        (
            "images/default/requirements.txt",
            {(h, e) for h in ("alpha", "beta") for e in ("staging", "prod")},
            {"default"},
        ),
        ("images/other/Dockerfile", {("gamma", "staging")}, {"other"}),
        ("chart/values.yaml", EVERY, set()),
        ("chart/templates/extra.yaml", EVERY, set()),
        ("fleet/deploy.py", EVERY, set()),
        ("tasks/deploy.py", EVERY, set()),
        ("requirements.txt", EVERY, set()),
        ("fleet.yaml", EVERY, set()),
        (".sops.yaml", EVERY, set()),
        ("README.md", set(), set()),
        ("hubs/alpha/README.md", set(), set()),
        ("docs/index.md", set(), set()),
        (".github/workflows/plan.yaml", set(), set()),
        ("noxfile.py", set(), set()),
        ("tests/test_x.py", set(), set()),
        ("somewhere/new.cfg", EVERY, set()),
    ],
)
def test_a_changed_path_plans_what_its_rule_says(fleet, path, deploy, build):
    result = plan.plan_paths(fleet, [path])
    assert pairs(result) == deploy
    assert set(result.build) == build


def test_an_unclassified_path_plans_every_hub_saying_so(fleet):
    result = plan.plan_paths(fleet, ["Makefile", "hubs/alpha/values.yaml"])
    assert pairs(result) == EVERY
    assert result.deploy[("beta", "prod")] == ["unclassified path: Makefile"]
    assert "unclassified path: Makefile" in result.deploy[("alpha", "staging")]


def test_reasons_name_the_path_and_count_the_rest(fleet):
    paths = [f"hubs/alpha/file{i}.yaml" for i in range(3)]
    result = plan.plan_paths(fleet, paths)
    assert result.deploy[("alpha", "staging")] == [
        "hub alpha changed: hubs/alpha/file0.yaml (+2 more)"
    ]


def test_env_filter(fleet):
    result = plan.plan_paths(fleet, ["chart/values.yaml"], envs=["prod"])
    assert pairs(result) == {(h, "prod") for h in ("alpha", "beta", "delta")}


def test_removed_hub_cluster_or_image_is_a_note_not_a_deploy(fleet):
    result = plan.plan_paths(
        fleet, ["hubs/gone/values.yaml", "clusters/old/cluster.yaml", "images/retired/Dockerfile"]
    )
    assert result.deploy == {} and result.build == {}
    assert len(result.notes) == 3 and "gone" in result.notes[0]


def test_json_shape_is_ready_for_a_matrix(fleet):
    data = plan.plan_paths(fleet, ["images/other/Dockerfile"]).as_data(
        fleet, lambda image: "t-" + image
    )
    assert data == {
        "support": [],
        "deploy": [
            {
                "hub": "gamma",
                "env": "staging",
                "reasons": ["image other changed: images/other/Dockerfile"],
                "cluster": "edge",
                "provider": "gcp",
            }
        ],
        "build": [
            {
                "image": "other",
                "tag": "t-other",
                "reasons": ["image other changed: images/other/Dockerfile"],
            }
        ],
        "jobs": {"staging": [{"cluster": "edge", "provider": "gcp", "after": ""}], "prod": []},
    }
    json.dumps(data)


def test_the_workflow_matrices_name_each_cluster_once_per_environment(fleet):
    """Support rides with staging; prod on a cluster waits for that cluster's staging only."""
    data = plan.plan_paths(fleet, ["clusters/edge/support.yaml", "hubs/alpha/prod.yaml"]).as_data(
        fleet, str
    )
    assert data["jobs"] == {
        "staging": [{"cluster": "edge", "provider": "gcp", "after": ""}],
        "prod": [{"cluster": "main", "provider": "kubeconfig", "after": ""}],
    }
    data = plan.plan_paths(fleet, ["fleet/deploy.py"]).as_data(fleet, str)
    assert data["jobs"] == {
        "staging": [
            {"cluster": "edge", "provider": "gcp", "after": ""},
            {"cluster": "main", "provider": "kubeconfig", "after": ""},
        ],
        # gamma (edge) is staging only: no prod job on edge.
        "prod": [{"cluster": "main", "provider": "kubeconfig", "after": "staging"}],
    }
    prod_only = plan.plan_paths(fleet, ["fleet/deploy.py"], envs=["prod"]).as_data(fleet, str)
    assert prod_only["jobs"] == {
        "staging": [],
        "prod": [{"cluster": "main", "provider": "kubeconfig", "after": ""}],
    }


@pytest.mark.parametrize(
    ("path", "support", "hubs"),
    [
        # The shared support chart: its release on every cluster, no hub.
        ("support/values.yaml", {"edge", "main"}, set()),
        # A cluster's support values or secrets: that cluster's support only.
        ("clusters/main/support.yaml", {"main"}, set()),
        ("clusters/edge/secrets/support.yaml", {"edge"}, set()),
        # cluster.yaml: its support and all its hubs; "main" never matches "edge" or "main-2".
        ("clusters/main/cluster.yaml", {"main"}, {"alpha", "beta", "delta"}),
        # The deploy package: everything.
        ("fleet/deploy.py", {"edge", "main"}, {"alpha", "beta", "gamma", "delta"}),
        ("hubs/alpha/values.yaml", set(), {"alpha"}),
    ],
)
def test_the_plan_knows_each_clusters_support(fleet, path, support, hubs):
    planned = plan.plan_paths(fleet, [path])
    assert set(planned.support) == support
    assert {hub for hub, _ in planned.deploy} == hubs


def test_support_goes_with_the_first_environment_only(fleet):
    assert set(plan.plan_paths(fleet, ["support/Chart.yaml"], envs=["staging"]).support) == {
        "edge",
        "main",
    }
    assert plan.plan_paths(fleet, ["support/Chart.yaml"], envs=["prod"]).support == {}


def test_support_entries_in_the_json(fleet):
    data = plan.plan_paths(fleet, ["clusters/edge/support.yaml"]).as_data(fleet, str)
    assert data["support"] == [
        {
            "cluster": "edge",
            "provider": "gcp",
            "reasons": ["support values of edge changed: clusters/edge/support.yaml"],
        }
    ]


def test_json_lists_staging_before_prod(fleet):
    data = plan.plan_paths(fleet, ["chart/values.yaml"]).as_data(fleet, str)
    envs = [d["env"] for d in data["deploy"]]
    assert envs == sorted(envs, key=["staging", "prod"].index)


# -- labels ----------------------------------------------------------------------------------------


def test_labels(fleet, tmp_path):
    assert plan.check_labels(["bug", "deploy:skip"]) == "deploy:skip"
    assert plan.check_labels(["deploy:all"]) == "deploy:all"
    assert plan.check_labels(["docs"]) is None
    with pytest.raises(FleetError, match="contradict"):
        plan.check_labels(["deploy:all", "deploy:skip"])


def test_label_skip_plans_nothing_and_label_all_plans_everything(fleet, tmp_path):
    git_repo(tmp_path)
    runner = Runner(echo=False)
    skip = plan.make_plan(fleet, Git(fleet.root, runner), base="HEAD~1", labels=["deploy:skip"])
    assert skip.deploy == {} and skip.build == {}
    every = plan.make_plan(fleet, Git(fleet.root, runner), base="HEAD~1", labels=["deploy:all"])
    assert pairs(every) == EVERY
    assert set(every.build) == {"default", "other"}
    assert every.deploy[("alpha", "prod")] == ["label deploy:all"]


# -- git: real commits in a temporary repository ------------------------------------------------


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def git_repo(root: Path) -> list[str]:
    """Two commits: everything, then a change to beta's values. Returns [first, second] SHAs."""
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.org")
    git(root, "config", "user.name", "t")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "fleet")
    first = git(root, "rev-parse", "HEAD")
    write(root / "hubs/beta/values.yaml", "jupyterhub: {}\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "beta values")
    return [first, git(root, "rev-parse", "HEAD")]


def test_plan_between_two_commits(fleet, tmp_path):
    first, _ = git_repo(tmp_path)
    result = plan.make_plan(fleet, Git(fleet.root, Runner(echo=False)), base=first)
    assert pairs(result) == {("beta", "staging"), ("beta", "prod")}
    assert result.deploy[("beta", "prod")] == ["hub beta changed: hubs/beta/values.yaml"]


def test_a_rename_counts_both_paths(fleet, tmp_path):
    _, second = git_repo(tmp_path)
    git(tmp_path, "mv", "hubs/beta/values.yaml", "hubs/alpha/values.yaml")
    git(tmp_path, "commit", "-q", "-m", "move")
    result = plan.make_plan(fleet, Git(fleet.root, Runner(echo=False)), base=second)
    assert {h for h, _ in result.deploy} == {"alpha", "beta"}


@pytest.mark.parametrize("base", ["0123456789abcdef0123456789abcdef01234567", "0" * 40])
def test_an_unknown_base_commit_plans_every_hub_and_says_why(fleet, tmp_path, base):
    git_repo(tmp_path)
    result = plan.make_plan(fleet, Git(fleet.root, Runner(echo=False)), base=base)
    assert pairs(result) == EVERY
    assert set(result.build) == {"default", "other"}
    reason = result.deploy[("alpha", "staging")][0]
    assert ("not found" in reason or "new branch" in reason) and "every hub" in reason
    assert result.notes == [reason]


@pytest.mark.parametrize("base", ["no-such-branch", "origin/main", "HEAD^2", "main@{9}"])
def test_a_base_that_names_nothing_is_an_error_naming_it(fleet, tmp_path, base):
    git_repo(tmp_path)
    with pytest.raises(FleetError) as failed:
        plan.make_plan(fleet, Git(fleet.root, Runner(echo=False)), base=base)
    message = str(failed.value)
    assert f"base {base!r}" in message and "\n" not in message
    assert "no commit, branch or tag" in message


@pytest.mark.parametrize("base", ["HEAD~1", "HEAD^", "main~3"])
def test_a_base_before_the_first_commit_says_every_hub_is_new(fleet, tmp_path, base):
    git_repo(tmp_path)
    git(tmp_path, "reset", "-q", "--soft", "HEAD~1")  # one commit left: the repository's first
    git(tmp_path, "commit", "-q", "--amend", "-m", "fleet")
    result = plan.make_plan(fleet, Git(fleet.root, Runner(echo=False)), base=base)
    assert pairs(result) == EVERY
    reason = result.deploy[("alpha", "staging")][0]
    assert "first commit" in reason and "every hub is new" in reason
    assert "force-push" not in reason and "shallow" not in reason
    assert result.notes == [reason]
    # The first deploy of a repository brings each cluster's support too, before its hubs.
    assert result.support == {"edge": [reason], "main": [reason]}
    prod_only = plan.make_plan(fleet, Git(fleet.root, Runner(echo=False)), base=base, envs=["prod"])
    assert prod_only.support == {}


def test_plan_json_carries_the_notes_the_table_prints(fleet, tmp_path, capsys):
    """A removed hub's note (its releases keep serving until retired) is in --json too."""
    git_repo(tmp_path)
    git(tmp_path, "rm", "-q", "-r", "hubs/delta")
    git(tmp_path, "commit", "-q", "-m", "delta leaves")
    data = plan.run(tmp_path, base="HEAD~1", as_json=True)
    printed = json.loads(capsys.readouterr().out)
    assert printed["notes"] == data["notes"]
    assert len(printed["notes"]) == 1
    assert printed["notes"][0].startswith(
        "hub 'delta' is not in the repository (removed or renamed)"
    )
    assert "`invoke retire --hub delta --env ENV`" in printed["notes"][0]


def test_a_base_past_the_first_commit_of_a_longer_history(fleet, tmp_path):
    git_repo(tmp_path)
    result = plan.make_plan(fleet, Git(fleet.root, Runner(echo=False)), base="HEAD~2")
    reason = result.deploy[("alpha", "staging")][0]
    assert pairs(result) == EVERY and "before the first commit" in reason


def test_an_unknown_head_is_an_error(fleet, tmp_path):
    git_repo(tmp_path)
    with pytest.raises(FleetError, match="head commit"):
        plan.make_plan(fleet, Git(fleet.root, Runner(echo=False)), base="HEAD~1", head="nope")


# -- against the live releases ----------------------------------------------------------------------


def test_plan_deployed_compares_each_hub_with_its_release(fleet, tmp_path):
    first, second = git_repo(tmp_path)
    live = {
        ("alpha", "staging"): {"status": "deployed", "commit": second, "revision": 3},
        ("alpha", "prod"): {"status": "deployed", "commit": first, "revision": 2},
        ("beta", "staging"): {"status": "deployed", "commit": first, "revision": 5},
        ("beta", "prod"): {"status": "failed", "commit": second, "revision": 6},
        ("gamma", "staging"): None,
        ("delta", "staging"): {"status": "deployed", "commit": "f" * 40, "revision": 1},
        ("delta", "prod"): {"status": "deployed", "commit": None, "revision": 1},
    }
    result = plan.plan_deployed(
        fleet, Git(fleet.root, Runner(echo=False)), lambda hub, env: live[(hub.name, env)]
    )
    assert result.deploy == {
        ("beta", "staging"): ["hub beta changed: hubs/beta/values.yaml"],
        ("beta", "prod"): ["last deploy failed (revision 6)"],
        ("gamma", "staging"): ["never deployed"],
        ("delta", "staging"): [
            f"deployed commit {'f' * 40} not found (force-push or shallow clone?)"
        ],
        ("delta", "prod"): ["no commit recorded on the live release"],
    }
    # beta's and gamma's images are built as their hubs are planned without a usable base.
    assert set(result.build) == {"default", "other"}


def test_plan_deployed_up_to_date_plans_nothing(fleet, tmp_path):
    _, second = git_repo(tmp_path)
    result = plan.plan_deployed(
        fleet,
        Git(fleet.root, Runner(echo=False)),
        lambda hub, env: {"status": "deployed", "commit": second, "revision": 1},
    )
    assert result.deploy == {} and result.build == {}


def test_plan_deployed_compares_each_clusters_support_with_its_release(fleet, tmp_path):
    """The deploy workflow plans with --base deployed: support changes must reach it too."""
    _, second = git_repo(tmp_path)
    write(tmp_path / "clusters/edge/support.yaml", "grafana: {enabled: false}\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "edge support")
    up_to_date = lambda hub, env: {"status": "deployed", "commit": second, "revision": 1}  # noqa: E731
    live = {"edge": {"status": "deployed", "commit": second, "revision": 2}, "main": None}
    result = plan.plan_deployed(
        fleet, Git(fleet.root, Runner(echo=False)), up_to_date, support_of=live.get
    )
    assert result.support == {
        "edge": ["support values of edge changed: clusters/edge/support.yaml"],
        "main": ["never deployed"],
    }
    # A cluster whose support runs the head commit plans nothing; a prod-only plan carries none.
    head = git(tmp_path, "rev-parse", "HEAD")
    live = {c: {"status": "deployed", "commit": head, "revision": 3} for c in ("edge", "main")}
    git_ = Git(fleet.root, Runner(echo=False))
    assert plan.plan_deployed(fleet, git_, up_to_date, support_of=live.get).support == {}
    failed = {"edge": {"status": "failed", "commit": head, "revision": 4}, "main": None}
    prod = plan.plan_deployed(fleet, git_, up_to_date, envs=["prod"], support_of=failed.get)
    assert prod.support == {}
    staging = plan.plan_deployed(fleet, git_, up_to_date, envs=["staging"], support_of=failed.get)
    assert staging.support == {
        "edge": ["last deploy failed (revision 4)"],
        "main": ["never deployed"],
    }


# -- output ------------------------------------------------------------------------------------------


def test_markdown_starts_with_the_marker_and_has_a_table(fleet):
    data = plan.plan_paths(fleet, ["images/other/Dockerfile"]).as_data(fleet, lambda i: "abc")
    text = report.plan_markdown(data, notes=["a note"], diffs={("gamma", "staging"): "-a\n+b\n"})
    assert text.startswith("<!-- deployment-plan -->\n")
    assert "| gamma | staging | edge |" in text
    assert "| other | `abc` |" in text
    assert "<details><summary>gamma (staging)" in text and "```diff\n-a\n+b\n```" in text
    assert "a note" in text


def test_markdown_of_an_empty_plan_says_nothing_to_deploy(fleet):
    text = report.plan_markdown({"deploy": [], "build": []}, notes=[], diffs={})
    assert "Nothing to deploy" in text and "Nothing to build" in text


def test_a_deploy_is_uncommitted_only_for_changes_it_reads(fleet):
    """The deploy job downloads plan.json into its checkout and writes its results there: those
    new files make no deploy "uncommitted" (which would plan the hub again on every push)."""
    git_repo(fleet.root)
    repo = Git(fleet.root, Runner(echo=False))
    head = git(fleet.root, "rev-parse", "HEAD")
    assert repo.head() == (head, False)
    for scratch in ("plan.json", "results-staging-main.json"):
        write(fleet.root / scratch, "{}\n")
    assert repo.head() == (head, False)
    write(fleet.root / "hubs/beta/staging.yaml", "jupyterhub: {}\n")  # new, under hubs/
    assert repo.head() == (head, True)
    (fleet.root / "hubs/beta/staging.yaml").unlink()
    write(fleet.root / "hubs/beta/values.yaml", "jupyterhub: {hub: {}}\n")  # tracked, changed
    assert repo.head() == (head, True)
