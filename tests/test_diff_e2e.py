"""End to end: a generated repo's own `invoke diff --exit-code` against a live release in the
local kwok cluster, with the real chart, helm and sops.

Its hub (`differ`) runs an image built elsewhere, so no image is built and the base image is not
needed. The hub is this module's own: deployed here, removed at the end.
"""

from __future__ import annotations

import subprocess

import pytest
from generated import LocalStack, local_repo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

HUB, ENV = "differ", "staging"
EXTERNAL = "quay.io/jupyter/base-notebook:2025-03-14"


@pytest.fixture(scope="module")
def repo(tmp_path_factory, kubeconfig, registry, chart_repo, age_key, helm4, chart_mirror):
    stack = LocalStack(kubeconfig, registry, chart_repo, "", age_key, helm4, chart_mirror)
    result = local_repo(tmp_path_factory.mktemp("diff-e2e"), stack, org="Diff", hubs=HUB)
    (result.path / "hubs" / HUB / "hub.yaml").write_text(
        f"cluster: main\nexternal_image: {EXTERNAL}\n"
    )
    result.commit("e2e: sqlite-memory hub database; an external image")
    with result.own_releases():
        result.invoke("deploy", "--hub", HUB, "--env", ENV)
        yield result


def diff(repo, *args: str):
    return repo.invoke("diff", "--hub", HUB, "--env", ENV, *args, check=False)


def test_exit_code_0_when_the_live_release_is_the_work_tree(repo):
    same = diff(repo, "--exit-code")
    assert same.returncode == 0, same.output
    assert same.stdout.strip() == f"{HUB}/{ENV}: no changes"


def test_exit_code_1_when_there_are_differences_and_0_without_the_flag(repo):
    values = repo.path / "hubs" / HUB / "values.yaml"
    before = values.read_text()
    repo.edit_values(HUB, lambda v: v.setdefault("singleuser", {}).update(defaultUrl="/tree"))
    try:
        changed = diff(repo, "--exit-code")
        plain = diff(repo)
    finally:
        values.write_text(before)
    assert changed.returncode == 1, changed.output
    assert f"+++ {HUB}-{ENV} upgrade (work tree)" in changed.stdout
    assert any(line.startswith("+") and "/tree" in line for line in changed.stdout.splitlines())
    assert plain.returncode == 0, plain.output
    assert plain.stdout == changed.stdout


def test_exit_code_2_on_an_error_one_line_naming_the_hub(repo):
    failed = repo.invoke("diff", "--hub", "nosuchhub", "--env", ENV, "--exit-code", check=False)
    assert failed.returncode == 2, failed.output
    assert failed.stdout == ""
    errors = failed.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and "nosuchhub" in errors[0]


RENDER = (
    "from fleet.tools import chart; from fleet.core import config; from fleet.core.runner import Runner; "
    "from fleet.core.target import Target; "
    "print(chart.render(Target.of_hub(config.load(), 'differ', 'staging'), Runner(echo=False))[0])"
)


def test_a_render_of_the_real_chart_is_the_same_twice(repo):
    """The chart makes the secrets it is not given with `lookup`, random on every `helm
    template`; the hub's secrets give them all, so nox -s templates and the plan's review are
    stable."""
    renders = []
    for _ in range(2):
        proc = subprocess.run(
            ["python", "-c", RENDER],
            cwd=repo.path,
            env=repo.env_for_python(),
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        renders.append(proc.stdout)
    assert renders[0] == renders[1]
    assert "hub.config.CryptKeeper.keys:" in renders[0]
    assert "kind: Deployment" in renders[0] and "name: user-scheduler" in renders[0]
    # Every chart image is named under the mirror, none under the chart's own registries.
    images = {
        line.split("image:", 1)[1].strip() for line in renders[0].splitlines() if "image:" in line
    }
    images.discard("")  # `image:` keys holding a mapping
    assert images and all(
        i.startswith(repo.mirror) or EXTERNAL.split(":")[0] in i for i in images
    ), images
