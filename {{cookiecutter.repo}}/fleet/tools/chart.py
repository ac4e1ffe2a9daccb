"""The charts: the hubs' shared chart (chart/) and each cluster's support chart (support/).

Fetch their dependencies once, lint them, and render a hub in one environment or a cluster's
support release. What the other modules use (`chart` is a chart folder, the shared chart when
None):
- `dependency_build(fleet, runner, chart=None)`: `helm dependency build` of the committed
  Chart.lock (or `update` when there is no lock yet), once per state of Chart.yaml + Chart.lock,
  under a file lock so two processes never run it at once (helm cannot).
- `lint(fleet, runner, chart=None)`: `helm lint` with the chart's defaults.
- `template_argv(chart, release, values_files, extra_args=())`: the `helm template` command line.
- `template(target, values_files, runner, extra_args=()) -> str`: `helm template` of a release
  (fleet.target: a hub x env, or a cluster's support); a failure names the hub and env, or the
  cluster.
- `render(target, runner)` -> (manifests, mode): dependencies, secrets (decrypted or typed
  placeholders) and template in one call; what `nox -s templates` runs.
- `validate_manifests(text, hub, env, k8s_version, label)`: every rendered object against the
  Kubernetes schema (kubernetes-validate), custom resources (`custom_resources`) left out; the
  error names the hub and env (or the label) and the object.
- `write_lock(root, runner)`: `helm dependency update` to write both Chart.locks (at generation).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import re
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

from fleet.core import private, settings
from fleet.core.config import Fleet, Hub
from fleet.core.errors import Failure, FleetError, StepFailed
from fleet.core.runner import Runner
from fleet.core.target import Target
from fleet.tools import helm, images, mirror, sops

# libyaml's parser when PyYAML has it: a hub's manifests parse several times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

STAMP = ".fleet-deps"
# The Kubernetes version manifests are rendered for and validated against (env
# FLEET_K8S_VERSION overrides).
K8S_VERSION = "1.32.0"


def kube_version() -> str:
    return settings.current().k8s_version or K8S_VERSION


def _state(chart: Path) -> str:
    digest = hashlib.sha256()
    for name in ("Chart.yaml", "Chart.lock"):
        path = chart / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"") + b"\0")
    return digest.hexdigest()


@contextlib.contextmanager
def _file_locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _deps_present(chart: Path) -> bool:
    deps = (yaml.safe_load((chart / "Chart.yaml").read_text()) or {}).get("dependencies") or []
    charts = chart / "charts"
    return all(
        any(charts.glob(f"{d['name']}-*.tgz")) or (charts / d["name"]).is_dir() for d in deps
    )


def _http_repositories(chart: Path) -> list[str]:
    deps = (yaml.safe_load((chart / "Chart.yaml").read_text()) or {}).get("dependencies") or []
    return sorted(
        {d["repository"] for d in deps if str(d.get("repository", "")).startswith("http")}
    )


def dependency_build(fleet: Fleet, runner: Runner, chart: Path | None = None) -> None:
    """Fetch a chart's dependencies into its charts/, once per Chart.yaml + Chart.lock state.

    The chart is the hubs' shared chart unless given (the support chart, fleet.support_chart).

    With a committed Chart.lock this is `helm dependency build`, which fetches exactly the locked
    versions; helm needs the lock's repositories added for that, so they are added to a private
    repository config, never to the user's. Without a lock it is `helm dependency update`.
    """
    chart = chart or fleet.chart
    charts = chart / "charts"
    with _file_locked(charts / ".lock"):
        stamp = charts / STAMP
        state = _state(chart)
        if stamp.exists() and stamp.read_text() == state and _deps_present(chart):
            return
        try:
            _fetch_dependencies(chart, runner)
        except StepFailed as exc:
            raise _unreachable(fleet, chart, exc) from None
        # `update` writes Chart.lock, which changes the state: stamp what is there now.
        stamp.write_text(_state(chart))


_NETWORK = re.compile(r"dial tcp|no such host|i/o timeout|cannot be reached|certificate|TLS")


def _unreachable(fleet: Fleet, chart: Path, exc: StepFailed) -> FleetError:
    """helm's failure to fetch, as what to do: helm's own hint (`helm repo update`) cannot help."""
    network = [line.strip() for line in exc.stderr.splitlines() if _NETWORK.search(line)]
    reason = (network[0] if network else exc.last_line()).removeprefix("Error: ")
    reason = re.sub(r"^Get \"[^\"]*\": |\s*\(try 'helm repo update'\).*", "", reason)
    where = ", ".join(_http_repositories(chart)) or "its repositories"
    relative = chart.relative_to(fleet.root) if chart.is_relative_to(fleet.root) else chart
    return FleetError(
        f"{relative}/Chart.yaml: its dependencies cannot be fetched from {where} ({reason}): "
        f"check the network and the repository URLs; offline, copy the archives Chart.lock "
        f"names into {relative}/charts/ (they are used as they are)"
    )


def _fetch_dependencies(chart: Path, runner: Runner) -> None:
    """`helm dependency build` (with a Chart.lock) or `update` (without), as described above;
    helm's repository config and cache are private to the call, the user's are not touched."""
    with private.directory("fleet-helm-repos-") as home:
        isolated = [
            f"--repository-config={home / 'repositories.yaml'}",
            f"--repository-cache={home / 'cache'}",
        ]
        if not (chart / "Chart.lock").exists():
            runner.run(
                helm.dependency_argv("update", chart, isolated),
                step="helm dependency update",
                mutates=False,
            )
        else:
            for number, url in enumerate(_http_repositories(chart)):
                runner.run(
                    helm.repo_add_argv(f"dependency-{number}", url, isolated),
                    step=f"helm repo add {url}",
                    mutates=False,
                )
            runner.run(
                helm.dependency_argv("build", chart, isolated),
                step="helm dependency build",
                mutates=False,
            )


def lint(fleet: Fleet, runner: Runner, chart: Path | None = None) -> None:
    """`helm lint` a chart (the shared chart unless given) with its defaults."""
    chart = chart or fleet.chart
    dependency_build(fleet, runner, chart)
    runner.run(helm.lint_argv(chart), step=f"helm lint {chart.name}", mutates=False)


def template_argv(
    chart: Path, release: str, values_files: Sequence[Path], extra_args: Sequence[str] = ()
) -> list[str]:
    """`helm template` of a release (in the namespace of its name) with values files in order,
    for the Kubernetes version it is validated against: without a cluster, helm 3 assumes
    v1.20, which the jupyterhub chart (kubeVersion >=1.28) refuses."""
    return helm.template_argv(chart, release, values_files, kube_version(), extra_args)


def template(
    target: Target, values_files: Sequence[Path], runner: Runner, extra_args: Sequence[str] = ()
) -> str:
    """Render a release with the given values files (in order); returns the YAML."""
    argv = template_argv(target.chart, target.name, values_files, extra_args)
    what = "the support chart of cluster" if target.is_support else "hub"
    name = target.cluster if target.is_support else f"{target.hub.name} env {target.env}"
    return runner.run(argv, step=f"helm template of {what} {name}", mutates=False).stdout


def render(target: Target, runner: Runner) -> tuple[str, str]:
    """Template a release with its values and secrets; returns (manifests, secrets mode)."""
    fleet = target.fleet
    dependency_build(fleet, runner, target.chart)
    with sops.for_render(target, runner) as (path, found, mode):
        own = runner.copy(secrets=runner.secrets | found)
        flags = []
        if target.hub is not None:
            flags = helm.image_flags(*images.split_image(images.hub_image(fleet, target.hub)))
            flags += mirror_flags(fleet, target.hub, target.env, own)
        manifests = template(target, target.values_files(path), own, flags)
    return manifests, mode


@functools.lru_cache(maxsize=8)
def documents(text: str) -> tuple[dict, ...]:
    """The objects of a multi-document YAML (helm's output), parsed once for all who read it."""
    return tuple(doc for doc in yaml.load_all(text, Loader=_LOADER) if doc)


def custom_resources(text: str) -> list[str]:
    """The objects (Kind/name) of a multi-document YAML whose API group Kubernetes does not have."""
    return [_object_name(doc) for doc in documents(text) if _is_custom(doc)]


def _is_custom(doc: dict) -> bool:
    # Kubernetes' own groups are the core group, dot-less ones (apps, batch, policy) and *.k8s.io;
    # any other (cert-manager.io, monitoring.coreos.com) comes from a CRD the schema cannot know.
    group = str(doc.get("apiVersion", "")).rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


def _object_name(doc: dict) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


@functools.cache
def _kubernetes_validate():
    """kubernetes_validate, its schema files parsed once per process instead of on every object.

    Its `validate` reads and parses the kind's schema and the whole definitions file (megabytes
    of JSON) for each object: three quarters of a hub's validation time. The parsed schemas are
    never changed by the validation, so one copy serves every object and thread.
    """
    import kubernetes_validate  # noqa: PLC0415 - heavy (its schemas); only `nox -s templates` needs it
    from kubernetes_validate import utils  # noqa: PLC0415

    utils.schema_contents = functools.lru_cache(maxsize=256)(utils.schema_contents)
    return kubernetes_validate


def validate_manifests(
    text: str, hub: str, env: str, k8s_version: str | None = None, label: str | None = None
) -> int:
    """Validate every object in a multi-document YAML against the Kubernetes schema; returns the count.

    Custom resources are left out (see `custom_resources`): no schema of Kubernetes has them.
    An error names the hub and env, or `label` (a cluster's support release).
    """
    label = label or f"hub {hub} env {env}"
    kubernetes_validate = _kubernetes_validate()
    version = k8s_version or kube_version()
    count = 0
    for doc in documents(text):
        if _is_custom(doc):
            continue
        name = _object_name(doc)
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path) or "(top level)"
            raise FleetError(f"{label}: {name}: field {where}: {exc.message}") from None
        except (
            kubernetes_validate.SchemaNotFoundError,
            kubernetes_validate.InvalidSchemaError,
        ) as exc:
            raise FleetError(f"{label}: {name}: no Kubernetes schema: {exc}") from None
        count += 1
    return count


