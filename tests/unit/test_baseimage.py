"""Unit tests of toolchain.baseimage's choice of Debian mirror: the machine's own, never a guess."""

import pytest

from toolchain import baseimage
from toolchain.run import MissingPrerequisite

pytestmark = pytest.mark.unit


def test_mirror_comes_from_the_one_line_sources_list(tmp_path):
    sources_list = tmp_path / "sources.list"
    sources_list.write_text(
        "deb http://security.example/debian-security bookworm-security main\n"
        "deb [arch=amd64] http://mirror.example/debian/ bookworm main\n"
    )
    assert baseimage.debian_mirror(tmp_path / "absent.sources", sources_list) == (
        "http://mirror.example/debian"
    )


def test_no_mirror_in_the_sources_names_the_files_and_what_to_add(tmp_path):
    sources = tmp_path / "debian.sources"
    sources.write_text("Types: deb\nSuites: bookworm\nComponents: main\n")
    sources_list = tmp_path / "sources.list"
    with pytest.raises(MissingPrerequisite) as missing:
        baseimage.debian_mirror(sources, sources_list)
    message = str(missing.value)
    assert "\n" not in message
    assert str(sources) in message and f"{sources_list} (missing)" in message
    assert "URIs: <mirror>" in message and "deb <mirror> bookworm main" in message
