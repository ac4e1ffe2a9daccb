"""The jupyterhub chart and the support stand-ins in a local chart repository on 127.0.0.1.

The jupyterhub chart is the real Zero to JupyterHub chart: packaged from the source of its
release in the shared fixtures where they exist (no internet here), else pulled from its
published repository. The support chart's dependencies are stand-ins (toolchain/support_charts/).
"""

import hashlib
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import cache, procs, versions
from .run import run

SUPPORT_DIR = Path(__file__).with_name("support_charts")
SUPPORT_WORKLOAD = SUPPORT_DIR / "workload.yaml"


@dataclass(frozen=True)
class ChartRepo:
    url: str  # "http://127.0.0.1:PORT", index.yaml at its root
    pid_file: Path


def fixture_chart() -> Path:
    """The source of the real chart's release, as its release tool packages it."""
    return cache.fixtures_dir() / f"z2jh-{versions.JUPYTERHUB_CHART}" / "chart"


def from_fixtures() -> bool:
    return fixture_chart().is_dir()


def _source_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def chart_package_dir() -> Path:
    return cache.cache_dir() / "charts"


def ensure_chart(helm: Path) -> Path:
    """The packaged real jupyterhub chart in the cache, packaged or pulled if missing or stale."""
    package_dir = chart_package_dir()
    package = package_dir / f"jupyterhub-{versions.JUPYTERHUB_CHART}.tgz"
    local = from_fixtures()
    stamp = (
        f"packaged {_source_digest(fixture_chart())}"
        if local
        else f"pulled {versions.JUPYTERHUB_CHART_REPO}"
    )
    if package.exists() and cache.read_stamp("jupyterhub-chart") == stamp:
        return package
    package_dir.mkdir(parents=True, exist_ok=True)
    package.unlink(missing_ok=True)
    if local:
        print(f"jupyterhub chart: packaging the real chart from {fixture_chart()}", file=sys.stderr)
        run(
            [helm, "package", fixture_chart(), "--destination", package_dir],
            step="packaging the jupyterhub chart",
        )
    else:
        print(
            "jupyterhub chart: pulling the real chart "
            f"{versions.JUPYTERHUB_CHART} from {versions.JUPYTERHUB_CHART_REPO}",
            file=sys.stderr,
        )
        run(
            [
                helm,
                "pull",
                "jupyterhub",
                "--repo",
                versions.JUPYTERHUB_CHART_REPO,
                "--version",
                versions.JUPYTERHUB_CHART,
                "--destination",
                package_dir,
            ],
            step=(
                "pulling the jupyterhub chart (without internet access, point HUBFLEET_FIXTURES "
                f"at the folder holding z2jh-{versions.JUPYTERHUB_CHART}/chart/; "
                f"looked in {cache.fixtures_dir()})"
            ),
        )
    cache.write_stamp("jupyterhub-chart", stamp)
    return package


def package_support(
    helm: Path, name: str, version: str, dest: Path, source: Path | None = None
) -> Path:
    """Package a support stand-in (or a changed copy of one, `source`) at `version` into dest.

    The chart gets the stand-ins' shared workload template (SUPPORT_WORKLOAD) in its templates/.
    """
    with tempfile.TemporaryDirectory(prefix=f"hubfleet-{name}-") as scratch:
        chart = Path(scratch) / name
        shutil.copytree(source or SUPPORT_DIR / name, chart)
        (chart / "templates").mkdir(exist_ok=True)
        shutil.copy2(SUPPORT_WORKLOAD, chart / "templates" / "workload.yaml")
        argv = [helm, "package", chart, "--version", version]
        run([*argv, "--destination", dest], step=f"packaging the {name} stand-in")
    return dest / f"{name}-{version}.tgz"


