"""Which hubs a change deploys and which images it builds, each with its reasons.

The core is pure: changed paths + the fleet config -> a Plan. Git and the live releases are
read through the one Runner, and only at the edges.
"""

from __future__ import annotations

import contextlib
import json
import re
import tarfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .config import Fleet, Hub
from .errors import FleetError
from .rules import ALL, CLUSTER, HUB, IMAGE, NOTHING, classify
from .runner import Runner

DEPLOYED = "deployed"  # --base deployed: each hub against the commit on its live release
LABEL_SKIP = "deploy:skip"
LABEL_ALL = "deploy:all"
NO_COMMIT = "0" * 40  # GitHub's `before` for a newly created branch


@dataclass
class Plan:
    """(hub, env) -> reasons to deploy it; image -> reasons to build it; notes for the reader."""

    deploy: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    build: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add_deploy(self, hub: str, env: str, reason: str) -> None:
        reasons = self.deploy.setdefault((hub, env), [])
        if reason not in reasons:
            reasons.append(reason)

    def add_build(self, image: str, reason: str) -> None:
        reasons = self.build.setdefault(image, [])
        if reason not in reasons:
            reasons.append(reason)

    def merge(self, other: Plan) -> None:
        for (hub, env), reasons in other.deploy.items():
            for reason in reasons:
                self.add_deploy(hub, env, reason)
        for image, reasons in other.build.items():
            for reason in reasons:
                self.add_build(image, reason)
        self.notes.extend(n for n in other.notes if n not in self.notes)

    def as_data(self, fleet: Fleet, tag_of: Callable[[str], str]) -> dict:
        """The JSON shape: deploy entries (staging first, then by hub) and build entries."""
        order = {env: i for i, env in enumerate(fleet.environments)}
        deploy = []
        for hub, env in sorted(self.deploy, key=lambda k: (order.get(k[1], 99), k[0])):
            cluster = fleet.clusters[fleet.hubs[hub].cluster]
            deploy.append(
                {
                    "hub": hub,
                    "env": env,
                    "reasons": self.deploy[(hub, env)],
                    "cluster": cluster.name,
                    "provider": cluster.provider,
                }
            )
        build = [
            {"image": image, "tag": tag_of(image), "reasons": self.build[image]}
            for image in sorted(self.build)
        ]
        return {"deploy": deploy, "build": build}


def _envs(hub: Hub, envs: Iterable[str] | None, only: str | None = None) -> list[str]:
    """The hub's environments, narrowed to `envs` (the --env filter) and to `only`."""
    chosen = [e for e in hub.environments if envs is None or e in envs]
    return [e for e in chosen if only is None or e == only]


def _summary(reason: str, paths: list[str]) -> str:
    more = f" (+{len(paths) - 1} more)" if len(paths) > 1 else ""
    return f"{reason}: {paths[0]}{more}"


