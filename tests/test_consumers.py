"""probe.consumers: the server's interpreter and the releases in its environment, found
without importing anything (real interpreters, real venvs, real METADATA files)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sgdoctor.checks import env_values

from sgdoctor.api import SPEC_ATTR, Context, FailureKind, Status
from sgdoctor.probe import consumers


def _dist(site: Path, name: str, version: str, *, dirname: str | None = None) -> Path:
    info = site / (dirname or f"{name.replace('-', '_')}-{version}.dist-info")
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return info


def _venv(root: Path, *, system: bool = False) -> tuple[Path, Path]:
    """A venv made by the real venv module (no pip, so it is quick)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip",
                    *(["--system-site-packages"] if system else []), str(root)], check=True)
    site = next((root / "lib").glob("python*/site-packages"))
    return root / "bin" / "python", site


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> tuple[Path, Path]:
    python, site = _venv(tmp_path_factory.mktemp("server") / "venv")
    _dist(site, "ai-dynamo-runtime", "1.6.1")
    _dist(site, "torch", "2.13.0+cpu")
    _dist(site, "nvidia-nvshmem-cu12", "3.8.0")
    _dist(site, "triton", "3.1.0+metax2.33")
    return python, site


def test_a_venv_is_read_from_disk_and_finds_every_release(venv) -> None:
    python, site = venv
    assert consumers._venv_dirs(str(python)) == [os.path.realpath(site)]
    found = consumers.find(python=str(python), how="test", env={"PATH": os.defpath})
    assert found.error is None
    assert found.version("dynamo") == "1.6.1" and found.version("torch") == "2.13.0+cpu"
    assert found.version("nvshmem") == "3.8.0" and found.version("sglang") is None
    assert found.version("mctriton") == "3.1.0+metax2.33"  # MetaX's build of triton
    doc = found.as_json()
    assert doc["sglang"] is None and doc["dynamo"]["where"].endswith(
        "ai_dynamo_runtime-1.6.1.dist-info/METADATA")
    assert set(doc) == set(consumers.CONSUMERS)


def test_the_runtime_package_is_preferred_over_the_meta_package(tmp_path) -> None:
    python, site = _venv(tmp_path / "v")
    _dist(site, "ai-dynamo", "1.5.0")
    _dist(site, "ai-dynamo-runtime", "1.6.1")
    assert consumers.find(python=str(python), how="t", env={}).version("dynamo") == "1.6.1"


def test_sys_path_is_asked_from_the_interpreter_when_pythonpath_is_set(tmp_path, venv) -> None:
    python, _ = venv
    extra = tmp_path / "extra"
    _dist(extra, "sglang", "0.5.23")
    _dist(extra, "torch", "2.12.0")  # PYTHONPATH comes first, as for the server itself
    env = {"PYTHONPATH": str(extra), "PATH": os.defpath}
    found = consumers.find(python=str(python), how="t", env=env)
    assert found.version("sglang") == "0.5.23" and found.version("torch") == "2.12.0"
    assert found.version("dynamo") == "1.6.1"


def test_a_system_site_venv_asks_the_interpreter(tmp_path) -> None:
    python, site = _venv(tmp_path / "v", system=True)
    assert consumers._venv_dirs(str(python)) is None
    _dist(site, "sglang", "0.5.23")
    assert consumers.find(python=str(python), how="t", env={}).version("sglang") == "0.5.23"


def test_the_interpreter_of_exec_command(tmp_path, venv) -> None:
    python, _ = venv
    bindir = python.parent
    env = {"PATH": f"{bindir}:/usr/bin:/bin"}
    assert consumers.server_python(command=["python", "-m", "dynamo.sglang"], env=env) == (
        str(bindir / "python"), "the interpreter of python")
    script = bindir / "dynamo-run"
    script.write_text(f"#!{python}\nimport sys\n")
    script.chmod(0o755)
    assert consumers.server_python(command=["dynamo-run", "--x"], env=env)[0] == str(python)
    via_env = tmp_path / "via-env"
    via_env.write_text("#!/usr/bin/env python\n")
    via_env.chmod(0o755)
    assert consumers.server_python(command=[str(via_env)], env=env)[0] == str(bindir / "python")
    assert consumers.server_python(command=["env", "A=1", "python", "x.py"], env=env)[0] == str(
        bindir / "python")


