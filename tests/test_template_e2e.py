"""End to end: bake against the local chart repository, then run the generated repo's own nox."""

from __future__ import annotations

import re
import sys

import pytest
import yaml
from bake import bake, run_in

pytestmark = pytest.mark.e2e

NOX = [sys.executable, "-m", "nox"]


def test_all_checks_pass_with_decrypted_secrets_and_images(
    tmp_path, chart_repo, base_image, age_key
):
    repo = bake(
        tmp_path,
        jupyterhub_chart_repository=chart_repo,
        support_chart_repository=chart_repo,
        sops_recipient=age_key.public,
        hubs="alpha,beta",
    )
    env = {"FLEET_BASE_IMAGE": base_image, "SOPS_AGE_KEY_FILE": str(age_key.key_file)}
    # The package's unit tests (`tests`) run in test_generated_checks_pass and in the checks
    # workflow's run (test_actions_e2e): not a third time here.
    out = run_in(repo, [*NOX, "-s", "lint", "templates", "secrets", "images"], env=env)
    log = out.stdout + out.stderr
    for hub in ("alpha", "beta"):
        for env_name in ("staging", "prod"):
            assert real_chart_objects(log, hub, env_name, "(secrets decrypted)")
    assert "python -m pytest -p no:cacheprovider /opt/image-tests" in log
    assert "Session images was successful" in log


def real_chart_objects(log: str, hub: str, env: str, after: str = "") -> bool:
    """Whether the log says the hub x env rendered and validated as the real jupyterhub chart
    does: its hub, proxy, user-scheduler, image pullers, hook, PDBs, policies and RBAC are over
    30 objects (a chart of a hub and a proxy alone is about 10)."""
    found = re.search(rf"hub {hub} env {env}: (\d+) objects valid {re.escape(after)}", log)
    return bool(found) and int(found.group(1)) > 30


@pytest.mark.parametrize(
    "answers", [{}, {"hubs": "alpha,beta,gamma"}], ids=["defaults", "three-hubs"]
)
def test_generated_checks_pass(tmp_path, chart_repo, answers):
    repo = bake(
        tmp_path,
        jupyterhub_chart_repository=chart_repo,
        support_chart_repository=chart_repo,
        **answers,
    )
    # Both charts' locks were written at generation and committed: the tree starts clean.
    tracked = run_in(repo, ["git", "ls-files", "chart", "support"]).stdout.split()
    assert {"chart/Chart.lock", "support/Chart.lock"} <= set(tracked)
    assert run_in(repo, ["git", "status", "--porcelain"]).stdout == ""
    # The key generated at creation sits outside the repo; without it, placeholders stand in.
    keys = tmp_path / "age-keys" if not answers else tmp_path / "no-keys"
    # Its default sessions: lint, its own unit tests, templates and secrets (the unit tests once:
    # they do not depend on the hubs).
    sessions = (
        ("lint", "tests", "templates", "secrets")
        if not answers
        else ("lint", "templates", "secrets")
    )
    argv = NOX if not answers else [*NOX, "-s", *sessions]
    out = run_in(repo, argv, env={"HUBFLEET_AGE_KEY_DIR": str(keys)})
    log = out.stdout + out.stderr
    for session in sessions:
        assert f"Session {session} was successful" in log
    assert "Contracts: 1 kept, 0 broken." in log
    if not answers:
        assert re.search(r"\b\d{3} passed\b", log), log[-3000:]
    mode = "decrypted" if not answers else "placeholders"
    for hub in answers.get("hubs", "example").split(","):
        assert real_chart_objects(log, hub, "prod", f"(secrets {mode})")
    # The cluster's support chart too, linted and rendered with its stand-in dependencies from
    # the local repository: a Deployment and a Service each, and grafana's Secret.
    assert re.search(r"\$ helm lint \S+/support\n", log), log[-3000:]
    assert f"cluster main support: 9 objects valid (secrets {mode})" in log
    # The secrets check covers the support secrets: each hub's two files, and the cluster's.
    files = 2 * len(answers.get("hubs", "example").split(",")) + 1
    assert f"{files} secrets files, all sops-encrypted" in log
    if answers:
        assert "the check for leaked values needs the key, and was not run" in log
    else:
        assert "secret values: none in the working tree or the staged changes" in log


def test_typo_in_values_fails_templates_naming_hub_and_env(tmp_path, chart_repo, age_key):
    repo = bake(
        tmp_path,
        jupyterhub_chart_repository=chart_repo,
        support_chart_repository=chart_repo,
        sops_recipient=age_key.public,
        hubs="alpha,beta",
    )
    values = repo / "hubs/beta/staging.yaml"
    doc = yaml.safe_load(values.read_text())
    doc["jupyterhub"]["hub"] = {"extraConfg": "x"}
    values.write_text(yaml.safe_dump(doc))
    out = run_in(
        repo,
        [*NOX, "-s", "templates"],
        check=False,
        env={"SOPS_AGE_KEY_FILE": str(age_key.key_file)},
    )
    log = out.stdout + out.stderr
    assert out.returncode != 0
    assert "hub beta env staging" in log and "extraConfg" in log
    assert real_chart_objects(log, "beta", "prod")  # only the broken env fails
    assert real_chart_objects(log, "alpha", "staging")


def test_plaintext_secrets_file_fails_secrets(tmp_path, age_key):
    repo = bake(tmp_path, sops_recipient=age_key.public, hubs="alpha")
    (repo / "hubs/alpha/secrets/extra.yaml").write_text("jupyterhub: {hub: {cookieSecret: abc}}\n")
    out = run_in(repo, [*NOX, "-s", "secrets"], check=False)
    assert out.returncode != 0
    assert "hubs/alpha/secrets/extra.yaml" in out.stdout + out.stderr
    assert "hubs/alpha/secrets/staging.yaml" not in out.stdout + out.stderr


