"""Unit tests of fleet.config, fleet.redact and fleet.runner: pure functions over files and data."""

import sys
import time
from pathlib import Path

import pytest
from helpers import FLEET_YAML, KUBECONFIG_CLUSTER, write

from fleet.core import config
from fleet.core.errors import FleetError, StepFailed, Stopped
from fleet.core.redact import REDACTED, redact_text, secret_strings
from fleet.core.runner import Runner


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write(tmp_path / "fleet.yaml", FLEET_YAML)
    write(tmp_path / "clusters/main/cluster.yaml", KUBECONFIG_CLUSTER)
    write(tmp_path / "images/default/Dockerfile", "FROM x\n")
    write(tmp_path / "hubs/alpha/hub.yaml", "cluster: main\nimage: default\n")
    write(
        tmp_path / "hubs/beta/hub.yaml",
        "cluster: main\nexternal_image: quay.io/a/b:1.0\nenvironments: [staging]\n",
    )
    write(tmp_path / "hubs/alpha/values.yaml", "jupyterhub: {}\n")
    write(tmp_path / "hubs/alpha/staging.yaml", "jupyterhub: {}\n")
    return tmp_path


def test_load_reads_hubs_clusters_and_images(repo):
    fleet = config.load(repo)
    assert sorted(fleet.hubs) == ["alpha", "beta"]
    assert fleet.hub("alpha").image == "default"
    assert fleet.hub("beta").external_image == "quay.io/a/b:1.0"
    assert fleet.hub("beta").environments == ("staging",)
    assert fleet.hub("alpha").environments == ("staging", "prod")
    assert fleet.clusters["main"].settings == {"path": "/k"}
    assert fleet.images == ("default",)


def test_load_from_a_subfolder_finds_the_root(repo):
    assert config.load(repo / "hubs" / "alpha").root == repo.resolve()


def test_values_files_are_common_then_env(repo):
    hub = config.load(repo).hub("alpha")
    assert [p.name for p in hub.values_files("staging")] == ["values.yaml", "staging.yaml"]
    assert [p.name for p in hub.values_files("prod")] == ["values.yaml"]
    assert hub.release("prod") == "alpha-prod"


def test_unknown_hub_lists_valid_ones(repo):
    with pytest.raises(FleetError, match=r"unknown hub 'gamma'; valid hubs: alpha, beta"):
        config.load(repo).hub("gamma")


def test_unknown_env_lists_valid_ones(repo):
    fleet = config.load(repo)
    with pytest.raises(FleetError, match=r"unknown env 'prod' for hub 'beta'; valid envs: staging"):
        fleet.hub_env(fleet.hub("beta"), "prod")


def test_schema_error_names_file_and_field(repo):
    write(repo / "hubs/alpha/hub.yaml", "cluster: main\nimage: default\nimgae: typo\n")
    with pytest.raises(FleetError) as err:
        config.load(repo)
    assert "hubs/alpha/hub.yaml" in str(err.value)
    assert "imgae" in str(err.value)


def test_a_hub_may_name_its_public_url_per_environment(repo):
    urls = "urls:\n  staging: https://alpha.staging.example.org\n"
    write(repo / "hubs/alpha/hub.yaml", "cluster: main\nimage: default\n" + urls)
    assert config.load(repo).hub("alpha").urls == {"staging": "https://alpha.staging.example.org"}
    assert config.load(repo).hub("beta").urls == {}


@pytest.mark.parametrize(
    ("urls", "named"),
    [
        ("urls:\n  staging: alpha.example.org\n", "alpha.example.org"),
        ("urls:\n  staging: ftp://alpha.example.org\n", "ftp://"),
        ("urls:\n  qa: https://alpha.example.org\n", "qa"),
    ],
)
def test_a_public_url_that_is_not_one_or_names_no_environment_is_refused(repo, urls, named):
    write(repo / "hubs/alpha/hub.yaml", "cluster: main\nimage: default\n" + urls)
    with pytest.raises(FleetError, match=r"hubs/alpha/hub.yaml.*urls") as err:
        config.load(repo)
    assert named in str(err.value)


def test_hub_naming_a_missing_cluster_is_refused(repo):
    write(repo / "hubs/alpha/hub.yaml", "cluster: nowhere\n")
    with pytest.raises(
        FleetError, match=r"field cluster: no cluster 'nowhere'.*valid clusters: main"
    ):
        config.load(repo)


