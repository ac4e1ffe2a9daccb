"""Which hubs a change deploys and which images it builds, each with its reasons.

The core is pure: changed paths + the fleet config -> a Plan, by the rules in fleet.rules. Git
(fleet.git) and the live releases (fleet.release) are read only at the edges; `run` is what
`invoke plan` does, with fleet.review for the manifest diffs and fleet.report for the output.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fleet.core import config, output
from fleet.core.config import SUPPORT_RELEASE, Fleet, Hub
from fleet.core.errors import FleetError
from fleet.core.runner import Runner
from fleet.ops import orphans
from fleet.plan import report, review
from fleet.plan.rules import ALL, CLUSTER, HUB, IMAGE, NOTHING, SUPPORT, classify
from fleet.release.release import cluster_runner
from fleet.tools import helm, images
from fleet.tools.credentials import Access
from fleet.tools.git import NO_COMMIT, Git

DEPLOYED = "deployed"  # --base deployed: each hub against the commit on its live release
LABEL_SKIP = "deploy:skip"
# A commit id, whole or abbreviated: missing from this clone after a force-push or shallow fetch.
COMMIT_ID = re.compile(r"[0-9a-f]{7,40}")
# A ref followed by first-parent walks such as HEAD~1 or main^: HEAD~1 of a first commit is none.
ANCESTRY = re.compile(r"(?P<start>.+?)(?P<suffix>(?:[~^][0-9]*)+)")
ANCESTRY_STEP = re.compile(r"([~^])([0-9]*)")
LABEL_ALL = "deploy:all"


@dataclass
class Plan:
    """(hub, env) -> reasons to deploy it; image -> reasons to build it; notes for the reader."""

    deploy: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    build: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    support: dict[str, list[str]] = field(default_factory=dict)  # cluster -> reasons

    def add_support(self, cluster: str, reason: str) -> None:
        reasons = self.support.setdefault(cluster, [])
        if reason not in reasons:
            reasons.append(reason)

    def add_deploy(self, hub: str, env: str, reason: str) -> None:
        reasons = self.deploy.setdefault((hub, env), [])
        if reason not in reasons:
            reasons.append(reason)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

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
        for cluster, reasons in other.support.items():
            for reason in reasons:
                self.add_support(cluster, reason)
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
        support = [
            {
                "cluster": name,
                "provider": fleet.clusters[name].provider,
                "reasons": self.support[name],
            }
            for name in sorted(self.support)
        ]
        return {
            "support": support,
            "deploy": deploy,
            "build": build,
            "jobs": job_matrices(fleet.environments, support, deploy),
        }


def job_matrices(environments: list[str], support: list[dict], deploy: list[dict]) -> dict:
    """The deploy workflow's matrices: per environment, the clusters it deploys on.

    The first environment (the canary) carries each cluster's support. A cluster's run in a later
    environment waits for its run in the latest earlier one that had work there (`after`: that
    environment, whose `invoke deploy --results` file it reads with `--after`; "" for none).
    """
    jobs: dict[str, list[dict]] = {}
    for i, env in enumerate(environments):
        entries = [*support] if i == 0 else []
        entries += [e for e in deploy if e["env"] == env]
        clusters = sorted({(e["cluster"], e["provider"]) for e in entries})
        jobs[env] = []
        for cluster, provider in clusters:
            earlier = [e for e in environments[:i] if any(c["cluster"] == cluster for c in jobs[e])]
            after = earlier[-1] if earlier else ""
            jobs[env].append({"cluster": cluster, "provider": provider, "after": after})
    return jobs


def _envs(hub: Hub, envs: Iterable[str] | None, only: str | None = None) -> list[str]:
    """The hub's environments, narrowed to `envs` (the --env filter) and to `only`."""
    chosen = [e for e in hub.environments if envs is None or e in envs]
    return [e for e in chosen if only is None or e == only]


def _summary(reason: str, paths: list[str]) -> str:
    more = f" (+{len(paths) - 1} more)" if len(paths) > 1 else ""
    return f"{reason}: {paths[0]}{more}"