def test_a_decrypted_secret_cannot_be_leaked_into_the_repository(tmp_path, age_key):
    """Before: `secrets.decrypt > hubs/x/leak.yaml` worked, and lint, secrets, templates and the
    plan all passed with the leaked file; the generated repo had no pre-commit configuration."""
    repo = bake(tmp_path, sops_recipient=age_key.public, hubs="alpha")
    env = {"SOPS_AGE_KEY_FILE": str(age_key.key_file), "PRE_COMMIT_HOME": str(tmp_path / "pc")}
    leak = repo / "hubs/alpha/leak.yaml"
    refused = run_in(
        repo,
        ["bash", "-c", f"invoke secrets.decrypt --hub alpha --env staging > {leak}"],
        env=env,
        check=False,
    )
    assert refused.returncode == 1
    assert f"refusing to write decrypted secrets into {leak}" in refused.stderr
    assert leak.read_text() == ""

    decrypted = run_in(
        repo, ["invoke", "secrets.decrypt", "--hub", "alpha", "--env", "staging"], env=env
    ).stdout
    cookie = yaml.safe_load(decrypted)["jupyterhub"]["hub"]["cookieSecret"]
    leak.write_text(decrypted)
    out = run_in(repo, [*NOX, "-s", "secrets"], env=env, check=False)
    log = out.stdout + out.stderr
    assert out.returncode != 0
    assert "hubs/alpha/leak.yaml:3: the value of jupyterhub.hub.cookieSecret in " in log
    assert "hubs/alpha/secrets/staging.yaml (<redacted>)" in log
    assert cookie not in log

    hooks = run_in(repo, ["pre-commit", "run", "--all-files"], env=env, check=False)
    assert hooks.returncode != 0
    assert "hubs/alpha/leak.yaml:3: the value of jupyterhub.hub.cookieSecret" in hooks.stdout
    assert cookie not in hooks.stdout + hooks.stderr

    leak.unlink()
    clean = run_in(repo, ["pre-commit", "run", "--all-files"], env=env, check=False)
    assert clean.returncode == 0, clean.stdout[-3000:]
    for hook in ("secrets encrypted", "ruff check", "ruff format", "yamllint"):
        assert re.search(rf"{hook}.*Passed", clean.stdout), clean.stdout

    plaintext = repo / "hubs/alpha/secrets/extra.yaml"
    plaintext.write_text("jupyterhub: {hub: {cookieSecret: abcdefghij}}\n")
    run_in(repo, ["git", "add", str(plaintext)])
    staged = run_in(repo, ["pre-commit", "run"], env=env, check=False)
    assert staged.returncode != 0
    assert "hubs/alpha/secrets/extra.yaml: not sops-encrypted" in staged.stdout


def test_a_typo_in_a_clusters_support_values_fails_lint_and_templates_naming_it(
    tmp_path, chart_repo, age_key
):
    repo = bake(
        tmp_path,
        jupyterhub_chart_repository=chart_repo,
        support_chart_repository=chart_repo,
        sops_recipient=age_key.public,
    )
    support = repo / "clusters/main/support.yaml"
    support.write_text(support.read_text() + "ingres-nginx:\n  enabled: false\n")
    env = {"SOPS_AGE_KEY_FILE": str(age_key.key_file)}
    out = run_in(repo, [*NOX, "-s", "templates"], check=False, env=env)
    log = out.stdout + out.stderr
    assert out.returncode != 0
    assert "cluster main support:" in log and "ingres-nginx" in log
    assert "additional properties 'ingres-nginx' not allowed" in log
    lint = run_in(repo, [*NOX, "-s", "lint"], check=False, env=env)
    assert lint.returncode != 0
    assert "clusters/main/support.yaml" in lint.stdout + lint.stderr


def test_a_typo_inside_a_dependency_fails_templates_by_that_charts_own_schema(
    tmp_path, chart_repo, age_key
):
    """Ours checks the top level and each `enabled`; inside a dependency its own schema checks,
    where upstream ships one (cert-manager's is strict)."""
    repo = bake(
        tmp_path,
        jupyterhub_chart_repository=chart_repo,
        support_chart_repository=chart_repo,
        sops_recipient=age_key.public,
    )
    support = repo / "clusters/main/support.yaml"
    support.write_text(support.read_text() + "cert-manager:\n  replicaz: 2\n")
    env = {"SOPS_AGE_KEY_FILE": str(age_key.key_file)}
    out = run_in(repo, [*NOX, "-s", "templates"], check=False, env=env)
    log = out.stdout + out.stderr
    assert out.returncode != 0
    assert "cluster main support: helm template of the support chart of cluster main failed" in log
    assert "cert-manager:" in log and "additional properties 'replicaz' not allowed" in log


def test_the_support_secrets_are_checked_for_leaks_as_a_hubs_are(tmp_path, age_key):
    repo = bake(tmp_path, sops_recipient=age_key.public)
    env = {"SOPS_AGE_KEY_FILE": str(age_key.key_file)}
    secrets = "clusters/main/secrets/support.yaml"
    decrypted = run_in(repo, ["sops", "--decrypt", secrets], env=env).stdout
    password = yaml.safe_load(decrypted)["grafana"]["adminPassword"]
    support = repo / "clusters/main/support.yaml"
    support.write_text(support.read_text() + f"grafana:\n  adminPassword: {password}\n")
    out = run_in(repo, [*NOX, "-s", "secrets"], env=env, check=False)
    log = out.stdout + out.stderr
    assert out.returncode != 0
    assert f"the value of grafana.adminPassword in {secrets} (<redacted>)" in log
    assert password not in log
