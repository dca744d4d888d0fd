"""Path-list splitting (pure) and hygiene on real directories created by the tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sgdoctor.api import Status
from sgdoctor.parse.pathlist import DirFacts, assess_path_list, split_path_list
from sgdoctor.probe.paths import dir_facts, facts_for


def _assess(name: str, value: str):
    sep = ":;" if name == "LD_LIBRARY_PATH" else ":"
    entries = split_path_list(value, sep)
    return assess_path_list(name, value, facts_for(e.raw for e in entries
                                                   if e.kind == "absolute"))


def test_split_kinds_and_duplicates() -> None:
    entries = split_path_list("/usr/bin::bin:/usr/bin/:$ORIGIN/lib:/usr//bin")
    assert [e.kind for e in entries] == ["absolute", "empty", "relative", "absolute", "token",
                                         "absolute"]
    assert [e.duplicate_of for e in entries] == [None, None, None, 1, None, 1]
    assert [e.index for e in entries] == [1, 2, 3, 4, 5, 6]


def test_ld_library_path_also_splits_on_semicolon() -> None:
    assert [e.raw for e in split_path_list("/a;/b:/c", ":;")] == ["/a", "/b", "/c"]
    assert [e.raw for e in split_path_list("/a;/b", ":")] == ["/a;/b"]


def test_trailing_colon_is_an_empty_entry() -> None:
    assert [e.kind for e in split_path_list("/usr/bin:")] == ["absolute", "empty"]


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, str]:
    good = tmp_path / "good"
    good.mkdir(mode=0o755)
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    link = tmp_path / "link"
    link.symlink_to(open_dir)
    return {"good": str(good), "open": str(open_dir), "sticky": str(sticky),
            "file": str(a_file), "missing": str(tmp_path / "missing"), "link": str(link)}


def test_probe_facts_on_real_directories(dirs: dict[str, str]) -> None:
    assert dir_facts(dirs["good"]) == DirFacts(exists=True, is_dir=True, world_writable=False)
    assert dir_facts(dirs["open"]).world_writable
    assert dir_facts(dirs["sticky"]).world_writable
    assert dir_facts(dirs["link"]).world_writable  # followed, as the readers follow it
    assert dir_facts(dirs["file"]) == DirFacts(exists=True, is_dir=False)
    assert dir_facts(dirs["missing"]) == DirFacts(exists=False)
    assert dir_facts(dirs["file"] + "/below") == DirFacts(exists=False)
    long = dir_facts("/" + "x" * 5000)
    assert not long.exists and long.error


def test_clean_list_is_ok(dirs: dict[str, str]) -> None:
    verdict = _assess("PATH", f"{dirs['good']}:/usr/bin")
    assert verdict.status is Status.OK
    assert verdict.meaning == "2 entries, no problem found"


@pytest.mark.parametrize("name", ["PATH", "LD_LIBRARY_PATH", "PYTHONPATH"])
def test_world_writable_directory_warns(dirs: dict[str, str], name: str) -> None:
    verdict = _assess(name, f"{dirs['good']}:{dirs['open']}")
    assert verdict.status is Status.WARN
    assert f"world-writable #2 '{dirs['open']}'" in verdict.meaning
    assert dirs["open"] not in (verdict.remedy or "")
    assert dirs["good"] in (verdict.remedy or "")


def test_missing_and_not_a_directory(dirs: dict[str, str]) -> None:
    verdict = _assess("LD_LIBRARY_PATH", f"{dirs['missing']};{dirs['file']}:{dirs['good']}")
    assert verdict.status is Status.WARN
    assert f"missing #1 '{dirs['missing']}'" in verdict.meaning
    assert f"not a directory: #2 '{dirs['file']}'" in verdict.meaning
    assert verdict.remedy and verdict.remedy.endswith(f"export LD_LIBRARY_PATH={dirs['good']}")


@pytest.mark.parametrize("name", ["PATH", "LD_LIBRARY_PATH", "PYTHONPATH"])
def test_empty_entry_is_the_current_directory(dirs: dict[str, str], name: str) -> None:
    verdict = _assess(name, f"{dirs['good']}::/usr/bin")
    assert verdict.status is Status.WARN
    assert "empty entry #2 means the current directory" in verdict.meaning


def test_relative_entry(dirs: dict[str, str]) -> None:
    verdict = _assess("PYTHONPATH", f"src:{dirs['good']}")
    assert verdict.status is Status.WARN
    assert "relative entry #1 'src'" in verdict.meaning


def test_duplicates_are_noted_not_warned(dirs: dict[str, str]) -> None:
    verdict = _assess("PATH", f"{dirs['good']}:{dirs['good']}/")
    assert verdict.status is Status.OK
    assert "duplicates, harmless: #2" in verdict.meaning


def test_empty_values() -> None:
    assert _assess("LD_LIBRARY_PATH", "").status is Status.OK  # ld.so ignores it
    assert _assess("PYTHONPATH", "").status is Status.OK  # CPython ignores it
    path = _assess("PATH", "")  # execvp searches the current directory only
    assert path.status is Status.WARN and "current directory" in path.meaning
    assert "export PATH=/usr/local/bin:/usr/bin:/bin" in (path.remedy or "")


def test_non_utf8_entry_is_probed_and_escaped(tmp_path: Path) -> None:
    raw = os.fsencode(str(tmp_path)) + b"/caf\xe9"
    os.mkdir(raw, 0o777)
    os.chmod(raw, 0o777)
    verdict = _assess("PATH", os.fsdecode(raw))
    assert verdict.status is Status.WARN and "world-writable" in verdict.meaning
    assert "caf\\xe9" in verdict.meaning
    verdict.meaning.encode("utf-8")
