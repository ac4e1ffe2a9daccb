"""Smoke tests: each proves one real piece of the toolchain works on this machine."""

import json
import os
import subprocess
import time
import urllib.request

import pytest
import yaml

from toolchain import versions

pytestmark = pytest.mark.smoke

# The session's Kubernetes version for offline renders: helm 3 assumes v1.20 without a cluster,
# which the chart's kubeVersion (>=1.28) refuses.
KUBE_VERSION = ["--kube-version", versions.KUBERNETES]
TEST_VALUES = ["--set", "proxy.service.type=ClusterIP", "--set", "hub.db.type=sqlite-memory"]


def sh(*argv, env=None, check=True, timeout=300, input=None) -> subprocess.CompletedProcess:
    """Run argv, capturing output; on failure show it in the assertion."""
    proc = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        env=env,
        input=input,
        timeout=timeout,
        check=False,
    )
    if check:
        assert proc.returncode == 0, (
            f"{' '.join(map(str, argv))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def chart(chart_repo: str) -> list[str]:
    """The jupyterhub chart, as helm arguments, from the session's chart repository."""
    return ["jupyterhub", "--repo", chart_repo, "--version", "4.4.0"]


def kubectl(kubeconfig, *args, **kwargs):
    return sh("kubectl", "--kubeconfig", kubeconfig, *args, **kwargs)


@pytest.mark.parametrize("helm_name", ["helm3", "helm4"])
def test_helm_installs_and_uninstalls_the_chart(request, helm_name, kubeconfig, chart_repo):
    helm = request.getfixturevalue(helm_name)
    namespace = f"smoke-{helm_name}"
    common = ["--kubeconfig", kubeconfig, "--namespace", namespace]
    sh(
        helm,
        "upgrade",
        "--install",
        "jh",
        *chart(chart_repo),
        "--create-namespace",
        "--wait",
        "--timeout",
        "120s",
        *TEST_VALUES,
        *common,
    )

    kubectl(
        kubeconfig,
        "-n",
        namespace,
        "rollout",
        "status",
        "deployment/hub",
        "deployment/proxy",
        "--timeout=60s",
    )
    objects = json.loads(
        kubectl(
            kubeconfig, "-n", namespace, "get", "deployments,services,secrets", "-o", "json"
        ).stdout
    )
    names = {(o["kind"], o["metadata"]["name"]) for o in objects["items"]}
    assert {
        ("Deployment", "hub"),
        ("Deployment", "proxy"),
        ("Service", "hub"),
        ("Service", "proxy-public"),
        ("Secret", "hub"),
    } <= names
    assert sh(helm, "status", "jh", *common).stdout.count("STATUS: deployed") == 1

    sh(helm, "uninstall", "jh", "--wait", *common)
    left = kubectl(kubeconfig, "-n", namespace, "get", "deployments", "-o", "name").stdout
    assert left.strip() == ""


def test_rollout_status_fails_for_pods_that_never_become_ready(helm4, kubeconfig, chart_repo):
    namespace = "smoke-unschedulable"
    sh(
        helm4,
        "upgrade",
        "--install",
        "jh",
        *chart(chart_repo),
        "--create-namespace",
        *TEST_VALUES,
        "--set-string",
        "hub.nodeSelector.hubfleet-test/no-such-node=true",
        "--kubeconfig",
        kubeconfig,
        "--namespace",
        namespace,
    )
    try:
        kubectl(
            kubeconfig, "-n", namespace, "rollout", "status", "deployment/proxy", "--timeout=60s"
        )
        start = time.monotonic()
        proc = kubectl(
            kubeconfig,
            "-n",
            namespace,
            "rollout",
            "status",
            "deployment/hub",
            "--timeout=10s",
            check=False,
        )
        elapsed = time.monotonic() - start
        assert proc.returncode != 0, proc.stdout
        assert elapsed < 30, f"rollout status took {elapsed:.0f}s despite --timeout=10s"
        pods = json.loads(
            kubectl(
                kubeconfig, "-n", namespace, "get", "pods", "-l", "component=hub", "-o", "json"
            ).stdout
        )["items"]
        assert pods and all(p["status"]["phase"] == "Pending" for p in pods)
    finally:
        sh(
            helm4,
            "uninstall",
            "jh",
            "--kubeconfig",
            kubeconfig,
            "--namespace",
            namespace,
            check=False,
        )


@pytest.mark.parametrize("helm_name", ["helm3", "helm4"])
def test_chart_schema_rejects_a_typo(request, helm_name, chart_repo, tmp_path):
    helm = request.getfixturevalue(helm_name)
    good = sh(
        helm,
        "template",
        "jh",
        *chart(chart_repo),
        *KUBE_VERSION,
        *TEST_VALUES,
    )
    assert "name: proxy-public" in good.stdout

    direct = sh(
        helm,
        "template",
        "jh",
        *chart(chart_repo),
        *KUBE_VERSION,
        "--set",
        "hub.extraConfg=x",
        check=False,
    )
    assert direct.returncode != 0
    assert "additional properties 'extraConfg' not allowed" in direct.stderr

    parent = tmp_path / "parent"
    (parent / "templates").mkdir(parents=True)
    (parent / "Chart.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v2",
                "name": "parent",
                "version": "0.1.0",
                "dependencies": [
                    {"name": "jupyterhub", "version": "4.4.0", "repository": chart_repo}
                ],
            }
        )
    )
    sh(helm, "dependency", "build", parent)
    through_parent = sh(
        helm,
        "template",
        "jh",
        parent,
        *KUBE_VERSION,
        "--set",
        "jupyterhub.hub.extraConfg=x",
        check=False,
    )
    assert through_parent.returncode != 0
    assert "additional properties 'extraConfg' not allowed" in through_parent.stderr


