"""Validate every answer before anything is written: one clear line and exit 1 on bad input.

Cookiecutter renders this file with Jinja, then runs it; the checks live in hooks/answers.py.
"""

import json
import sys

ANSWERS = json.loads(r'''{{ cookiecutter | tojson }}''')
TEMPLATE_DIR = json.loads(r'''{{ (cookiecutter._repo_dir | default("")) | tojson }}''')

if TEMPLATE_DIR:
    sys.path.insert(0, TEMPLATE_DIR)
try:
    from hooks import answers
except ImportError:
    # cruft regenerating the template from a clone it made: the answers were checked at creation.
    sys.exit(0)

problems = answers.problems(ANSWERS)
if problems:
    print(f"error: {problems[0]}", file=sys.stderr)
    sys.exit(1)
