"""Bake tests: generate repos over several answer sets and check what comes out."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from bake import ROOT, bake, bake_env, clean_template, generate, run_in
from egress import Egress

pytestmark = pytest.mark.bake

TEMPLATE = ROOT / "{{cookiecutter.repo}}"
VERBATIM = ["chart/templates", ".github/workflows", "fleet", "tests", "tasks", "noxfile.py"]
sys.path.insert(0, str(TEMPLATE))
from fleet.tools import sops  # noqa: E402 - the generated repo's package, from the template


def text_files(repo: Path) -> list[Path]:
    files = [p for p in repo.rglob("*") if p.is_file() and ".git" not in p.relative_to(repo).parts]
    return [p for p in files if "__pycache__" not in p.parts]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def check_generated(repo: Path, hubs: list[str]) -> None:
    # Nothing of cookiecutter is left, and Helm's and GitHub's own templates are untouched.
    for path in text_files(repo):
        text = path.read_text(errors="replace")
        assert "{{ cookiecutter" not in text and "{{cookiecutter" not in text, path
    for rel in VERBATIM:
        # The copy this repo was baked from: the working tree may change meanwhile.
        template = repo.parents[1] / "template" / "{{cookiecutter.repo}}"
        source = template / rel
        sources = [source] if source.is_file() else [p for p in source.rglob("*") if p.is_file()]
        for src in sources:
            if "__pycache__" in src.parts:
                continue
            out = repo / src.relative_to(template)
            if rel == ".github/workflows" and not (repo / ".github").exists():
                continue
            assert out.read_bytes() == src.read_bytes(), out
    assert "{{ .Values" in (repo / "chart/templates/NOTES.txt").read_text()
    if (repo / ".github").exists():
        assert "${{ matrix.session }}" in (repo / ".github/workflows/checks.yaml").read_text()

    # One hub folder per name, each with encrypted secrets for both environments.
    assert sorted(p.name for p in (repo / "hubs").iterdir()) == sorted(hubs)
    for hub in hubs:
        for env in ("staging", "prod"):
            assert sops.is_encrypted(repo / "hubs" / hub / "secrets" / f"{env}.yaml")
    assert sops.plaintext_files(repo) == []

    # The support chart, and the first cluster's support values and encrypted secrets.
    for name in ("Chart.yaml", "values.yaml", "values.schema.json", "templates/NOTES.txt"):
        assert (repo / "support" / name).is_file(), name
    assert (
        "invoke deploy --support --cluster main"
        in (repo / "clusters/main/support.yaml").read_text()
    )
    assert sops.is_encrypted(repo / "clusters/main/secrets/support.yaml")

    # One commit, on staging (the default branch) and prod; nothing left uncommitted.
    assert git(repo, "branch", "--show-current").strip() == "staging"
    assert git(repo, "rev-parse", "staging") == git(repo, "rev-parse", "prod")
    assert git(repo, "rev-list", "--count", "staging").strip() == "1"
    assert git(repo, "status", "--porcelain") == ""

    # The answers record names the template and the answers.
    state = json.loads((repo / ".cruft.json").read_text())
    assert set(state) >= {"template", "commit", "checkout", "context", "directory"}
    assert state["context"]["cookiecutter"]["hubs"] == ",".join(hubs)

    listing = run_in(repo, ["invoke", "--list"]).stdout
    for name in (
        "new-hub",
        "new-cluster",
        "secrets.edit",
        "secrets.encrypt",
        "secrets.decrypt",
        "secrets.updatekeys",
    ):
        assert name in listing


def test_defaults_generate_an_age_key_outside_the_repo(tmp_path):
    repo = bake(tmp_path)
    check_generated(repo, ["example"])
    key = tmp_path / "age-keys" / f"{repo.name}.txt"
    assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
    public = subprocess.run(
        ["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert f"age: {public}" in (repo / ".sops.yaml").read_text()
    # No private key in the repo: not this one, nor any of that shape (the repo's own tests
    # mention the prefix, with a placeholder).
    secret = next(
        line for line in key.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-")
    )
    everything = "".join(p.read_text(errors="replace") for p in text_files(repo))
    assert secret not in everything
    assert not re.search(r"AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}", everything)
    # The key made at creation decrypts the secrets; decrypt prints to stdout only.
    out = run_in(
        repo,
        ["invoke", "secrets.decrypt", "--hub", "example", "--env", "staging"],
        env={"HUBFLEET_AGE_KEY_DIR": str(tmp_path / "age-keys")},
    ).stdout
    assert "cookieSecret" in out and "ENC[" not in out
    assert git(repo, "status", "--porcelain") == ""


UPSTREAM = {
    "ingress-nginx": "https://kubernetes.github.io/ingress-nginx",
    "cert-manager": "https://charts.jetstack.io",
    "prometheus": "https://prometheus-community.github.io/helm-charts",
    "grafana": "https://grafana.github.io/helm-charts",
}


@pytest.mark.parametrize(
    "mirror", ["", "https://charts.example.org/mirror"], ids=["upstream", "mirror"]
)
def test_the_support_charts_repositories_follow_the_answer(tmp_path, age_key, mirror):
    # No helm for generation (FLEET_HELM names none): the upstream answer must not reach out.
    env = {"FLEET_HELM": str(tmp_path / "no-helm")}
    proc = generate(tmp_path, env, sops_recipient=age_key.public, support_chart_repository=mirror)
    repo = Path(proc.stdout.strip().splitlines()[-1])
    chart = yaml.safe_load((repo / "support/Chart.yaml").read_text())
    assert {d["name"]: d["repository"] for d in chart["dependencies"]} == {
        name: mirror or url for name, url in UPSTREAM.items()
    }
    assert all(d["condition"] == f"{d['name']}.enabled" for d in chart["dependencies"])
    assert not (repo / "support/Chart.lock").exists()
    assert "helm dependency update support`, then commit support/Chart.lock" in proc.stdout


def test_a_second_repo_of_the_same_name_says_it_reused_the_age_key(tmp_path):
    first = generate(tmp_path / "first")
    key = tmp_path / "first" / "age-keys" / "example-university-hubs.txt"
    made = key.read_text()
    assert "Generated an age key for example-university-hubs: public key" in first.stdout
    # Another repo of the same name, generated later on the same machine: the key is kept.
    second = generate(tmp_path / "second", env={"HUBFLEET_AGE_KEY_DIR": str(key.parent)})
    assert key.read_text() == made
    assert "Generated an age key" not in second.stdout, second.stdout
    assert f"Reused the age key {key}, left by an earlier repo named" in second.stdout


# The answers with a fixed set of choices, read from cookiecutter.json: a choice added there is
# baked by the tests below by default (and fails them until they know how to answer for it).
CHOICES = {k: v for k, v in json.loads((ROOT / "cookiecutter.json").read_text()).items()
           if isinstance(v, list)}  # fmt: skip
# What each cloud provider's own questions are answered with (hooks.answers.PROVIDER_FIELDS).
PROVIDER_SAMPLES = {
    "gcp": {"gcp_project": "my-project", "cloud_cluster": "hubs", "cloud_location": "us-central1"},
    "aws": {"cloud_cluster": "hubs", "cloud_location": "eu-west-1"},
    "azure": {"cloud_cluster": "hubs", "azure_resource_group": "rg"},
}
CLOUDS = [p for p in CHOICES["provider"] if p != "kubeconfig"]


def provider_answers(number: int, provider: str) -> dict[str, str]:
    """A provider's answers, with a different hub count and CI choice for each provider."""
    hubs = ",".join(["alpha", "beta", "gamma"][: 1 + number % 3])
    ci = CHOICES["ci"][(number + 1) % len(CHOICES["ci"])]
    return {"provider": provider, **PROVIDER_SAMPLES[provider], "hubs": hubs, "ci": ci}


