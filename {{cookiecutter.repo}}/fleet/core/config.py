"""Read and validate the repository's config: fleet.yaml, clusters/*/cluster.yaml, hubs/*/hub.yaml.

Everything is validated, with messages naming the file and the field, before any tool runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jsonschema
import referencing

from fleet.core import yamlfile
from fleet.core.errors import FleetError

ENVIRONMENTS = ("staging", "prod")
SCHEMAS = Path(__file__).parent / "schemas"


@cache
def schema(kind: str) -> dict:
    """The JSON schema for one kind of config file: fleet, cluster or hub."""
    return json.loads((SCHEMAS / f"{kind}.schema.json").read_text())


def read_yaml(path: Path) -> object:
    """Parse a YAML file strictly (fleet.yamlfile): an error names the file and line."""
    return yamlfile.read(path)


def merge_values(base: dict, over: dict) -> dict:
    """`over` layered on `base`, deep, as helm layers values files."""
    out = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merge_values(out[key], value) if both else value
    return out


def merged_values(files: Iterable[Path]) -> dict:
    """The values of the files that exist, later ones over earlier ones (as helm merges them)."""
    result: dict = {}
    for path in files:
        if path.exists():
            data = read_yaml(path)
            result = merge_values(result, data if isinstance(data, dict) else {})
    return result


@cache
def _registry() -> referencing.Registry:
    """Every schema by its $id, so one can use another's $defs (one source for each rule)."""
    kinds = [p.name.removesuffix(".schema.json") for p in SCHEMAS.glob("*.schema.json")]
    return referencing.Registry().with_resources(
        (schema(k)["$id"], referencing.Resource.from_contents(schema(k))) for k in kinds
    )


def _whole_pattern(validator, pattern: str, instance: object, _schema: dict):
    """`pattern`, with `$` at its end matching only at the end of the string (Python's `$` also
    matches before a trailing newline, which JSON Schema's ECMA-262 `$` does not)."""
    if not validator.is_type(instance, "string"):
        return
    strict = (
        pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
    )
    if not re.search(strict, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"pattern": _whole_pattern}
)


def validate(data: object, kind: str, path: Path) -> dict:
    """Validate a parsed file against its schema; the error names the file and the field."""
    validator = _Validator(schema(kind), registry=_registry())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise FleetError(f"{path}: field {where}: {err.message}")
    return data


RELEASE_MAX = 53  # characters of a helm release name


def release_name(hub: str, env: str) -> str:
    """Release and namespace of a hub in an environment."""
    return f"{hub}-{env}"


# The support chart's release, and its namespace, on every cluster (fleet.support).
SUPPORT_RELEASE = "support"  # every cluster's support release, and its namespace


@dataclass(frozen=True)
class Cluster:
    name: str
    path: Path
    provider: str
    settings: dict = field(default_factory=dict)
    image_mirror: str | None = None  # None: the fleet's

    @property
    def support_values(self) -> Path:
        """This cluster's values of the support chart (validated by support/values.schema.json)."""
        return self.path / "support.yaml"

    @property
    def support_secrets(self) -> Path:
        """Its sops-encrypted support values (the Grafana admin password)."""
        return self.path / "secrets" / "support.yaml"


@dataclass(frozen=True)
class Hub:
    name: str
    path: Path
    cluster: str
    image: str | None
    external_image: str | None
    environments: tuple[str, ...]
    urls: dict[str, str] = field(default_factory=dict)
    has_secrets: bool = True

    def values_files(self, env: str) -> list[Path]:
        """Common values first, then the environment's overrides (files that exist)."""
        files = [self.path / "values.yaml", self.path / f"{env}.yaml"]
        return [f for f in files if f.exists()]

    def secrets_file(self, env: str) -> Path:
        return self.path / "secrets" / f"{env}.yaml"

    def required_secrets(self, env: str) -> Path | None:
        """The env's secrets file; None for a hub with `secrets: false`; an error if it is missing."""
        if not self.has_secrets:
            return None
        path = self.secrets_file(env)
        if not path.exists():
            raise FleetError(
                f"hub {self.name}: no secrets file for {env} ({path}): create it with "
                f"`invoke secrets.edit --hub {self.name} --env {env}`, or set `secrets: false` in "
                f"hubs/{self.name}/hub.yaml if the hub needs none"
            )
        return path

    def release(self, env: str) -> str:
        return release_name(self.name, env)