def write_lock(root: Path, runner: Runner, timeout: float = 120) -> list[str]:
    """Write chart/Chart.lock and support/Chart.lock; returns what to tell the operator."""
    notes = []
    for folder, what in (("chart", "the jupyterhub chart"), ("support", "the support charts")):
        if (root / folder / "Chart.yaml").exists():
            notes += _write_lock(root, folder, what, runner, timeout)
    return notes


def _write_lock(root: Path, folder: str, what: str, runner: Runner, timeout: float) -> list[str]:
    """`helm dependency update` of one chart, run once when the repo is generated, so deploys
    `helm dependency build` the committed lock."""
    later = f"`helm dependency update {folder}`, then commit {folder}/Chart.lock"
    try:
        runner.run(
            helm.dependency_argv("update", root / folder),
            step="helm dependency update",
            mutates=False,
            timeout=timeout,
        )
    except StepFailed as exc:
        said = [line.strip() for line in exc.stderr.splitlines() if line.strip()]
        # helm names the unreachable repository on a line of its own, then why on the next.
        reached = [n for n, line in enumerate(said) if "Unable to get an update" in line]
        why = " ".join(said[reached[0] : reached[0] + 2]) if reached else exc.last_line()
        return [f"could not fetch {what}: {why}", f"Once it is reachable, run {later}."]
    except Failure:
        return [f"helm is not on PATH, so {folder}/Chart.lock was not written: run {later}."]
    return []


