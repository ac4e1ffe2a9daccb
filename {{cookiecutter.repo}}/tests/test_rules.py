"""Unit tests of fleet.rules: one example per rule, the fallback, and no drift from the template."""

import subprocess
from pathlib import Path

import pytest

from fleet.plan import rules
from fleet.plan.rules import (
    ALL,
    CLUSTER,
    HUB,
    IMAGE,
    NOTHING,
    RULES,
    SUPPORT,
    UNCLASSIFIED,
    classify,
)

ROOT = Path(__file__).resolve().parents[1]

# path -> (pattern of the rule that must decide it, scope, captured names)
EXAMPLES = {
    "images/default/Dockerfile": ("images/{image}/**", IMAGE, {"image": "default"}),
    "images/default/README.md": ("images/{image}/**", IMAGE, {"image": "default"}),
    "chart/templates/extra.md": ("chart/templates/**", ALL, {}),
    "README.md": ("**.md", NOTHING, {}),
    "hubs/alpha/README.md": ("**.md", NOTHING, {}),
    "docs/operators/howto.txt": ("docs/**", NOTHING, {}),
    "LICENSE": ("LICENSE*", NOTHING, {}),
    "hubs/alpha/secrets/prod.yaml": (
        "hubs/{hub}/secrets/{env}.yaml",
        HUB,
        {"hub": "alpha", "env": "prod"},
    ),
    "hubs/alpha/secrets/other.yaml": ("hubs/{hub}/secrets/**", HUB, {"hub": "alpha"}),
    "hubs/alpha/staging.yaml": ("hubs/{hub}/{env}.yaml", HUB, {"hub": "alpha", "env": "staging"}),
    "hubs/alpha/values.yaml": ("hubs/{hub}/**", HUB, {"hub": "alpha"}),
    "hubs/alpha/hub.yaml": ("hubs/{hub}/**", HUB, {"hub": "alpha"}),
    "hubs/alpha/dev.yaml": ("hubs/{hub}/**", HUB, {"hub": "alpha"}),
    "clusters/main/cluster.yaml": ("clusters/{cluster}/**", CLUSTER, {"cluster": "main"}),
    "clusters/main/support.yaml": (
        "clusters/{cluster}/support.yaml",
        SUPPORT,
        {"cluster": "main"},
    ),
    "clusters/main/secrets/support.yaml": (
        "clusters/{cluster}/secrets/support.yaml",
        SUPPORT,
        {"cluster": "main"},
    ),
    "support/Chart.yaml": ("support/**", SUPPORT, {}),
    "support/values.schema.json": ("support/**", SUPPORT, {}),
    "clusters/main/secrets/kubeconfig.yaml": (
        "clusters/{cluster}/**",
        CLUSTER,
        {"cluster": "main"},
    ),
    "chart/values.yaml": ("chart/**", ALL, {}),
    "chart/Chart.yaml": ("chart/**", ALL, {}),
    "fleet/deploy.py": ("fleet/**", ALL, {}),
    "fleet/core/schemas/hub.schema.json": ("fleet/**", ALL, {}),
    "tasks/deploy.py": ("tasks/**", ALL, {}),
    "requirements.txt": ("requirements.txt", ALL, {}),
    "requirements.in": ("requirements.in", NOTHING, {}),
    "pyproject.toml": ("pyproject.toml", NOTHING, {}),
    "fleet.yaml": ("fleet.yaml", ALL, {}),
    ".sops.yaml": (".sops.yaml", ALL, {}),
    ".github/workflows/deploy.yaml": (".github/**", NOTHING, {}),
    "noxfile.py": ("noxfile.py", NOTHING, {}),
    ".yamllint.yaml": (".yamllint.yaml", NOTHING, {}),
    "ruff.toml": ("ruff.toml", NOTHING, {}),
    ".pre-commit-config.yaml": (".pre-commit-config.yaml", NOTHING, {}),
    "tests/test_x.py": ("tests/**", NOTHING, {}),
    "benchmarks/plan_speed.py": ("benchmarks/**", NOTHING, {}),
    ".gitignore": (".gitignore", NOTHING, {}),
    ".cruft.json": (".cruft.json", NOTHING, {}),
}


@pytest.mark.parametrize("path", sorted(EXAMPLES))
def test_each_example_is_decided_by_its_rule(path):
    pattern, scope, names = EXAMPLES[path]
    match = classify(path)
    assert match.rule.pattern == pattern
    assert match.rule.scope == scope
    assert {k: v for k, v in match.names.items() if v is not None} == names


def test_every_rule_has_an_example():
    tested = {pattern for pattern, _, _ in EXAMPLES.values()}
    untested = [rule.pattern for rule in RULES if rule.pattern not in tested]
    assert untested == []


@pytest.mark.parametrize(
    "path", ["src/deployer/main.py", "Makefile", "hubs", "helmfile.yaml", "deployer/x"]
)
def test_an_unmatched_path_concerns_every_hub_as_unclassified(path):
    match = classify(path)
    assert match.rule.scope == ALL
    assert match.reason == UNCLASSIFIED


def test_reasons_name_what_they_concern():
    assert classify("hubs/alpha/secrets/prod.yaml").reason == "secrets of alpha (prod) changed"
    assert classify("images/default/Dockerfile").reason == "image default changed"
    assert classify("clusters/main/cluster.yaml").reason == "cluster main changed"


def test_env_placeholder_matches_only_environments():
    assert classify("hubs/alpha/prod.yaml").names["env"] == "prod"
    assert "env" not in classify("hubs/alpha/production.yaml").names


def test_star_stays_within_one_segment():
    regex = rules.compile_pattern("a/*.txt")
    assert regex.match("a/b.txt")
    assert not regex.match("a/b/c.txt")


def test_every_file_of_this_repository_is_classified():
    """Drift guard: each file of the repo is decided by a rule, not by the fallback."""
    argv = ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard", "-z"]
    listed = subprocess.run(argv, check=True, capture_output=True, text=True).stdout.split("\0")
    files = [name for name in listed if name and (ROOT / name).is_file()]
    assert "fleet/plan/rules.py" in files
    assert [name for name in files if classify(name).reason == UNCLASSIFIED] == []
