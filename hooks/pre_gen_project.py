"""Validate every answer before anything is written: one clear line and exit 1 on bad input.

Cookiecutter (or cruft, regenerating the template) renders this file with Jinja, then runs it.
The checks live in hooks/answers.py; `hubfleet_template_dir` is the template's absolute folder,
from the Jinja extension in hubfleet_template.py.
"""

import json
import os
import sys
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
# cookiecutter's own record of the template, when absolute, must be the folder found above.
REPO_DIR = ANSWERS.get("_repo_dir", "")
if os.path.isabs(REPO_DIR) and os.path.realpath(REPO_DIR) != os.path.realpath(TEMPLATE_DIR):
    fail(
        f"hubfleet_template.py was imported from {TEMPLATE_DIR}, not from the template at "
        f"{REPO_DIR}: another copy comes first on sys.path; run cookiecutter from another folder"
    )
sys.path.insert(0, TEMPLATE_DIR)
try:
    from hooks import answers
except ImportError as exc:
    fail(f"cannot import {exc.name!r} from the template at {TEMPLATE_DIR}: use a complete copy")

problems = answers.problems(ANSWERS)
if problems:
    fail(problems[0])
