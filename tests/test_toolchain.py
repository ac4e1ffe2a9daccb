"""Unit tests of the toolchain's pure functions, and the speed of a warm `invoke toolchain`."""

import os
import string
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from toolchain import (
    act,
    baseimage,
    cache,
    chartrepo,
    gomod,
    kwok,
    node,
    procs,
    provision,
    registry,
    stack,
)

pytestmark = pytest.mark.smoke

UPSTREAM_GOMOD = """\
// generated
module k8s.io/kubernetes

go 1.23.0

godebug default=go1.23

require (
\tgithub.com/spf13/cobra v1.8.1
\tk8s.io/api v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tgithub.com/example/fork => github.com/example/fork v1.2.3
)

replace k8s.io/kube-scheduler => ./staging/src/k8s.io/kube-scheduler
"""


def test_scratch_gomod_points_staging_replaces_at_published_versions():
    text = gomod.scratch_gomod(
        UPSTREAM_GOMOD,
        module="hubfleet/kubebuild",
        require="k8s.io/kubernetes",
        version="v1.32.2",
        staging_version="v0.32.2",
    )
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == "module hubfleet/kubebuild"
    assert "go 1.23.0" in lines
    assert "godebug default=go1.23" in lines
    assert "require k8s.io/kubernetes v1.32.2" in lines
    assert "k8s.io/api => k8s.io/api v0.32.2" in lines
    assert "k8s.io/client-go => k8s.io/client-go v0.32.2" in lines
    assert "k8s.io/kube-scheduler => k8s.io/kube-scheduler v0.32.2" in lines
    assert "./staging" not in text
    assert "example/fork" not in text  # only the local staging replaces are rewritten


def test_scratch_gomod_needs_a_go_directive_and_staging_replaces():
    with pytest.raises(ValueError, match="go` directive"):
        gomod.scratch_gomod(
            "module x\n", module="m", require="x", version="v1", staging_version="v0"
        )
    with pytest.raises(ValueError, match="staging"):
        gomod.scratch_gomod(
            "module x\n\ngo 1.22\n", module="m", require="x", version="v1", staging_version="v0"
        )


ETCD_SERVER_GOMOD = """\
module go.etcd.io/etcd/server/v3

go 1.26.0

toolchain go1.26.10

require (
\tgithub.com/coreos/go-semver v0.3.0
\tgo.etcd.io/etcd/api/v3 v3.5.35
\tgo.etcd.io/etcd/client/v2 v2.305.35 // a comment
\tgo.etcd.io/etcd/raft/v3 v3.5.35
)

require go.uber.org/atomic v1.7.0 // indirect

replace (
\tgo.etcd.io/etcd/api/v3 => ../api
\tgo.etcd.io/etcd/client/v2 => ../client/v2
\tgo.etcd.io/etcd/raft/v3 => ../raft
)

replace (
\tgo.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY
\tgo.etcd.io/tests/v3 => ./FORBIDDEN_DEPENDENCY
)
"""


def test_pinned_scratch_gomod_requires_the_locally_replaced_siblings_at_their_versions():
    text = gomod.pinned_scratch_gomod(
        ETCD_SERVER_GOMOD,
        module="hubfleet/etcdbuild",
        require="go.etcd.io/etcd/server/v3",
        version="v3.5.35",
    )
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == "module hubfleet/etcdbuild"
    assert "go 1.26.0" in lines
    assert "go.etcd.io/etcd/server/v3 v3.5.35" in lines
    assert "go.etcd.io/etcd/api/v3 v3.5.35" in lines
    assert "go.etcd.io/etcd/client/v2 v2.305.35" in lines
    assert "go.etcd.io/etcd/raft/v3 v3.5.35" in lines
    # Neither the upstream replaces nor its toolchain line (it would make go download one).
    assert "=>" not in text
    assert "toolchain" not in text
    assert "FORBIDDEN" not in text
    assert "coreos" not in text


def test_pinned_scratch_gomod_needs_local_replaces():
    with pytest.raises(ValueError, match="replaces no required module"):
        gomod.pinned_scratch_gomod(
            "module x\n\ngo 1.22\n\nrequire y v1.0.0\n", module="m", require="x", version="v1"
        )


