"""`maca.sdk` against fake MACA SDK trees built per test (no MetaX hardware needed)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from sgdoctor.checks.maca_sdk import maca_sdk

from conftest import json_report, result_of, run_cli
from sgdoctor.api import Context, FailureKind, Status


def make_sdk(base: Path, version_text: str | bytes | None = "Version:3.7.1.5\n", *,
             name: str = "maca-3.7.1.5", link: str | None = "maca",
             tools: tuple[str, ...] = ("mxcc", "ld.lld"), exec_tools: bool = True,
             dirs: tuple[str, ...] = ("lib", "include")) -> Path:
    """A MACA SDK tree laid out like /opt/maca-<ver>, with /opt/maca pointing at it."""
    real = base / name
    (real / "mxgpu_llvm" / "bin").mkdir(parents=True)
    for d in dirs:
        (real / d).mkdir()
    for tool in tools:
        path = real / "mxgpu_llvm" / "bin" / tool
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755 if exec_tools else 0o644)
    if isinstance(version_text, str):
        (real / "Version.txt").write_text(version_text)
    elif isinstance(version_text, bytes):
        (real / "Version.txt").write_bytes(version_text)
    if link is None:
        return real
    (base / link).symlink_to(name)
    return base / link


def tool_dir(base: Path, *names: str) -> str:
    """A PATH directory holding fake programs (only their presence matters to the check)."""
    bindir = base / "bin"
    bindir.mkdir(exist_ok=True)
    for name in names:
        (bindir / name).write_text("#!/bin/sh\nexit 0\n")
        (bindir / name).chmod(0o755)
    return str(bindir)


def codes(result) -> list[str]:
    return [f["code"] for f in result.details["findings"]]


def run(env: dict[str, str], base: Path, **settings):
    settings.setdefault("maca_dir", str(base / "maca"))
    settings.setdefault("driver_dir", str(base / "mxdriver"))
    return maca_sdk(Context(env, deadline=time.monotonic() + 5, settings=settings))


@pytest.fixture
def path_with_gcc(tmp_path: Path) -> str:
    return tool_dir(tmp_path, "gcc")


# --- MACA_PATH unset -------------------------------------------------------------------

def test_unset_with_sdk_present_fails_with_export_line(tmp_path, path_with_gcc):
    sdk = make_sdk(tmp_path)
    r = run({"PATH": path_with_gcc}, tmp_path)
    assert r.status is Status.FAIL
    assert "Not found MACA_PATH" in r.summary
    assert r.remedy == f"export MACA_PATH={sdk}"
    assert "MACA_PATH" in r.env
    assert codes(r) == ["maca_path_unset"]


def test_unset_and_nothing_metax_skips(tmp_path, path_with_gcc):
    r = run({"PATH": path_with_gcc}, tmp_path)
    assert r.status is Status.SKIP and "no MetaX software" in r.summary


def test_unset_with_only_the_driver_warns(tmp_path, path_with_gcc):
    (tmp_path / "mxdriver").mkdir()
    r = run({"PATH": path_with_gcc}, tmp_path)
    assert r.status is Status.WARN and "driver" in r.summary and r.remedy
    assert codes(r) == ["sdk_missing_driver_present"]


def test_default_location_is_a_setting_not_the_host(tmp_path, path_with_gcc):
    make_sdk(tmp_path, link="elsewhere")
    r = run({"PATH": path_with_gcc}, tmp_path, maca_dir=str(tmp_path / "elsewhere"))
    assert r.status is Status.FAIL and "elsewhere" in r.remedy


# --- a healthy SDK ---------------------------------------------------------------------

def test_symlinked_sdk_is_resolved_and_shown(tmp_path, path_with_gcc):
    sdk = make_sdk(tmp_path)
    r = run({"PATH": path_with_gcc, "MACA_PATH": str(sdk)}, tmp_path)
    assert r.status is Status.OK, r.summary
    real = str(tmp_path / "maca-3.7.1.5")
    assert real in r.summary and "3.7.1.5" in r.summary
    assert r.details["real_path"] == real and r.details["version"] == "3.7.1.5"
    assert r.details["c_compiler"]["path"] == os.path.join(path_with_gcc, "gcc")


def test_direct_directory_has_no_arrow(tmp_path, path_with_gcc):
    sdk = make_sdk(tmp_path, link=None)
    r = run({"PATH": path_with_gcc, "MACA_PATH": str(sdk)}, tmp_path)
    assert r.status is Status.OK and "->" not in r.summary


@pytest.mark.parametrize("text", ["Version:3.8.0.3-c600u\n", "Version:3.7.0\n",
                                  "Version:3.10.1.0"])
def test_versions_at_or_above_minimum(tmp_path, path_with_gcc, text):
    sdk = make_sdk(tmp_path, text)
    assert run({"PATH": path_with_gcc, "MACA_PATH": str(sdk)}, tmp_path).status is Status.OK


def test_date_version_is_accepted_and_says_why(tmp_path, path_with_gcc):
    sdk = make_sdk(tmp_path, "Version:20251011.746\n")
    r = run({"PATH": path_with_gcc, "MACA_PATH": str(sdk)}, tmp_path, min_version="99.0.0")
    assert r.status is Status.OK and "master build" in r.summary


# --- broken SDKs -----------------------------------------------------------------------

def test_below_minimum_fails(tmp_path, path_with_gcc):
    sdk = make_sdk(tmp_path, "Version:3.6.9.1\n")
    r = run({"PATH": path_with_gcc, "MACA_PATH": str(sdk)}, tmp_path)
    assert r.status is Status.FAIL
    assert "3.6.9.1 is older than the minimum 3.7.0" in r.summary and ">= 3.7.0" in r.remedy
    assert codes(r) == ["version_below_minimum"]


def test_minimum_is_configurable(tmp_path, path_with_gcc):
    sdk = make_sdk(tmp_path, "Version:3.6.9.1\n")
    env = {"PATH": path_with_gcc, "MACA_PATH": str(sdk)}
    assert run(env, tmp_path, min_version="3.6.0").status is Status.OK
    assert run(env, tmp_path, min_version="3.8").status is Status.FAIL


def test_missing_mxcc_fails(tmp_path, path_with_gcc):
    sdk = make_sdk(tmp_path, tools=("ld.lld",))
    r = run({"PATH": path_with_gcc, "MACA_PATH": str(sdk)}, tmp_path)
    assert r.status is Status.FAIL and "mxgpu_llvm/bin/mxcc is missing" in r.summary
    assert r.details["tools_executable"]["mxgpu_llvm/bin/ld.lld"] is True


def test_non_executable_ld_lld_fails_with_chmod(tmp_path, path_with_gcc):
    sdk = make_sdk(tmp_path, exec_tools=False)
    r = run({"PATH": path_with_gcc, "MACA_PATH": str(sdk)}, tmp_path)
    assert r.status is Status.FAIL
    assert "ld.lld under" in r.summary and "not an executable" in r.summary
    assert f"chmod +x {sdk}/mxgpu_llvm/bin/ld.lld" in r.remedy
    assert codes(r) == ["mxcc_not_executable", "ld_lld_not_executable"]


def test_missing_lib_and_include_fail(tmp_path, path_with_gcc):
    sdk = make_sdk(tmp_path, dirs=())
    r = run({"PATH": path_with_gcc, "MACA_PATH": str(sdk)}, tmp_path)
    assert r.status is Status.FAIL and "no lib/" in r.summary and "no include/" in r.summary
    assert codes(r) == ["lib_dir_missing", "include_dir_missing"]
    assert r.remedy == "Reinstall the MACA SDK or point MACA_PATH at a complete one"


def test_fails_and_warnings_fold_by_the_one_policy(tmp_path):
    """Worst status's summaries only; every remedy, fails first, one per line; all listed."""
    sdk = make_sdk(tmp_path, "Version:3.6.0\n", tools=("ld.lld",))
    r = run({"PATH": tool_dir(tmp_path, "cc"), "MACA_PATH": str(sdk)}, tmp_path)
    assert r.status is Status.FAIL
    assert r.summary == (f"mxgpu_llvm/bin/mxcc is missing under {sdk} (-> {sdk.resolve()}) "
                         "(MetaX Triton needs it); MACA 3.6.0 is older than the minimum 3.7.0 "
                         "(mcoplib refuses it)")
    assert r.remedy.splitlines() == [
        "Reinstall the MACA SDK (its mxgpu_llvm toolchain is incomplete)",
        "Use a MACA SDK >= 3.7.0 (or lower min_version in the config)",
        f"export CC={tmp_path}/bin/cc"]
    assert codes(r) == ["mxcc_missing", "version_below_minimum", "only_plain_cc"]
    assert [f["status"] for f in r.details["findings"]] == ["fail", "fail", "warn"]


