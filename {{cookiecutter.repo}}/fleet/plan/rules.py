"""Which hubs and images a changed file concerns: the path rules, as data, in one place.

The first rule whose pattern matches a path decides. A path no rule matches concerns every
hub ("unclassified path"): a rule that drifts away from the files shows up as an over-deploy,
never as a missed deploy. tests/unit/test_rules.py has an example for each rule.

Pattern syntax: `{hub}`, `{cluster}`, `{image}` match one path segment and name it; `{env}`
matches an environment name; `**` matches anything (slashes included); `*` one segment's part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from fleet.core.config import ENVIRONMENTS

# What a rule's match concerns.
NOTHING = "nothing"  # deploys nothing, builds nothing
ALL = "all"  # every hub, in every environment, and the support chart of every cluster
HUB = "hub"  # the hub named by {hub}, in {env} if the pattern has one, else every env
CLUSTER = "cluster"  # the support chart and every hub of the cluster named by {cluster}
SUPPORT = "support"  # the support chart of the cluster named by {cluster}, or of every cluster
IMAGE = "image"  # build the image named by {image}, and deploy every hub that uses it

UNCLASSIFIED = "unclassified path"


@dataclass(frozen=True)
class Rule:
    pattern: str
    scope: str
    reason: str

    @cached_property
    def regex(self) -> re.Pattern:
        return compile_pattern(self.pattern)


# Ordered: the first match wins, so narrower patterns come before wider ones.
RULES: tuple[Rule, ...] = (
    # Everything in an image folder is its build context (even a README changes the tag).
    Rule("images/{image}/**", IMAGE, "image {image} changed"),
    # Helm renders every file under templates/, whatever its extension.
    Rule("chart/templates/**", ALL, "shared chart changed"),
    Rule("**.md", NOTHING, "documentation"),
    Rule("docs/**", NOTHING, "documentation"),
    Rule("LICENSE*", NOTHING, "documentation"),
    Rule("hubs/{hub}/secrets/{env}.yaml", HUB, "secrets of {hub} ({env}) changed"),
    Rule("hubs/{hub}/secrets/**", HUB, "secrets of {hub} changed"),
    Rule("hubs/{hub}/{env}.yaml", HUB, "{env} values of {hub} changed"),
    Rule("hubs/{hub}/**", HUB, "hub {hub} changed"),
    Rule("clusters/{cluster}/support.yaml", SUPPORT, "support values of {cluster} changed"),
    Rule(
        "clusters/{cluster}/secrets/support.yaml", SUPPORT, "support secrets of {cluster} changed"
    ),
    Rule("clusters/{cluster}/**", CLUSTER, "cluster {cluster} changed"),
    Rule("support/**", SUPPORT, "support chart changed"),
    Rule("chart/**", ALL, "shared chart changed"),
    Rule("fleet/**", ALL, "deploy package changed"),
    Rule("tasks/**", ALL, "deploy tasks changed"),
    Rule("requirements.txt", ALL, "Python dependencies changed"),
    Rule("requirements.in", NOTHING, "Python dependencies to lock (requirements.txt deploys)"),
    Rule("fleet.yaml", ALL, "fleet settings changed"),
    Rule(".sops.yaml", ALL, "sops settings changed"),
    # Checks and CI: they decide whether a change may merge, not what is deployed.
    Rule(".github/**", NOTHING, "CI configuration"),
    Rule("noxfile.py", NOTHING, "checks only"),
    Rule(".yamllint.yaml", NOTHING, "checks only"),
    Rule("ruff.toml", NOTHING, "checks only"),
    Rule("pyproject.toml", NOTHING, "checks only"),
    Rule(".pre-commit-config.yaml", NOTHING, "checks only"),
    Rule("tests/**", NOTHING, "checks only"),
    Rule("benchmarks/**", NOTHING, "checks only"),
    Rule(".gitignore", NOTHING, "repository housekeeping"),
    Rule(".cruft.json", NOTHING, "repository housekeeping"),
)

FALLBACK = Rule("**", ALL, UNCLASSIFIED)


@dataclass(frozen=True)
class Match:
    """A changed path and the rule that classified it, with the names the rule captured."""

    path: str
    rule: Rule
    names: dict[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return self.rule.reason.format(**self.names)


def compile_pattern(pattern: str) -> re.Pattern:
    """Turn a rule pattern into an anchored regular expression."""
    envs = "|".join(map(re.escape, ENVIRONMENTS))
    out = []
    for token in re.split(r"(\{\w+\}|\*\*|\*)", pattern):
        if token == "**":
            out.append(".*")
        elif token == "*":
            out.append("[^/]*")
        elif token == "{env}":
            out.append(f"(?P<env>{envs})")
        elif token.startswith("{") and token.endswith("}"):
            out.append(f"(?P<{token[1:-1]}>[^/]+)")
        else:
            out.append(re.escape(token))
    return re.compile("".join(out) + r"\Z")


def classify(path: str, rules: tuple[Rule, ...] = RULES) -> Match:
    """The first rule matching a repository-relative path; the fallback if none does."""
    for rule in rules:
        found = rule.regex.match(path)
        if found:
            return Match(path, rule, found.groupdict())
    return Match(path, FALLBACK, {})