def test_the_served_jupyterhub_chart_is_the_real_release(helm4):
    if not chartrepo.from_fixtures():
        pytest.fail("the shared fixtures are missing: this test checks the packaged release")
    package = chartrepo.ensure_chart(helm4)
    out = subprocess.run(
        [helm4, "show", "chart", package], capture_output=True, text=True, check=True
    ).stdout
    chart = yaml.safe_load(out)
    assert (chart["name"], chart["version"], chart["appVersion"]) == (
        "jupyterhub",
        "4.4.0",
        "5.5.0",
    )
    with tarfile.open(package) as tar:
        names = set(tar.getnames())
    # What only the real chart has: its hooks, user-scheduler, storage and its own hub config.
    for name in (
        "templates/image-puller/job.yaml",
        "templates/image-puller/daemonset-hook.yaml",
        "templates/scheduling/user-scheduler/deployment.yaml",
        "templates/hub/pvc.yaml",
        "files/hub/jupyterhub_config.py",
        "files/hub/z2jh.py",
        "values.schema.json",
    ):
        assert f"jupyterhub/{name}" in names, name
    assert not Path(chartrepo.__file__).with_name("standin_chart").exists()


def test_debian_mirror_reads_deb822_and_one_line_sources(tmp_path):
    deb822 = tmp_path / "debian.sources"
    deb822.write_text(
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
    )
    assert baseimage.debian_mirror(deb822) == "http://mirror.example/debian"


def test_base_image_puts_the_venv_first_on_path_and_trusts_the_host_ca_bundle():
    changes = baseimage.image_changes()
    path = next(c for c in changes if c.startswith("ENV PATH="))
    assert path.removeprefix("ENV PATH=").split(":")[0] == "/opt/venv/bin"
    for var in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        assert f"ENV {var}={baseimage.IMAGE_HOST_CA_BUNDLE}" in changes


@pytest.mark.parametrize(
    ("version", "minor"),
    [
        ("v1.32.4-dispatcher", 32),
        ("v1.33.13", 33),
        ("1.31.0", 31),
    ],
)
def test_minor_version(version, minor):
    assert provision.minor_version(version) == minor


def test_registry_config_template_fills_in_port_and_storage(tmp_path):
    text = string.Template(registry.CONFIG_TEMPLATE.read_text()).substitute(
        root=tmp_path, port=5123
    )
    config = yaml.safe_load(text)
    assert config["http"]["addr"] == "127.0.0.1:5123"
    assert config["storage"]["filesystem"]["rootdirectory"] == str(tmp_path)


def test_cache_dir_follows_hubfleet_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HUBFLEET_CACHE", str(tmp_path))
    assert cache.bin_dir() == tmp_path / "bin"
    monkeypatch.delenv("HUBFLEET_CACHE")
    assert cache.cache_dir() == Path.home() / ".cache" / "hubfleet"


def test_background_process_is_recorded_and_stopped(tmp_path):
    pid_file = tmp_path / "sleep.pid"
    pid = procs.start(["sleep", "300"], pid_file=pid_file, log_file=tmp_path / "sleep.log")
    assert procs.recorded_pid(pid_file) == pid
    assert procs.stop(pid_file, timeout=5)
    assert not pid_file.exists()
    assert not Path(f"/proc/{pid}").exists() or procs._is_zombie(pid)


def test_recorded_pid_ignores_a_reused_pid(tmp_path):
    pid_file = tmp_path / "other.pid"
    # This test process has the recorded pid, but started at another time than recorded.
    pid_file.write_text(f"{os.getpid()}\n/usr/bin/docker-registry\n1\n")
    assert procs.recorded_pid(pid_file) is None
    assert not procs.stop(pid_file)
    # Pid files without a start time: the program must match.
    pid_file.write_text(f"{os.getpid()}\n/usr/bin/docker-registry\n")
    assert procs.recorded_pid(pid_file) is None
    assert not procs.stop(pid_file)
    assert Path(f"/proc/{os.getpid()}").exists()


def test_warm_invoke_toolchain_is_fast(toolchain_bin):
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "toolchain"],
        cwd=cache.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert "toolchain ready in" in proc.stderr
    assert " built" not in proc.stderr, "a warm run should not rebuild anything"
    assert elapsed < 5, f"warm `invoke toolchain` took {elapsed:.1f}s"


def test_kube_version_ldflags_stamp_the_release_version():
    flags = gomod.kube_version_ldflags("v1.32.2", "2025-02-12T21:19:46Z").split(" ")
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"{package}.gitVersion=v1.32.2" in flags
        assert f"{package}.gitMajor=1" in flags
        assert f"{package}.gitMinor=32" in flags
        assert f"{package}.buildDate=2025-02-12T21:19:46Z" in flags
    assert flags.count("-X") == 10