def test_a_command_that_is_no_python_falls_back_to_python3_on_path(tmp_path, venv) -> None:
    python, _ = venv
    env = {"PATH": f"{python.parent}:/usr/bin:/bin"}
    chosen, how = consumers.server_python(command=["/bin/sh", "-c", "true"], env=env)
    assert chosen == str(python.parent / "python3") and how == "first python3 on PATH"


def test_an_explicit_python_wins(venv) -> None:
    python, _ = venv
    chosen, how = consumers.server_python(python=str(python), command=["/bin/sh"], env={})
    assert chosen == str(python) and "--python" in how


def test_pins_win_and_say_so(venv) -> None:
    python, _ = venv
    found = consumers.find(python=str(python), how="t", env={},
                           pins={"dynamo": "1.5.0", "unknown": "1"})
    assert found.version("dynamo") == "1.5.0"
    assert "pinned" in found.found["dynamo"].where and "unknown" not in found.found


def test_an_interpreter_that_hangs_is_a_timeout_not_a_hang(tmp_path) -> None:
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    began = time.monotonic()
    found = consumers.find(python=str(fake), how="t", env={"PATH": os.defpath}, timeout=0.5)
    assert time.monotonic() - began < 10
    assert found.error is not None and found.error.kind is FailureKind.TIMEOUT
    assert found.found == {}


def test_a_missing_interpreter_is_not_found(tmp_path) -> None:
    found = consumers.find(python=str(tmp_path / "nope"), how="t", env={})
    assert found.error is not None and found.error.kind is FailureKind.NOT_FOUND


def _check(name: str):
    return next(f for f in env_values.CHECKS if getattr(f, SPEC_ATTR).env[0] == name)


def test_a_verdict_names_the_installed_release(venv) -> None:
    python, _ = venv
    ctx = Context({"DYN_REQUEST_PLANE": "http"}, deadline=time.monotonic() + 10,
                  options={"python": str(python)})
    result = _check("DYN_REQUEST_PLANE")(ctx)
    assert result.status is Status.FAIL and "(Dynamo 1.6.1)" in result.summary
    assert result.details["release"]["installed"] == "1.6.1"


def test_without_a_consumer_the_verdict_says_what_it_assumed(tmp_path) -> None:
    python, _ = _venv(tmp_path / "empty")
    ctx = Context({"TORCH_COMPILE_DISABLE": "0"}, deadline=time.monotonic() + 10,
                  options={"python": str(python)})
    result = _check("TORCH_COMPILE_DISABLE")(ctx)
    assert "assumed PyTorch 2.13" in result.summary
    assert result.details["release"]["installed"] is None
    assert result.status is Status.WARN  # 0 disables torch.compile before 2.13


def test_an_older_installed_release_changes_the_rule(tmp_path) -> None:
    python, site = _venv(tmp_path / "old")
    _dist(site, "torch", "2.1.2")
    ctx = Context({"TORCH_COMPILE_DISABLE": "0"}, deadline=time.monotonic() + 10,
                  options={"python": str(python)})
    result = _check("TORCH_COMPILE_DISABLE")(ctx)
    assert result.status is Status.WARN and "may DISABLE" in result.summary
    assert "rule verified for PyTorch 2.13; installed 2.1.2 may differ" in result.summary


def test_a_config_pin_is_used_when_nothing_is_installed(tmp_path) -> None:
    python, _ = _venv(tmp_path / "pinned")
    ctx = Context({"TORCH_COMPILE_DISABLE": "0"}, deadline=time.monotonic() + 10,
                  options={"python": str(python), "consumers": {"torch": "2.13.0"}})
    result = _check("TORCH_COMPILE_DISABLE")(ctx)
    assert result.status is Status.OK and "PyTorch 2.13.0" in result.summary


