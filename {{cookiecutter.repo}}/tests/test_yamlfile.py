"""Unit tests of fleet.yamlfile and what reads through it: duplicate keys, alias bombs, and random
or hostile YAML given to config and secrets loading, each answered with one line in bounded time
and memory."""

import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from helpers import FLEET_YAML, KUBECONFIG_CLUSTER, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.core import config, yamlfile
from fleet.core.errors import FleetError
from fleet.tools import sops

# Ten levels of nine aliases each: 9**10 leaves in 600 bytes (PyYAML builds it as shared lists;
# whatever walks it, the schema check first, walks them all).
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9)
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write(tmp_path / "fleet.yaml", FLEET_YAML)
    write(tmp_path / "clusters/main/cluster.yaml", KUBECONFIG_CLUSTER)
    write(tmp_path / "hubs/alpha/hub.yaml", "cluster: main\n")
    write(tmp_path / "hubs/alpha/values.yaml", "jupyterhub: {}\n")
    return tmp_path


def test_a_duplicate_key_names_the_file_and_both_lines(tmp_path):
    path = write(
        tmp_path / "values.yaml", "jupyterhub:\n  hub:\n    a: 1\n  proxy: {}\n  hub:\n    b: 2\n"
    )
    with pytest.raises(FleetError) as error:
        yamlfile.read(path)
    assert str(error.value) == (f"{path}:5: invalid YAML: duplicate key 'hub' (first at line 2)")


def test_the_readme_quick_starts_appended_hub_section_is_refused(root):
    """Appending a second `jupyterhub.hub` silently dropped the first one's loadRoles before."""
    values = root / "hubs/alpha/values.yaml"
    values.write_text("jupyterhub:\n  hub:\n    loadRoles: {}\n")
    with values.open("a") as out:
        out.write("  hub:\n    extraEnv: {A: b}\n")
    with pytest.raises(FleetError, match=r"values.yaml:4: invalid YAML: duplicate key 'hub'"):
        config.merged_values([values])


def test_merge_keys_and_small_aliases_still_work(tmp_path):
    path = write(tmp_path / "v.yaml", "base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\nlist: [*b, *b]\n")
    assert yamlfile.read(path) == {
        "base": {"x": 1},
        "other": {"x": 1, "y": 2},
        "list": [{"x": 1}, {"x": 1}],
    }


def test_an_alias_bomb_in_hub_yaml_is_refused_at_once_with_little_memory(root):
    hub_yaml = root / "hubs/alpha/hub.yaml"
    hub_yaml.write_text("cluster: main\n" + BOMB)
    assert len(hub_yaml.read_bytes()) < 700
    tracemalloc.start()
    began = time.monotonic()
    with pytest.raises(FleetError) as error:
        config.load(root)
    seconds = time.monotonic() - began
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert str(error.value).startswith(f"{hub_yaml}: YAML aliases expand to more than 100000")
    assert seconds < 3 and peak < 20 * 2**20


def test_a_recursive_alias_and_deep_nesting_are_one_line_errors(tmp_path):
    recursive = write(tmp_path / "r.yaml", "a: &a [*a]\n")
    with pytest.raises(FleetError, match="YAML aliases expand to more than"):
        yamlfile.read(recursive)
    deep = write(tmp_path / "d.yaml", "[" * 5000 + "]" * 5000)
    with pytest.raises(FleetError, match=r"d.yaml: invalid YAML: nested too deeply"):
        yamlfile.read(deep)


def test_decrypted_secrets_are_read_strictly_too(tmp_path):
    """A duplicate key in a secrets file (as sops decrypts it) is named, not last-wins."""
    text = "jupyterhub:\n  proxy:\n    secretToken: a\n    secretToken: b\n"
    with pytest.raises(FleetError, match=r"secrets/staging.yaml \(decrypted\):4: .*duplicate key"):
        yamlfile.load(text, "hubs/alpha/secrets/staging.yaml (decrypted)")
    assert "secret-value" in sops.secret_strings(yamlfile.load("a: {b: secret-value}\n", "x"))


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
_documents = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)
# Fragments of hostile YAML, glued at random: aliases, anchors, tags, merges, deep nesting.
_hostile = st.lists(
    st.sampled_from(
        [
            "a: &a [x, x, x, x]\n",
            "b: &b [*a, *a, *a, *a]\n",
            "c: [*b, *b, *b, *b, *b, *b]\n",
            "d: &d {<<: *d}\n",
            "e: !!python/object:os.system ls\n",
            "f: !!binary aGVsbG8=\n",
            "[" * 300,
            "]" * 300,
            "{a: 1, a: 2}\n",
            "cluster: main\n",
            "cluster: main\ncluster: other\n",
            "%YAML 1.1\n---\n",
            "--- 1\n--- 2\n",
            "? [a, b]\n: c\n",
            "\t\x00\x1b\n",
            "x: '\u00e9\u2603'\n",
            "- item\n",
            "  indented: wrong\n",
        ]
    ),
    max_size=12,
).map("".join)


def _bounded(call) -> None:
    """`call` returns or raises FleetError with one line, within 5 s (a loaded CI machine;
    an alias bomb took minutes) and 50 MB."""
    tracemalloc.start()
    began = time.monotonic()
    try:
        call()
    except FleetError as exc:
        assert "\n" not in str(exc), str(exc)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.monotonic() - began < 5.0
    assert peak < 50 * 2**20


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(_hostile, _documents.map(yaml.safe_dump), st.text(max_size=200)))
def test_random_and_hostile_yaml_gets_one_line_within_bounds(tmp_path_factory, text):
    root = tmp_path_factory.mktemp("fuzz")
    write(root / "fleet.yaml", FLEET_YAML)
    write(root / "clusters/main/cluster.yaml", KUBECONFIG_CLUSTER)
    write(root / "hubs/alpha/hub.yaml", text)
    _bounded(lambda: config.load(root))
    write(root / "hubs/alpha/hub.yaml", "cluster: main\n")
    write(root / "hubs/alpha/values.yaml", text)
    _bounded(lambda: config.merged_values([root / "hubs/alpha/values.yaml"]))
    _bounded(lambda: sops.secret_strings(yamlfile.load(text, "secrets (decrypted)") or {}))