def plan_paths(fleet: Fleet, paths: Iterable[str], envs: Iterable[str] | None = None) -> Plan:
    """The plan for a set of changed repository-relative paths, by the rules in fleet.rules."""
    envs = None if envs is None else tuple(envs)
    # Group paths by what they concern first, so each target is expanded to hubs only once.
    targets: dict[tuple, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in paths:
        match = classify(path)
        scope = match.rule.scope
        if scope == NOTHING:
            continue
        key = (scope, match.names.get(scope), match.names.get("env"))
        targets[key][match.reason].append(path)

    plan = Plan()
    by_cluster: dict[str, list[Hub]] = defaultdict(list)
    by_image: dict[str, list[Hub]] = defaultdict(list)
    for hub in fleet.hubs.values():
        by_cluster[hub.cluster].append(hub)
        if hub.image:
            by_image[hub.image].append(hub)

    for (scope, name, only_env), reasons in targets.items():
        summaries = [_summary(reason, paths) for reason, paths in reasons.items()]
        if scope == ALL:
            hubs = list(fleet.hubs.values())
        elif scope == CLUSTER:
            hubs = by_cluster.get(name, [])
            if name not in fleet.clusters:
                plan.notes.append(f"cluster {name!r} is not in the fleet (removed?): no hub to deploy")
        elif scope == IMAGE:
            hubs = by_image.get(name, [])
            if name in fleet.images:
                for summary in summaries:
                    plan.add_build(name, summary)
            else:
                plan.notes.append(f"image {name!r} is not in the fleet (removed?): nothing to build")
        elif scope == HUB:
            hubs = [fleet.hubs[name]] if name in fleet.hubs else []
            if not hubs:
                plan.notes.append(f"hub {name!r} is not in the fleet (removed?): not deployed")
        else:
            raise FleetError(f"rule scope {scope!r} is unknown (fleet/rules.py)")
        for hub in hubs:
            for env in _envs(hub, envs, only_env):
                for summary in summaries:
                    plan.add_deploy(hub.name, env, summary)
    return plan


def plan_everything(fleet: Fleet, reason: str, envs: Iterable[str] | None = None,
                    hubs: Iterable[str] | None = None) -> Plan:
    """Every hub (or the given ones) in every chosen env, and the images they use."""
    envs = None if envs is None else tuple(envs)
    plan = Plan()
    for name in sorted(fleet.hubs if hubs is None else hubs):
        hub = fleet.hubs[name]
        chosen = _envs(hub, envs)
        for env in chosen:
            plan.add_deploy(name, env, reason)
        if hub.image and chosen:
            plan.add_build(hub.image, reason)
    return plan


def check_labels(labels: Iterable[str]) -> str | None:
    """deploy:skip or deploy:all if one of them is among the labels; both is a mistake."""
    found = {label for label in labels if label in (LABEL_SKIP, LABEL_ALL)}
    if len(found) > 1:
        raise FleetError(f"labels {LABEL_SKIP} and {LABEL_ALL} contradict each other: remove one")
    return found.pop() if found else None


# -- git, through the one runner -------------------------------------------------------------


def commit_exists(runner: Runner, root, ref: str) -> bool:
    if not ref or ref == NO_COMMIT:
        return False
    proc = runner.run(
        ["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        step="git rev-parse", mutates=False, check=False,
    )
    return proc.returncode == 0


def changed_files(runner: Runner, root, base: str, head: str) -> list[str]:
    """Paths that differ between two commits; a rename counts as both its old and new path."""
    proc = runner.run(
        ["git", "-C", str(root), "diff", "--name-only", "--no-renames", "-z", base, head, "--"],
        step="git diff", mutates=False,
    )
    return [p for p in proc.stdout.split("\0") if p]


def _unknown_base(base: str) -> str:
    if not base or base == NO_COMMIT:
        return "no base commit (new branch): planning every hub"
    return f"base commit {base} not found (force-push or shallow clone?): planning every hub"


def plan_between(fleet: Fleet, runner: Runner, base: str, head: str = "HEAD",
                 envs: Iterable[str] | None = None) -> Plan:
    """The plan for the changes from base to head; an unknown base plans every hub."""
    if not commit_exists(runner, fleet.root, head):
        raise FleetError(f"head commit {head!r} not found in {fleet.root}")
    if not commit_exists(runner, fleet.root, base):
        reason = _unknown_base(base)
        plan = plan_everything(fleet, reason, envs)
        plan.notes.append(reason)
        return plan
    return plan_paths(fleet, changed_files(runner, fleet.root, base, head), envs)


# -- against what is deployed ------------------------------------------------------------------

InfoOf = Callable[[Hub, str], "dict | None"]


def plan_deployed(fleet: Fleet, runner: Runner, info_of: InfoOf, head: str = "HEAD",
                  envs: Iterable[str] | None = None) -> Plan:
    """Each hub x env against the commit on its live release (`info_of(hub, env)`).

    Never deployed, a last deploy that did not succeed, or a commit this clone does not have:
    planned again, saying why. Hubs deployed from the same commit share one git diff.
    """
    envs = None if envs is None else tuple(envs)
    plan = Plan()
    by_commit: dict[str, list[tuple[Hub, str]]] = defaultdict(list)
    for hub in fleet.hubs.values():
        for env in _envs(hub, envs):
            info = info_of(hub, env)
            again = None
            if not info:
                again = "never deployed"
            elif info.get("status") != "deployed":
                again = f"last deploy {info.get('status') or 'unknown'} (revision {info.get('revision')})"
            elif not info.get("commit"):
                again = "no commit recorded on the live release"
            elif info.get("dirty"):
                again = f"deployed from uncommitted changes on {info['commit'][:12]}"
            elif not commit_exists(runner, fleet.root, info["commit"]):
                again = f"deployed commit {info['commit']} not found (force-push or shallow clone?)"
            if again:
                plan.merge(plan_everything(fleet, again, [env], [hub.name]))
            else:
                by_commit[info["commit"]].append((hub, env))

    for commit, pairs in by_commit.items():
        changes = plan_paths(fleet, changed_files(runner, fleet.root, commit, head), envs)
        wanted = {(hub.name, env) for hub, env in pairs}
        for key, reasons in changes.deploy.items():
            if key in wanted:
                for reason in reasons:
                    plan.add_deploy(*key, reason)
        images = {fleet.hubs[hub].image for hub, _ in plan.deploy}
        for image, reasons in changes.build.items():
            if image in images:
                for reason in reasons:
                    plan.add_build(image, reason)
        plan.notes.extend(n for n in changes.notes if n not in plan.notes)
    return plan


def make_plan(fleet: Fleet, runner: Runner, base: str, head: str = "HEAD",
              envs: Iterable[str] | None = None, labels: Iterable[str] = (),
              info_of: InfoOf | None = None) -> Plan:
    """The plan for a base (a commit, or `deployed` with `info_of`), after the labels had their say."""
    label = check_labels(labels)
    if label == LABEL_SKIP:
        return Plan(notes=[f"label {LABEL_SKIP}: nothing is deployed"])
    if label == LABEL_ALL:
        return plan_everything(fleet, f"label {LABEL_ALL}", envs)
    if base == DEPLOYED:
        if info_of is None:
            raise FleetError("--base deployed needs the live releases: use fleet.plan.live_releases")
        return plan_deployed(fleet, runner, info_of, head, envs)
    return plan_between(fleet, runner, base, head, envs)


@contextlib.contextmanager
def live_releases(fleet: Fleet, runner: Runner, access=None) -> Iterator[InfoOf]:
    """`info_of(hub, env)` reading each release's record on its cluster (one KUBECONFIG per cluster)."""
    from . import credentials, helm

    access = access or credentials.Access()
    with contextlib.ExitStack() as stack:
        runners: dict[str, Runner] = {}

        def info_of(hub: Hub, env: str) -> dict | None:
            if hub.cluster not in runners:
                cluster = fleet.clusters[hub.cluster]
                path = stack.enter_context(
                    credentials.temporary_kubeconfig(fleet, cluster, runner, access))
                runners[hub.cluster] = runner.with_env(KUBECONFIG=str(path))
                credentials.check_reachable(cluster, runners[hub.cluster])
            release = hub.release(env)
            # The newest revision, whatever its status: a failed or pending one is planned again.
            return helm.latest_info(runners[hub.cluster], release, release)

        yield info_of


# -- output ------------------------------------------------------------------------------------


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2)


def print_table(data: dict, notes: list[str], console=None) -> None:
    """The plan as rich tables, for a terminal."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title="Deploy", title_justify="left")
    for column in ("hub", "env", "cluster", "reasons"):
        table.add_column(column)
    for entry in data["deploy"]:
        table.add_row(entry["hub"], entry["env"], entry["cluster"], "\n".join(entry["reasons"]))
    builds = Table(title="Build", title_justify="left")
    for column in ("image", "tag", "reasons"):
        builds.add_column(column)
    for entry in data["build"]:
        builds.add_row(entry["image"], entry["tag"], "\n".join(entry["reasons"]))
    console.print(table if data["deploy"] else "Deploy: nothing")
    console.print(builds if data["build"] else "Build: nothing")
    for note in notes:
        console.print(f"note: {note}")


MARKER = "<!-- deployment-plan -->"
MAX_DIFF_CHARS = 20_000  # per hub; a GitHub comment holds at most 65,536 characters
MAX_COMMENT_CHARS = 60_000


def _cell(text: str) -> str:
    """Text from the repository (paths may come from a fork) made inert inside a table cell."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ")


