"""Session fixtures: the real local tools, started lazily and always torn down.

Other test modules use exactly these fixture names: toolchain_bin, kubeconfig, registry,
chart_repo, base_image, age_key, gpg_key, helm3, helm4, second_kubeconfig, act_ready.
"""

import atexit
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import gnupg
import pytest
from generated import LocalStack

from toolchain import act, baseimage, cache, chartrepo, dockerd, hubimages, node, stack, versions
from toolchain import registry as registry_

TOOLCHAIN_BIN = cache.bin_dir()
# Every subprocess, including generated repos' own tasks, finds the pinned tools first.
os.environ["PATH"] = f"{TOOLCHAIN_BIN}{os.pathsep}{os.environ.get('PATH', '')}"

REQUIRED_TOOLS = (
    "helm",
    "helm3",
    "helm4",
    "sops",
    "kwok",
    "kwokctl",
    "etcd",
    "coredns",
    *versions.KUBE_BINARIES,
)
REQUIRED_SYSTEM_TOOLS = (
    "kubectl",
    "docker",
    "docker-registry",
    "age",
    "age-keygen",
    "gpg",
    "containerd",
    "runc",
    "ctr",
    "iptables",
)

SESSION_DIR = stack.test_session_dir()
# helm keeps repository caches in these: keep the user's own out of the tests.
for _var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
    os.environ.setdefault(_var, str(SESSION_DIR / "helm" / _var.split("_")[1].lower()))


def _teardown_session() -> None:
    stack.down_dir(SESSION_DIR)


def _on_sigterm(signum, frame):
    # Turn SIGTERM into a normal exit, so fixture finalizers and atexit still run.
    raise SystemExit(128 + signum)


atexit.register(_teardown_session)
if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
    signal.signal(signal.SIGTERM, _on_sigterm)


def _fail_missing(what: str) -> None:
    pytest.fail(f"{what} is missing: run `invoke toolchain`", pytrace=False)


@pytest.fixture(scope="session")
def toolchain_bin() -> Path:
    """The cache bin dir holding the pinned tools (already first on PATH)."""
    for name in REQUIRED_TOOLS:
        if not (TOOLCHAIN_BIN / name).exists():
            _fail_missing(f"{TOOLCHAIN_BIN / name}")
    for name in REQUIRED_SYSTEM_TOOLS:
        if not shutil.which(name):
            _fail_missing(f"`{name}`")
    return TOOLCHAIN_BIN


@pytest.fixture(scope="session")
def helm3(toolchain_bin) -> Path:
    return toolchain_bin / "helm3"


@pytest.fixture(scope="session")
def helm4(toolchain_bin) -> Path:
    return toolchain_bin / "helm4"


@pytest.fixture(scope="session")
def _session_dir():
    stack.clean_stale_test_sessions()
    SESSION_DIR.mkdir(parents=True, exist_ok=True)
    try:
        yield SESSION_DIR
    finally:
        _teardown_session()


@pytest.fixture(scope="session")
def second_kubeconfig(toolchain_bin, _session_dir) -> Path:
    """A second kwok cluster (fake nodes only), for tests of a fleet on two clusters."""
    directory = _session_dir / "second"
    try:
        cluster = stack.start_cluster(directory, f"hubfleet-test-{os.getpid()}-b")
        yield cluster.kubeconfig
    finally:
        stack.stop_cluster(directory)


@pytest.fixture(scope="session")
def kubeconfig(toolchain_bin, _session_dir) -> Path:
    """Kubeconfig of a kwok cluster with 2 fake Ready nodes, for this session only."""
    try:
        cluster = stack.start_cluster(_session_dir, f"hubfleet-test-{os.getpid()}")
        yield cluster.kubeconfig
    finally:
        stack.stop_cluster(_session_dir)


@pytest.fixture(scope="session")
def real_node(kubeconfig, registry, _session_dir) -> node.Node:
    """The session cluster's real node (pods pinned to it really run), pulling from `registry`."""
    cluster = stack.read_state(_session_dir)["cluster"]
    try:
        yield node.start(_session_dir, cluster, kubeconfig, registry)
    finally:
        node.stop(_session_dir)


@pytest.fixture(scope="session")
def registry(toolchain_bin, _session_dir) -> str:
    """Address ("127.0.0.1:PORT") of an empty docker-registry for this session."""
    try:
        yield stack.start_registry(_session_dir).address
    finally:
        registry_.stop(_session_dir)


@pytest.fixture(scope="session")
def chart_repo(toolchain_bin, _session_dir) -> str:
    """URL ("http://127.0.0.1:PORT") of a chart repository serving jupyterhub 4.4.0."""
    try:
        yield stack.start_chart_repo(_session_dir).url
    finally:
        chartrepo.stop(_session_dir)


