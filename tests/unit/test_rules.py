"""Unit tests of fleet.rules: one example per rule, the fallback, and no drift from the template."""

import json
import subprocess
from pathlib import Path

import jinja2
import pytest
from fleet import rules
from fleet.rules import ALL, CLUSTER, HUB, IMAGE, NOTHING, RULES, UNCLASSIFIED, classify

TEMPLATE = Path(__file__).resolve().parents[2] / "{{cookiecutter.repo}}"

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
        "hubs/{hub}/secrets/{env}.yaml", HUB, {"hub": "alpha", "env": "prod"}),
    "hubs/alpha/secrets/other.yaml": ("hubs/{hub}/secrets/**", HUB, {"hub": "alpha"}),
    "hubs/alpha/staging.yaml": ("hubs/{hub}/{env}.yaml", HUB, {"hub": "alpha", "env": "staging"}),
    "hubs/alpha/values.yaml": ("hubs/{hub}/**", HUB, {"hub": "alpha"}),
    "hubs/alpha/hub.yaml": ("hubs/{hub}/**", HUB, {"hub": "alpha"}),
    "hubs/alpha/dev.yaml": ("hubs/{hub}/**", HUB, {"hub": "alpha"}),
    "clusters/main/cluster.yaml": ("clusters/{cluster}/**", CLUSTER, {"cluster": "main"}),
    "clusters/main/secrets/kubeconfig.yaml": ("clusters/{cluster}/**", CLUSTER, {"cluster": "main"}),
    "chart/values.yaml": ("chart/**", ALL, {}),
    "chart/Chart.yaml": ("chart/**", ALL, {}),
    "fleet/deploy.py": ("fleet/**", ALL, {}),
    "fleet/schemas/hub.schema.json": ("fleet/**", ALL, {}),
    "tasks.py": ("tasks.py", ALL, {}),
    "requirements.txt": ("requirements.txt", ALL, {}),
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


@pytest.mark.parametrize("path", ["src/deployer/main.py", "Makefile", "hubs", "helmfile.yaml", "deployer/x"])
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


def test_every_file_of_the_template_is_classified():
    """Drift guard: each file the template generates is decided by a rule, not the fallback."""
    answers = json.loads((TEMPLATE.parent / "cookiecutter.json").read_text())
    context = {k: v[0] if isinstance(v, list) else v for k, v in answers.items()}
    listed = subprocess.run(
        ["git", "-C", str(TEMPLATE), "ls-files", "--cached", "--others", "--exclude-standard", "-z", "."],
        check=True, capture_output=True, text=True).stdout.split("\0")
    unclassified = []
    for name in filter(None, listed):
        if (TEMPLATE / name).is_file():
            rel = jinja2.Template(name).render(cookiecutter=context)
            if "//" not in rel and not rel.endswith("/") and classify(rel).reason == UNCLASSIFIED:
                unclassified.append(rel)
    assert unclassified == []