def _fenced(text: str, lang: str = "diff") -> str:
    """A code block whose fence is longer than any backtick run inside, so it cannot be closed early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def markdown(data: dict, notes: list[str], diffs: dict[tuple[str, str], str],
             base: str | None = None) -> str:
    """The pull-request comment: marker, deploy and build tables, notes, a collapsed diff per hub."""
    lines = [MARKER, "## Deployment plan", ""]
    if base:
        lines += [f"Compared with `{_cell(base)}`.", ""]
    if data["deploy"]:
        lines += [f"**Deploy** ({len(data['deploy'])} hub environments)", "",
                  "| hub | env | cluster | reasons |", "|---|---|---|---|"]
        for d in data["deploy"]:
            reasons = "<br>".join(_cell(r) for r in d["reasons"])
            lines.append(f"| {_cell(d['hub'])} | {d['env']} | {_cell(d['cluster'])} | {reasons} |")
    else:
        lines.append("**Nothing to deploy.**")
    lines.append("")
    if data["build"]:
        lines += ["**Build**", "", "| image | tag | reasons |", "|---|---|---|"]
        for b in data["build"]:
            reasons = "<br>".join(_cell(r) for r in b["reasons"])
            lines.append(f"| {_cell(b['image'])} | `{b['tag']}` | {reasons} |")
    else:
        lines.append("**Nothing to build.**")
    lines.append("")
    for note in notes:
        lines.append(f"> {_cell(note)}")
    if notes:
        lines.append("")
    if diffs:
        lines += ["### Manifest changes", "",
                  "Rendered with `helm template`: secret values are typed placeholders, Secret data are "
                  "fingerprints; no secret value is ever shown.", ""]
    body = "\n".join(lines)
    for (hub, env), diff in diffs.items():
        changed = sum(1 for line in diff.splitlines() if line[:1] in "+-"
                      and not line.startswith(("+++", "---")))
        text = diff if len(diff) <= MAX_DIFF_CHARS else diff[:MAX_DIFF_CHARS] + "\n... (truncated)"
        shown = _fenced(text) if diff else "No change in the rendered manifests."
        block = (f"<details><summary>{_cell(hub)} ({env}): {changed} changed lines</summary>\n\n"
                 f"{shown}\n\n</details>\n")
        if len(body) + len(block) > MAX_COMMENT_CHARS:
            body += "\nMore diffs left out: the comment is at GitHub's size limit.\n"
            break
        body += "\n" + block
    return body


# -- manifest diffs against the base commit -------------------------------------------------------


@contextlib.contextmanager
def snapshot(runner: Runner, root: Path, ref: str) -> Iterator[Path]:
    """The tree of a commit, extracted into a private temporary folder (no git state touched)."""
    from .secrets import private_dir

    with private_dir("fleet-base-") as folder:
        archive = folder / "tree.tar"
        runner.run(["git", "-C", str(root), "archive", "--format=tar", "-o", str(archive), ref],
                   step=f"git archive {ref}", mutates=False)
        tree = folder / "tree"
        with tarfile.open(archive) as tar:
            tar.extractall(tree, filter="data")
        archive.unlink()
        yield tree


def image_args(fleet: Fleet, hub: Hub) -> list[str]:
    """The --set flags naming the hub's user image, exactly as a deploy sets them."""
    from .deploy import split_image
    from .images import image_ref

    if hub.external_image:
        name, tag = split_image(hub.external_image)
    elif hub.image:
        ref = image_ref(fleet, hub.image)
        name, tag = ref.name, ref.tag
    else:
        name, tag = "", ""
    return ["--set-string", f"jupyterhub.singleuser.image.name={name}",
            "--set-string", f"jupyterhub.singleuser.image.tag={tag}"]


