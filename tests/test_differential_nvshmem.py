"""sgdoctor's NVSHMEM parsers against NVSHMEM 3.8.0's own, called through ctypes.

libnvshmem_host.so.3 is not stripped: its local ``nvshmemi_getenv_size`` and
``nvshmemi_getenv_bool`` (which consult the configuration files first, then the
environment) are found in .symtab with pyelftools and called without a GPU. Every value of
the corpus goes through both; any disagreement fails the test and lists every case.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from consumer_harness import require, run_json, site_packages
from sgdoctor.api import Status
from sgdoctor.parse import nvshmem
from sgdoctor.probe.nvshmem import read_conf_files

LIB = site_packages() / "nvidia" / "nvshmem" / "lib" / "libnvshmem_host.so.3"

# Reads a JSON list of [kind, name, value|None] from stdin; calls NVSHMEM for each with the
# value put in (or removed from) the environment; prints [[rc, result, provided], ...].
HARNESS = r"""
import ctypes, json, os, sys
lib_path = os.environ["NVSHMEM_LIB"]
symbols = json.loads(os.environ["NVSHMEM_SYMBOLS"])
lib = ctypes.CDLL(lib_path)
anchor = "nvshmem_team_get_config"
base = ctypes.cast(getattr(lib, anchor), ctypes.c_void_p).value - symbols[anchor]
P = ctypes.POINTER
size_fn = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, P(ctypes.c_size_t),
                           P(ctypes.c_bool))(base + symbols["_ZL20nvshmemi_getenv_sizePKcmPmPb"])
bool_fn = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_bool, P(ctypes.c_bool),
                           P(ctypes.c_bool))(base + symbols["_ZL20nvshmemi_getenv_boolPKcbPbS1_"])
out = []
for kind, name, value in json.load(sys.stdin):
    key = "NVSHMEM_" + name
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value
    provided = ctypes.c_bool(False)
    if kind == "size":
        result = ctypes.c_size_t(0)
        rc = size_fn(name.encode(), 1 << 30, ctypes.byref(result), ctypes.byref(provided))
    else:
        result = ctypes.c_bool(False)
        rc = bool_fn(name.encode(), False, ctypes.byref(result), ctypes.byref(provided))
    out.append([rc, result.value, provided.value])
print(json.dumps(out))
"""

SIZES = [
    "3g", "3G", "2GB", "1k", "1K", "1m", "1M", "1t", "1T", "1.5g", "0.5m", ".5g", "5.", "1e3",
    "1E3g", "1e", "1ex", "0x10", "0x1p4", "0x", "0x.8g", "4096", "4096 ", " 4096", "\t3g",
    "3 g", "3g ", "3gb", "3giB", "3g4", "-1g", "-1", "-0", "+2g", "", " ", "abc", "g", "inf",
    "infinity", "-inf", "nan", "1e400", "18446744073709551615", "18446744073709551616",
    "9223372036854775808", "16384t", "16383.99t", "1e19", "0", "0g", "1", "1023", "2g\n",
    "１g", "3\u00a0g", "1_000", "1,5g",
] + [f"1{ch}" for ch in "abcdefhijlnopqrsuvwxyzABCDEFHIJLNOPQRSUVWXYZ%#.-+"]
BOOLS = [
    "1", "0", "y", "Y", "yes", "n", "N", "no", "No", "t", "true", "True", "f", "false", "F",
    "FALSE", "off", "on", "2", "", " ", " 0", "0x", "nope", "False ", "-1", "\t", "enable",
]


WANTED = ("nvshmem_team_get_config", "_ZL20nvshmemi_getenv_sizePKcmPmPb",
          "_ZL20nvshmemi_getenv_boolPKcbPbS1_")


@pytest.fixture(scope="module")
def library() -> Path:
    return require(LIB, "nvidia-nvshmem-cu12==3.8.0")


@cache
def _symbols() -> str:
    """Offsets of the (local) functions, from .symtab: the library is not stripped."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    with open(LIB, "rb") as fh:
        table = ELFFile(fh).get_section_by_name(".symtab")
        assert isinstance(table, SymbolTableSection), "libnvshmem_host.so.3 lost its .symtab"
        found = {s.name: s["st_value"] for s in table.iter_symbols() if s.name in WANTED}
    assert set(found) == set(WANTED), f"symbols missing: {set(WANTED) - set(found)}"
    return json.dumps(found)


