"""maca.libs on a gcc-built fake MACA SDK: the check function directly and through the CLI."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from sgdoctor.checks.maca_libs import maca_libs

from conftest import json_report, result_of, run_cli, unavailable
from fakesdk import DEFAULT_LIBRARIES, have_gcc, temporary_fake_sdk
from sgdoctor.api import Context, Status


@pytest.fixture(scope="module")
def sdk():
    if not have_gcc():
        unavailable("gcc is needed to build the fake MACA SDK")
    with temporary_fake_sdk() as built:
        yield built


def run(sdk, env, *, deep=False, **settings):
    settings.setdefault("driver_dir", str(sdk.driver_dir))
    ctx = Context(env, deadline=time.monotonic() + 10, settings=settings,
                  options={"deep": deep})
    return maca_libs(ctx)


def test_the_image_layout_is_ok_with_full_details(sdk) -> None:
    result = run(sdk, sdk.env())
    assert result.status is Status.OK, result.summary
    libs = result.details["libraries"]
    assert list(libs) == list(DEFAULT_LIBRARIES)
    mccl = libs["libmccl.so"]
    # MACA_PATH is a symlink: the path keeps it ($ORIGIN does too), realpath resolves it.
    assert mccl["path"] == f"{sdk.maca_path}/lib/libmccl.so"
    assert mccl["realpath"] == f"{sdk.maca_real}/lib/libmccl.so"
    assert mccl["soname"] == "libmccl.so" and mccl["found_by"] == "LD_LIBRARY_PATH"
    assert mccl["dependencies"]["libucp.so.0"] == f"{sdk.maca_path}/lib/../ucx/lib/libucp.so.0"
    assert mccl["dependencies"]["libmxc-runtime64.so"] == f"{sdk.maca_path}/lib/" \
                                                         "libmxc-runtime64.so"
    assert libs["libmxsml.so"]["path"] == f"{sdk.driver_dir}/lib/libmxsml.so"
    assert set(result.env) == {"MACA_PATH", "LD_LIBRARY_PATH"}


def test_nothing_metax_here_is_a_skip() -> None:
    ctx = Context({"LD_LIBRARY_PATH": "/usr/lib"}, deadline=time.monotonic() + 5)
    if Path("/opt/maca").exists():
        unavailable("/opt/maca exists on this machine")
    assert maca_libs(ctx).status is Status.SKIP


def test_unset_maca_path_uses_maca_dir(sdk) -> None:
    env = sdk.env()
    del env["MACA_PATH"]
    assert run(sdk, env, maca_dir=str(sdk.maca_path)).status is Status.OK
    assert run(sdk, env, maca_dir=str(sdk.root / "nothing")).status is Status.SKIP


def test_missing_maca_lib_on_ld_library_path_fails_with_the_export_line(sdk) -> None:
    result = run(sdk, {"MACA_PATH": str(sdk.maca_path),
                       "LD_LIBRARY_PATH": f"{sdk.driver_dir}/lib"})
    assert result.status is Status.FAIL
    assert f"LD_LIBRARY_PATH does not contain {sdk.maca_path}/lib" in result.summary
    assert (f"export LD_LIBRARY_PATH={sdk.driver_dir}/lib:${{MACA_PATH}}/lib:"
            "${MACA_PATH}/mxgpu_llvm/lib:${MACA_PATH}/ompi/lib:${MACA_PATH}/ucx/lib"
            in result.remedy)
    assert "cannot open shared object file" in result.details["libraries"]["libmcruntime.so"][
        "error"]


def test_missing_sdk_named_on_the_path_is_not_called_absent_from_it(sdk) -> None:
    gone = sdk.root / "opt" / "maca-gone"
    result = run(sdk, {"MACA_PATH": str(gone), "LD_LIBRARY_PATH": f"{gone}/lib/"})
    assert result.status is Status.FAIL
    codes = [f["code"] for f in result.details["findings"]]
    assert "maca_lib_not_on_path" not in codes and "library_not_found" in codes
    assert "does not contain" not in " ".join(f["summary"] for f in result.details["findings"])
    assert "libmcruntime.so cannot be loaded" in result.summary


def test_real_directory_instead_of_the_symlink_counts_as_maca_lib(sdk) -> None:
    env = sdk.env()
    env["LD_LIBRARY_PATH"] = env["LD_LIBRARY_PATH"].replace(str(sdk.maca_path),
                                                            str(sdk.maca_real))
    assert run(sdk, env).status is Status.OK


def test_wrong_architecture_copy_first_is_skipped_like_ld_so(sdk) -> None:
    result = run(sdk, sdk.env(sdk.trap("wrongarch")))
    assert result.status is Status.OK, result.summary
    runtime = result.details["libraries"]["libmcruntime.so"]
    assert runtime["path"] == f"{sdk.maca_path}/lib/libmcruntime.so"
    assert runtime["skipped"] == [{
        "path": str(sdk.trap("wrongarch") / "libmcruntime.so"),
        "reason": "wrong architecture (64-bit AARCH64; this process is 64-bit X86_64), skipped"}]


def test_missing_symbol_version_fails_with_the_loader_text(sdk) -> None:
    result = run(sdk, sdk.env(sdk.trap("old")))
    assert result.status is Status.FAIL
    text = (f"{sdk.trap('old')}/libmxc-runtime64.so: version `MXC_2.0' not found "
            f"(required by {sdk.maca_path}/lib/libmcruntime.so)")
    assert text in result.summary
    assert text in result.details["libraries"]["libmcblas.so"]["errors"]


def test_moore_threads_libmccl_winning_fails(sdk) -> None:
    result = run(sdk, sdk.env(sdk.trap("musa")))
    assert result.status is Status.FAIL
    assert result.summary.startswith(
        f"libmccl.so resolves to {sdk.trap('musa')}/libmccl.so, not MACA's own "
        f"{sdk.maca_path}/lib/libmccl.so")
    assert f"Put {sdk.maca_path}/lib before {sdk.trap('musa')}" in result.remedy
    mccl = result.details["libraries"]["libmccl.so"]
    assert mccl["soname"] == "libmccl.so.2"
    assert mccl["shadowed"] == [{"path": f"{sdk.maca_path}/lib/libmccl.so",
                                 "found_by": "LD_LIBRARY_PATH"}]


def test_shadowed_copy_later_on_the_path_warns_naming_both(sdk) -> None:
    result = run(sdk, sdk.env(after=(sdk.trap("shadow"),)))
    assert result.status is Status.WARN
    assert result.summary == (f"libmcblas.so: {sdk.maca_path}/lib/libmcblas.so wins; shadowed "
                              f"copies: {sdk.trap('shadow')}/libmcblas.so")


def test_broken_symlink_and_garbage(sdk) -> None:
    broken = run(sdk, sdk.env(sdk.trap("broken")))
    assert broken.status is Status.OK
    assert broken.details["libraries"]["libmccl.so"]["skipped"][0]["reason"].startswith(
        "broken symbolic link (points to libmccl.so.9-removed")
    garbage = run(sdk, sdk.env(sdk.trap("garbage")))
    assert garbage.status is Status.FAIL
    assert f"{sdk.trap('garbage')}/libmcruntime.so: invalid ELF header" in garbage.summary


def test_ten_thousand_unrelated_files_change_nothing(sdk) -> None:
    result = run(sdk, sdk.env(sdk.trap("many")))
    assert result.status is Status.OK


def test_custom_library_list_and_bad_setting(sdk) -> None:
    result = run(sdk, sdk.env(), libraries=["libmcblasLt.so", "libnotthere.so"])
    assert result.status is Status.FAIL
    assert "libnotthere.so cannot be loaded" in result.summary
    assert run(sdk, sdk.env(), libraries="libmccl.so").status is Status.FAIL


def test_deep_catches_a_failing_constructor(sdk) -> None:
    import subprocess

    with tempfile.TemporaryDirectory(prefix="sgdoctor-ctor-") as name:
        bad = Path(name)
        src = bad / "ctor.c"
        src.write_text("#include <stdlib.h>\n#include <stdio.h>\n"
                       "__attribute__((constructor)) static void boom(void) {\n"
                       "  fputs(\"mcruntime: no device\\n\", stderr); _Exit(3); }\n"
                       "int mcInit(void) { return 0; }\n")
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(bad / "libmcToolsExt.so"),
                        str(src), "-Wl,-soname,libmcToolsExt.so"], check=True, timeout=60)
        env = sdk.env(bad)
        static = run(sdk, env, libraries=["libmcToolsExt.so"])
        assert static.status is Status.OK  # every file resolves: only loading it tells
        deep = run(sdk, env, deep=True, libraries=["libmcToolsExt.so"])
        assert deep.status is Status.FAIL
        assert deep.summary == ("dlopen(libmcToolsExt.so) in a child Python failed although "
                                "every file resolves: mcruntime: no device (exit status 3)")
        ok = run(sdk, sdk.env(), deep=True)
        assert ok.status is Status.OK
        assert {lib["dlopen"] for lib in ok.details["libraries"].values()} == {"ok"}


def test_deep_names_a_hanging_constructor_before_the_deadline(sdk) -> None:
    import subprocess

    with tempfile.TemporaryDirectory(prefix="sgdoctor-hang-") as name:
        src = Path(name) / "hang.c"
        src.write_text("#include <unistd.h>\n"
                       "__attribute__((constructor)) static void hang(void) { sleep(60); }\n")
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(Path(name) / "libmcfft.so"),
                        str(src)], check=True, timeout=60)
        ctx = Context(sdk.env(name), deadline=time.monotonic() + 2,
                      settings={"driver_dir": str(sdk.driver_dir), "libraries": ["libmcfft.so"]},
                      options={"deep": True})
        start = time.monotonic()
        result = maca_libs(ctx)
        assert time.monotonic() - start < 2
        assert result.status is Status.FAIL
        assert "did not return within" in result.summary


def test_non_utf8_search_path_entries_are_harmless(sdk) -> None:
    env = sdk.env("/nonexistent/\udcff\udcfe", after=("/tmp/\udce9t\udce9",))
    result = run(sdk, env)
    assert result.status is Status.OK, result.summary


def test_through_the_cli_with_a_config_file(sdk) -> None:
    with tempfile.TemporaryDirectory(prefix="sgdoctor-cfg-") as name:
        config = Path(name) / "sgdoctor.toml"
        config.write_text(f'[checks."maca.libs"]\ndriver_dir = "{sdk.driver_dir}"\n')
        env = {**sdk.env(sdk.trap("musa")), "SGDOCTOR_CONFIG": str(config)}
        proc = run_cli(["--only", "maca.libs", "--format", "json"], env)
        item = result_of(json_report(proc), "maca.libs")
        assert proc.returncode == 1, proc.stderr
        assert item["status"] == "fail" and "libmccl.so resolves to" in item["summary"]
        good = run_cli(["--only", "maca.libs", "--format", "json", "--deep"],
                       {**sdk.env(), "SGDOCTOR_CONFIG": str(config)})
        item = result_of(json_report(good), "maca.libs")
        assert good.returncode == 0, item
        assert item["details"]["libraries"]["libmccl.so"]["dlopen"] == "ok"
