"""Scratch Go modules that build binaries from modules `go install` refuses.

k8s.io/kubernetes replaces every k8s.io/<staging> module with ./staging/src/k8s.io/<staging>,
which only exists in a checkout. A scratch module that requires k8s.io/kubernetes and points
those replaces at the published staging versions builds its commands from the module proxy.

go.etcd.io/etcd/server/v3 likewise replaces its sibling modules (api, client/pkg, client/v2,
client/v3, pkg, raft) with ../<dir>. Those replaces are ignored in a scratch module that
requires it; the scratch module pins each sibling at the version the upstream go.mod requires.
"""

import re

_REPLACE_BLOCK = re.compile(r"^replace\s*\((.*?)^\)", re.MULTILINE | re.DOTALL)
_REPLACE_LINE = re.compile(r"^replace\s+(\S+.*)$", re.MULTILINE)
_LOCAL_STAGING = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/src/(k8s\.io/[\w.-]+)\s*$")
_GO_DIRECTIVE = re.compile(r"^go\s+(\S+)\s*$", re.MULTILINE)
_GODEBUG = re.compile(r"^godebug\s+.*$", re.MULTILINE)
_REQUIRE_BLOCK = re.compile(r"^require\s*\((.*?)^\)", re.MULTILINE | re.DOTALL)
_REQUIRE_LINE = re.compile(r"^require[ \t]+([^\s(]\S*[ \t]+\S+.*)$", re.MULTILINE)
_MODULE_VERSION = re.compile(r"^\s*(\S+)\s+(v\S+)")
_LOCAL_REPLACE = re.compile(r"^\s*(\S+)\s*=>\s*\.\.?/\S*\s*$")


def _replace_lines(upstream_gomod: str) -> list[str]:
    lines = []
    for block in _REPLACE_BLOCK.findall(upstream_gomod):
        lines.extend(block.splitlines())
    lines.extend(_REPLACE_LINE.findall(upstream_gomod))
    return lines


def staging_replaces(upstream_gomod: str) -> list[str]:
    """The module paths the upstream go.mod replaces with a ./staging/src directory."""
    names = []
    for line in _replace_lines(upstream_gomod):
        match = _LOCAL_STAGING.match(line)
        if match:
            names.append(match.group(1))
    return names


def _header(upstream_gomod: str, *, module: str, require: str) -> list[str]:
    """The scratch module's name, and the upstream's `go` and `godebug` directives."""
    go = _GO_DIRECTIVE.search(upstream_gomod)
    if not go:
        raise ValueError(f"no `go` directive in the go.mod of {require}")
    out = [f"module {module}", "", f"go {go.group(1)}", ""]
    godebug = _GODEBUG.findall(upstream_gomod)
    return out + ([*godebug, ""] if godebug else [])


def scratch_gomod(
    upstream_gomod: str, *, module: str, require: str, version: str, staging_version: str
) -> str:
    """A go.mod requiring `require@version` with its local staging replaces made remote."""
    out = _header(upstream_gomod, module=module, require=require)
    names = staging_replaces(upstream_gomod)
    if not names:
        raise ValueError(f"the go.mod of {require} has no ./staging/src replaces")
    out += [f"require {require} {version}", "", "replace ("]
    out += [f"\t{name} => {name} {staging_version}" for name in names]
    out += [")", ""]
    return "\n".join(out)


def requires(upstream_gomod: str) -> dict[str, str]:
    """Module path -> version of every requirement of a go.mod."""
    lines = []
    for block in _REQUIRE_BLOCK.findall(upstream_gomod):
        lines.extend(block.splitlines())
    lines.extend(_REQUIRE_LINE.findall(upstream_gomod))
    found = {}
    for line in lines:
        match = _MODULE_VERSION.match(line.split("//", 1)[0])
        if match:
            found[match.group(1)] = match.group(2)
    return found


def local_sibling_requires(upstream_gomod: str) -> dict[str, str]:
    """The required modules the upstream go.mod replaces with a local directory, and their
    required versions (replaced modules nothing requires, such as etcd's
    `go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY` guards, are left out)."""
    required = requires(upstream_gomod)
    siblings = {}
    for line in _replace_lines(upstream_gomod):
        match = _LOCAL_REPLACE.match(line.split("//", 1)[0])
        if match and match.group(1) in required:
            siblings[match.group(1)] = required[match.group(1)]
    return siblings


def pinned_scratch_gomod(upstream_gomod: str, *, module: str, require: str, version: str) -> str:
    """A go.mod requiring `require@version` and its locally replaced siblings at the versions
    its go.mod requires, so the build uses the published siblings of the same release."""
    out = _header(upstream_gomod, module=module, require=require)
    siblings = local_sibling_requires(upstream_gomod)
    if not siblings:
        raise ValueError(f"the go.mod of {require} replaces no required module locally")
    out += ["require (", f"\t{require} {version}"]
    out += [f"\t{name} {ver}" for name, ver in siblings.items()]
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
