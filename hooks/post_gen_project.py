"""Finish the generated repo (hubs, keys, encrypted secrets, git); the work is in hooks/generate.py.

Cookiecutter (or cruft, regenerating the template to compute an update) renders this file with
Jinja, then runs it inside the new repo. `hubfleet_template_dir` is the template's absolute
folder, from the Jinja extension in hubfleet_template.py. Any failure is one `error:` line and
exit 1, after which cookiecutter deletes the new repo: never a half-finished one.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

# Rendered JSON in r'''...''': Jinja's tojson writes ' as \u0027, while a JSON string ends in ".
ANSWERS = json.loads(r'''{{ cookiecutter | tojson }}''')
TEMPLATE_DIR = json.loads(r'''{{ hubfleet_template_dir | default("") | tojson }}''')


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


if not TEMPLATE_DIR:
    fail(
        "the template's Jinja extension did not run: cookiecutter.json `_extensions` must list "
        "hubfleet_template.TemplateDir (a replay file from an older template lacks it)"
    )
sys.path.insert(0, TEMPLATE_DIR)
try:
    from hooks import generate
except ImportError as exc:
    fail(f"cannot import {exc.name!r} from the template at {TEMPLATE_DIR}: use a complete copy")

try:
    for line in generate.main(ANSWERS, Path.cwd(), Path(TEMPLATE_DIR)):
        print(line)
except generate.Stop as exc:
    fail(str(exc))
except ImportError as exc:
    fail(generate.missing_module_message(exc))
except subprocess.CalledProcessError as exc:
    stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
    said = [line for line in (stderr or "").splitlines() if line.strip()] or ["no output"]
    fail(f"`{' '.join(map(str, exc.cmd))}` failed (exit {exc.returncode}): {said[-1]}")