@pytest.mark.parametrize(
    "answers", [provider_answers(n, p) for n, p in enumerate(CLOUDS)], ids=CLOUDS
)
def test_providers_with_a_given_age_key(tmp_path, age_key, answers):
    repo = bake(tmp_path, sops_recipient=age_key.public, **answers)
    check_generated(repo, answers["hubs"].split(","))
    assert not (tmp_path / "age-keys").exists()  # a recipient was given: no key generated
    cluster = (repo / "clusters/main/cluster.yaml").read_text()
    assert f"provider: {answers['provider']}" in cluster and "hubs" in cluster
    assert (repo / ".github").exists() == (answers.get("ci", "github") == "github")


KMS_HINTS = {
    "gcp-kms": "# gcp_kms: projects/PROJECT/locations/global/keyRings/RING/cryptoKeys/KEY",
    "aws-kms": "# kms: arn:aws:kms:REGION:ACCOUNT:key/KEY-ID",
    "azure-kv": "# azure_keyvault: https://VAULT.vault.azure.net/keys/NAME/VERSION",
}


def no_cloud_env(tmp_path: Path, egress) -> dict[str, str]:
    """aws, gcloud and az first on PATH as programs that record being run and fail, and every
    HTTP(S) request for another host sent to the egress guard: a cloud call cannot pass unseen."""
    stubs = tmp_path / "cloud-clis"
    stubs.mkdir()
    for cli in ("aws", "gcloud", "az"):
        stub = stubs / cli
        stub.write_text(f"#!/bin/sh\necho {cli} >> {stubs}/called\nexit 1\n")
        stub.chmod(0o755)
    return {"PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}", **egress.env()}


