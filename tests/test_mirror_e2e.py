"""End to end: a generated repo's own `invoke mirror-images` fills an empty mirror in the session
registry from the session's mirror of the chart's images (`--source`), with real docker pulls
and pushes, then finds every image present."""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request

import pytest
from generated import local_repo

from toolchain import chartrepo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def tags(registry: str, repository: str) -> list[str]:
    """The repository's tags in the registry ([] when it has none, or no such repository)."""
    try:
        with urllib.request.urlopen(f"http://{registry}/v2/{repository}/tags/list") as response:
            return json.load(response).get("tags") or []
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise


def test_mirror_images_copies_what_the_mirror_lacks_then_finds_it_present(
    tmp_path_factory, local_stack
):
    empty = f"{local_stack.registry}/copied"
    stack = dataclasses.replace(local_stack, mirror=empty)
    repo = local_repo(tmp_path_factory.mktemp("mirror-e2e"), stack, org="Mirror", hubs="mu")
    wanted = set(chartrepo.mirror_refs(empty))

    dry = repo.invoke("mirror-images", "--source", local_stack.mirror, "--dry-run")
    assert "[dry-run] docker push" in dry.stderr and "would be copied from" in dry.stderr
    assert tags(local_stack.registry, "copied/jupyterhub/k8s-hub") == []

    copied = repo.invoke("mirror-images", "--source", local_stack.mirror)
    lines = {line.split(": ", 1)[0]: line for line in copied.stderr.splitlines() if ": " in line}
    for ref in wanted:
        assert "copied from " + ref.replace(empty, local_stack.mirror) in lines[ref], copied.stderr
    assert tags(local_stack.registry, "copied/jupyterhub/k8s-hub") == ["4.4.0"]
    assert tags(local_stack.registry, "copied/kube-scheduler") == ["v1.32.2"]

    again = repo.invoke("mirror-images", "--source", local_stack.mirror)
    for ref in wanted:
        assert f"{ref}: present" in again.stderr
    assert "docker push" not in again.stderr


def test_mirror_images_without_a_mirror_says_so(tmp_path_factory, local_stack):
    stack = dataclasses.replace(local_stack, mirror="")
    repo = local_repo(tmp_path_factory.mktemp("mirror-none"), stack, org="NoMirror", hubs="nu")
    proc = repo.invoke("mirror-images", check=False)
    assert proc.returncode == 1
    assert "no image_mirror in fleet.yaml or any cluster.yaml" in proc.stderr