@pytest.mark.parametrize("kind", ["missing", "file", "broken-link", "empty"])
def test_maca_path_not_a_directory(tmp_path, path_with_gcc, kind):
    target = tmp_path / "sdk"
    if kind == "file":
        target.write_text("x")
    elif kind == "broken-link":
        target.symlink_to(tmp_path / "nowhere")
    value = "" if kind == "empty" else str(target)
    r = run({"PATH": path_with_gcc, "MACA_PATH": value}, tmp_path)
    assert r.status is Status.FAIL and r.remedy
    expected = {"missing": "does not exist", "file": "not a directory",
                "broken-link": "broken symlink", "empty": "empty"}[kind]
    assert expected in r.summary
    assert codes(r) == [{"missing": "maca_path_missing", "file": "maca_path_not_directory",
                         "broken-link": "maca_path_broken_symlink",
                         "empty": "maca_path_empty"}[kind]]


# --- hostile Version.txt ---------------------------------------------------------------

@pytest.mark.parametrize("content, words, code", [
    (None, "Version.txt: missing", "version_file_missing"),
    ("", "Version.txt is empty", "version_empty"),
    ("hello\n", "holds no MACA version", "version_invalid"),
    (b"Version:\xff\xfe3.7\n", "not UTF-8", "version_not_utf8"),
    ("x" * (200 * 1024), "longer than 64 KiB", "version_too_long"),
])
def test_unreadable_versions_warn(tmp_path, path_with_gcc, content, words, code):
    sdk = make_sdk(tmp_path, content)
    r = run({"PATH": path_with_gcc, "MACA_PATH": str(sdk)}, tmp_path)
    assert r.status is Status.WARN, r.summary
    assert words in r.summary and r.remedy
    assert codes(r) == [code]
    assert len(r.summary) < 400