@pytest.mark.parametrize(
    ("folder", "marker", "kind"),
    [
        ("images/GPU", "Dockerfile", "image"),
        ("images/gpu_2", "Dockerfile", "image"),
        ("hubs/Gamma", "hub.yaml", "hub"),
        ("clusters/Edge", "cluster.yaml", "cluster"),
    ],
)
def test_a_folder_name_that_is_not_a_dns_label_is_refused(repo, folder, marker, kind):
    # An image's name is its registry repository's: `invoke build` could not tag images/GPU.
    content = {"Dockerfile": "FROM x\n", "hub.yaml": "cluster: main\n"}
    write(repo / folder / marker, content.get(marker, KUBECONFIG_CLUSTER))
    name = folder.split("/")[1]
    with pytest.raises(FleetError) as failed:
        config.load(repo)
    assert str(failed.value) == (
        f"{repo / folder}: {kind} folder name {name!r} is not a DNS-1123 label (lowercase "
        "letters, digits and '-', starting and ending with a letter or digit): rename the folder"
    )


def test_hub_naming_a_missing_image_is_refused(repo):
    write(repo / "hubs/alpha/hub.yaml", "cluster: main\nimage: gpu\n")
    with pytest.raises(FleetError, match=r"field image: no image folder 'gpu'"):
        config.load(repo)


def test_image_and_external_image_together_are_refused(repo):
    write(repo / "hubs/alpha/hub.yaml", "cluster: main\nimage: default\nexternal_image: a/b:1\n")
    with pytest.raises(FleetError, match="hubs/alpha/hub.yaml"):
        config.load(repo)


def test_gcp_cluster_needs_its_settings(repo):
    write(repo / "clusters/main/cluster.yaml", "provider: gcp\n")
    with pytest.raises(
        FleetError, match=r"clusters/main/cluster.yaml: .*'gcp' is a required property"
    ):
        config.load(repo)


def test_invalid_yaml_names_file_and_line(repo):
    write(repo / "fleet.yaml", "registry: [unclosed\n")
    with pytest.raises(FleetError, match=r"fleet.yaml:\d+: invalid YAML"):
        config.load(repo)


def test_no_fleet_yaml_is_a_clear_error(tmp_path):
    with pytest.raises(FleetError, match="no fleet.yaml"):
        config.load(tmp_path)


def test_secret_strings_include_leaves_and_base64():
    found = secret_strings({"a": {"b": "s3cret-value", "c": [12345678]}, "d": True})
    assert "s3cret-value" in found
    assert "czNjcmV0LXZhbHVl" in found  # base64 of s3cret-value
    assert "12345678" in found
    assert "True" not in found


def test_redact_text_replaces_longest_first():
    assert redact_text("token=abcdef abc", {"abc", "abcdef"}) == f"token={REDACTED} {REDACTED}"


def test_runner_dry_run_prints_redacted_and_does_not_run(tmp_path, capsys):
    marker = tmp_path / "ran"
    runner = Runner(dry_run=True, secrets={"hunter22"})
    runner.out = sys.stdout
    runner.run(["touch", str(marker), "--password=hunter22"], step="touch")
    out = capsys.readouterr().out
    assert not marker.exists()
    assert "[dry-run]" in out and "hunter22" not in out and REDACTED in out


def test_runner_read_only_commands_run_in_dry_run():
    proc = Runner(dry_run=True, echo=False).run(["echo", "hi"], step="echo", mutates=False)
    assert proc.stdout == "hi\n"


def test_runner_failure_names_step_and_stderr_tail():
    with pytest.raises(StepFailed) as err:
        Runner(echo=False, secrets={"topsecret"}).run(
            ["sh", "-c", "echo line1 >&2; echo 'bad topsecret' >&2; exit 3"], step="helm upgrade"
        )
    assert str(err.value).startswith("helm upgrade failed (exit 3)")
    assert "bad <redacted>" in str(err.value)
    assert "topsecret" not in str(err.value)


def test_runner_missing_program_is_a_one_line_error():
    with pytest.raises(FleetError, match="`no-such-tool-xyz` is not installed"):
        Runner(echo=False).run(["no-such-tool-xyz"], step="x")