def render_for_review(fleet: Fleet, hub: Hub, env: str, runner: Runner) -> str:
    """`helm template` of a hub x env, secrets as typed placeholders: nothing secret can show."""
    import yaml

    from . import chart, secrets

    chart.dependency_build(fleet, runner)
    files = list(hub.values_files(env))
    with secrets.private_dir() as folder:
        source = hub.secrets_file(env)
        if source.exists():
            path = folder / "placeholders.yaml"
            path.write_text(yaml.safe_dump(secrets.placeholder_values(source), sort_keys=False))
            files.append(path)
        return chart.template(fleet, hub, env, files, runner, extra_args=image_args(fleet, hub))


def _copy_chart_deps(head: Fleet, base: Fleet) -> None:
    """Reuse head's downloaded chart dependencies when the base declares the same ones."""
    import shutil

    same = all(
        (head.chart / n).exists() == (base.chart / n).exists()
        and (not (head.chart / n).exists()
             or (head.chart / n).read_bytes() == (base.chart / n).read_bytes())
        for n in ("Chart.yaml", "Chart.lock")
    )
    if same and (head.chart / "charts").is_dir() and not (base.chart / "charts").exists():
        shutil.copytree(head.chart / "charts", base.chart / "charts")


def manifest_diffs(fleet: Fleet, runner: Runner, base: str, data: dict,
                   notes: list[str]) -> dict[tuple[str, str], str]:
    """For each planned hub x env, a unified diff of its rendered manifests from base to head."""
    import secrets as _random

    from . import config
    from .diff import secret_paths, unified

    key = _random.token_bytes(32)
    quiet = Runner(runner.dry_run, False, runner.env, runner.secrets)
    diffs: dict[tuple[str, str], str] = {}
    with contextlib.ExitStack() as stack:
        base_fleet = None
        if commit_exists(quiet, fleet.root, base):
            tree = stack.enter_context(snapshot(quiet, fleet.root, base))
            try:
                base_fleet = config.load(tree)
                _copy_chart_deps(fleet, base_fleet)
            except FleetError as exc:
                notes.append(f"base {base} could not be read, diffs are against nothing: {exc}")
        for entry in data["deploy"]:
            name, env = entry["hub"], entry["env"]
            after = render_for_review(fleet, fleet.hubs[name], env, quiet)
            before = ""
            old = base_fleet.hubs.get(name) if base_fleet else None
            if old and env in old.environments:
                try:
                    before = render_for_review(base_fleet, old, env, quiet)
                except FleetError as exc:
                    notes.append(f"{name} ({env}) did not render at the base: {str(exc).splitlines()[0]}")
            # Normalised manifests, Secret data as fingerprints, known secret strings redacted.
            files = [fleet.hubs[name].secrets_file(env)] + ([old.secrets_file(env)] if old else [])
            diffs[(name, env)] = unified(before, after, runner.secrets,
                                         live_label=f"{name}-{env} at {base[:12]}",
                                         new_label=f"{name}-{env} at head", key=key,
                                         secret=secret_paths(files))
    return diffs


