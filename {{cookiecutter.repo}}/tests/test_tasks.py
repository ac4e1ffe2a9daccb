"""Every invoke task is its own manual: a one-line summary, and help for each of its options."""

import inspect

import pytest
from helpers import FLEET_YAML, KUBECONFIG_CLUSTER, write
from invoke import Program

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


def _program_output(capsys, *argv: str) -> tuple[int, str]:
    """`invoke ARGV` on this repository's tasks, in this process, as the `invoke` command runs."""
    code = 0
    try:
        Program(namespace=tasks.ns, binary="invoke").run(["invoke", *argv], exit=True)
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize(("name", "task"), TASKS, ids=[name for name, _ in TASKS])
def test_task_help_works_for_every_task_and_names_its_positionals(capsys, name, task, flag):
    """`invoke TASK --help` used to be taken as TASK's first positional argument's value."""
    code, out = _program_output(capsys, name, flag)
    assert code == 0, out
    assert out.startswith(f"Usage: invoke [--core-opts] {name} "), out
    needed = [
        p.name
        for p in list(inspect.signature(task.body).parameters.values())[1:]
        if p.default is inspect.Parameter.empty
    ]
    if needed:
        assert f"Arguments: {' '.join(n.upper() for n in needed)}, in this order" in out


def test_a_short_flag_has_one_meaning_in_every_task():
    """No automatic short flags: `-h` is --help everywhere, never --hub here and --head there."""
    for name, task in TASKS:
        for argument in task.get_arguments():
            shorts = [n for n in argument.names if len(n) == 1]
            assert shorts == [], f"{name}: -{shorts[0]} for --{argument.name}"


def test_positional_arguments_still_work_and_a_missing_one_is_named(capsys):
    code, out = _program_output(capsys, "retire", "alpha")
    assert code != 0
    assert "'retire' did not receive required positional arguments: 'env'" in out


@pytest.mark.parametrize("name", ["secrets.edit", "secrets.decrypt", "diff", "rollback", "health"])
def test_a_release_task_without_its_env_says_so_in_one_line(capsys, name, tmp_path, monkeypatch):
    write(tmp_path / "fleet.yaml", FLEET_YAML)
    write(tmp_path / "clusters/main/cluster.yaml", KUBECONFIG_CLUSTER)
    write(tmp_path / "hubs/alpha/hub.yaml", "cluster: main\n")
    monkeypatch.chdir(tmp_path)
    code, out = _program_output(capsys, name, "--hub", "alpha")
    assert (code, out.strip()) == (1, "error: hub alpha: --env is required")
    if name != "health":  # a hub's only: a support release has no health check
        code, out = _program_output(capsys, name, "--support", "--cluster", "moon")
        assert code == 1 and out.startswith("error: unknown cluster 'moon'"), out
