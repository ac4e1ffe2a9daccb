"""A generated repo set up for the local cluster, and what e2e tests do with it as an operator would."""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from bake import bake, run_in

from toolchain import node

ENVS = ("staging", "prod")


# Where the tasks' private folders go in the tests: memory, as /dev/shm is their default.
MEMORY = Path("/dev/shm") / f"hubfleet-e2e-{os.getpid()}"
atexit.register(shutil.rmtree, MEMORY, True)


def decrypted(path: Path, key_file: Path) -> dict:
    """A sops-encrypted YAML file's plaintext, read with the age key in `key_file`."""
    out = subprocess.run(
        ["sops", "--decrypt", str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SOPS_AGE_KEY_FILE": str(key_file)},
    )
    return yaml.safe_load(out.stdout)


def scratch_folders(tmp: Path, name: str) -> tuple[dict[str, str], list[Path]]:
    """A fresh TMPDIR on disk and a fresh private folder in memory (FLEET_PRIVATE_DIR), as the
    env of one run, and both folders, to check that the run left nothing in either."""
    stamp = f"{name}-{time.monotonic_ns()}"
    disk, memory = tmp / f"tmpdir-{stamp}", MEMORY / stamp
    disk.mkdir()
    memory.mkdir(parents=True, mode=0o700)
    return {"TMPDIR": str(disk), "FLEET_PRIVATE_DIR": str(memory)}, [disk, memory]


def left_in(folders: list[Path]) -> list[str]:
    """What is left in a run's scratch folders (`scratch_folders`)."""
    return sorted(str(p) for folder in folders for p in folder.iterdir())


def assert_clean(proc) -> None:
    """No decrypted secrets (nor anything else) left in the run's TMPDIR or private folder."""
    left = left_in(proc.scratch)
    assert left == [], f"left behind: {left}"


def pin_to_real_node(section: dict, tolerations: str = "tolerations") -> None:
    """Pin one chart section's pods to the session's real node (`extraTolerations` for singleuser)."""
    key, value = node.REAL_NODE_LABEL
    section["nodeSelector"] = {key: value}
    section[tolerations] = [
        {"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}
    ]


def on_the_real_node(values: dict) -> None:
    """Pin every pod of the chart (hub, proxy, user-scheduler, image pullers and their hook, user
    servers) to the session's real node: its label as their node selector, its taint tolerated."""
    key, value = node.REAL_NODE_LABEL
    tolerate = [{"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}]
    scheduling = values.setdefault("scheduling", {})
    for pods in ("corePods", "userPods"):
        scheduling.setdefault(pods, {})["tolerations"] = tolerate
    sections = [
        values.setdefault("hub", {}),
        values.setdefault("proxy", {}).setdefault("chp", {}),
        scheduling.setdefault("userScheduler", {}),
        values.setdefault("prePuller", {}).setdefault("hook", {}),
        values.setdefault("singleuser", {}),
    ]
    for section in sections:
        section["nodeSelector"] = {key: value}


class GeneratedRepo:
    """The generated repo, the environment its tasks run with, and independent checks of the cluster."""

    def __init__(self, path: Path, env: dict[str, str], kubeconfig: Path, helm: Path, tmp: Path):
        self.path, self.env, self.kubeconfig, self.helm, self.tmp = path, env, kubeconfig, helm, tmp

    def invoke(self, *args: str, env: dict | None = None, check: bool = True):
        """Run the repo's own invoke with fresh scratch folders (`proc.scratch`, `proc.private`),
        for the caller to check."""
        fresh, folders = scratch_folders(self.tmp, "invoke")
        proc = run_in(
            self.path,
            ["invoke", *args],
            env={**self.env, **fresh, **(env or {})},
            check=check,
            timeout=600,
        )
        proc.scratch, proc.private = folders, folders[1]
        proc.output = proc.stdout + proc.stderr
        return proc

    def unpulled_image(self, *hubs: str) -> None:
        """Hubs on kwok's fake nodes, whose pods are Ready whatever their image: none is built."""
        for hub in hubs:
            path = self.path / "hubs" / hub / "hub.yaml"
            doc = yaml.safe_load(path.read_text())
            doc.pop("image", None)
            doc["external_image"] = "registry.invalid/never-pulled:1"
            path.write_text(yaml.safe_dump(doc))

    def start(self, *args: str, env: dict | None = None, **popen) -> subprocess.Popen:
        """Start the repo's own invoke in the background (stdout and stderr piped, as text)."""
        return subprocess.Popen(
            ["invoke", *args],
            cwd=self.path,
            env={**os.environ, **self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **popen,
        )

    def env_for_python(self) -> dict[str, str]:
        """The environment the repo's own Python runs with (its tasks' settings on top)."""
        return {**os.environ, **self.env}

    @property
    def mirror(self) -> str:
        """The repo's image_mirror (fleet.yaml)."""
        return yaml.safe_load((self.path / "fleet.yaml").read_text())["image_mirror"]

    def copy(self, dest: Path) -> GeneratedRepo:
        """A copy of the repo (without fetched charts) to break on purpose; same environment."""
        shutil.copytree(self.path, dest, symlinks=True, ignore=shutil.ignore_patterns("charts"))
        return GeneratedRepo(dest, self.env, self.kubeconfig, self.helm, self.tmp)

    def plan(self, *args: str) -> dict:
        return json.loads(self.invoke("plan", "--json", *args).stdout)

    def git(self, *args: str) -> str:
        identity = ["-c", "user.name=e2e", "-c", "user.email=e2e@example.org"]
        return subprocess.run(
            ["git", "-C", str(self.path), *identity, *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-qm", message)
        return self.git("rev-parse", "HEAD")

    def revert(self) -> None:
        """Undo the last commit with a new one, as an operator reverting a bad change."""
        self.git("revert", "--no-edit", "HEAD")

    def edit_values(self, hub: str, change) -> None:
        """Apply `change` to the `jupyterhub:` section of hubs/<hub>/values.yaml."""
        path = self.path / "hubs" / hub / "values.yaml"
        values = yaml.safe_load(path.read_text()) or {}
        change(values.setdefault("jupyterhub", {}))
        path.write_text(yaml.safe_dump(values, sort_keys=False))

    def kubectl_json(self, *args: str) -> dict:
        out = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args, "-o", "json"],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout)

    def history(self, release: str) -> list[dict]:
        """helm's history of the release, [] when it does not exist."""
        proc = subprocess.run(
            [
                str(self.helm),
                "--kubeconfig",
                str(self.kubeconfig),
                "history",
                release,
                "-n",
                release,
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        return json.loads(proc.stdout) if proc.returncode == 0 else []

    def hub_names(self) -> list[str]:
        """The hubs in the repo's work tree (none once the last one is removed)."""
        folder = self.path / "hubs"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def namespaces(self, also: Iterable[str] = ()) -> list[str]:
        """The namespaces of this repo's releases (`<hub>-<env>`, or `also`) in the cluster."""
        names = [f"{hub}-{env}" for hub in self.hub_names() for env in ENVS]
        found = self.kubectl_json("get", "namespaces")["items"]
        return sorted({item["metadata"]["name"] for item in found} & {*names, *also})

    @contextlib.contextmanager
    def own_releases(self) -> Iterator[None]:
        """The repo's releases are its own: none exists before, all are removed after."""
        left = self.namespaces()
        assert left == [], f"another test left releases of these hubs in the cluster: {left}"
        hubs_before = [f"{hub}-{env}" for hub in self.hub_names() for env in ENVS]
        try:
            yield
        finally:
            # Hubs a test removed or renamed are cleaned up under their first names too; all
            # at once, as each waits for its pods to end.
            with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(self.remove_release, self.namespaces(also=hubs_before)))

    def remove_release(self, namespace: str) -> None:
        """Uninstall the release of a namespace (named as the release) and delete it."""
        base = [str(self.helm), "--kubeconfig", str(self.kubeconfig)]
        subprocess.run(
            [*base, "uninstall", namespace, "-n", namespace, "--wait", "--timeout", "60s"],
            capture_output=True,
            check=False,
        )
        subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), "delete", "namespace", namespace,
             "--wait=true", "--timeout=60s"],
            capture_output=True,
            check=False,
        )  # fmt: skip

    def user_pods_gone(self, release: str, timeout: float = 60) -> bool:
        """Whether the release's user servers' pods are gone, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.kubectl_json(
                "get", "pods", "-n", release, "-l", "component=singleuser-server"
            )
            if not found["items"]:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(2)

    def serving(self, release: str) -> dict:
        return [r for r in self.history(release) if r["status"] == "deployed"][-1]

    def kubeconfig_in_repo(self, cluster: str, kubeconfig: Path) -> None:
        """clusters/<cluster>/cluster.yaml naming no path: its sops-encrypted
        secrets/kubeconfig.yaml, the cluster's kubeconfig flattened (certificates inline), as a
        repository keeps it for CI."""
        folder = self.path / "clusters" / cluster
        (folder / "secrets").mkdir(parents=True, exist_ok=True)
        (folder / "cluster.yaml").write_text("provider: kubeconfig\n")
        flat = subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig), "config", "view", "--flatten", "--raw"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        target = folder / "secrets" / "kubeconfig.yaml"
        target.write_text(flat)
        self.invoke("secrets.encrypt", str(target.relative_to(self.path)))

    def release_labels(self, release: str, revision: int) -> dict:
        found = self.kubectl_json(
            "get", "secrets", "-n", release, "-l", f"owner=helm,name={release}"
        )
        for item in found["items"]:
            if item["metadata"]["labels"]["version"] == str(revision):
                return item["metadata"]["labels"]
        raise AssertionError(f"no release secret for revision {revision} of {release}")


def remove_support(helm: Path, kubeconfig: Path) -> None:
    """No support release (nor cert-manager's CRDs, which its deploys apply) on a cluster: every
    fleet's support release is `support` in namespace `support`."""
    base = [str(helm), "--kubeconfig", str(kubeconfig)]
    subprocess.run([*base, "uninstall", "support", "-n", "support", "--wait"], capture_output=True)
    kubectl = ["kubectl", "--kubeconfig", str(kubeconfig)]
    names = subprocess.run(
        [*kubectl, "get", "crd", "-o", "name"], capture_output=True, text=True, check=True
    ).stdout.split()
    crds = [n for n in names if n.endswith("cert-manager.io")]
    if crds:
        subprocess.run([*kubectl, "delete", *crds, "--wait=true"], capture_output=True)
    subprocess.run([*kubectl, "delete", "namespace", "support", "--wait=true"], capture_output=True)


def read_until(child: subprocess.Popen, text: str) -> list[str]:
    """The lines a background task wrote to stderr, up to the first that holds `text`."""
    seen = []
    for line in child.stderr:
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"never said {text!r}:\n{''.join(seen)}")


@dataclass(frozen=True)
class LocalStack:
    """The session's local tools a generated repo is wired to (conftest's `local_stack`)."""

    kubeconfig: Path
    registry: str
    chart_repo: str
    base_image: str
    age_key: object
    helm: Path
    mirror: str  # the chart's images, as fleet.yaml's image_mirror

    def age_secret_key(self) -> str:
        """The age key's secret line, as a repository's SOPS_AGE_KEY secret holds it."""
        lines = self.age_key.key_file.read_text().splitlines()
        return next(line for line in lines if line.startswith("AGE-SECRET-KEY-"))


def local_repo(tmp: Path, stack: LocalStack, *, org: str, hubs: str, **options) -> GeneratedRepo:
    """Bake a repo whose tasks use the local cluster, registry, chart repository and age key;
    `options`: other cookiecutter answers."""
    kubeconfig, registry, helm, age_key = (
        stack.kubeconfig,
        stack.registry,
        stack.helm,
        stack.age_key,
    )
    path = bake(
        tmp,
        org_name=org,
        hubs=hubs,
        registry=f"{registry}/{org.lower()}",
        jupyterhub_chart_repository=stack.chart_repo,
        support_chart_repository=stack.chart_repo,
        sops_recipient=age_key.public,
        image_mirror=stack.mirror,
        **options,
    )
    env = {
        "FLEET_KUBECONFIG": str(kubeconfig),
        "FLEET_HELM": str(helm),
        "FLEET_BASE_IMAGE": stack.base_image,
        "SOPS_AGE_KEY_FILE": str(age_key.key_file),
        "FLEET_LABELS": "",
        # Nothing serves on kwok's fake nodes: tests on the real node turn it back on.
        "FLEET_HEALTH_CHECK": "off",
    }
    repo = GeneratedRepo(path, env, kubeconfig, helm, tmp)
    for hub in hubs.split(","):
        # No PersistentVolumeClaim binds on kwok's fake nodes.
        repo.edit_values(
            hub, lambda v: v.setdefault("hub", {}).setdefault("db", {}).update(type="sqlite-memory")
        )
    return repo
