"""Unit tests import the generated repo's `fleet` package and the template's `hooks` straight from the tree."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "{{cookiecutter.repo}}"))
sys.path.insert(0, str(ROOT))