def _cli(args: list[str], path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path, "SGDOCTOR_CONFIG": "", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "sgdoctor", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_json_report_and_the_table_footer_name_the_consumers(venv) -> None:
    import json

    from conftest import validate_report

    python, _ = venv
    path = f"{python.parent}:/usr/bin:/bin"
    proc = _cli(["--only", "env.dyn_log", "--format", "json"], path)
    doc = validate_report(json.loads(proc.stdout))
    assert doc["consumers"]["dynamo"]["version"] == "1.6.1"
    assert doc["consumers"]["sglang"] is None
    table = _cli(["--only", "env.dyn_log"], path).stdout   # every table, not only --verbose
    lines = table.splitlines()
    assert lines[-1].startswith("OK: 1 skip"), table          # the closing line stays last
    footer = " ".join(table[table.index("consumers of"):].split())
    assert footer.startswith(f"consumers of {python.parent / 'python3'} (first python3 on "
                             "PATH): "), footer
    assert "dynamo 1.6.1" in footer and "torch 2.13.0+cpu" in footer
    assert "not found: sglang" in footer
    zh = _cli(["--only", "env.dyn_log", "--lang", "zh"], path).stdout
    note = "".join(zh[zh.index(str(python.parent / "python3")):].split())
    assert note.startswith(f"{python.parent / 'python3'}（PATH上的第一个python3）中的使用方："
                           ), zh
    assert "dynamo1.6.1" in note and "未找到：sglang" in note, zh


@pytest.mark.parametrize(("consumers_error", "python", "en", "zh"), [
    (None, "/srv/venv/bin/python3",
     "consumers of /srv/venv/bin/python3 (the interpreter of dynamo-run): dynamo 1.6.1; "
     "not found: torch",
     "/srv/venv/bin/python3（dynamo-run 的解释器）中的使用方：dynamo 1.6.1；未找到：torch"),
    ("/srv/venv/bin/python3 exited 1 when asked for sys.path", "/srv/venv/bin/python3",
     "consumers of /srv/venv/bin/python3 (the interpreter of dynamo-run): not read "
     "(/srv/venv/bin/python3 exited 1 when asked for sys.path); pinned: dynamo 1.6.1",
     "/srv/venv/bin/python3（dynamo-run 的解释器）中的使用方：未能读取"
     "（/srv/venv/bin/python3 exited 1 when asked for sys.path）；配置中固定：dynamo 1.6.1"),
])
def test_the_footer_in_each_language(consumers_error, python, en, zh) -> None:
    from sgdoctor.report import Report
    from sgdoctor.report.table import consumers_note

    report = Report("node-7", 0.0, 1.0, [], {"dynamo": {"version": "1.6.1", "where": "x"},
                                             "torch": None},
                    python, "the interpreter of dynamo-run", consumers_error)
    assert consumers_note(report, "en") == en
    assert consumers_note(report, "zh") == zh


def test_every_way_of_choosing_the_interpreter_reads_in_chinese(tmp_path) -> None:
    from sgdoctor import i18n
    from sgdoctor.report.table import _how

    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(sys.executable)
    hows = {consumers.server_python(env={"PATH": str(bindir)})[1],
            consumers.server_python(python=sys.executable, env={})[1],
            consumers.server_python(command=["python3", "-m", "dynamo.sglang"],
                                    env={"PATH": str(bindir)})[1]}
    assert len(hows) == 3
    for how in hows:
        how_text = _how(how)
        zh = i18n.tr("zh", how_text.msgid, how_text.fields) if not isinstance(how_text, str) \
            else how_text
        assert zh != how and any("\u4e00" <= ch <= "\u9fff" for ch in zh), (how, zh)


def test_config_pins_and_python_reach_the_checks_and_the_report(tmp_path, venv) -> None:
    import json

    python, _ = venv
    config = tmp_path / "config.toml"
    config.write_text(f'python = "{python}"\n[consumers]\ntorch = "2.13.0"\n')
    env = {**os.environ, "SGDOCTOR_CONFIG": str(config), "TORCH_COMPILE_DISABLE": "0",
           "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "sgdoctor", "--only", "env.torch_compile_disable",
                           "--format", "json"], env=env, capture_output=True, text=True,
                          timeout=120)
    doc = json.loads(proc.stdout)
    assert doc["consumers"]["torch"] == {"version": "2.13.0",
                                         "where": "pinned in the config ([consumers])"}
    assert doc["consumers"]["dynamo"]["version"] == "1.6.1"  # read from the configured python
    assert doc["checks"][0]["status"] == "ok"


