"""Scratch Go modules that build binaries from modules `go install` refuses.

k8s.io/kubernetes replaces every k8s.io/<staging> module with ./staging/src/k8s.io/<staging>,
which only exists in a checkout. A scratch module that requires k8s.io/kubernetes and points
those replaces at the published staging versions builds its commands from the module proxy.
"""

import re

_REPLACE_BLOCK = re.compile(r"^replace\s*\((.*?)^\)", re.MULTILINE | re.DOTALL)
_REPLACE_LINE = re.compile(r"^replace\s+(\S+.*)$", re.MULTILINE)
_LOCAL_STAGING = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/src/(k8s\.io/[\w.-]+)\s*$")
_GO_DIRECTIVE = re.compile(r"^go\s+(\S+)\s*$", re.MULTILINE)
_GODEBUG = re.compile(r"^godebug\s+.*$", re.MULTILINE)


def staging_replaces(upstream_gomod: str) -> list[str]:
    """The module paths the upstream go.mod replaces with a ./staging/src directory."""
    lines = []
    for block in _REPLACE_BLOCK.findall(upstream_gomod):
        lines.extend(block.splitlines())
    lines.extend(_REPLACE_LINE.findall(upstream_gomod))
    names = []
    for line in lines:
        match = _LOCAL_STAGING.match(line)
        if match:
            names.append(match.group(1))
    return names


def scratch_gomod(
    upstream_gomod: str, *, module: str, require: str, version: str, staging_version: str
) -> str:
    """A go.mod requiring `require@version` with its local staging replaces made remote."""
    go = _GO_DIRECTIVE.search(upstream_gomod)
    if not go:
        raise ValueError(f"no `go` directive in the go.mod of {require}")
    names = staging_replaces(upstream_gomod)
    if not names:
        raise ValueError(f"the go.mod of {require} has no ./staging/src replaces")
    out = [f"module {module}", "", f"go {go.group(1)}", ""]
    godebug = _GODEBUG.findall(upstream_gomod)
    if godebug:
        out += [*godebug, ""]
    out += [f"require {require} {version}", "", "replace ("]
    out += [f"\t{name} => {name} {staging_version}" for name in names]
    out += [")", ""]
    return "\n".join(out)


def kube_version_ldflags(version: str, build_date: str) -> str:
    """-ldflags stamping a Kubernetes version into its binaries, as its own build does.

    Without them a binary reports v0.0.0-master+$Format:%H$, which kubectl and helm reject.
    """
    major, minor = version.removeprefix("v").split(".")[:2]
    flags = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate={build_date}",
        ]
    return " ".join(flags)
