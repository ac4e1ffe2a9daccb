"""Jinja extension giving templates and hooks the template's absolute folder: `hubfleet_template_dir`.

cookiecutter.json lists it in `_extensions`. cookiecutter appends the template folder to sys.path
while it renders (`_patch_import_path_for_repo`), and cruft appends its clone of the template
(`AltTemporaryDirectory`), so this module is importable in both, and its own file says where
the template is. cookiecutter's `_repo_dir` cannot: it keeps the path as typed (`template`,
`.`), while the hooks run inside the new repo.

The module name is distinctive on purpose: the folder is appended to sys.path, so a module of
the same name found earlier would be loaded instead. Never pip-install it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from jinja2 import Environment
from jinja2.ext import Extension

TEMPLATE_DIR = str(Path(__file__).resolve().parent)


class _HookRefusal(logging.Filter):
    """cookiecutter logs a failed hook with its own traceback, after the hook's one-line error
    (hooks/pre_gen_project.py): the error says what to fix, the traceback says nothing more."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Stopping generation because")


class TemplateDir(Extension):
    """Adds the global `hubfleet_template_dir`: the template's absolute folder."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.globals["hubfleet_template_dir"] = TEMPLATE_DIR
        hooks_log = logging.getLogger("cookiecutter.hooks")
        if not any(isinstance(f, _HookRefusal) for f in hooks_log.filters):
            hooks_log.addFilter(_HookRefusal())