def test_huge_version_file_reads_only_the_head(tmp_path, path_with_gcc):
    sdk = make_sdk(tmp_path, "Version:3.7.1.5\n" + "#" * (8 << 20))
    r = run({"PATH": path_with_gcc, "MACA_PATH": str(sdk)}, tmp_path)
    assert r.status is Status.OK and r.details["version"] == "3.7.1.5"


def test_version_txt_fifo_does_not_block(tmp_path, path_with_gcc):
    sdk = make_sdk(tmp_path, None)
    os.mkfifo(sdk / "Version.txt")
    result = []
    worker = threading.Thread(
        target=lambda: result.append(run({"PATH": path_with_gcc, "MACA_PATH": str(sdk)},
                                         tmp_path)), daemon=True)
    worker.start()
    worker.join(5)
    assert result, "the check blocked opening a FIFO"
    assert result[0].status is Status.WARN and "not a regular file" in result[0].summary
    assert codes(result[0]) == ["version_not_a_file"]


def test_unreadable_version_txt_warns_with_the_os_words(tmp_path, path_with_gcc, monkeypatch):
    """EACCES cannot be had as root, so it is injected: the kind, not the words, picks the
    code, and the OS's words are quoted."""
    from sgdoctor.probe import maca as probe

    sdk = make_sdk(tmp_path)
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith("Version.txt"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(probe.os, "open", refuse)
    r = run({"PATH": path_with_gcc, "MACA_PATH": str(sdk)}, tmp_path)
    assert r.status is Status.WARN and "Version.txt: Permission denied" in r.summary
    assert codes(r) == ["version_unreadable"]
    head = probe.read_head(str(sdk / "Version.txt"))
    assert (head.kind, head.problem) == (FailureKind.PERMISSION, "Permission denied")


# --- the host C compiler (Triton's rule: CC, else gcc, else clang) ----------------------

def test_no_compiler_warns(tmp_path):
    sdk = make_sdk(tmp_path)
    r = run({"PATH": tool_dir(tmp_path, "mxcc"), "MACA_PATH": str(sdk)}, tmp_path)
    assert r.status is Status.WARN
    assert "no C compiler" in r.summary and "apt-get install -y gcc" in r.remedy
    assert codes(r) == ["no_c_compiler"]


def test_plain_cc_is_not_enough_for_triton_but_named_in_the_remedy(tmp_path):
    sdk = make_sdk(tmp_path)
    bindir = tool_dir(tmp_path, "cc")
    r = run({"PATH": bindir, "MACA_PATH": str(sdk)}, tmp_path)
    assert r.status is Status.WARN and "Triton does not try `cc`" in r.summary
    assert r.remedy == f"export CC={bindir}/cc"


def test_clang_is_enough(tmp_path):
    sdk = make_sdk(tmp_path)
    r = run({"PATH": tool_dir(tmp_path, "clang"), "MACA_PATH": str(sdk)}, tmp_path)
    assert r.status is Status.OK and r.details["c_compiler"]["source"] == "clang"


def test_cc_variable_naming_nothing_warns(tmp_path, path_with_gcc):
    sdk = make_sdk(tmp_path)
    r = run({"PATH": path_with_gcc, "MACA_PATH": str(sdk), "CC": "no-such-cc"}, tmp_path)
    assert r.status is Status.WARN and "CC='no-such-cc'" in r.summary
    assert codes(r) == ["cc_not_found"]


def test_compiler_comes_from_the_snapshot_path_not_os_environ(tmp_path, monkeypatch):
    sdk = make_sdk(tmp_path)
    monkeypatch.setenv("PATH", tool_dir(tmp_path, "gcc"))
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run({"PATH": str(empty), "MACA_PATH": str(sdk)}, tmp_path)
    assert r.status is Status.WARN and "no C compiler" in r.summary


# --- odd MACA_PATH values --------------------------------------------------------------

def test_non_utf8_maca_path_is_escaped_in_messages(tmp_path, path_with_gcc):
    raw = os.fsencode(str(tmp_path)) + b"/maca-\xff"
    make_sdk(tmp_path, name=os.fsdecode(b"maca-\xff"), link=None)
    r = run({"PATH": path_with_gcc, "MACA_PATH": os.fsdecode(raw)}, tmp_path)
    assert r.status is Status.OK
    assert "maca-\\xff" in r.summary
    r.summary.encode("utf-8")   # no lone surrogates left


def test_control_characters_in_maca_path_are_escaped(tmp_path, path_with_gcc):
    r = run({"PATH": path_with_gcc, "MACA_PATH": f"{tmp_path}/x\n\x1b[31mred"}, tmp_path)
    assert r.status is Status.FAIL
    assert "x\\n\\x1b[31mred does not exist" in r.summary and "\x1b" not in r.summary


def test_relative_maca_path_warns(tmp_path, path_with_gcc, monkeypatch):
    make_sdk(tmp_path)
    monkeypatch.chdir(tmp_path)
    r = run({"PATH": path_with_gcc, "MACA_PATH": "maca"}, tmp_path)
    assert r.status is Status.WARN and "relative" in r.summary
    assert r.remedy == f"export MACA_PATH={tmp_path / 'maca-3.7.1.5'}"
    assert codes(r) == ["maca_path_relative"]


# --- through the real CLI --------------------------------------------------------------

def write_config(base: Path, **settings: str) -> str:
    lines = ['[checks."maca.sdk"]'] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    path = base / "sgdoctor.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def cli(base: Path, env: dict[str, str], **settings: str) -> tuple[int, dict]:
    settings.setdefault("maca_dir", str(base / "maca"))
    settings.setdefault("driver_dir", str(base / "mxdriver"))
    proc = run_cli(["--only", "maca.sdk", "--format", "json",
                    "--config", write_config(base, **settings)], env)
    return proc.returncode, result_of(json_report(proc), "maca.sdk")


def test_cli_symlinked_sdk_ok(tmp_path, path_with_gcc):
    sdk = make_sdk(tmp_path)
    code, res = cli(tmp_path, {"PATH": path_with_gcc, "MACA_PATH": str(sdk)})
    assert code == 0 and res["status"] == "ok"
    assert res["details"]["real_path"] == str(tmp_path / "maca-3.7.1.5")
    assert res["env"] == ["MACA_PATH", "PATH", "CC"]
    assert res["details"]["findings"] == []


def test_cli_unset_with_sdk_on_disk_fails_with_export(tmp_path, path_with_gcc):
    sdk = make_sdk(tmp_path)
    code, res = cli(tmp_path, {"PATH": path_with_gcc})
    assert code == 1 and res["status"] == "fail"
    assert res["remedy"] == f"export MACA_PATH={sdk}"
    assert res["details"]["findings"] == [
        {"code": "maca_path_unset", "status": "fail", "summary": res["summary"],
         "remedy": f"export MACA_PATH={sdk}"}]


def test_cli_lists_every_finding_with_its_code(tmp_path):
    sdk = make_sdk(tmp_path, "Version:3.6.0\n", exec_tools=False)
    code, res = cli(tmp_path, {"PATH": str(tmp_path / "nowhere"), "MACA_PATH": str(sdk)})
    assert code == 1 and res["status"] == "fail"
    assert [(f["code"], f["status"]) for f in res["details"]["findings"]] == [
        ("mxcc_not_executable", "fail"), ("ld_lld_not_executable", "fail"),
        ("version_below_minimum", "fail"), ("no_c_compiler", "warn")]
    assert "no C compiler" not in res["summary"]      # a warning under a fail: listed only
    assert res["remedy"].splitlines()[-1].startswith("Install one (apt-get install -y gcc)")


def test_cli_below_minimum_from_config(tmp_path, path_with_gcc):
    sdk = make_sdk(tmp_path, "Version:3.8.0.3-c600u\n")
    code, res = cli(tmp_path, {"PATH": path_with_gcc, "MACA_PATH": str(sdk)},
                    min_version="3.9.0")
    assert code == 1 and res["status"] == "fail" and "minimum 3.9.0" in res["summary"]
    assert [f["code"] for f in res["details"]["findings"]] == ["version_below_minimum"]


def test_cli_bad_min_version_setting_is_an_error_not_a_pass(tmp_path, path_with_gcc):
    sdk = make_sdk(tmp_path)
    code, res = cli(tmp_path, {"PATH": path_with_gcc, "MACA_PATH": str(sdk)},
                    min_version="latest")
    assert code == 3 and res["status"] == "error" and "min_version" in res["summary"]


def test_cli_non_utf8_maca_path_and_version(tmp_path, path_with_gcc):
    make_sdk(tmp_path, b"Version:\xff3.7\n", name=os.fsdecode(b"maca-\xfe"), link=None)
    value = os.fsdecode(os.fsencode(str(tmp_path)) + b"/maca-\xfe")
    code, res = cli(tmp_path, {"PATH": path_with_gcc, "MACA_PATH": value})
    assert code == 0 and res["status"] == "warn"
    assert "maca-\\xfe" in res["details"]["maca_path"] and "not UTF-8" in res["summary"]
