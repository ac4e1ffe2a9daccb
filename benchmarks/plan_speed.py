"""How long a plan takes for a big fleet: 500 hubs and 5,000 changed files, without diffs.

Synthesises a fleet repository in a temporary folder (two commits, 5,000 files apart), then
times what `invoke plan --json` does: load and validate the config, `git diff` the commits,
apply the rules, and compute the image tags. Prints the median of a few runs.

    python benchmarks/plan_speed.py [--hubs 500] [--files 5000] [--runs 5] [--limit 2.0]

Exits non-zero when the median exceeds --limit seconds.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "{{cookiecutter.repo}}"))  # a script: the generated repo's package

from fleet.core import config  # noqa: E402
from fleet.core.runner import Runner  # noqa: E402
from fleet.plan import plan  # noqa: E402
from fleet.tools.git import Git  # noqa: E402

CLUSTERS = 5
IMAGES = 10


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    )
    return proc.stdout.strip()


def synthesise(root: Path, hubs: int, files: int) -> tuple[str, str]:
    """A fleet of `hubs` hubs; returns (base, head) commits `files` changed files apart."""
    write(
        root / "fleet.yaml",
        "registry: ghcr.io/bench\ndomain: hubs.example.org\nsecrets_backend: age\n",
    )
    write(root / "chart/values.yaml", "jupyterhub: {}\n")
    for c in range(CLUSTERS):
        write(
            root / f"clusters/c{c}/cluster.yaml", "provider: kubeconfig\nkubeconfig: {path: /k}\n"
        )
    for i in range(IMAGES):
        write(root / f"images/img{i}/Dockerfile", f"FROM base\nRUN echo {i}\n")
        write(root / f"images/img{i}/requirements.txt", "numpy\n")
    for h in range(hubs):
        hub = root / f"hubs/hub{h:03d}"
        write(hub / "hub.yaml", f"cluster: c{h % CLUSTERS}\nimage: img{h % IMAGES}\n")
        for name in ("values.yaml", "staging.yaml", "prod.yaml"):
            write(hub / name, "jupyterhub: {}\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "bench@example.org")
    git(root, "config", "user.name", "bench")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    base = git(root, "rev-parse", "HEAD")

    # The changes: mostly hub files, some docs, image files and unknown paths; no shared chart
    # change, so the rules (not one catch-all) decide for most hubs.
    changed = []
    for n in range(files):
        kind, round_ = n % 10, n // 10
        if kind < 7:
            changed.append(f"hubs/hub{(round_ * 7 + kind) % hubs:03d}/extra-{n}.yaml")
        elif kind == 7:
            changed.append(f"docs/page-{n}.md")
        elif kind == 8:
            changed.append(f"images/img{round_ % IMAGES}/files/f{n}.txt")
        elif round_ == 0:
            changed.append(f"clusters/c{round_ % CLUSTERS}/notes-{n}.yaml")
        else:
            changed.append(f"hubs/hub{round_ % hubs:03d}/secrets/extra-{n}.yaml")
    for path in changed:
        write(root / path, f"{path}\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "head")
    return base, git(root, "rev-parse", "HEAD")


def one_plan(root: Path, base: str) -> tuple[float, dict]:
    started = time.perf_counter()
    fleet = config.load(root)
    result = plan.make_plan(fleet, Git(fleet.root, Runner(echo=False)), base=base)
    data = result.as_data(fleet, plan.tag_of(fleet))
    return time.perf_counter() - started, data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hubs", type=int, default=500)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--limit", type=float, default=2.0, help="seconds allowed for the median")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plan-bench-") as folder:
        root = Path(folder)
        base, _ = synthesise(root, args.hubs, args.files)
        changed = len(git(root, "diff", "--name-only", base, "HEAD").splitlines())
        timings = []
        for _ in range(args.runs):
            seconds, data = one_plan(root, base)
            timings.append(seconds)
    median = statistics.median(timings)
    print(
        f"plan of {args.hubs} hubs, {changed} changed files: median {median:.3f} s "
        f"(min {min(timings):.3f} s, max {max(timings):.3f} s, {args.runs} runs); "
        f"{len(data['deploy'])} hub environments to deploy, {len(data['build'])} images to build"
    )
    if median > args.limit:
        print(f"slower than the {args.limit} s limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