def _nvshmem(cases: list[list[object]], env: dict[str, str], *,
             prefix: list[str] | None = None) -> list[list[Any]]:
    full = {**env, "NVSHMEM_LIB": str(LIB), "NVSHMEM_SYMBOLS": _symbols()}
    result = run_json(HARNESS, cases, env=full, prefix=prefix)
    assert isinstance(result, list)
    return result


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NVSHMEM_")}
    env["HOME"] = str(home)
    return env


def _size_agrees(value: str, rc: int, size: int) -> tuple[bool, str]:
    verdict = nvshmem.parse_size(value)
    if rc != 0:
        agreed = (verdict.status is Status.FAIL
                  and "Invalid size in environment variable" in verdict.meaning)
    else:
        agreed = verdict.value == size and not (
            verdict.status is Status.FAIL and "Invalid size" in verdict.meaning)
    return agreed, f"{value!r}: NVSHMEM rc={rc} size={size}; sgdoctor {verdict}"


def test_sizes_agree_with_nvshmem(library: Path, tmp_path: Path) -> None:
    got = _nvshmem([["size", "SYMMETRIC_SIZE", v] for v in SIZES], _clean_env(tmp_path))
    results = [_size_agrees(v, rc, size) for v, (rc, size, _) in zip(SIZES, got, strict=True)]
    disagreements = [why for agreed, why in results if not agreed]
    print(f"NVSHMEM sizes: {len(SIZES)} tried, {len(SIZES) - len(disagreements)} agreed")
    assert not disagreements, "\n".join(disagreements)


def test_booleans_agree_with_nvshmem(library: Path, tmp_path: Path) -> None:
    got = _nvshmem([["bool", "DISABLE_CUDA_VMM", v] for v in BOOLS], _clean_env(tmp_path))
    disagreements = []
    for value, (rc, result, _) in zip(BOOLS, got, strict=True):
        verdict = nvshmem.parse_bool(value)
        if rc != 0 or verdict.value is not bool(result):
            disagreements.append(f"{value!r}: NVSHMEM rc={rc} {bool(result)}; sgdoctor {verdict}")
    print(f"NVSHMEM booleans: {len(BOOLS)} tried, {len(BOOLS) - len(disagreements)} agreed")
    assert not disagreements, "\n".join(disagreements)


def test_unset_is_the_default(library: Path, tmp_path: Path) -> None:
    (rc, size, provided), = _nvshmem([["size", "SYMMETRIC_SIZE", None]], _clean_env(tmp_path))
    assert (rc, size, provided) == (0, nvshmem.DEFAULT_SIZE, False)


# (environment value, ~/.nvshmem.conf, $NVSHMEM_CONF_FILE's text or None for unset)
CONF_CASES = [
    ("3g", "NVSHMEM_SYMMETRIC_SIZE=5g\n", None),
    ("3g", "NVSHMEM_SYMMETRIC_SIZE=5g\n", "NVSHMEM_SYMMETRIC_SIZE=7g\n"),
    (None, "", "NVSHMEM_SYMMETRIC_SIZE = 7g\n"),
    (None, "", "NVSHMEM_SYMMETRIC_SIZE 7g\n"),
    (None, "", 'NVSHMEM_SYMMETRIC_SIZE="7g"\n'),
    (None, "", "SYMMETRIC_SIZE=7g\n"),
    (None, "", "nvshmem_symmetric_size=7g\n"),
    (None, "", "export NVSHMEM_SYMMETRIC_SIZE=7g\n"),
    (None, "", "# comment\n  NVSHMEM_SYMMETRIC_SIZE=7g  # trailing\n"),
    (None, "", "#NVSHMEM_SYMMETRIC_SIZE=7g\n"),
    (None, "", "NVSHMEM_SYMMETRIC_SIZE=7g\nNVSHMEM_SYMMETRIC_SIZE=8g\n"),
    ("3g", "", "NVSHMEM_SYMMETRIC_SIZE=\n"),
    (None, "", "NVSHMEM_SYMMETRIC_SIZE=4096 \n"),
    (None, "", "NVSHMEM_SYMMETRIC_SIZE=  4096\n"),
    (None, "", "\tNVSHMEM_SYMMETRIC_SIZE\t=\t6g\r\n"),
    (None, "", "NVSHMEM_SYMMETRIC_SIZE=6g=7\n"),
    (None, "NVSHMEM_SYMMETRIC_SIZE=5g", "NVSHMEM_OTHER=1\n"),
    ("3g", "NVSHMEM_SYMMETRIC_SIZE=5g\n", ""),
    ("3 g", "NVSHMEM_SYMMETRIC_SIZE=2g\n", None),
    ("2g", "A=1\n\nNVSHMEM_SYMMETRIC_SIZE=3 g\n", None),
]