def _grouped(paths: Iterable[str]) -> dict[tuple, dict[str, list[str]]]:
    """Paths grouped by what they concern, (scope, name, env) -> reason -> paths, so each
    target is expanded to hubs only once."""
    targets: dict[tuple, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in paths:
        match = classify(path)
        scope = match.rule.scope
        if scope == NOTHING:
            continue
        named = match.names.get(CLUSTER if scope == SUPPORT else scope)
        targets[(scope, named, match.names.get("env"))][match.reason].append(path)
    return targets


def _hubs_of(fleet: Fleet, scope: str, name: str | None, plan: Plan, summaries) -> list[Hub]:
    """The hubs a scope names (noting what the fleet lacks); an image's builds are planned."""
    if scope == SUPPORT:
        if name and name not in fleet.clusters:
            plan.note(f"cluster {name!r} is not in the fleet (removed?): no support to deploy")
        return []
    if scope == ALL:
        return list(fleet.hubs.values())
    if scope == CLUSTER:
        if name not in fleet.clusters:
            plan.note(f"cluster {name!r} is not in the fleet (removed?): no hub to deploy")
        return [hub for hub in fleet.hubs.values() if hub.cluster == name]
    if scope == IMAGE:
        if name not in fleet.images:
            plan.notes.append(f"image {name!r} is not in the fleet (removed?): nothing to build")
        for summary in summaries if name in fleet.images else []:
            plan.add_build(name, summary)
        return [hub for hub in fleet.hubs.values() if hub.image == name]
    if scope == HUB:
        if name not in fleet.hubs:
            plan.note(
                f"hub {name!r} is not in the repository (removed or renamed): not deployed; "
                "its releases keep serving until retired: `invoke status` lists them, "
                f"`invoke retire --hub {name} --env ENV` removes one"
            )
        return [fleet.hubs[name]] if name in fleet.hubs else []
    raise FleetError(f"rule scope {scope!r} is unknown (fleet/plan/rules.py)")


def plan_paths(fleet: Fleet, paths: Iterable[str], envs: Iterable[str] | None = None) -> Plan:
    """The plan for a set of changed repository-relative paths, by the rules in fleet.rules."""
    envs = None if envs is None else tuple(envs)
    plan = Plan()
    for (scope, name, only_env), reasons in _grouped(paths).items():
        summaries = [_summary(reason, paths) for reason, paths in reasons.items()]
        if scope in (ALL, CLUSTER, SUPPORT) and (envs is None or fleet.environments[0] in envs):
            # Support serves every environment of its cluster: it goes with the first one (the
            # canary, staging), before its hubs; a plan of prod alone does not carry it.
            for cluster in [name] if name else sorted(fleet.clusters):
                if cluster in fleet.clusters:
                    for summary in summaries:
                        plan.add_support(cluster, summary)
        for hub in _hubs_of(fleet, scope, name, plan, summaries):
            for env in _envs(hub, envs, only_env):
                for summary in summaries:
                    plan.add_deploy(hub.name, env, summary)
    return plan


def plan_everything(
    fleet: Fleet,
    reason: str,
    envs: Iterable[str] | None = None,
    hubs: Iterable[str] | None = None,
    support: bool = False,
) -> Plan:
    """Every hub (or the given ones) in every chosen env, and the images they use; with
    `support` (a repository's first deploy), each cluster's support too, with the first
    environment, as in `plan_paths`."""
    envs = None if envs is None else tuple(envs)
    plan = Plan()
    if support and (envs is None or fleet.environments[0] in envs):
        for cluster in sorted(fleet.clusters):
            plan.add_support(cluster, reason)
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


def _steps_back(suffix: str) -> int | None:
    """First-parent steps a `~N`/`^` suffix walks back; None when it takes another parent."""
    steps = 0
    for kind, count in ANCESTRY_STEP.findall(suffix):
        if kind == "^" and count not in ("", "0", "1"):
            return None
        steps += int(count) if count else 1
    return steps


def _unknown_base(git: Git, base: str) -> str:
    """Why every hub is planned for a base git does not have; a base that names nothing is an error.

    A missing commit id is expected (a new branch, a force-push, a shallow clone) and a ref that
    walks back past the first commit compares with nothing: every hub is new. A name that is no
    commit, branch or tag is a mistake: planning every hub for a typo would hide it.
    """
    if not base or base == NO_COMMIT:
        return "no base commit (new branch): planning every hub"
    if COMMIT_ID.fullmatch(base):
        return f"base commit {base} not found (force-push or shallow clone?): planning every hub"
    walk = ANCESTRY.fullmatch(base)
    steps = _steps_back(walk["suffix"]) if walk else None
    if walk and steps is not None and git.exists(walk["start"]):
        depth = git.first_parent_depth(walk["start"])
        if steps >= depth:
            where = "is the first commit" if depth == 1 else f"has {depth} commits"
            return (
                f"base {base} is before the first commit ({walk['start']} {where}): "
                "every hub is new, planning every hub"
            )
    raise FleetError(
        f"base {base!r}: no commit, branch or tag of that name in {git.root} "
        "(check --base or FLEET_PLAN_BASE; `git fetch` it if it is on a remote)"
    )


def plan_between(
    fleet: Fleet, git: Git, base: str, head: str = "HEAD", envs: Iterable[str] | None = None
) -> Plan:
    """The plan for the changes from base to head; a missing base commit plans every hub."""
    if not git.exists(head):
        raise FleetError(f"head commit {head!r} not found in {git.root}")
    if not git.exists(base):
        reason = _unknown_base(git, base)
        plan = plan_everything(fleet, reason, envs, support=True)
        plan.notes.append(reason)
        return plan
    return plan_paths(fleet, git.changed_files(base, head), envs)


# -- against what is deployed ------------------------------------------------------------------

InfoOf = Callable[[Hub, str], "dict | None"]
SupportOf = Callable[[str], "dict | None"]


def _again(git: Git, info: dict | None) -> str | None:
    """Why a live release must be deployed again whatever changed, or None: compare commits."""
    if not info:
        return "never deployed"
    if info.get("status") != "deployed":
        return f"last deploy {info.get('status') or 'unknown'} (revision {info.get('revision')})"
    if not info.get("commit"):
        return "no commit recorded on the live release"
    if info.get("dirty"):
        return f"deployed from uncommitted changes on {info['commit'][:12]}"
    if not git.exists(info["commit"]):
        return f"deployed commit {info['commit']} not found (force-push or shallow clone?)"
    return None


def plan_deployed(
    fleet: Fleet,
    git: Git,
    info_of: InfoOf,
    head: str = "HEAD",
    envs: Iterable[str] | None = None,
    support_of: SupportOf | None = None,
) -> Plan:
    """Each hub x env against the commit on its live release (`info_of(hub, env)`), and each
    cluster's support against its own (`support_of(cluster)`; with the first environment only).

    Never deployed, a last deploy that did not succeed, or a commit this clone does not have:
    planned again, saying why. Releases deployed from the same commit share one git diff.
    """
    envs = None if envs is None else tuple(envs)
    plan = Plan()
    by_commit: dict[str, list[tuple[Hub, str]]] = defaultdict(list)
    for hub in fleet.hubs.values():
        for env in _envs(hub, envs):
            info = info_of(hub, env)
            again = _again(git, info)
            if again:
                plan.merge(plan_everything(fleet, again, [env], [hub.name]))
            else:
                by_commit[info["commit"]].append((hub, env))
    support_by_commit: dict[str, list[str]] = defaultdict(list)
    if support_of is not None and (envs is None or fleet.environments[0] in envs):
        for cluster in sorted(fleet.clusters):
            info = support_of(cluster)
            again = _again(git, info)
            if again:
                plan.add_support(cluster, again)
            else:
                support_by_commit[info["commit"]].append(cluster)

    for commit in sorted(set(by_commit) | set(support_by_commit)):
        changes = plan_paths(fleet, git.changed_files(commit, head), envs)
        wanted = {(hub.name, env) for hub, env in by_commit.get(commit, [])}
        _take(fleet, plan, changes, wanted, support_by_commit.get(commit, []))
    return plan


def _take(fleet: Fleet, plan: Plan, changes: Plan, wanted: set, clusters: list[str]) -> None:
    """Of the plan of one commit's changes, what concerns the releases deployed from it."""
    for key, reasons in changes.deploy.items():
        if key in wanted:
            for reason in reasons:
                plan.add_deploy(*key, reason)
    images = {fleet.hubs[hub].image for hub, _ in plan.deploy}
    for image, reasons in changes.build.items():
        if image in images:
            for reason in reasons:
                plan.add_build(image, reason)
    for cluster in clusters:
        for reason in changes.support.get(cluster, []):
            plan.add_support(cluster, reason)
    plan.notes.extend(n for n in changes.notes if n not in plan.notes)


def make_plan(
    fleet: Fleet,
    git: Git,
    base: str,
    head: str = "HEAD",
    envs: Iterable[str] | None = None,
    labels: Iterable[str] = (),
    info_of: InfoOf | None = None,
    support_of: SupportOf | None = None,
) -> Plan:
    """The plan for a base (a commit, or `deployed` with `info_of`), after the labels had their say."""
    label = check_labels(labels)
    if label == LABEL_SKIP:
        return Plan(notes=[f"label {LABEL_SKIP}: nothing is deployed"])
    if label == LABEL_ALL:
        return plan_everything(fleet, f"label {LABEL_ALL}", envs)
    if base == DEPLOYED:
        if info_of is None:
            raise FleetError(
                "--base deployed needs the live releases: use fleet.plan.live_releases"
            )
        return plan_deployed(fleet, git, info_of, head, envs, support_of)
    return plan_between(fleet, git, base, head, envs)


class Live:
    """The clusters' live releases, through one private KUBECONFIG per cluster, made when needed."""

    def __init__(self, fleet: Fleet, runner: Runner, access: Access, stack: contextlib.ExitStack):
        self.fleet, self.runner, self.access, self.stack = fleet, runner, access, stack
        self.runners: dict[str, Runner] = {}
        self.releases: dict[str, dict] = {}

    def on(self, cluster: str) -> Runner:
        if cluster not in self.runners:
            own = cluster_runner(self.fleet, cluster, self.access, self.runner)
            self.runners[cluster] = self.stack.enter_context(own)
        return self.runners[cluster]

    def _latest(self, cluster: str, release: str) -> dict | None:
        # The newest revision, whatever its status: a failed or pending one is planned again.
        if cluster not in self.releases:  # every release of the cluster in one read
            ours = [
                h.release(e)
                for h in self.fleet.hubs.values()
                if h.cluster == cluster
                for e in h.environments
            ]
            wanted = {(name, name) for name in [*ours, SUPPORT_RELEASE]}
            self.releases[cluster] = helm.cluster_releases(self.on(cluster), wanted, images=False)
        return (self.releases[cluster].get((release, release)) or {}).get("latest")

    def info_of(self, hub: Hub, env: str) -> dict | None:
        return self._latest(hub.cluster, hub.release(env))

    def support_of(self, cluster: str) -> dict | None:
        return self._latest(cluster, SUPPORT_RELEASE)

    def orphans(self) -> list[orphans.Orphan]:
        return orphans.everywhere(self.fleet, {c: self.on(c) for c in self.fleet.clusters})


@contextlib.contextmanager
def live_releases(fleet: Fleet, runner: Runner, access: Access | None = None) -> Iterator[Live]:
    """The live releases of the fleet's clusters (`Live`), credentials removed after."""
    with contextlib.ExitStack() as stack:
        yield Live(fleet, runner, access or Access(), stack)


def tag_of(fleet: Fleet) -> Callable[[str], str]:
    return lambda image: images.context_tag(images.image_context(fleet.root, image))


def _data(fleet: Fleet, result: Plan, live) -> dict:
    """The plan as data; with the clusters at hand (`live`), the releases no hub owns any more."""
    data = result.as_data(fleet, tag_of(fleet))
    if live:
        found = live.orphans()
        data["orphans"] = [vars(o) | {"retire": o.advice()} for o in found]
        for orphan in found:
            result.note(orphan.line())
    data["notes"] = result.notes  # what the table prints under it, for scripts too
    return data


def run(
    root: Path | None,
    *,
    base: str,
    head: str = "HEAD",
    envs: Iterable[str] | None = None,
    labels: Iterable[str] = (),
    as_json: bool = False,
    markdown_file: str | None = None,
    runner: Runner | None = None,
    access: Access | None = None,
) -> dict:
    """What `invoke plan` does: compute the plan and print it (table or JSON), write the comment."""
    runner = runner or Runner(echo=False)
    fleet = config.load(root)
    envs = [fleet.fleet_env(env) for env in envs] if envs else None
    git = Git(fleet.root, runner)
    head_commit = git.resolve(head)
    if head_commit is None:
        raise FleetError(f"head commit {head!r} not found in {fleet.root}")
    with contextlib.ExitStack() as stack:
        if head_commit != git.resolve("HEAD"):
            # Plan with the config and files of the head commit, not of the working tree.
            fleet = config.load(stack.enter_context(git.tree(head_commit)))
        live = None
        if base == DEPLOYED and check_labels(labels) is None:
            live = stack.enter_context(live_releases(fleet, runner, access))
        lookups = (live.info_of, live.support_of) if live else (None, None)
        result = make_plan(fleet, git, base, head_commit, envs, labels, *lookups)
        data = _data(fleet, result, live)
        if markdown_file:
            diffs = {}
            if base != DEPLOYED:
                diffs = review.manifest_diffs(fleet, git, base, data, result.notes)
            Path(markdown_file).write_text(report.plan_markdown(data, result.notes, diffs, base))
    if as_json:
        output.line(report.to_json(data))
    else:
        report.print_plan(data, result.notes)
    return data