def support_chart(chart_repo: str, name: str) -> list[str]:
    """A support stand-in, as helm arguments, at its pinned version from the chart repository."""
    return [name, "--repo", chart_repo, "--version", versions.SUPPORT_CHARTS[name][0]]


def test_the_chart_repository_serves_the_support_stand_ins(helm4, chart_repo):
    with urllib.request.urlopen(f"{chart_repo}/index.yaml", timeout=10) as response:
        entries = yaml.safe_load(response.read())["entries"]
    for name, (version, _) in versions.SUPPORT_CHARTS.items():
        # The pinned version is served; an e2e test may have published a later one beside it.
        assert version in [entry["version"] for entry in entries[name]], name
        rendered = sh(helm4, "template", "support", *support_chart(chart_repo, name)).stdout
        kinds = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(rendered) if d}
        assert {("Deployment", f"support-{name}"), ("Service", f"support-{name}")} <= kinds
    grafana = support_chart(chart_repo, "grafana")
    rendered = sh(helm4, "template", "s", *grafana, "--set", "adminPassword=pw-1").stdout
    secret = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Secret")
    assert secret["data"]["admin-password"] == "cHctMQ=="  # base64 of pw-1
    # cert-manager's schema is strict at the top level, as upstream's; prometheus's is not.
    typo = ["--set", "replicaz=2"]
    refused = sh(
        helm4, "template", "s", *support_chart(chart_repo, "cert-manager"), *typo, check=False
    )
    assert "additional properties 'replicaz' not allowed" in refused.stderr
    sh(helm4, "template", "s", *support_chart(chart_repo, "prometheus"), *typo)


CERT_MANAGER_CRDS = {
    f"customresourcedefinition.apiextensions.k8s.io/{name}.cert-manager.io"
    for name in ("certificates", "issuers", "clusterissuers")
}
ISSUER = "apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata:\n  name: smoke\nspec:\n  selfSigned: {}\n"


def test_installing_the_cert_manager_stand_in_creates_its_crds(helm4, kubeconfig, chart_repo):
    namespace = "smoke-cert-manager"
    common = ["--kubeconfig", kubeconfig, "--namespace", namespace]
    before = set(kubectl(kubeconfig, "get", "crds", "-o", "name").stdout.split())
    try:
        sh(
            helm4,
            "upgrade",
            "--install",
            "cm",
            *support_chart(chart_repo, "cert-manager"),
            "--create-namespace",
            "--wait",
            "--timeout",
            "120s",
            *common,
        )
        crds = set(kubectl(kubeconfig, "get", "crds", "-o", "name").stdout.split())
        assert crds >= CERT_MANAGER_CRDS
        kubectl(kubeconfig, "wait", "--for=condition=Established", *CERT_MANAGER_CRDS)
        # The API server takes the custom resources they define.
        sh("kubectl", "--kubeconfig", kubeconfig, "-n", namespace, "apply", "-f", "-", input=ISSUER)
        kubectl(kubeconfig, "-n", namespace, "get", "issuer/smoke")
        kubectl(kubeconfig, "-n", namespace, "rollout", "status", "deployment/cm-cert-manager")
    finally:
        sh(helm4, "uninstall", "cm", "--wait", *common, check=False)
        kubectl(kubeconfig, "delete", "namespace", namespace, "--wait=false", check=False)
        # helm never removes CRDs; remove the ones this test made, leaving others' in place.
        made = sorted(CERT_MANAGER_CRDS - before)
        if made:
            kubectl(kubeconfig, "delete", *made, check=False)


SECRET = {"hub": {"config": {"GitHubOAuthenticator": {"client_secret": "s3cr3t-value"}}}}


