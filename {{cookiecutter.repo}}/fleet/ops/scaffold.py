"""Add hubs and clusters: a hub from fleet/ops/skeleton/hub/, with freshly generated, encrypted secrets.

The cookiecutter hook makes the first hubs with this same code (`invoke new-hub`).
"""

from __future__ import annotations

import re
import secrets
import shutil
from pathlib import Path
from string import Template

import yaml

from fleet.core import config, yamlfile
from fleet.core.errors import Failure, FleetError
from fleet.core.runner import Runner
from fleet.core.target import Target
from fleet.tools import sops

SKELETON = Path(__file__).parent / "skeleton"
HUB_MAX = config.RELEASE_MAX - len("-staging")  # a release is `<hub>-<env>`
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
IMAGE_REF = re.compile(r"[:@]")
HEALTH_CHECK_SERVICE = "health-check"


def check_name(kind: str, name: str, max_len: int = 63) -> str:
    """The name if it is a DNS-1123 label of at most max_len characters, else a FleetError."""
    if len(name) > max_len:
        raise FleetError(f"{kind} name {name!r}: {len(name)} characters, at most {max_len}")
    if not DNS_LABEL.fullmatch(name):
        raise FleetError(
            f"{kind} name {name!r}: not a DNS-1123 label (lowercase letters, digits and '-', "
            "starting and ending with a letter or digit)"
        )
    return name


def chart_secrets() -> dict[tuple[str, ...], object]:
    """The secrets the jupyterhub chart would generate itself, by their key paths, made here.

    The chart makes each one it is not given with `lookup`, which only a live cluster answers:
    `helm template` (nox -s templates, the plan's review) would render new random ones every time.
    Given in the hub's secrets, every render is the same twice, and a no-op deploy diffs empty.
    """
    return {
        ("jupyterhub", "hub", "cookieSecret"): secrets.token_hex(32),
        ("jupyterhub", "proxy", "secretToken"): secrets.token_hex(32),
        ("jupyterhub", "hub", "config", "CryptKeeper", "keys"): [secrets.token_hex(32)],
    }


def initial_secrets() -> dict:
    """A hub's first secrets for one environment: random tokens, different in every environment."""
    values: dict = {}
    made = {
        **chart_secrets(),
        # The token `invoke health` uses; its role is in the hub's values.yaml.
        ("jupyterhub", "hub", "services", HEALTH_CHECK_SERVICE, "apiToken"): secrets.token_hex(32),
    }
    for keys, value in made.items():
        node = values
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return values


def complete_secrets(fleet: config.Fleet, runner: Runner) -> list[str]:
    """Add to every hub's secrets the chart's secrets they lack (repos made before they were
    written at generation); a value already there is never changed. One line per hub x env."""
    lines = []
    for hub in fleet.hubs.values():
        for env in hub.environments:
            path = hub.required_secrets(env)
            if path is None:
                lines.append(f"{hub.name}/{env}: no secrets (secrets: false), left alone")
                continue
            with sops.decrypted(Target.of_hub(fleet, hub, env), runner.quiet()) as (plain, _):
                present = sops.leaf_paths(yamlfile.read(plain) or {})
            added = []
            for keys, value in chart_secrets().items():
                if any(found[: len(keys)] == keys for found in present):
                    continue
                # Set at the first key that is missing, as a mapping: `sops set` takes no list
                # at a new leaf (CryptKeeper.keys).
                depth = next(
                    n
                    for n in range(1, len(keys) + 1)
                    if not any(found[:n] == keys[:n] for found in present)
                )
                for key in reversed(keys[depth:]):
                    value = {key: value}
                sops.set_value(fleet.root, path, keys[:depth], value, runner)
                added.append(".".join(keys[1:]))
            lines.append(
                f"{hub.name}/{env}: " + (f"added {', '.join(added)}" if added else "complete")
            )
    return lines