@pytest.mark.parametrize(
    "backend", [b for b in CHOICES["secrets_backend"] if b not in ("age", "pgp")]
)
def test_a_kms_backend_generates_and_checks_without_a_cloud_call(tmp_path, chart_repo, backend):
    """A KMS key cannot be used without the cloud: generation writes the backend's rule to fill
    in and no secrets (never plaintext), and the repo's checks pass with placeholders."""
    egress = Egress()
    egress.start()
    try:
        env = no_cloud_env(tmp_path, egress)
        proc = generate(
            tmp_path, env=env, secrets_backend=backend, sops_recipient="", hubs="alpha",
            jupyterhub_chart_repository=chart_repo, support_chart_repository=chart_repo,
        )  # fmt: skip
        repo = Path(proc.stdout.strip().splitlines()[-1])
        assert f"No sops_recipient for {backend}: put your key in .sops.yaml" in proc.stdout
        assert KMS_HINTS[backend] in (repo / ".sops.yaml").read_text()
        assert not list(repo.glob("hubs/*/secrets/*.yaml"))
        assert not (tmp_path / "age-keys").exists()
        checks = run_in(repo, [sys.executable, "-m", "nox", "-s", "templates", "secrets"], env=env)
        log = checks.stdout + checks.stderr
        assert re.search(r"hub alpha env prod: \d+ objects valid \(no secrets file\)", log), log[
            -3000:
        ]
        assert "Session secrets was successful" in log
    finally:
        egress.stop()
    assert not (tmp_path / "cloud-clis" / "called").exists()
    assert egress.asked == []


def test_pgp_backend(tmp_path, gpg_key):
    env = {"GNUPGHOME": str(gpg_key.gnupghome)}
    repo = bake(
        tmp_path,
        env=env,
        secrets_backend="pgp",
        sops_recipient=gpg_key.fingerprint,
        hubs="alpha,beta",
    )
    check_generated(repo, ["alpha", "beta"])
    assert f"pgp: {gpg_key.fingerprint}" in (repo / ".sops.yaml").read_text()
    out = run_in(
        repo, ["invoke", "secrets.decrypt", "--hub", "beta", "--env", "prod"], env=env
    ).stdout
    assert "secretToken" in out