def _check_encrypted(encrypted: str) -> None:
    assert "s3cr3t-value" not in encrypted
    assert "ENC[AES256_GCM," in encrypted


def test_sops_with_age(toolchain_bin, age_key, tmp_path):
    plain = tmp_path / "secret.yaml"
    plain.write_text(yaml.safe_dump(SECRET))
    encrypted = sh("sops", "--encrypt", "--age", age_key.public, plain).stdout
    _check_encrypted(encrypted)
    enc = tmp_path / "secret.enc.yaml"
    enc.write_text(encrypted)
    env = {**_base_env(), "SOPS_AGE_KEY_FILE": str(age_key.key_file)}
    assert yaml.safe_load(sh("sops", "--decrypt", enc, env=env).stdout) == SECRET


def test_sops_with_pgp(toolchain_bin, gpg_key, tmp_path):
    plain = tmp_path / "secret.yaml"
    plain.write_text(yaml.safe_dump(SECRET))
    env = {**_base_env(), "GNUPGHOME": str(gpg_key.gnupghome)}
    encrypted = sh("sops", "--encrypt", "--pgp", gpg_key.fingerprint, plain, env=env).stdout
    _check_encrypted(encrypted)
    assert gpg_key.fingerprint in encrypted
    enc = tmp_path / "secret.enc.yaml"
    enc.write_text(encrypted)

    # Decrypt as CI would: a fresh GNUPGHOME importing the armored key from a secret.
    ci_home = tmp_path / "ci-gnupg"
    ci_home.mkdir(mode=0o700)
    ci_env = {**_base_env(), "GNUPGHOME": str(ci_home)}
    try:
        sh("gpg", "--batch", "--import", input_file(tmp_path, gpg_key.private_armored), env=ci_env)
        assert yaml.safe_load(sh("sops", "--decrypt", enc, env=ci_env).stdout) == SECRET
    finally:
        sh("gpgconf", "--homedir", ci_home, "--kill", "all", check=False)


def input_file(tmp_path, text):
    path = tmp_path / "private.asc"
    path.write_text(text)
    return path


def _base_env():
    return {k: v for k, v in os.environ.items() if not k.startswith(("SOPS_", "GNUPGHOME"))}


def test_docker_builds_from_base_image_and_pushes(base_image, registry, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image}\n"
        "RUN python -c 'import sys; assert sys.prefix == \"/opt/venv\", sys.prefix' "
        "&& echo ok > /built\n"
    )
    image = f"{registry}/smoke/app:1"
    env = {**_base_env(), "DOCKER_BUILDKIT": "0"}
    sh("docker", "build", "-t", image, tmp_path, env=env)
    try:
        sh("docker", "push", image)
        tags = json.loads(
            urllib.request.build_opener(urllib.request.ProxyHandler({}))
            .open(f"http://{registry}/v2/smoke/app/tags/list", timeout=10)
            .read()
        )
        assert tags == {"name": "smoke/app", "tags": ["1"]}
    finally:
        sh("docker", "image", "rm", image, check=False)


def test_container_pip_reaches_the_package_index(base_image):
    proc = sh(
        "docker",
        "run",
        "--rm",
        base_image,
        "sh",
        "-c",
        "which pip && pip download --no-deps --dest /tmp/dl six && ls /tmp/dl",
    )
    assert proc.stdout.splitlines()[0] == "/opt/venv/bin/pip"
    assert "six-" in proc.stdout.splitlines()[-1]


def test_changed_pod_template_rolls_out_within_seconds(kubeconfig):
    """Pods re-created by a template change become Ready quickly, round after round.

    With an etcd older than 3.4.31/3.5.13, kube-apiserver rejects the kwok-controller's
    watches ("RequestWatchProgress is disabled"); the controller then only sees new pods on
    relists spaced by a growing backoff, and the third rollout takes 20-60 s.
    """
    namespace = "smoke-rollout"
    kubectl(kubeconfig, "create", "namespace", namespace)
    try:
        kubectl(
            kubeconfig,
            "-n",
            namespace,
            "create",
            "deployment",
            "web",
            "--image=registry.invalid/web:1",
        )
        kubectl(kubeconfig, "-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s")
        for round_ in range(3):
            kubectl(kubeconfig, "-n", namespace, "set", "env", "deployment/web", f"ROUND={round_}")
            start = time.monotonic()
            proc = kubectl(
                kubeconfig,
                "-n",
                namespace,
                "rollout",
                "status",
                "deployment/web",
                "--timeout=15s",
                check=False,
            )
            elapsed = time.monotonic() - start
            assert proc.returncode == 0, (
                f"rollout {round_ + 1} not done after {elapsed:.0f}s:\n{proc.stdout}{proc.stderr}"
            )
    finally:
        kubectl(kubeconfig, "delete", "namespace", namespace, "--wait=false", check=False)