def test_runner_passes_env():
    proc = (
        Runner(echo=False)
        .with_env(FLEET_X="1")
        .run(["sh", "-c", "echo $FLEET_X"], step="env", mutates=False)
    )
    assert proc.stdout.strip() == "1"


def test_runner_failure_keeps_what_the_tool_said_on_stdout():
    with pytest.raises(StepFailed) as err:
        Runner(echo=False).run(
            [
                "sh",
                "-c",
                "echo 'Unable to reach the repository'; echo 'Error: no index' >&2; exit 1",
            ],
            step="helm dependency update",
        )
    assert str(err.value).splitlines()[1:] == ["Unable to reach the repository", "Error: no index"]


def test_a_watch_stops_a_running_command_with_its_reason(tmp_path):
    """A real process, stopped as soon as the watch says waiting cannot help."""
    calls = []

    def watch():
        calls.append(time.monotonic())
        return "pod hub-1: container hub CrashLoopBackOff" if len(calls) >= 2 else None

    started = time.monotonic()
    marker = tmp_path / "still-running"
    code = f"import time, pathlib; time.sleep(30); pathlib.Path({str(marker)!r}).touch()"
    with pytest.raises(Stopped) as err:
        Runner(echo=False).run(["python", "-c", code], step="helm upgrade", watch=watch)
    assert err.value.step == "helm upgrade"
    assert err.value.reason == "pod hub-1: container hub CrashLoopBackOff"
    assert len(calls) == 2 and time.monotonic() - started < 10
    time.sleep(0.5)
    assert not marker.exists()


def test_a_watched_command_that_ends_returns_its_output():
    proc = Runner(echo=False).run(
        ["python", "-c", "print('done')"], step="x", mutates=False, watch=lambda: None
    )
    assert proc.stdout.strip() == "done"


@pytest.mark.parametrize(
    "image",
    ["quay.io/jupyter/base-notebook:2025-03-14", "registry.example.org:5000/org/user:1"],
)
def test_an_external_image_may_name_a_registry_port(repo, image):
    write(repo / "hubs/alpha/hub.yaml", f"cluster: main\nexternal_image: {image}\n")
    assert config.load(repo).hubs["alpha"].external_image == image


@pytest.mark.parametrize("image", ["quay.io/jupyter/base-notebook", "host:port/x:1"])
def test_an_external_image_needs_a_tag_or_digest(repo, image):
    write(repo / "hubs/alpha/hub.yaml", f"cluster: main\nexternal_image: {image}\n")
    with pytest.raises(FleetError, match="field external_image"):
        config.load(repo)


@pytest.mark.parametrize(
    ("file", "text", "field"),
    [
        (
            "fleet.yaml",
            'registry: "ghcr.io/org\\n"\ndomain: hubs.example.org\nsecrets_backend: age\n',
            "registry",
        ),
        (
            "fleet.yaml",
            'registry: ghcr.io/org\ndomain: "hubs.example.org\\n"\nsecrets_backend: age\n',
            "domain",
        ),
        (
            "hubs/alpha/hub.yaml",
            'cluster: main\nexternal_image: "quay.io/a/b:1.0\\n"\n',
            "external_image",
        ),
        (
            "hubs/alpha/hub.yaml",
            'cluster: main\nurls: {staging: "https://a.example.org\\n"}\n',
            "urls.staging",
        ),
    ],
)
def test_a_name_or_url_with_a_trailing_newline_is_refused(repo, file, text, field):
    """A `$` at a pattern's end matches only at the end, as JSON Schema means it."""
    write(repo / file, text)
    with pytest.raises(FleetError) as error:
        config.load(repo)
    assert str(error.value).startswith(f"{repo / file}: field {field}: ")


def test_a_hub_name_too_long_for_a_helm_release_is_refused_when_loaded(repo):
    name = "h" * 46  # h...h-staging: 54 characters
    write(repo / f"hubs/{name}/hub.yaml", "cluster: main\n")
    with pytest.raises(FleetError) as error:
        config.load(repo)
    assert str(error.value) == (
        f"{repo / 'hubs' / name}: hub name {name!r} is too long: its release "
        f"'{name}-staging' has 54 characters, helm allows 53: rename the folder"
    )
    write(repo / f"hubs/{name}/hub.yaml", "cluster: main\nenvironments: [prod]\n")
    assert name in config.load(repo).hubs  # h...h-prod fits
