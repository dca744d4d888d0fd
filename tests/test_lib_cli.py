"""`sgdoctor lib`: the safe ldd, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import run_cli, unavailable
from fakesdk import have_gcc, temporary_fake_sdk


@pytest.fixture(scope="module")
def sdk():
    if not have_gcc():
        unavailable("gcc is needed to build the fake MACA SDK")
    with temporary_fake_sdk(many=10) as built:
        yield built


def test_table_says_where_and_why(sdk) -> None:
    env = sdk.env(sdk.trap("wrongarch"), sdk.trap("musa"), after=(sdk.trap("shadow"),))
    proc = run_cli(["lib", "libmccl.so", "libmcblas.so"], env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == (f"libmccl.so => {sdk.trap('musa')}/libmccl.so  "
                        "[LD_LIBRARY_PATH, soname libmccl.so.2]")
    assert f"    shadows: {sdk.maca_path}/lib/libmccl.so  [LD_LIBRARY_PATH]" in lines
    assert (f"    skipped: {sdk.trap('wrongarch')}/libmcruntime.so: wrong architecture "
            "(64-bit AARCH64; this process is 64-bit X86_64), skipped") in lines
    assert f"    shadows: {sdk.trap('shadow')}/libmcblas.so  [LD_LIBRARY_PATH]" in lines


def test_tree_prints_every_dependency_with_its_path(sdk) -> None:
    proc = run_cli(["lib", "--tree", "libmccl.so"], sdk.env())
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    lib = f"{sdk.maca_path}/lib"
    assert f"    libmcruntime.so => {lib}/libmcruntime.so  [DT_RPATH of {lib}/libmccl.so]" in out
    assert f"        libmxc-runtime64.so => {lib}/libmxc-runtime64.so  [LD_LIBRARY_PATH]" in out
    assert f"    libucp.so.0 => {lib}/../ucx/lib/libucp.so.0  [DT_RPATH of {lib}/libmccl.so]" \
        in out
    assert "libc.so.6 => " in out


def test_json_and_exit_code_for_missing_pieces(sdk) -> None:
    proc = run_cli(["lib", "--format", "json", "libmcblas.so", "libnothere.so.7"],
                   sdk.env(sdk.trap("old")))
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    blas, absent = doc["libraries"]
    assert blas["ok"] is False and blas["path"] == f"{sdk.maca_path}/lib/libmcblas.so"
    assert blas["errors"] == [f"{sdk.trap('old')}/libmxc-runtime64.so: version `MXC_2.0' not "
                              f"found (required by {sdk.maca_path}/lib/libmcruntime.so)"]
    deps = {d["name"]: d for d in blas["dependencies"]}
    assert deps["libmcruntime.so"]["needed_by"] == f"{sdk.maca_path}/lib/libmcblasLt.so"
    assert absent == {**absent, "ok": False, "path": None, "errors": [
        "libnothere.so.7: cannot open shared object file: No such file or directory"]}


def test_a_path_and_a_missing_dependency(sdk) -> None:
    # Without LD_LIBRARY_PATH each MACA dependency is found through the DT_RUNPATH
    # ($ORIGIN) of the object that needs it; every path must be the one ldd shows.
    path = str(sdk.maca_real / "lib" / "libmcblas.so")
    proc = run_cli(["lib", "--tree", path], {})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ldd = subprocess.run(["ldd", path], capture_output=True, text=True, timeout=30).stdout
    for line in proc.stdout.splitlines()[1:]:
        name, _, rest = line.strip().partition(" => ")
        if name.startswith("lib"):
            assert f"{name} => {rest.split('  [')[0]}" in ldd, line
    with tempfile.TemporaryDirectory(prefix="sgdoctor-lib-") as name:
        lonely = Path(name) / "libmcblas.so"
        lonely.write_bytes(Path(path).read_bytes())
        proc = run_cli(["lib", str(lonely)], {})
        assert proc.returncode == 1
        assert f"    MISSING: libmcblasLt.so (needed by {lonely})" in proc.stdout


def test_garbage_and_bad_options_are_clear(sdk) -> None:
    proc = run_cli(["lib", "libmcruntime.so"], sdk.env(sdk.trap("garbage")))
    assert proc.returncode == 1
    assert f"ERROR: {sdk.trap('garbage')}/libmcruntime.so: invalid ELF header" in proc.stdout
    assert "Traceback" not in proc.stderr
    bad = run_cli(["lib", "--format", "xml", "libc.so.6"], {})
    assert bad.returncode == 2 and "choose table or json" in bad.stderr
