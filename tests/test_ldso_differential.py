"""Differential tests: our static resolver against the real loader (ldd runs ld.so).

For hundreds of this machine's shared libraries, for numpy's bundled wheel libraries
($ORIGIN runpaths) and for the gcc-built fake MACA SDK with its traps on
LD_LIBRARY_PATH, every dependency we resolve must be the one ldd reports.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import unavailable
from fakesdk import have_gcc, temporary_fake_sdk
from sgdoctor.probe.ldso import LoadKind
from sgdoctor.probe.ldso.resolver import Resolver

_ENTRY = re.compile(r"^\t(?P<name>\S+) => (?P<path>.+?)(?: \(0x[0-9a-f]+\))?$")
_BARE = re.compile(r"^\t(?P<path>\S+) \(0x[0-9a-f]+\)$")
_VERSION = re.compile(r"(?P<msg>\S+: version `[^']+' not found \(required by \S+\))")


def ldd(path: str, env: dict[str, str]) -> tuple[set[tuple[str, str]], set[str], str]:
    """(name => path pairs, version errors, fatal error) as ldd prints them."""
    proc = subprocess.run(["ldd", path], capture_output=True, text=True, env=env, timeout=30)
    pairs: set[tuple[str, str]] = set()
    versions = {m.group("msg") for m in _VERSION.finditer(proc.stdout + proc.stderr)}
    fatal = ""
    output = proc.stdout + proc.stderr
    if "error while loading shared libraries" in output:
        fatal = output.split("error while loading shared libraries: ", 1)[1].splitlines()[0]
    for line in proc.stdout.splitlines():
        if "linux-vdso" in line or "statically linked" in line:
            continue
        match = _ENTRY.match(line)
        if match:
            pairs.add((match["name"], match["path"]))
            continue
        match = _BARE.match(line)
        if match:
            pairs.add((match["path"], match["path"]))
    return pairs, versions, fatal


def ours(resolver: Resolver, path: str) -> tuple[set[tuple[str, str]], set[str], str]:
    result = resolver.trace(path)
    pairs = {(node.requested, node.path) for node in result.objects}
    pairs |= {(name, "not found") for name, _ in result.missing}
    versions = {e.words for e in result.errors if e.kind is LoadKind.VERSION}
    fatal = next((e.words for e in result.errors if e.kind is not LoadKind.VERSION), "")
    return pairs, versions, fatal


def compare(paths: list[str], env: dict[str, str]) -> list[str]:
    resolver = Resolver(env)
    run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", **env}
    with ThreadPoolExecutor(max_workers=4) as pool:
        theirs = list(pool.map(lambda p: ldd(p, run_env), paths))
    differences = []
    for path, (pairs, versions, fatal) in zip(paths, theirs, strict=True):
        mine = ours(resolver, path)
        if fatal:
            # ld.so stopped: we must stop on the same file with the same complaint.
            if fatal not in mine[2]:
                differences.append(f"{path}: ldd stopped with {fatal!r}, we said {mine[2]!r}")
            continue
        if mine[0] != pairs:
            differences.append(f"{path}: ldd {sorted(pairs - mine[0])} vs ours "
                               f"{sorted(mine[0] - pairs)}")
        if mine[1] != versions:
            differences.append(f"{path}: versions ldd {sorted(versions)} ours {sorted(mine[1])}")
    return differences


def _system_libraries(limit: int) -> list[str]:
    multiarch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True,
                               timeout=10).stdout.strip() if have_gcc() else ""
    base = Path("/usr/lib") / multiarch if multiarch else Path("/usr/lib")
    seen: set[tuple[int, int]] = set()
    found = []
    for entry in sorted(base.glob("*.so*")):
        if entry.is_symlink() or not entry.is_file():
            continue
        st = entry.stat()
        if (st.st_dev, st.st_ino) in seen:
            continue
        with entry.open("rb") as handle:
            head = handle.read(18)
        if head[:4] != b"\x7fELF" or head[16] != 3:  # shared objects only (ET_DYN)
            continue
        seen.add((st.st_dev, st.st_ino))
        found.append(str(entry))
    # A deterministic spread over the whole directory when there are more than enough.
    step = max(1, len(found) // limit)
    return found[::step][:limit]


@pytest.fixture(scope="module")
def ldd_available() -> None:
    if not shutil.which("ldd"):
        unavailable("ldd is not installed")


def test_system_libraries_match_ldd(ldd_available) -> None:
    libraries = _system_libraries(300)
    if len(libraries) < 200:
        unavailable(f"only {len(libraries)} shared libraries on this machine (need 200)")
    assert compare(libraries, {}) == []


def test_numpy_wheel_libraries_match_ldd(ldd_available) -> None:
    try:
        import numpy
    except ImportError:
        unavailable("numpy is not installed (it is in the test extra)")
    root = Path(numpy.__file__).parent
    libs_dir = root.parent / "numpy.libs"
    targets = sorted(str(p) for p in root.rglob("*.so")) + sorted(
        str(p) for p in libs_dir.glob("*.so*"))
    assert any("$ORIGIN" in _runpath(t) for t in targets), "numpy has no $ORIGIN runpath here"
    assert compare(targets, {}) == []


def _runpath(path: str) -> str:
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as handle:
        dynamic = ELFFile(handle).get_section_by_name(".dynamic")
        return " ".join(getattr(t, "runpath", "") or getattr(t, "rpath", "")
                        for t in dynamic.iter_tags()) if dynamic else ""


PROBE = str(Path(__file__).with_name("linkmap_probe.py"))
# Failures that happen after every file is found (symbol binding, TLS): beyond a static
# model of the search, and what `maca.libs --deep` is for.
_BINDING = ("undefined symbol", "static TLS block")


def compare_dlopen(requests: list[str], env: dict[str, str]) -> tuple[list[str], int]:
    """(differences, number compared) between our dlopen model and a real ctypes.CDLL."""
    run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}

    def real(request: str) -> dict | None:
        try:
            proc = subprocess.run([sys.executable, PROBE, request], capture_output=True,
                                  text=True, env=run_env, timeout=30)
        except subprocess.TimeoutExpired:
            return None
        lines = proc.stdout.strip().splitlines()
        return json.loads(lines[-1]) if proc.returncode == 0 and lines else None

    with ThreadPoolExecutor(max_workers=4) as pool:
        theirs = list(pool.map(real, requests))
    resolver = Resolver(env)
    differences, compared = [], 0
    for request, doc in zip(requests, theirs, strict=True):
        if doc is None:  # a constructor crashed or hung the child: nothing to compare
            continue
        ours = resolver.dlopen(request)
        if "error" in doc:
            if any(word in doc["error"] for word in _BINDING):
                if not ours.ok:
                    differences.append(f"{request}: we found a problem ({ours.errors}) where "
                                       f"the loader found every file")
                continue
            if ours.ok or not any(e.words in doc["error"] for e in ours.errors):
                differences.append(f"{request}: loader said {doc['error']!r}, we said "
                                   f"{ours.errors or 'ok'} {ours.missing}")
        else:
            new = [n.path for n in ours.objects if not n.preloaded]
            if new != doc["new"]:
                differences.append(f"{request}: loader loaded {doc['new']}, we say {new}")
        compared += 1
    return differences, compared


def test_system_libraries_dlopen_like_a_real_python() -> None:
    """Every library loaded the way maca.libs models it (ctypes from this Python), by path
    and by soname: the loader's link map must list exactly our objects, in our order."""
    libraries = _system_libraries(200)
    if len(libraries) < 200:
        unavailable(f"only {len(libraries)} shared libraries on this machine (need 200)")
    # And by the names programs use (the soname links), which the ld.so.cache answers.
    base = Path(libraries[0]).parent
    by_name = sorted(p.name for p in base.glob("lib*.so.*") if p.is_symlink())[::4]
    differences, compared = compare_dlopen(libraries + by_name, {})
    assert differences == []
    assert compared >= 200


