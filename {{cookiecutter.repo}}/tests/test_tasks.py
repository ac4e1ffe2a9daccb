"""Every invoke task is its own manual: a one-line summary, and help for each of its options."""

import inspect

import pytest

import tasks


def all_tasks(collection):
    for name in collection.task_names:
        yield name, collection[name]


TASKS = sorted(all_tasks(tasks.ns))


@pytest.mark.parametrize(("name", "task"), TASKS, ids=[name for name, _ in TASKS])
def test_a_task_has_a_one_line_summary_and_help_for_each_option(name, task):
    summary = (inspect.getdoc(task.body) or "").splitlines()
    assert summary and summary[0].strip(), f"{name}: no docstring"
    assert len(summary[0]) <= 100, f"{name}: the first line is the summary, keep it short"
    options = [p for p in inspect.signature(task.body).parameters if p != "c"]
    missing = [o for o in options if o.replace("_", "-") not in task.help and o not in task.help]
    assert missing == [], f"{name}: options without help: {missing}"