def test_kwok_cluster_config_gives_every_component_its_own_free_port(monkeypatch, tmp_path):
    monkeypatch.setenv("HUBFLEET_CACHE", str(tmp_path))
    config = yaml.safe_load(kwok._write_cluster_config("unit").read_text())
    assert config["kind"] == "KwokctlConfiguration"
    ports = {k: v for k, v in config["options"].items() if k.endswith("Port")}
    assert set(ports) == set(kwok.PORT_OPTIONS)
    assert len(set(ports.values())) == len(ports)
    assert all(1024 < port < 65536 for port in ports.values())


def test_kwok_cluster_config_readies_the_cluster_for_a_real_node(monkeypatch, tmp_path):
    """kwok fakes only its own nodes; the API server is reachable and trusted from pods."""
    monkeypatch.setenv("HUBFLEET_CACHE", str(tmp_path))
    config = yaml.safe_load(kwok._write_cluster_config("unit").read_text())
    assert config["options"]["kubeApiserverCertSANs"] == [node.NODE_IP, node.KUBERNETES_SERVICE_IP]
    patches = {
        p["name"]: {a["key"]: a["value"] for a in p["extraArgs"]}
        for p in config["componentsPatches"]
    }
    assert patches["kwok-controller"]["manage-all-nodes"] == "false"
    assert (
        patches["kwok-controller"]["manage-nodes-with-annotation-selector"]
        == "kwok.x-k8s.io/node=fake"
    )
    assert patches["kube-apiserver"]["service-cluster-ip-range"] == node.SERVICE_RANGE
    assert patches["kube-apiserver"]["advertise-address"] == node.NODE_IP


def _cluster_up(name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "cluster-up", "--name", name, "--no-real-node"],
        cwd=cache.PROJECT_ROOT,
        env={**os.environ, "PATH": f"{cache.bin_dir()}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _addresses(out: str) -> dict[str, str]:
    keys = ("kubeconfig", "registry", "chart repository", "real node")
    return {
        k: v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if k in keys
    }


def test_cluster_up_again_reuses_the_running_stack(toolchain_bin):
    # Without the real node: there is one per machine, and another cluster may hold it.
    name = f"test-reuse-{os.getpid()}"  # a test-* state dir: cleaned up if this session dies
    kubectl = ["kubectl", "--kubeconfig"]
    try:
        first = _cluster_up(name)
        assert first.returncode == 0, first.stderr
        addresses = _addresses(first.stdout)
        assert addresses["real node"] == "none (--no-real-node)"
        kubeconfig = addresses["kubeconfig"]
        subprocess.run(
            [*kubectl, kubeconfig, "create", "configmap", "survivor", "--from-literal=a=b"],
            check=True,
            capture_output=True,
        )
        second = _cluster_up(name)
        assert second.returncode == 0, second.stderr
        assert f"{name} is already running: reusing it, nothing restarted" in second.stderr
        assert _addresses(second.stdout) == addresses
        # What the first run held is still there: the cluster's objects, the registry's port.
        kept = subprocess.run(
            [*kubectl, kubeconfig, "get", "configmap", "survivor", "-o", "name"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert kept.stdout.strip() == "configmap/survivor", kept.stderr
        assert procs.http_ok(f"http://{addresses['registry']}/v2/")
        # Asked for a real node, the stack without one is refused, not torn down.
        with_node = subprocess.run(
            [sys.executable, "-m", "invoke", "cluster-up", "--name", name],
            cwd=cache.PROJECT_ROOT,
            env={**os.environ, "PATH": f"{cache.bin_dir()}{os.pathsep}{os.environ['PATH']}"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert with_node.returncode == 1
        assert with_node.stderr.strip().splitlines()[-1] == (
            f"error: stack {name} runs without a real node: reuse it with --no-real-node, or "
            f"stop it with `invoke cluster-down --name {name}` and run cluster-up again for one "
            "with a real node"
        )
        assert procs.http_ok(f"http://{addresses['registry']}/v2/")
    finally:
        stack.down(name)


def test_act_patches_apply_once_and_a_source_without_them_stops_the_build(tmp_path):
    source = tmp_path / "act"
    files = {name for name, _, _ in act.PATCHES}
    assert act.SCHEMA in files and act.ARTIFACTS_V4 in files
    for name in files:
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(old for n, old, _ in act.PATCHES if n == name) + "\n")
    act.patch_source(source)
    for name, old, new in act.PATCHES:
        patched = (source / name).read_text()
        assert new in patched and old not in patched.replace(new, "")
    # A release whose code moved on: the build stops and names what it could not patch.
    (source / act.ARTIFACTS_V4).write_text("package artifacts\n")
    with pytest.raises(act.MissingPrerequisite, match="no longer holds"):
        act.patch_source(source)