def _jupyterhub_file(fleet: Fleet, runner: Runner, name: str) -> dict:
    """A YAML file of the jupyterhub chart the shared chart locks (after its dependency build)."""
    dependency_build(fleet, runner)
    archives = sorted((fleet.chart / "charts").glob("jupyterhub-*.tgz"))
    if not archives:
        raise FleetError(
            f"{fleet.chart / 'charts'}: no jupyterhub chart after `helm dependency build`"
        )
    return _archive_yaml(archives[-1], archives[-1].stat().st_mtime_ns, f"jupyterhub/{name}")


@functools.lru_cache(maxsize=8)
def _archive_yaml(archive: Path, mtime: int, member: str) -> dict:
    with tarfile.open(archive) as tar:
        return yaml.load(tar.extractfile(member).read(), Loader=_LOADER) or {}


def jupyterhub_version(fleet: Fleet, runner: Runner) -> str:
    """The JupyterHub version (appVersion) of the jupyterhub chart the shared chart locks."""
    return str(_jupyterhub_file(fleet, runner, "Chart.yaml")["appVersion"])


def jupyterhub_defaults(fleet: Fleet, runner: Runner) -> dict:
    """The default values of the jupyterhub chart the shared chart locks (do not change them)."""
    return _jupyterhub_file(fleet, runner, "values.yaml")


def mirror_flags(fleet: Fleet, hub: Hub, env: str, runner: Runner) -> list[str]:
    """helm flags pulling the chart's images from the hub's cluster's mirror (fleet.mirror)."""
    if not fleet.mirror_of(hub.cluster):
        return []
    return mirror.flags(fleet, hub, env, jupyterhub_defaults(fleet, runner))