# -- the `invoke plan` task ----------------------------------------------------------------------


def _resolve(runner: Runner, root: Path, ref: str) -> str:
    proc = runner.run(["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                      step="git rev-parse", mutates=False, check=False)
    if proc.returncode != 0:
        raise FleetError(f"head commit {ref!r} not found in {root}")
    return proc.stdout.strip()


@contextlib.contextmanager
def worktree(runner: Runner, root: Path, commit: str) -> Iterator[Path]:
    """A temporary git worktree of a commit, removed on every exit path."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="fleet-head-")) / "tree"
    runner.run(["git", "-C", str(root), "worktree", "add", "--detach", "--quiet", str(folder), commit],
               step="git worktree add", mutates=False)
    try:
        yield folder
    finally:
        runner.run(["git", "-C", str(root), "worktree", "remove", "--force", str(folder)],
                   step="git worktree remove", mutates=False, check=False)
        folder.parent.rmdir()


def tag_of(fleet: Fleet) -> Callable[[str], str]:
    from .images import context_tag

    return lambda image: context_tag(fleet.root / "images" / image)


def run(root: Path | None, *, base: str, head: str = "HEAD", envs: Iterable[str] | None = None,
        labels: Iterable[str] = (), as_json: bool = False, markdown_file: str | None = None,
        runner: Runner | None = None, access=None) -> dict:
    """What `invoke plan` does: compute the plan and print it (table or JSON), write the comment."""
    from . import config

    runner = runner or Runner(echo=False)
    fleet = config.load(root)
    envs = list(envs) if envs else None
    for env in envs or ():
        if env not in fleet.environments:
            raise FleetError(f"unknown env {env!r}; valid envs: {', '.join(fleet.environments)}")
    with contextlib.ExitStack() as stack:
        head_commit = _resolve(runner, fleet.root, head)
        if head_commit != _resolve(runner, fleet.root, "HEAD"):
            # Plan with the config and files of the head commit, not of the working tree.
            fleet = config.load(stack.enter_context(worktree(runner, fleet.root, head_commit)))
        info_of = None
        if base == DEPLOYED and check_labels(labels) is None:
            info_of = stack.enter_context(live_releases(fleet, runner, access))
        result = make_plan(fleet, runner, base, head_commit, envs, labels, info_of)
        data = result.as_data(fleet, tag_of(fleet))
        if markdown_file:
            diffs = {}
            if base != DEPLOYED:
                diffs = manifest_diffs(fleet, runner, base, data, result.notes)
            Path(markdown_file).write_text(markdown(data, result.notes, diffs, base))
    if as_json:
        print(to_json(data))
    else:
        print_table(data, result.notes)
    return data