def _conf_case(tmp_path: Path, index: int, env_value: str | None, home_text: str,
               conf_text: str | None) -> tuple[dict[str, str], Path]:
    home = tmp_path / f"home{index}"
    home.mkdir()
    (home / ".nvshmem.conf").write_text(home_text)
    env = _clean_env(home)
    if env_value is not None:
        env["NVSHMEM_SYMMETRIC_SIZE"] = env_value
    if conf_text is not None:
        conf = tmp_path / f"conf{index}"
        conf.write_text(conf_text)
        env["NVSHMEM_CONF_FILE"] = str(conf)
    return env, home


def _sgdoctor_size(env: dict[str, str]) -> tuple[str | None, str]:
    setting = nvshmem.effective("NVSHMEM_SYMMETRIC_SIZE", env, read_conf_files(env))
    return setting.value, setting.source


@pytest.mark.parametrize("index", range(len(CONF_CASES)))
def test_conf_files_agree_with_nvshmem(library: Path, tmp_path: Path, index: int) -> None:
    env_value, home_text, conf_text = CONF_CASES[index]
    env, _ = _conf_case(tmp_path, index, env_value, home_text, conf_text)
    (rc, size, provided), = _nvshmem([["size", "SYMMETRIC_SIZE", env_value]], env)
    value, source = _sgdoctor_size(env)
    if value is None:
        assert (rc, size, provided) == (0, nvshmem.DEFAULT_SIZE, False), (value, source)
        return
    agreed, why = _size_agrees(value, rc, size)
    assert provided and agreed, f"{CONF_CASES[index]} from {source}: {why}"


# (environment value, /etc/nvshmem.conf, ~/.nvshmem.conf, $NVSHMEM_CONF_FILE's text or None,
# the size NVSHMEM uses)
ETC_CASES = [
    ("3g", "NVSHMEM_SYMMETRIC_SIZE=9g\n", "", None, 9 << 30),
    ("3g", "NVSHMEM_SYMMETRIC_SIZE=9g\n", "NVSHMEM_SYMMETRIC_SIZE=5g\n", None, 5 << 30),
    ("3g", "NVSHMEM_SYMMETRIC_SIZE=9g\n", "", "NVSHMEM_SYMMETRIC_SIZE=7g\n", 7 << 30),
    (None, "NVSHMEM_OTHER=1\n", "", None, 1 << 30),
]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="needs root and unshare(1) for a private /etc")
@pytest.mark.parametrize(("env_value", "etc_text", "home_text", "conf_text", "expected"),
                         ETC_CASES)
def test_etc_nvshmem_conf_precedence(library: Path, tmp_path: Path, env_value: str | None,
                                     etc_text: str, home_text: str, conf_text: str | None,
                                     expected: int) -> None:
    """/etc/nvshmem.conf comes after ~/.nvshmem.conf and before the environment; an overlay
    on /etc in a private mount namespace lets the test write it without touching the host."""
    env, _ = _conf_case(tmp_path, 0, env_value, home_text, conf_text)
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    work.mkdir()
    (upper / "nvshmem.conf").write_text(etc_text)
    script = (f"mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} "
              '/etc && exec "$@"')
    prefix = ["unshare", "-m", "sh", "-c", script, "sh"]
    (rc, size, _), = _nvshmem([["size", "SYMMETRIC_SIZE", env_value]], env, prefix=prefix)
    assert (rc, size) == (0, expected)
    # sgdoctor reads the same overlay from inside the same kind of namespace
    code = ("import json, os, sys; from sgdoctor.parse import nvshmem; "
            "from sgdoctor.probe.nvshmem import read_conf_files; env = dict(os.environ); "
            "s = nvshmem.effective('NVSHMEM_SYMMETRIC_SIZE', env, read_conf_files(env)); "
            "print(json.dumps([s.value, s.source]))")
    proc = subprocess.run([*prefix, sys.executable, "-c", code], env=env, capture_output=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    value, source = json.loads(proc.stdout)
    parsed = nvshmem.parse_size(value).value if value is not None else nvshmem.DEFAULT_SIZE
    assert parsed == expected, (value, source)
