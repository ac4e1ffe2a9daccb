"""Finish the generated repo (hubs, keys, encrypted secrets, git); the work is in hooks/generate.py.

Cookiecutter renders this file with Jinja, then runs it inside the new repo.
"""

import json
import shutil
import sys
from pathlib import Path

ANSWERS = json.loads(r'''{{ cookiecutter | tojson }}''')
TEMPLATE_DIR = json.loads(r'''{{ (cookiecutter._repo_dir | default("")) | tojson }}''')
if TEMPLATE_DIR:
    ANSWERS["_repo_dir"] = TEMPLATE_DIR
    sys.path.insert(0, TEMPLATE_DIR)

try:
    from hooks import generate
except ImportError:
    # cruft regenerating the template from a clone it made: only the deterministic part.
    sys.path.insert(0, str(Path.cwd()))
    from fleet import scaffold

    if ANSWERS["ci"] != "github":
        shutil.rmtree(".github", ignore_errors=True)
    for name in ANSWERS["hubs"].split(","):
        scaffold.new_hub(Path.cwd(), name.strip(), cluster=ANSWERS["cluster"], with_secrets=False)
    sys.exit(0)

try:
    for line in generate.main(ANSWERS, Path.cwd()):
        print(line)
except generate.Stop as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(1)
