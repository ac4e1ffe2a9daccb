"""The jupyterhub chart and the support stand-ins in a local chart repository on 127.0.0.1.

Without internet access (the shared fixtures exist next to the project) the jupyterhub chart is
a stand-in built from the real values.yaml and schema; otherwise it is the real chart, pulled.
The support chart's dependencies are always stand-ins (toolchain/support_charts/).
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

STANDIN_DIR = Path(__file__).with_name("standin_chart")
SUPPORT_DIR = Path(__file__).with_name("support_charts")
SUPPORT_WORKLOAD = SUPPORT_DIR / "workload.yaml"
# Mappings whose keys are names (of properties or definitions), not schema keywords.
_NAME_MAPPINGS = {"properties", "patternProperties", "definitions", "$defs", "dependentSchemas"}


@dataclass(frozen=True)
class ChartRepo:
    url: str  # "http://127.0.0.1:PORT", index.yaml at its root
    pid_file: Path


def strip_descriptions(schema, *, names: bool = False):
    """A copy of a JSON schema without its `description` annotations, as upstream publishes it.

    Only string-valued `description` keywords go: a property *named* "description" (a key of
    a `properties` mapping) is kept.
    """
    if isinstance(schema, list):
        return [strip_descriptions(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if not names and key == "description" and isinstance(value, str):
            continue
        if names:
            out[key] = strip_descriptions(value)
        else:
            out[key] = strip_descriptions(value, names=key in _NAME_MAPPINGS)
    return out


def fixture_chart_inputs() -> Path:
    return cache.fixtures_dir() / f"z2jh-{versions.JUPYTERHUB_CHART}"


def use_standin() -> bool:
    return fixture_chart_inputs().is_dir()


def _standin_digest() -> str:
    digest = hashlib.sha256()
    inputs = [fixture_chart_inputs() / "values.yaml", fixture_chart_inputs() / "values.schema.yaml"]
    inputs += sorted(p for p in STANDIN_DIR.rglob("*") if p.is_file())
    for path in inputs:
        digest.update(str(path.relative_to(path.parents[1])).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_standin(dest: Path) -> None:
    """Write the stand-in chart's source directory to dest."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(STANDIN_DIR, dest)
    src = fixture_chart_inputs()
    # The published chart has the hub image tag that chartpress sets when it packages.
    values = (src / "values.yaml").read_text()
    (dest / "values.yaml").write_text(
        values.replace("set-by-chartpress", versions.JUPYTERHUB_CHART)
    )
    schema = strip_descriptions(yaml.safe_load((src / "values.schema.yaml").read_text()))
    (dest / "values.schema.json").write_text(json.dumps(schema, indent=2) + "\n")


def chart_package_dir() -> Path:
    return cache.cache_dir() / "charts"


def ensure_chart(helm: Path) -> Path:
    """The packaged jupyterhub chart in the cache, built or pulled if missing or stale."""
    package_dir = chart_package_dir()
    package = package_dir / f"jupyterhub-{versions.JUPYTERHUB_CHART}.tgz"
    standin = use_standin()
    stamp = (
        f"standin {_standin_digest()}" if standin else f"pulled {versions.JUPYTERHUB_CHART_REPO}"
    )
    if package.exists() and cache.read_stamp("jupyterhub-chart") == stamp:
        return package
    package_dir.mkdir(parents=True, exist_ok=True)
    package.unlink(missing_ok=True)
    if standin:
        print(
            "jupyterhub chart: building the STAND-IN chart from "
            f"{fixture_chart_inputs()} (no internet access here)",
            file=sys.stderr,
        )
        src = cache.build_dir() / "jupyterhub-chart" / "jupyterhub"
        build_standin(src)
        run([helm, "package", src, "--destination", package_dir], step="packaging the chart")
    else:
        print(
            "jupyterhub chart: pulling the REAL chart "
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
                f"at the folder holding z2jh-{versions.JUPYTERHUB_CHART}/ for the stand-in; "
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


def package_next_standin(helm: Path, version: str, dest: Path) -> Path:
    """The jupyterhub stand-in as a later release at `version` would be, packaged into dest: its
    defaults gain `hub.newSetting` (in the schema too), lose `cull.every`, and change
    `singleuser.startTimeout` and the hub image tag (as chartpress sets it). For `invoke
    upgrade-chart`'s tests and transcript."""
    with tempfile.TemporaryDirectory(prefix="hubfleet-next-standin-") as scratch:
        src = Path(scratch) / "jupyterhub"
        build_standin(src)
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
        run(argv, step="packaging the next jupyterhub stand-in")
    return dest / f"jupyterhub-{version}.tgz"


def describe() -> str:
    """Which chart the repository serves, for the output of set-up steps."""
    if use_standin():
        return f"stand-in jupyterhub {versions.JUPYTERHUB_CHART} (from {fixture_chart_inputs()})"
    return f"real jupyterhub {versions.JUPYTERHUB_CHART} (from {versions.JUPYTERHUB_CHART_REPO})"


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