@dataclass(frozen=True)
class Fleet:
    root: Path
    registry: str
    domain: str
    secrets_backend: str
    environments: tuple[str, ...]
    clusters: dict[str, Cluster]
    hubs: dict[str, Hub]
    images: tuple[str, ...]
    name: str = ""
    promotion: str = "branches"
    image_mirror: str = ""
    canary_max_age: str = "24h"

    def mirror_of(self, cluster: str) -> str:
        """The registry prefix the chart's images are pulled from on a cluster ("" for none)."""
        own = self.cluster(cluster).image_mirror
        return self.image_mirror if own is None else own

    @property
    def chart(self) -> Path:
        return self.root / "chart"

    @property
    def support_chart(self) -> Path:
        return self.root / "support"

    def hub(self, name: str) -> Hub:
        """The named hub, or an error listing the valid ones."""
        if name not in self.hubs:
            valid = ", ".join(sorted(self.hubs)) or "(none)"
            raise FleetError(f"unknown hub {name!r}; valid hubs: {valid}")
        return self.hubs[name]

    def cluster(self, name: str) -> Cluster:
        """The named cluster, or an error listing the valid ones."""
        if name not in self.clusters:
            valid = ", ".join(sorted(self.clusters)) or "(none)"
            raise FleetError(f"unknown cluster {name!r}; valid clusters: {valid}")
        return self.clusters[name]

    def fleet_env(self, env: str) -> str:
        """The environment if the fleet has it, else an error listing the valid ones."""
        if env not in self.environments:
            raise FleetError(f"unknown env {env!r}; valid envs: {', '.join(self.environments)}")
        return env

    def hub_env(self, hub: Hub, env: str) -> str:
        """The environment if the hub deploys to it, else an error listing the valid ones."""
        if env not in hub.environments:
            valid = ", ".join(hub.environments)
            raise FleetError(f"unknown env {env!r} for hub {hub.name!r}; valid envs: {valid}")
        return env

    def image_ref(self, image: str, tag: str) -> str:
        return f"{self.registry}/{image}:{tag}"


def find_root(start: Path | None = None) -> Path:
    """The repository root: the nearest folder upwards that holds fleet.yaml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "fleet.yaml").exists():
            return folder
    raise FleetError(f"no fleet.yaml in {here} or any parent: run this inside the deployment repo")


def _names(folder: Path, marker: str, kind: str) -> list[str]:
    """The folders holding `marker`; a name is a DNS label, as the schemas' names of them are."""
    if not folder.is_dir():
        return []
    names = sorted(p.name for p in folder.iterdir() if (p / marker).exists())
    label = re.compile(schema("hub")["$defs"]["dnsLabel"]["pattern"])
    for name in names:
        if not label.fullmatch(name):
            raise FleetError(
                f"{folder / name}: {kind} folder name {name!r} is not a DNS-1123 label (lowercase "
                "letters, digits and '-', starting and ending with a letter or digit): rename the "
                "folder"
            )
    return names


def _cluster(root: Path, name: str) -> Cluster:
    path = root / "clusters" / name / "cluster.yaml"
    data = validate(read_yaml(path), "cluster", path)
    provider = data["provider"]
    return Cluster(name, path.parent, provider, data.get(provider, {}), data.get("image_mirror"))


def _hub(
    root: Path, name: str, clusters: dict, images: tuple[str, ...], environments: tuple[str, ...]
) -> Hub:
    """hubs/NAME/hub.yaml, checked against the fleet's clusters and images."""
    path = root / "hubs" / name / "hub.yaml"
    data = validate(read_yaml(path), "hub", path)
    if data["cluster"] not in clusters:
        valid = ", ".join(sorted(clusters)) or "(none)"
        raise FleetError(
            f"{path}: field cluster: no cluster {data['cluster']!r} under clusters/; "
            f"valid clusters: {valid}"
        )
    if data.get("image") and data["image"] not in images:
        valid = ", ".join(images) or "(none)"
        raise FleetError(
            f"{path}: field image: no image folder {data['image']!r} under images/; "
            f"valid images: {valid}"
        )
    hub_envs = tuple(data.get("environments", environments))
    longest = max((release_name(name, env) for env in hub_envs), key=len)
    if len(longest) > RELEASE_MAX:
        raise FleetError(
            f"{path.parent}: hub name {name!r} is too long: its release {longest!r} has "
            f"{len(longest)} characters, helm allows {RELEASE_MAX}: rename the folder"
        )
    return Hub(
        name=name,
        path=path.parent,
        cluster=data["cluster"],
        image=data.get("image"),
        external_image=data.get("external_image"),
        environments=hub_envs,
        urls=data.get("urls", {}),
        has_secrets=data.get("secrets", True),
    )


def load(root: Path | None = None) -> Fleet:
    """Load and validate the whole repository config."""
    root = find_root(root)
    fleet_file = root / "fleet.yaml"
    top = validate(read_yaml(fleet_file), "fleet", fleet_file)
    clusters = {n: _cluster(root, n) for n in _names(root / "clusters", "cluster.yaml", "cluster")}
    images = tuple(_names(root / "images", "Dockerfile", "image"))
    environments = tuple(top.get("environments", ENVIRONMENTS))
    hubs = {
        name: _hub(root, name, clusters, images, environments)
        for name in _names(root / "hubs", "hub.yaml", "hub")
    }
    return Fleet(
        root=root,
        registry=top["registry"],
        domain=top["domain"],
        secrets_backend=top["secrets_backend"],
        environments=environments,
        clusters=clusters,
        hubs=hubs,
        images=images,
        name=top.get("name", ""),
        promotion=top.get("promotion", "branches"),
        image_mirror=top.get("image_mirror", ""),
        canary_max_age=top.get("canary_max_age", "24h"),
    )