def render_skeleton(kind: str, **fields: str) -> dict[str, str]:
    """The skeleton's files for kind (relative path -> text) with ${field}s filled in."""
    folder = SKELETON / kind
    return {
        str(path.relative_to(folder)): Template(path.read_text()).substitute(fields)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def new_hub(
    root: Path,
    name: str,
    cluster: str | None = None,
    image: str | None = None,
    runner: Runner | None = None,
    with_secrets: bool = True,
) -> Path:
    """Create hubs/<name>/ from the skeleton, with encrypted secrets for each environment."""
    fleet = config.load(root)
    check_name("hub", name, HUB_MAX)
    folder = fleet.root / "hubs" / name
    if folder.exists():
        raise FleetError(f"hubs/{name}: already exists")
    if cluster is None:
        if len(fleet.clusters) != 1:
            valid = ", ".join(sorted(fleet.clusters)) or "(none)"
            raise FleetError(f"give --cluster; clusters: {valid}")
        cluster = next(iter(fleet.clusters))
    if cluster not in fleet.clusters:
        valid = ", ".join(sorted(fleet.clusters)) or "(none)"
        raise FleetError(f"no cluster {cluster!r} under clusters/; valid clusters: {valid}")
    image = image or ("default" if "default" in fleet.images else None)
    if image is None:
        raise FleetError("give --image: an images/ folder name or an external name:tag")

    files = render_skeleton("hub", hub=name, cluster=cluster, image=image, domain=fleet.domain)
    if IMAGE_REF.search(image):
        files["hub.yaml"] = files["hub.yaml"].replace(f"image: {image}", f"external_image: {image}")
    elif image not in fleet.images:
        valid = ", ".join(fleet.images) or "(none)"
        raise FleetError(f"no image folder {image!r} under images/; valid images: {valid}")
    config.validate(yaml.safe_load(files["hub.yaml"]), "hub", folder / "hub.yaml")

    # Encrypt first, so a failure (no sops, no key) leaves no half-made hub behind.
    encrypted = {}
    if with_secrets:
        for env in fleet.environments:
            relpath = f"hubs/{name}/secrets/{env}.yaml"
            text = yaml.safe_dump(initial_secrets(), sort_keys=False)
            encrypted[relpath] = sops.encrypt_text(fleet.root, relpath, text, runner)
    for relpath, text in files.items():
        target = folder / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for relpath, text in encrypted.items():
        (fleet.root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (fleet.root / relpath).write_text(text)
    return folder


def initial_support_secrets() -> dict:
    """A cluster's first support secrets: a random Grafana admin password."""
    return {"grafana": {"adminPassword": secrets.token_urlsafe(24)}}


def add_support(
    root: Path, cluster: str, runner: Runner | None = None, with_secrets: bool = True
) -> list[Path]:
    """clusters/<cluster>/support.yaml and its encrypted secrets, where they are missing."""
    fleet = config.load(root)
    found = fleet.clusters[cluster]
    made = []
    if with_secrets and not found.support_secrets.exists():
        relpath = found.support_secrets.relative_to(fleet.root)
        text = yaml.safe_dump(initial_support_secrets(), sort_keys=False)
        encrypted = sops.encrypt_text(fleet.root, relpath, text, runner)
        found.support_secrets.parent.mkdir(parents=True, exist_ok=True)
        found.support_secrets.write_text(encrypted)
        made.append(found.support_secrets)
    if not found.support_values.exists():
        text = render_skeleton("cluster", cluster=cluster)["support.yaml"]
        found.support_values.write_text(text)
        made.append(found.support_values)
    return made


def cluster_settings(provider: str, name: str, **fields: str) -> dict:
    """The cluster.yaml document for a provider; fields: project, cluster, location, resource_group."""
    cloud = fields.get("cluster") or name
    if provider == "kubeconfig":
        return {"provider": provider, "kubeconfig": {"path": f"~/.kube/{name}.yaml"}}
    if provider == "gcp":
        settings = {
            "project": fields.get("project"),
            "cluster": cloud,
            "location": fields.get("location"),
        }
    elif provider == "aws":
        settings = {"cluster": cloud, "region": fields.get("location")}
    elif provider == "azure":
        settings = {"cluster": cloud, "resource_group": fields.get("resource_group")}
    else:
        raise FleetError(f"provider {provider!r}: use kubeconfig, gcp, aws or azure")
    missing = [k for k, v in settings.items() if not v]
    if missing:
        raise FleetError(f"provider {provider} needs --{missing[0].replace('_', '-')}")
    return {"provider": provider, provider: settings}


def new_cluster(
    root: Path,
    name: str,
    provider: str = "kubeconfig",
    runner: Runner | None = None,
    with_secrets: bool = True,
    **fields: str,
) -> Path:
    """Create clusters/<name>/cluster.yaml for the provider (validated before it is written),
    with its support values and encrypted support secrets."""
    fleet = config.load(root)
    check_name("cluster", name)
    folder = fleet.root / "clusters" / name
    if folder.exists():
        raise FleetError(f"clusters/{name}: already exists")
    doc = cluster_settings(provider, name, **{k: v for k, v in fields.items() if v})
    path = folder / "cluster.yaml"
    config.validate(doc, "cluster", path)
    folder.mkdir(parents=True)
    header = f"# How deploys reach cluster {name}. Validated by fleet/core/schemas/cluster.schema.json.\n"
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False))
    try:
        add_support(root, name, runner, with_secrets)
    except Failure:
        shutil.rmtree(folder, ignore_errors=True)  # no half-made cluster
        raise
    return path