def test_a_clusters_support_secrets_through_the_secrets_tasks(tmp_path, age_key):
    """secrets.decrypt and secrets.edit with --support reach a cluster's support secrets, as they
    reach a hub's with --hub and --env; an unknown cluster is one line naming the valid ones."""
    repo = bake(tmp_path, sops_recipient=age_key.public, cluster="eu-central")
    env = {"SOPS_AGE_KEY_FILE": str(age_key.key_file)}
    out = run_in(
        repo, ["invoke", "secrets.decrypt", "--support", "--cluster", "eu-central"], env=env
    ).stdout
    password = yaml.safe_load(out)["grafana"]["adminPassword"]
    assert len(password) >= 24
    assert password not in (repo / "clusters/eu-central/secrets/support.yaml").read_text()
    # The editor sops runs: it appends a key, which sops encrypts on save.
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "extra: rotated-1\\n" >> "$1"\n')
    editor.chmod(0o755)
    run_in(
        repo,
        ["invoke", "secrets.edit", "--support", "--cluster", "eu-central"],
        env={**env, "EDITOR": str(editor)},
    )
    text = (repo / "clusters/eu-central/secrets/support.yaml").read_text()
    assert "rotated-1" not in text and "extra: ENC[" in text
    out = run_in(
        repo, ["invoke", "secrets.decrypt", "--support", "--cluster", "eu-central"], env=env
    ).stdout
    assert yaml.safe_load(out)["extra"] == "rotated-1"
    # An editor that saves no change (sops exits 200) is no failure, and the file stays as it was.
    before = (repo / "clusters/eu-central/secrets/support.yaml").read_text()
    same = run_in(
        repo,
        ["invoke", "secrets.edit", "--support", "--cluster", "eu-central"],
        env={**env, "EDITOR": "true"},
    )
    assert same.stdout.strip() == "clusters/eu-central/secrets/support.yaml: no change"
    assert (repo / "clusters/eu-central/secrets/support.yaml").read_text() == before
    for name in ("secrets.decrypt", "secrets.edit"):
        bad = run_in(repo, ["invoke", name, "--support", "--cluster", "moon"], env=env, check=False)
        assert bad.returncode == 1
        assert bad.stderr.strip().splitlines()[-1] == (
            "error: unknown cluster 'moon'; valid clusters: eu-central"
        )


def test_new_hub_task_adds_an_encrypted_hub(tmp_path, age_key):
    repo = bake(tmp_path, sops_recipient=age_key.public)
    run_in(repo, ["invoke", "new-hub", "physics"])
    assert sops.is_encrypted(repo / "hubs/physics/secrets/prod.yaml")
    bad = run_in(repo, ["invoke", "new-hub", "Physics_2"], check=False)
    assert bad.returncode == 1 and "not a DNS-1123 label" in bad.stderr
    assert not (repo / "hubs/Physics_2").exists()


def test_plan_on_the_first_commit_and_with_a_base_that_names_nothing(tmp_path, age_key):
    repo = bake(tmp_path, sops_recipient=age_key.public, hubs="alpha,beta")
    # The generated repo has one commit: its default base HEAD~1 is before it.
    first = json.loads(run_in(repo, ["invoke", "plan", "--json"]).stdout)
    assert {(d["hub"], d["env"]) for d in first["deploy"]} == {
        (h, e) for h in ("alpha", "beta") for e in ("staging", "prod")
    }
    reason = first["deploy"][0]["reasons"][0]
    assert "first commit" in reason and "every hub is new" in reason, reason
    assert "force-push" not in reason and "shallow" not in reason
    unknown = run_in(repo, ["invoke", "plan", "--base", "nosuchref"], check=False)
    assert unknown.returncode == 1, unknown.stdout + unknown.stderr
    assert unknown.stdout == ""
    assert unknown.stderr.strip().splitlines() == [
        f"error: base 'nosuchref': no commit, branch or tag of that name in {repo} "
        "(check --base or FLEET_PLAN_BASE; `git fetch` it if it is on a remote)"
    ]


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"hubs": "Hub_1"}, "hubs: 'Hub_1' is not a DNS-1123 label"),
        ({"hubs": "a" * 70}, "is 70 characters; at most 45"),
        ({"hubs": "alpha,beta,alpha"}, "hubs: 'alpha' is listed twice"),
        ({"hubs": ""}, "hubs: the list is empty"),
        (
            {"sops_recipient": "0123456789ABCDEF0123456789ABCDEF01234567"},
            "sops_recipient: '0123456789ABCDEF0123456789ABCDEF01234567' is not an age public key",
        ),
    ],
    ids=["Hub_1", "70-chars", "duplicate", "empty", "pgp-for-age"],
)
def test_bad_answers_fail_cleanly(tmp_path, answers, message):
    with pytest.raises(subprocess.CalledProcessError) as failed:
        bake(tmp_path, **answers)
    errors = [line for line in failed.value.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], failed.value.stderr
    assert list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "age-keys").exists()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            "org_name=",
            "error: org_name: empty: give the organisation's name, e.g. 'Example University'",
        ),
        ("hubs=Bad Name", "error: hubs: 'Bad Name' is not a DNS-1123 label"),
    ],
)
def test_the_cookiecutter_command_says_a_refused_answer_in_one_line(tmp_path, answer, message):
    """No traceback of cookiecutter's after the hook's line: only its own closing status line;
    an empty org_name is named as itself, not as the repo name made from it."""
    cli = Path(sys.executable).with_name("cookiecutter")
    argv = [str(cli), str(clean_template(tmp_path)), "--no-input", "-o", str(tmp_path / "out")]
    proc = subprocess.run(
        [*argv, answer], capture_output=True, text=True, env={**os.environ, **bake_env(tmp_path)}
    )
    assert proc.returncode == 1
    lines = (proc.stderr + proc.stdout).strip().splitlines()
    assert lines[0].startswith(message), lines
    assert lines[1:] == ["Hook script failed (exit status: 1)"], lines
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_missing_sops_says_what_to_install_and_leaves_nothing(tmp_path):
    # PATH without sops (git, age and python stay reachable through their own folders).
    dirs = {str(Path(p).parent) for p in (sys.executable, "/usr/bin/git", "/usr/bin/age-keygen")}
    with pytest.raises(subprocess.CalledProcessError) as failed:
        bake(tmp_path, env={"PATH": ":".join(sorted(dirs))})
    assert "sops 3.9 or newer: https://github.com/getsops/sops/releases" in failed.value.stderr
    assert "run again" in failed.value.stderr
    assert list((tmp_path / "out").iterdir()) == []


