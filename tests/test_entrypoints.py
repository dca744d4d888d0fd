"""sgdoctor.entrypoints agrees with importlib.metadata.entry_points (its slow original)."""

from __future__ import annotations

import sys
from importlib import metadata

import pytest

from sgdoctor import entrypoints


def _slow(group: str) -> list[tuple[str, str, str]]:
    return [(ep.name, ep.value, ep.group) for ep in metadata.entry_points(group=group)]


def _fast(group: str) -> list[tuple[str, str, str]]:
    return [(ep.name, ep.value, ep.group) for ep in entrypoints.entry_points(group)]


def test_every_group_of_this_environment_agrees():
    groups = {ep.group for dist in metadata.distributions() for ep in dist.entry_points}
    assert "console_scripts" in groups
    for group in sorted(groups | {"sgdoctor.checks", "no.such.group"}):
        assert _fast(group) == _slow(group), group


def _dist(root, name: str, text: str) -> None:
    info = root / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text(text)


def test_first_distribution_of_a_name_wins_sections_and_comments(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    _dist(first, "Sgd_Tiny", "# comment\n[sgdoctor.checks]\ntiny = sgd_tiny\n"
                             "other = os.path:join [extra]\n[other]\nx = y\n")
    _dist(second, "sgd.tiny", "[sgdoctor.checks]\nshadowed = nowhere\n")
    _dist(second, "sgd-more", "[ sgdoctor.checks ]\nmore = json : dumps\n")
    monkeypatch.setattr(sys, "path", [str(first), str(second), str(tmp_path / "missing")])
    assert _fast("sgdoctor.checks") == _slow("sgdoctor.checks")
    assert [name for name, _, _ in _fast("sgdoctor.checks")] == ["tiny", "other"]
    (point,) = [ep for ep in entrypoints.entry_points("sgdoctor.checks") if ep.name == "other"]
    import os.path

    assert point.load() is os.path.join


def test_a_line_without_equals_is_left_to_importlib(tmp_path, monkeypatch):
    _dist(tmp_path, "broken", "[sgdoctor.checks]\nno equals sign here\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    with pytest.raises(Exception) as slow:
        _slow("sgdoctor.checks")
    with pytest.raises(Exception) as fast:
        _fast("sgdoctor.checks")
    assert fast.type is slow.type