def test_an_unknown_pin_is_a_usage_error(tmp_path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[consumers]\ndynamoo = "1.6.1"\n')
    env = {**os.environ, "SGDOCTOR_CONFIG": str(config)}
    proc = subprocess.run([sys.executable, "-m", "sgdoctor", "list"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "dynamoo" in proc.stderr


def test_exec_reads_the_consumers_of_its_commands_interpreter(tmp_path, venv) -> None:
    import json

    python, _ = venv
    report = tmp_path / "report.json"
    env = {**os.environ, "SGDOCTOR_CONFIG": "", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "sgdoctor", "exec", "--only", "env.dyn_log",
                           "--report", str(report), "--", str(python), "-c", "pass"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(report.read_text())["consumers"]["dynamo"]["version"] == "1.6.1"


def test_a_shebang_loop_ends(tmp_path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_text(f"#!{second}\n")
    second.write_text(f"#!{first}\n")
    for script in (first, second):
        script.chmod(0o755)
    chosen, how = consumers.server_python(command=[str(first)], env={"PATH": "/nonexistent"})
    assert how == "first python3 on PATH" and chosen is None


@pytest.mark.parametrize("where", ["before", "after"])
def test_python_flag_names_the_servers_interpreter(tmp_path, venv, where) -> None:
    """`--python PATH` beats the config's python and the first python3 on PATH."""
    import json

    python, _ = venv
    other, _ = _venv(tmp_path / "other")
    config = tmp_path / "config.toml"
    config.write_text(f'python = "{other}"\n')
    env = {**os.environ, "SGDOCTOR_CONFIG": str(config), "PATH": "/usr/bin:/bin"}
    flags = ["--python", str(python)]
    args = ([*flags, "check"] if where == "before" else ["check", *flags]) + [
        "--only", "env.torch_compile_disable", "--format", "json"]
    proc = subprocess.run([sys.executable, "-m", "sgdoctor", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    doc = json.loads(proc.stdout)
    assert doc["consumers"]["torch"]["version"] == "2.13.0+cpu", doc["consumers"]
    assert doc["consumers"]["torch"]["where"].startswith(str(python.parent.parent)), \
        doc["consumers"]


def _counting_python(tmp_path: Path, venv_python: Path) -> tuple[Path, Path]:
    """A wrapper that notes each start, then runs the venv's interpreter (as a shim does)."""
    count = tmp_path / "starts"
    wrapper = tmp_path / "shim" / "python3"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho started >> "{count}"\nexec "{venv_python}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, count


def test_a_prefetched_answer_serves_the_same_interpreter_and_environment_once(
        tmp_path, venv) -> None:
    """The one-shot entry starts the sys.path question before its own imports; the run takes
    that answer, and only for the very same interpreter and environment."""
    python, site = venv
    wrapper, count = _counting_python(tmp_path, python)
    env = {"PATH": f"{wrapper.parent}:{os.defpath}", "PYTHONPATH": str(tmp_path)}
    consumers.prefetch(env)
    found = consumers.find(python=str(wrapper), how="test", env=env, timeout=30)
    assert found.version("torch") == "2.13.0+cpu"
    assert count.read_text().count("started") == 1
    consumers.prefetch(env)
    other = {**env, "EXTRA": "1"}
    found = consumers.find(python=str(wrapper), how="test", env=other, timeout=30)
    assert found.version("torch") == "2.13.0+cpu"
    assert count.read_text().count("started") == 3  # a second prefetch, then its own ask
    assert consumers.site_dirs(str(wrapper), env, 30) == consumers.site_dirs(
        str(wrapper), other, 30)
    assert count.read_text().count("started") == 4  # env took the pending second prefetch
    from sgdoctor.cleanup import run_hooks

    run_hooks()
    assert not consumers._started


def test_a_prefetch_nobody_takes_is_killed_at_exit_with_what_it_started(tmp_path) -> None:
    """A shim (pyenv's runs a dozen helpers) leaves nothing behind: its group goes too."""
    helper = tmp_path / "helper.pid"
    hang = tmp_path / "python3"
    hang.write_text(f'#!/bin/sh\nsleep 600 &\necho $! > "{helper}"\nexec sleep 600\n')
    hang.chmod(0o755)
    consumers.prefetch({"PATH": f"{tmp_path}:{os.defpath}"})
    (proc,) = consumers._started.values()
    deadline = time.monotonic() + 30
    while not (helper.exists() and helper.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.01)
    helper_pid = int(helper.read_text())
    assert proc.poll() is None
    from sgdoctor.cleanup import run_hooks

    run_hooks()
    assert proc.poll() is not None and not consumers._started
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{helper_pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break  # killed, waiting for its reaper
        except FileNotFoundError:
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the shim's helper outlived the prefetch")


def test_a_venv_is_never_prefetched(venv) -> None:
    python, _ = venv
    consumers.prefetch({"PATH": f"{python.parent}:{os.defpath}"})
    assert not consumers._started