def test_cruft_update_brings_in_a_newer_template(tmp_path, age_key):
    # The template as an organisation would generate it: from a git repository.
    template = clean_template(tmp_path)
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.org"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "template v1"]):
        subprocess.run(["git", "-C", str(template), *identity, *args], check=True)
    repo = bake(tmp_path, sops_recipient=age_key.public)
    assert "up to date" in run_in(repo, ["cruft", "check"]).stdout

    requirements = template / "{{cookiecutter.repo}}" / "images" / "default" / "requirements.txt"
    requirements.write_text(requirements.read_text() + "rich==14.0.0\n")
    subprocess.run(
        ["git", "-C", str(template), *identity, "commit", "-qam", "template v2"], check=True
    )
    assert run_in(repo, ["cruft", "check"], check=False).returncode != 0

    run_in(repo, ["cruft", "update", "--skip-apply-ask"])
    assert "rich==14.0.0" in (repo / "images" / "default" / "requirements.txt").read_text()
    assert "up to date" in run_in(repo, ["cruft", "check"]).stdout
    # Only the template's change (and the record of it) arrived: hubs and secrets are untouched.
    changed = set(git(repo, "diff", "--name-only", "HEAD").split())
    assert changed == {".cruft.json", "images/default/requirements.txt"}


def cookiecutter_cli(tmp_path: Path, cookiecutter: Path, *args: str) -> subprocess.CompletedProcess:
    """The `cookiecutter` command itself, run from tmp_path (which holds the template copy)."""
    return subprocess.run(
        [str(cookiecutter), *args, "--no-input", "-o", "out"],
        cwd=tmp_path,
        env={**os.environ, **bake_env(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_relative_template_path_from_another_folder(tmp_path):
    # `cookiecutter template` from the folder holding it: cookiecutter keeps the path relative,
    # while the hooks run inside the new repo.
    template = clean_template(tmp_path)
    proc = cookiecutter_cli(tmp_path, Path(sys.executable).with_name("cookiecutter"), "template")
    assert proc.returncode == 0, proc.stderr
    repo = tmp_path / "out" / "example-university-hubs"
    check_generated(repo, ["example"])
    assert (tmp_path / "age-keys" / f"{repo.name}.txt").exists()
    state = json.loads((repo / ".cruft.json").read_text())
    assert state["template"] == str(template.resolve())


@pytest.fixture(scope="session")
def bare_cookiecutter(tmp_path_factory) -> Path:
    """cookiecutter alone in a venv of its own: none of the generated repo's packages."""
    venv = tmp_path_factory.mktemp("bare-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pin = f"cookiecutter=={metadata.version('cookiecutter')}"
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", pin]
    proc = subprocess.run(pip, capture_output=True, text=True, check=False)
    if proc.returncode:
        pytest.fail(f"could not install {pin} into a bare venv:\n{proc.stderr}", pytrace=False)
    return venv / "bin" / "cookiecutter"


@pytest.mark.parametrize(
    ("where", "answers", "message"),
    [
        ("relative", [], "'jsonschema'"),
        ("absolute", [], "'jsonschema'"),
        ("relative", ["hubs=Hub_1"], "hubs: 'Hub_1' is not a DNS-1123 label"),
    ],
    ids=["missing-package-relative", "missing-package-absolute", "bad-answer-relative"],
)
def test_bare_cookiecutter_fails_with_one_line_and_leaves_nothing(
    tmp_path, bare_cookiecutter, where, answers, message
):
    template = clean_template(tmp_path)
    path = "template" if where == "relative" else str(template)
    proc = cookiecutter_cli(tmp_path, bare_cookiecutter, path, *answers)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    if not answers:
        assert "pip install jsonschema" in errors[0]
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == []
    assert not (tmp_path / "age-keys").exists()


def test_a_step_failing_after_the_key_is_made_leaves_no_key(tmp_path):
    # A sops that fails: the hubs' secrets cannot be encrypted after the age key was made.
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    (fake / "sops").write_text("#!/bin/sh\necho 'sops: cannot encrypt' >&2\nexit 1\n")
    (fake / "sops").chmod(0o755)
    with pytest.raises(subprocess.CalledProcessError) as failed:
        bake(tmp_path, env={"PATH": f"{fake}:{os.environ['PATH']}"})
    errors = [line for line in failed.value.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "cannot make the hubs" in errors[0], failed.value.stderr
    assert list((tmp_path / "out").iterdir()) == []
    assert list((tmp_path / "age-keys").glob("*.txt")) == []


def test_another_copy_of_the_extension_first_on_sys_path_is_refused(tmp_path):
    # `python -c` from a folder holding another copy puts that copy first on sys.path.
    template = clean_template(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "hubfleet_template.py").write_text((template / "hubfleet_template.py").read_text())
    code = (
        "import sys; from cookiecutter.main import cookiecutter; "
        "cookiecutter(sys.argv[1], no_input=True, output_dir=sys.argv[2])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(template), str(tmp_path / "out")],
        cwd=other,
        env={**os.environ, **bake_env(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"imported from {other}, not from the template" in errors[0]
    assert list((tmp_path / "out").iterdir()) == []


def test_prod_can_have_a_key_of_its_own_that_staging_cannot_read(tmp_path, age_key):
    """With sops_recipient_prod, a hub's prod secrets are encrypted to prod's key alone, its
    staging secrets to staging's alone, and the cluster's (credentials, support) to both; the
    README tells CI to hold prod's key in the `prod` environment only."""
    prod_key = tmp_path / "prod.agekey"
    subprocess.run(["age-keygen", "-o", str(prod_key)], check=True, capture_output=True)
    prod_public = subprocess.run(
        ["age-keygen", "-y", str(prod_key)], check=True, capture_output=True, text=True
    ).stdout.strip()
    repo = bake(tmp_path, sops_recipient=age_key.public, sops_recipient_prod=prod_public)

    def decrypts(key: Path, path: str) -> bool:
        env = {**os.environ, "SOPS_AGE_KEY_FILE": str(key)}
        argv = ["sops", "--decrypt", str(repo / path)]
        return subprocess.run(argv, env=env, capture_output=True).returncode == 0

    staging_key = age_key.key_file
    assert not decrypts(staging_key, "hubs/example/secrets/prod.yaml")
    assert decrypts(prod_key, "hubs/example/secrets/prod.yaml")
    assert decrypts(staging_key, "hubs/example/secrets/staging.yaml")
    assert not decrypts(prod_key, "hubs/example/secrets/staging.yaml")
    for both in ("clusters/main/secrets/support.yaml",):
        assert decrypts(staging_key, both) and decrypts(prod_key, both)
    readme = (repo / "README.md").read_text()
    assert "gh secret set SOPS_AGE_KEY --env prod" in readme
    # A hub added later follows the same rules (sops picks the rule by path).
    env = {"SOPS_AGE_KEY_FILE": str(staging_key)}
    run_in(repo, ["invoke", "new-hub", "physics"], env=env)
    assert not decrypts(staging_key, "hubs/physics/secrets/prod.yaml")
    assert decrypts(prod_key, "hubs/physics/secrets/prod.yaml")