@pytest.fixture(scope="session")
def base_image(toolchain_bin, registry) -> str:
    """The base image, tagged and pushed into the session registry."""
    if not dockerd.answers():
        _fail_missing("a running dockerd")
    if not baseimage.present():
        _fail_missing(f"the base image {versions.BASE_IMAGE}")
    name = f"{registry}/{versions.BASE_IMAGE}"
    subprocess.run(["docker", "tag", versions.BASE_IMAGE, name], check=True)
    try:
        subprocess.run(
            ["docker", "push", "--quiet", name], check=True, capture_output=True, text=True
        )
    except subprocess.CalledProcessError as error:
        pytest.fail(f"docker push {name} failed:\n{error.stderr}", pytrace=False)
    yield name
    subprocess.run(["docker", "image", "rm", name], capture_output=True, check=False)


@pytest.fixture(scope="session")
def chart_mirror(toolchain_bin, registry) -> str:
    """A registry mirror ("127.0.0.1:PORT/mirror") holding every image the jupyterhub chart runs,
    as an air-gapped cluster's would: each image `invoke toolchain` built, under the chart's name
    for it without the registry host, at the tag the chart runs it with."""
    prefix = f"{registry}/mirror"
    for local in chartrepo.mirror_refs(prefix).values():
        if not hubimages.present(local):
            _fail_missing(f"the image {local}")
    pushed = chartrepo.push_mirror(prefix)
    yield prefix
    subprocess.run(["docker", "image", "rm", *pushed], capture_output=True, check=False)


@pytest.fixture(scope="session")
def local_stack(
    kubeconfig, registry, chart_repo, base_image, age_key, helm4, chart_mirror
) -> LocalStack:
    """What a generated repo's tasks use here: cluster, registry, chart repository, key, helm 4,
    and the mirror of the chart's images."""
    return LocalStack(kubeconfig, registry, chart_repo, base_image, age_key, helm4, chart_mirror)


@pytest.fixture(scope="session")
def node_images(chart_mirror, real_node) -> str:
    """The chart's images already on the real node: the hub gives its proxy 30 s to start, less
    than a first pull of a cold node can take. Yields the mirror prefix."""
    for target in chartrepo.mirror_refs(chart_mirror):
        node.pull(real_node, target)
    return chart_mirror


@dataclass(frozen=True)
class AgeKey:
    public: str  # "age1..."
    key_file: Path  # usable as SOPS_AGE_KEY_FILE


@pytest.fixture(scope="session")
def age_key(toolchain_bin, tmp_path_factory) -> AgeKey:
    key_file = tmp_path_factory.mktemp("age") / "key.txt"
    subprocess.run(["age-keygen", "-o", str(key_file)], check=True, capture_output=True)
    public = next(
        line.split(":", 1)[1].strip()
        for line in key_file.read_text().splitlines()
        if line.startswith("# public key:")
    )
    return AgeKey(public=public, key_file=key_file)


@dataclass(frozen=True)
class GpgKey:
    gnupghome: Path  # a temporary GNUPGHOME (0700) holding the key pair
    fingerprint: str  # 40 hex digits
    private_armored: str  # ASCII-armored secret key, as CI would hold it in a secret


@pytest.fixture(scope="session")
def gpg_key(toolchain_bin, tmp_path_factory) -> GpgKey:
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    try:
        gpg = gnupg.GPG(gnupghome=str(home))
        key = gpg.gen_key(
            gpg.gen_key_input(
                key_type="RSA",
                key_length=2048,
                no_protection=True,
                name_real="hubfleet test",
                name_email="test@hubfleet.invalid",
                expire_date=0,
            )
        )
        if not key.fingerprint:
            pytest.fail(f"gpg key generation failed: {key.stderr}", pytrace=False)
        private = gpg.export_keys(key.fingerprint, secret=True, expect_passphrase=False)
        yield GpgKey(gnupghome=home, fingerprint=key.fingerprint, private_armored=private)
    finally:
        subprocess.run(
            ["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False
        )


@pytest.fixture(scope="session")
def act_ready(toolchain_bin) -> None:
    """act and what its runs need, as `invoke toolchain` leaves them."""
    if not act.node_bin().joinpath("node").exists():
        _fail_missing(f"Node {versions.ACT_NODE} for act")
    if not (cache.bin_dir() / "act").exists():
        _fail_missing("act")
    if not list(act.tool_cache().glob("Python/*/x64.complete")):
        _fail_missing("the runner tool cache for setup-python")