def package_next_release(helm: Path, version: str, dest: Path) -> Path:
    """The real jupyterhub chart as a later release at `version` would be, packaged into dest:
    its defaults gain `hub.newSetting` (in the schema too), lose `cull.every`, and change
    `singleuser.startTimeout` and the hub image tag (as its release tool sets it). For `invoke
    upgrade-chart`'s tests and transcript."""
    with tempfile.TemporaryDirectory(prefix="hubfleet-next-chart-") as scratch:
        src = Path(scratch) / "jupyterhub"
        shutil.copytree(ensure_source(helm), src)
        values = yaml.safe_load((src / "values.yaml").read_text())
        values["hub"]["newSetting"] = True
        del values["cull"]["every"]
        values["singleuser"]["startTimeout"] = 600
        values["hub"]["image"]["tag"] = version
        (src / "values.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
        schema = json.loads((src / "values.schema.json").read_text())
        schema["properties"]["hub"]["properties"]["newSetting"] = {"type": "boolean"}
        (src / "values.schema.json").write_text(json.dumps(schema, indent=2))
        argv = [helm, "package", src, "--version", version, "--destination", dest]
        run(argv, step="packaging the next jupyterhub release")
    return dest / f"jupyterhub-{version}.tgz"


def ensure_source(helm: Path) -> Path:
    """The real chart's source folder: the fixtures', or the pulled package unpacked."""
    if from_fixtures():
        return fixture_chart()
    unpacked = cache.build_dir() / "jupyterhub-chart"
    shutil.rmtree(unpacked, ignore_errors=True)
    shutil.unpack_archive(ensure_chart(helm), unpacked)
    return unpacked / "jupyterhub"


def describe() -> str:
    """Which chart the repository serves, for the output of set-up steps."""
    where = fixture_chart() if from_fixtures() else versions.JUPYTERHUB_CHART_REPO
    return f"real jupyterhub {versions.JUPYTERHUB_CHART} (from {where})"


def start(state_dir: Path, helm: Path) -> ChartRepo:
    """Serve the jupyterhub chart from state_dir/charts on a free port of 127.0.0.1."""
    package = ensure_chart(helm)
    serve_dir = state_dir / "charts"
    shutil.rmtree(serve_dir, ignore_errors=True)
    serve_dir.mkdir(parents=True)
    shutil.copy2(package, serve_dir)
    for name, (version, _) in versions.SUPPORT_CHARTS.items():
        package_support(helm, name, version, serve_dir)
    port = procs.free_port()
    url = f"http://127.0.0.1:{port}"
    run([helm, "repo", "index", serve_dir, "--url", url], step="indexing the chart repository")
    pid_file = state_dir / "chartrepo.pid"
    log_file = state_dir / "chartrepo.log"
    procs.start(
        [
            sys.executable,
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            str(port),
            "--directory",
            serve_dir,
        ],
        pid_file=pid_file,
        log_file=log_file,
    )
    procs.wait_until(
        lambda: procs.http_ok(f"{url}/index.yaml"),
        timeout=30,
        what=f"the chart repository answering on {url}",
        log_file=log_file,
    )
    support = ", ".join(f"{n} {v}" for n, (v, _) in versions.SUPPORT_CHARTS.items())
    print(
        f"chart repository {url} serves the {describe()}; support stand-ins {support}",
        file=sys.stderr,
    )
    return ChartRepo(url=url, pid_file=pid_file)


def stop(state_dir: Path) -> None:
    procs.stop(state_dir / "chartrepo.pid")
    shutil.rmtree(state_dir / "charts", ignore_errors=True)


def mirror_refs(prefix: str) -> dict[str, str]:
    """Where a registry mirror holds each image the chart runs -> the local image built for it.

    The name is the chart's default for that value without its registry host (as the generated
    repo's image_mirror names it), the tag the one it runs (versions.CHART_IMAGES says why).
    """
    defaults = yaml.safe_load(
        (ensure_source(cache.bin_dir() / "helm4") / "values.yaml").read_text()
    )
    refs = {}
    for path, (local, tag) in versions.CHART_IMAGES.items():
        section = defaults
        for key in path.split("."):
            section = section[key]
        host, _, rest = section["name"].partition("/")
        name = rest if "." in host or ":" in host else section["name"]
        refs[f"{prefix}/{name}:{tag}"] = local
    return refs


def push_mirror(prefix: str) -> list[str]:
    """Fill a registry mirror with the chart's images `invoke toolchain` built (mirror_refs)."""
    pushed = []
    for target, local in mirror_refs(prefix).items():
        run(["docker", "tag", local, target], step=f"tagging {local} as {target}", echo=False)
        run(
            ["docker", "push", "--quiet", target],
            step=f"pushing {target}",
            echo=False,
            capture=True,
        )
        pushed.append(target)
    return pushed