@pytest.fixture(scope="module")
def sdk():
    if not have_gcc():
        unavailable("gcc is needed to build the fake MACA SDK")
    with temporary_fake_sdk(many=100) as built:
        yield built


@pytest.mark.parametrize("trap", ["", "wrongarch", "old", "broken", "loop", "garbage",
                                  "shadow", "musa", "many"])
def test_fake_sdk_matches_ldd(ldd_available, sdk, trap) -> None:
    env = sdk.env(sdk.trap(trap)) if trap else sdk.env()
    libs = sorted(str(p) for p in sdk.maca_path.glob("**/*.so*")) + [
        str(sdk.driver_dir / "lib" / "libmxsml.so")]
    assert compare(libs, env) == []


@pytest.mark.parametrize("trap", ["", "wrongarch", "old", "broken", "loop", "garbage",
                                  "shadow", "musa"])
def test_fake_sdk_dlopen_matches_a_real_python(sdk, trap) -> None:
    """The dlopen model against a real ``ctypes.CDLL``: the same objects under the same
    names, or the same error."""
    env = sdk.env(sdk.trap(trap)) if trap else sdk.env(after=(sdk.trap("shadow"),))
    names = ["libmcruntime.so", "libmxc-runtime64.so", "libmcblas.so", "libmcblasLt.so",
             "libmccl.so", "libmxsml.so", "libucp.so.0", str(sdk.maca_path / "lib/libmccl.so")]
    differences, compared = compare_dlopen(names, env)
    assert differences == []
    assert compared == len(names)


def test_numpy_wheel_libraries_dlopen_like_a_real_python() -> None:
    try:
        import numpy
    except ImportError:
        unavailable("numpy is not installed (it is in the test extra)")
    libs_dir = Path(numpy.__file__).parent.parent / "numpy.libs"
    targets = sorted(str(p) for p in libs_dir.glob("*.so*"))
    if not targets:
        unavailable(f"this numpy has no bundled libraries in {libs_dir}")
    differences, compared = compare_dlopen(targets, {})
    assert differences == [] and compared == len(targets)
