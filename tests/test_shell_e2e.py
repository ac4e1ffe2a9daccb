"""End to end: `invoke shell` gives a command, or a subshell, one cluster's credentials only.

The KUBECONFIG is the private temporary file a deploy would make, removed on exit; the user's own
kubeconfig is neither used nor changed. Cloud providers run their CLI, here always a fake one
first on PATH that writes the local cluster's kubeconfig where it is told to, as the real ones do.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from generated import assert_clean, left_in, local_repo, scratch_folders

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

FAKE_CLOUD_CLI = """#!/bin/sh
printf '%s\\n' "$(basename "$0") $*" >> "$FAKE_CLOUD_LOG"
dest="$KUBECONFIG"
while [ $# -gt 0 ]; do
    case "$1" in --kubeconfig|--file) dest="$2"; shift;; esac
    shift
done
cp "$FAKE_CLOUD_KUBECONFIG" "$dest"
"""

PROVIDERS = {
    "gcp": {"project": "my-project", "cluster": "hubs", "location": "europe-west1"},
    "aws": {"cluster": "hubs", "region": "us-west-2"},
    "azure": {"cluster": "hubs", "resource_group": "rg"},
}


@pytest.fixture(scope="module")
def ops(tmp_path_factory, local_stack):
    repo = local_repo(tmp_path_factory.mktemp("shell-e2e"), local_stack, org="Shell", hubs="psi")
    # The user's own kubeconfig: one that reaches nothing, which the shell must neither use nor
    # change.
    home = repo.tmp / "home"
    (home / ".kube").mkdir(parents=True)
    own = home / ".kube" / "config"
    own.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    repo.env.update(KUBECONFIG=str(own))
    repo.own_kubeconfig = own
    return repo


def test_one_command_runs_with_the_clusters_private_kubeconfig_removed_after(ops):
    before = ops.own_kubeconfig.read_bytes()
    script = 'echo "$FLEET_CLUSTER $KUBECONFIG"; kubectl get nodes -o name'
    proc = ops.invoke("shell", "--cluster", "main", "--", "sh", "-c", script)
    first = proc.stdout.splitlines()[0]
    cluster, kubeconfig = first.split()
    assert cluster == "main"
    assert kubeconfig.startswith(str(proc.private)), first
    assert "node/" in proc.stdout  # the local cluster's nodes: the credentials work
    assert not Path(kubeconfig).exists()
    assert_clean(proc)
    assert ops.own_kubeconfig.read_bytes() == before


def test_the_commands_exit_code_is_the_tasks_and_quoting_is_kept(ops):
    proc = ops.invoke("shell", "--", "sh", "-c", "echo 'two words'; exit 7", check=False)
    assert proc.returncode == 7
    assert proc.stdout.strip() == "two words"
    assert_clean(proc)


def test_the_subshell_says_which_cluster_and_removes_the_credentials_on_exit(ops):
    fresh, folders = scratch_folders(ops.tmp, "subshell")
    proc = subprocess.run(
        ["invoke", "shell", "--cluster", "main"],
        cwd=ops.path,
        env={**os.environ, **ops.env, **fresh, "SHELL": "/bin/sh"},
        input='kubectl get namespace default -o name\necho "prompt: $PS1"\nexit 3\n',
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    assert "namespace/default" in proc.stdout
    assert "prompt: (cluster main) $" in proc.stdout
    assert "shell: cluster main (kubeconfig" in proc.stderr
    assert "The file is removed when you exit this shell." in proc.stderr
    assert "shell: left cluster main; its credentials are removed" in proc.stderr
    assert left_in(folders) == []


def test_an_unknown_cluster_is_one_line_naming_the_valid_ones(ops):
    proc = ops.invoke("shell", "--cluster", "nope", "--", "true", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: unknown cluster 'nope'; valid clusters: main"


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_cloud_providers_get_credentials_from_their_cli_into_the_private_file(ops, provider):
    fake = ops.tmp / f"fake-{provider}"
    fake.mkdir()
    for cli in ("gcloud", "aws", "az"):
        (fake / cli).write_text(FAKE_CLOUD_CLI)
        (fake / cli).chmod(stat.S_IRWXU)
    log = fake / "calls.log"
    cluster_yaml = ops.path / "clusters" / "main" / "cluster.yaml"
    before = cluster_yaml.read_text()
    cluster_yaml.write_text(yaml.safe_dump({"provider": provider, provider: PROVIDERS[provider]}))
    env = {
        "PATH": f"{fake}:{os.environ['PATH']}",  # the fake CLIs first: no real one ever runs
        "FAKE_CLOUD_LOG": str(log),
        "FAKE_CLOUD_KUBECONFIG": str(ops.kubeconfig),
        "FLEET_KUBECONFIG": "",
    }
    try:
        argv = ["kubectl", "get", "namespace", "default", "-o", "name"]
        proc = ops.invoke("shell", "--", *argv, env=env)
    finally:
        cluster_yaml.write_text(before)
    assert proc.stdout.strip() == "namespace/default"
    calls = log.read_text().splitlines()
    assert len(calls) == 1, calls
    cli = {"gcp": "gcloud", "aws": "aws", "azure": "az"}[provider]
    assert calls[0].startswith(f"{cli} "), calls
    assert str(ops.own_kubeconfig) not in calls[0]
    assert_clean(proc)
