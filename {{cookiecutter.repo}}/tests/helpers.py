"""What several test modules build: files in a temporary repo, and its fleet.yaml."""

from pathlib import Path

FLEET_YAML = "registry: ghcr.io/org\ndomain: hubs.example.org\nsecrets_backend: age\n"
KUBECONFIG_CLUSTER = "provider: kubeconfig\nkubeconfig: {path: /k}\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
