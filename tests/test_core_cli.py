"""The core through the real CLI: formats, exit codes, deadlines, plugins, options."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import json_report, result_of, run_cli, unavailable, validate_report

PLUGINS = str(Path(__file__).parent / "plugins")
DEMO = ["--checks-dir", PLUGINS, "--only", "demo.*"]


def test_json_report_is_valid_and_exit_0_when_nothing_fails():
    proc = run_cli([*DEMO, "--format", "json"], {"DEMO_VALUE": "42"})
    assert proc.returncode == 0, proc.stderr
    doc = json_report(proc)
    assert doc["status"] == "warn"
    assert result_of(doc, "demo.ok")["summary"] == "value is 42"
    assert result_of(doc, "demo.ok")["env"] == ["DEMO_VALUE"]
    assert doc["counts"]["warn"] == 1 and doc["counts"]["error"] == 0


def test_fail_gives_exit_1_and_dependent_is_skipped():
    proc = run_cli([*DEMO, "--format", "json"], {"DEMO_FAIL": "yes"})
    assert proc.returncode == 1
    doc = json_report(proc)
    assert doc["status"] == "fail"
    dep = result_of(doc, "demo.dependent")
    assert dep["status"] == "skip" and "demo.fail" in dep["summary"]


def test_raising_check_is_an_error_with_exit_3():
    proc = run_cli([*DEMO, "--format", "json"], {"DEMO_RAISE": "1"})
    assert proc.returncode == 3
    item = result_of(json_report(proc), "demo.raise")
    assert item["status"] == "error"
    assert "RuntimeError: boom from a plugin" in item["summary"]
    assert "traceback" not in item["details"]
    verbose = json_report(run_cli([*DEMO, "--format", "json", "-v"], {"DEMO_RAISE": "1"}))
    assert "Traceback" in result_of(verbose, "demo.raise")["details"]["traceback"]
    table = run_cli([*DEMO, "-v"], {"DEMO_RAISE": "1"}).stdout
    assert "Traceback (most recent call last)" in table
    assert "RuntimeError: boom from a plugin" in table.split("Traceback")[1]
    assert "Traceback" not in run_cli(DEMO, {"DEMO_RAISE": "1"}).stdout


def test_hanging_check_does_not_hang_the_run():
    began = time.monotonic()
    proc = run_cli([*DEMO, "--format", "json", "--timeout", "1.5"], {"DEMO_HANG": "1"})
    elapsed = time.monotonic() - began
    doc = json_report(proc)
    item = result_of(doc, "demo.hang")
    assert item["status"] == "error" and "did not finish" in item["summary"]
    assert result_of(doc, "demo.ok")["status"] == "ok"
    assert proc.returncode == 3
    # --timeout plus 0.5 s, with interpreter start-up on top (seconds on a loaded machine;
    # a hang would be unbounded). The run's own clock holds the tight bound.
    assert elapsed < 1.5 + 0.5 + 5, elapsed
    assert doc["duration_ms"] <= 1500 + 500
    assert item["duration_ms"] <= 1600


def test_per_check_timeout_from_config(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[checks."demo.hang"]\ntimeout = 0.5\n')
    began = time.monotonic()
    proc = run_cli([*DEMO, "--format", "json", "--config", str(cfg)], {"DEMO_HANG": "1"})
    assert time.monotonic() - began < 4
    assert "0.5 s" in result_of(json_report(proc), "demo.hang")["summary"]


@pytest.mark.parametrize("fmt", ["table", "prometheus", "junit", "nagios"])
def test_every_format_renders(fmt):
    proc = run_cli([*DEMO, "--format", fmt], {"DEMO_FAIL": "1"})
    expected = 2 if fmt == "nagios" else 1
    assert proc.returncode == expected, proc.stderr
    out = proc.stdout
    if fmt == "table":
        assert "demo.fail" in out and "unset DEMO_FAIL" in out
        assert "FAIL:" in out and "1 fail" in out
        assert "\x1b[" not in out
        assert all(len(line) <= 100 for line in out.splitlines())
    elif fmt == "prometheus":
        from prometheus_client.parser import text_string_to_metric_families

        families = {f.name: f for f in text_string_to_metric_families(out)}
        status = {(s.labels["check"], s.labels["status"]): s.value
                  for s in families["sgdoctor_check_status"].samples}
        assert status[("demo.fail", "fail")] == 1 and status[("demo.fail", "ok")] == 0
        assert status[("demo.ok", "ok")] == 1
        assert "sgdoctor_up" in families and "sgdoctor_run_duration_seconds" in families
        assert "sgdoctor_check_duration_seconds" in families
        (stamp,) = families["sgdoctor_run_timestamp_seconds"].samples
        assert abs(stamp.value - time.time()) < 120
    elif fmt == "junit":
        root = ET.fromstring(out)
        suite = root.find("testsuite")
        assert suite is not None and suite.get("failures") == "1"
        cases = {c.get("name"): c for c in suite.iter("testcase")}
        assert cases["demo.fail"].find("failure") is not None
        assert cases["demo.ok"].find("failure") is None
    else:
        status, *long_output = out.strip().splitlines()
        assert status.startswith("SGDOCTOR CRITICAL - ") and "fail=1" in status
        # Nagios turns ';' into ':': none in the text. Problems worst first (demo.warn comes
        # before demo.fail in the report), each with its remedy on the line after it.
        assert ";" not in out
        assert status.index("demo.fail") < status.index("demo.warn")
        assert long_output == ["FAIL demo.fail: DEMO_FAIL=1", "  fix: unset DEMO_FAIL",
                               "WARN demo.warn: something is risky", "  fix: look at it"]


@pytest.mark.parametrize("fmt", ["table", "json", "prometheus", "junit"])
@pytest.mark.parametrize(("env", "extra", "code"), [
    ({}, ["--skip", "demo.warn"], 0), ({"DEMO_FAIL": "1"}, [], 1),
    ({}, ["--only", "no.such"], 2), ({"DEMO_RAISE": "1"}, [], 3),
])
def test_exit_codes_are_the_same_in_every_format(fmt, env, extra, code):
    proc = run_cli([*DEMO, *extra, "--format", fmt], env)
    assert proc.returncode == code, proc.stderr
    if code == 2:
        assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1


def test_nagios_usage_error_is_unknown_with_a_status_line():
    proc = run_cli([*DEMO, "--only", "no.such", "--format", "nagios"])
    assert proc.returncode == 3
    assert proc.stdout.startswith("SGDOCTOR UNKNOWN - usage error: --only 'no.such'")


def test_nagios_codes_for_warn_and_error():
    warn = run_cli([*DEMO, "--skip", "demo.raise", "--format", "nagios"])
    assert warn.returncode == 1 and warn.stdout.startswith("SGDOCTOR WARNING")
    err = run_cli([*DEMO, "--format", "nagios"], {"DEMO_RAISE": "1"})
    assert err.returncode == 3 and err.stdout.startswith("SGDOCTOR UNKNOWN")


def test_fail_on_warn_counts_warnings():
    assert run_cli([*DEMO, "--format", "json"]).returncode == 0
    assert run_cli([*DEMO, "--format", "json", "--fail-on", "warn"]).returncode == 1


@pytest.mark.parametrize("args", [
    ["--format", "yaml"], ["--only", "no.such.check"], ["--timeout", "soon"],
    ["--fail-on", "never"], ["--ignore", "demo.fail"], ["--checks-dir", "/nonexistent"],
    ["--config", "/nonexistent.toml"], ["--no-such-flag"], ["--output", ""],
])
def test_usage_errors_exit_2_with_one_line(args):
    proc = run_cli([*DEMO, *args])
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.strip()


@pytest.mark.parametrize("args", [["--only", ""], ["--only", ","], ["--skip", ""]])
def test_empty_selection_is_a_usage_error_not_everything(args):
    proc = run_cli(["--checks-dir", PLUGINS, *args])
    assert proc.returncode == 2 and "needs at least one check id" in proc.stderr


def test_only_skip_and_globs():
    doc = json_report(run_cli([*DEMO, "--skip", "demo.hang,demo.raise", "--format", "json"]))
    ids = {c["id"] for c in doc["checks"]}
    assert "demo.hang" not in ids and "demo.raise" not in ids and "demo.ok" in ids
    doc = json_report(run_cli(["--checks-dir", PLUGINS, "--only", "demo.o*", "--format", "json"]))
    assert [c["id"] for c in doc["checks"]] == ["demo.ok"]


def test_ignore_turns_fail_into_skip_and_keeps_reason():
    proc = run_cli([*DEMO, "--format", "json", "--ignore", "demo.fail=known, ticket 12"],
                   {"DEMO_FAIL": "1"})
    assert proc.returncode == 0
    item = result_of(json_report(proc), "demo.fail")
    assert item["status"] == "skip"
    assert item["ignored"] == {"reason": "known, ticket 12", "status": "fail"}


def test_config_file_sets_options_and_check_settings(tmp_path):
    cfg = tmp_path / "sgdoctor.toml"
    cfg.write_text(
        f'format = "json"\nchecks_dir = "{PLUGINS}"\nonly = ["demo.setting", "demo.fail"]\n'
        'fail_on = "warn"\n[ignore]\n"demo.fail" = "config says so"\n'
        '[checks."demo.setting"]\ngreeting = "ni hao"\n')
    proc = run_cli([], {"SGDOCTOR_CONFIG": str(cfg), "DEMO_FAIL": "1"})
    doc = json_report(proc)
    assert [c["id"] for c in doc["checks"]] == ["demo.fail", "demo.setting"]
    assert "greeting=ni hao" in result_of(doc, "demo.setting")["summary"]
    assert result_of(doc, "demo.fail")["ignored"]["reason"] == "config says so"
    # A flag beats the file.
    assert run_cli(["--format", "nagios"], {"SGDOCTOR_CONFIG": str(cfg)}).stdout.startswith(
        "SGDOCTOR")


def test_config_file_typo_is_a_usage_error(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('fromat = "json"\n')
    proc = run_cli(["--config", str(cfg)])
    assert proc.returncode == 2 and "unknown option 'fromat'" in proc.stderr
    cfg.write_text("this is = = not toml")
    proc = run_cli(["--config", str(cfg)])
    assert proc.returncode == 2 and "not valid TOML" in proc.stderr


def test_output_is_atomic_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    proc = run_cli([*DEMO, "--format", "json", "--output", str(target)])
    assert proc.returncode == 0 and proc.stdout == ""
    doc = json.loads(target.read_text())
    assert doc["schema_version"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    proc = run_cli([*DEMO, "--output", str(tmp_path / "missing-dir" / "r.json")])
    assert proc.returncode == 2 and "cannot write" in proc.stderr


def test_output_never_exposes_a_partial_file(tmp_path):
    """A reader polling the path sees either the old report or the whole new one."""
    target = tmp_path / "r.prom"
    target.write_text("# old\n")
    seen = set()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sgdoctor", *DEMO, "--format", "prometheus", "-o", str(target)],
        env={**os.environ, "SGDOCTOR_CONFIG": ""})
    while proc.poll() is None:
        text = target.read_text()
        seen.add("old" if text == "# old\n" else ("full" if text.endswith("sgdoctor_up 1\n")
                                                   else "partial"))
    seen.add("full" if target.read_text().endswith("sgdoctor_up 1\n") else "partial")
    assert "partial" not in seen


def test_url_password_and_secret_values_are_redacted():
    env = {"DEMO_FAIL": "http://dynamo:s3cr3t-pw@etcd:2379", "DEMO_URL": "nats://u:hunter22@h:4222",
           "NATS_AUTH_TOKEN": "tok-abcdef", "DEMO_VALUE": "see tok-abcdef here"}
    for fmt in ("json", "table", "prometheus", "junit", "nagios"):
        proc = run_cli([*DEMO, "--format", fmt], env)
        for secret in ("s3cr3t-pw", "hunter22", "tok-abcdef"):
            assert secret not in proc.stdout, (fmt, proc.stdout)
    doc = json_report(run_cli([*DEMO, "--format", "json"], env))
    assert result_of(doc, "demo.fail")["summary"] == "DEMO_FAIL=http://dynamo:***@etcd:2379"
    assert result_of(doc, "demo.fail")["details"]["url"] == "nats://u:***@h:4222"
    assert result_of(doc, "demo.ok")["summary"] == "value is see *** here"


def test_non_utf8_environment_bytes_are_shown_escaped():
    env = {k: v for k, v in os.environ.items()}
    env.update({"SGDOCTOR_CONFIG": "", "NO_COLOR": "1"})
    envb = {k.encode(): v.encode() for k, v in env.items()}
    envb[b"DEMO_VALUE"] = b"caf\xe9"
    for fmt in ("json", "table", "junit", "prometheus", "nagios"):
        proc = subprocess.run([sys.executable, "-m", "sgdoctor", *DEMO, "--format", fmt],
                              env=envb, capture_output=True, timeout=60)
        assert b"Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode in (0, 1), (fmt, proc.stderr)
        if fmt == "json":
            doc = validate_report(json.loads(proc.stdout))
            assert result_of(doc, "demo.ok")["summary"] == "value is caf\\xe9"


def test_python_and_shell_plugins_from_directory():
    doc = json_report(run_cli(["--checks-dir", PLUGINS, "--only", "plugin.*,demo.ok",
                               "--format", "json"], {"SHELL_PLUGIN_EXIT": "1"}))
    shell = result_of(doc, "plugin.check_shell")
    assert shell["status"] == "warn"
    assert shell["summary"] == "SHELL plugin says 1"
    assert shell["details"]["perfdata"]["load"]["value"] == 0.5
    assert shell["details"]["perfdata"]["load"]["crit"] == "2"
    for code, status in ((0, "ok"), (2, "fail"), (3, "error"), (7, "error")):
        doc = json_report(run_cli(["--checks-dir", PLUGINS, "--only", "plugin.check_shell",
                                   "--format", "json"], {"SHELL_PLUGIN_EXIT": str(code)}))
        assert result_of(doc, "plugin.check_shell")["status"] == status


def test_checks_dir_from_environment_variable():
    doc = json_report(run_cli(["--only", "demo.ok", "--format", "json"],
                              {"SGDOCTOR_CHECKS_DIR": PLUGINS}))
    assert result_of(doc, "demo.ok")["status"] == "ok"


def test_hanging_executable_plugin_is_killed_with_its_group(tmp_path):
    marker = tmp_path / "child.pid"
    plugin = tmp_path / "check_slow"
    plugin.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {marker}\nwait\n")
    plugin.chmod(0o755)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[checks."plugin.check_slow"]\ntimeout = 1\n')
    began = time.monotonic()
    doc = json_report(run_cli(["--checks-dir", str(tmp_path), "--config", str(cfg),
                               "--only", "plugin.*", "--format", "json"]))
    assert time.monotonic() - began < 5
    item = result_of(doc, "plugin.check_slow")
    assert item["status"] == "error" and "did not finish" in item["summary"]
    child = int(marker.read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(
        f"/proc/{child}/stat").read_text().split()[2]


def test_endless_executable_plugin_is_cut_off(tmp_path):
    plugin = tmp_path / "check_spew"
    plugin.write_text("#!/bin/sh\nexec yes 'OK | spam=1'\n")
    plugin.chmod(0o755)
    began = time.monotonic()
    doc = json_report(run_cli(["--checks-dir", str(tmp_path), "--only", "plugin.*",
                               "--format", "json"]))
    assert time.monotonic() - began < 5
    item = result_of(doc, "plugin.check_spew")
    assert item["status"] == "error" and "more than 64 KiB" in item["summary"]


def test_broken_plugin_module_and_duplicate_ids_are_usage_errors(tmp_path):
    (tmp_path / "broken.py").write_text("import nonexistent_module_xyz\n")
    proc = run_cli(["--checks-dir", str(tmp_path)])
    assert proc.returncode == 2
    assert "broken.py failed to import" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "broken.py").unlink()
    shutil.copy(Path(PLUGINS) / "demo_checks.py", tmp_path / "copy.py")
    proc = run_cli(["--checks-dir", str(tmp_path), "--checks-dir", PLUGINS])
    assert proc.returncode == 2 and "duplicate check id 'demo.ok'" in proc.stderr


MONITORING_PLUGINS = Path("/usr/lib/nagios/plugins")


def test_real_monitoring_plugins_check_dummy_and_check_disk(tmp_path):
    if not (MONITORING_PLUGINS / "check_dummy").exists():
        unavailable("Debian monitoring-plugins-basic is not installed")
    for name in ("check_dummy", "check_disk"):
        (tmp_path / name).symlink_to(MONITORING_PLUGINS / name)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[checks."plugin.check_dummy"]\nargs = ["1", "dummy is warning"]\n'
                   '[checks."plugin.check_disk"]\nargs = ["-w", "0%", "-c", "0%", "-p", "/"]\n')
    doc = json_report(run_cli(["--checks-dir", str(tmp_path), "--config", str(cfg),
                               "--only", "plugin.*", "--format", "json"]))
    dummy = result_of(doc, "plugin.check_dummy")
    assert dummy["status"] == "warn" and "dummy is warning" in dummy["summary"]
    disk = result_of(doc, "plugin.check_disk")
    assert disk["status"] == "ok", disk
    assert disk["summary"].startswith("DISK OK")
    assert "/" in disk["details"]["perfdata"]


def test_entry_point_plugin_from_an_installed_package(tmp_path):
    pkg = tmp_path / "src"
    (pkg / "sgd_tiny").mkdir(parents=True)
    (pkg / "sgd_tiny" / "__init__.py").write_text(
        "from sgdoctor.api import Result, check\n\n"
        "@check('tiny.hello', title='Tiny entry-point check', env=['TINY'])\n"
        "def hello(ctx):\n    return Result.ok('hello from an entry point')\n")
    (pkg / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "sgd-tiny"\nversion = "1.0"\n'
        '[project.entry-points."sgdoctor.checks"]\ntiny = "sgd_tiny"\n')
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                          "--no-build-isolation", "--target", str(target), str(pkg)],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    env = {"PYTHONPATH": str(target)}
    doc = json_report(run_cli(["--only", "tiny.*", "--format", "json"], env))
    assert result_of(doc, "tiny.hello")["summary"] == "hello from an entry point"
    listing = json.loads(run_cli(["list", "--format", "json"], env).stdout)
    (entry,) = [c for c in listing["checks"] if c["id"] == "tiny.hello"]
    assert entry["source"] == "entry point tiny"


def test_list_and_explain():
    proc = run_cli(["list", "--checks-dir", PLUGINS])
    assert proc.returncode == 0 and "demo.fail" in proc.stdout and "DEMO_FAIL" in proc.stdout
    proc = run_cli(["explain", "demo.ok", "--checks-dir", PLUGINS])
    assert proc.returncode == 0 and "echoes DEMO_VALUE" in proc.stdout
    proc = run_cli(["explain", "DEMO_FAIL", "--checks-dir", PLUGINS])
    assert proc.returncode == 0 and "demo.fail" in proc.stdout
    proc = run_cli(["explain", "nothing.like.this"])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_version_and_python_dash_m():
    proc = run_cli(["--version"])
    assert proc.returncode == 0 and proc.stdout.strip().startswith("sgdoctor 0.")
    script = shutil.which("sgdoctor", path=os.path.dirname(sys.executable))
    assert script, "the console script is installed beside the interpreter"
    out = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert out.stdout == proc.stdout


def test_table_fits_80_columns_on_a_terminal_and_in_a_pipe():
    env = {"DEMO_FAIL": "a long value " * 12}
    proc = run_cli([*DEMO, "--no-color"], {**env, "COLUMNS": "80"})
    assert proc.stdout and max(len(line) for line in proc.stdout.splitlines()) <= 80
    if not shutil.which("script"):
        unavailable("util-linux `script` (a pty) is not installed")
    command = (f"stty cols 80; {sys.executable} -m sgdoctor --checks-dir {PLUGINS} "
               "--only 'demo.*' --no-color")
    from conftest import BASE_ENV

    tty = subprocess.run(["script", "-qec", command, "/dev/null"], env={**BASE_ENV, **env},
                         capture_output=True, text=True, timeout=60)
    lines = tty.stdout.replace("\r", "").splitlines()
    assert any("demo.fail" in line for line in lines)
    assert max(len(line) for line in lines) <= 80


@pytest.mark.parametrize("value", ['"abc"', "-1", "0", "true"])
def test_bad_per_check_timeout_is_a_usage_error(tmp_path, value):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[checks."demo.ok"]\ntimeout = {value}\n')
    began = time.monotonic()
    proc = run_cli([*DEMO, "--config", str(cfg)])
    assert time.monotonic() - began < 5
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert 'checks."demo.ok"' in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_a_check_calling_sys_exit_is_an_error_at_once(tmp_path):
    (tmp_path / "exits.py").write_text(
        "import sys\nfrom sgdoctor.api import check\n"
        "@check('x.exit', title='exits', timeout=30)\ndef exits(ctx):\n    sys.exit(4)\n")
    began = time.monotonic()
    doc = json_report(run_cli(["--checks-dir", str(tmp_path), "--only", "x.*", "-f", "json"]))
    assert time.monotonic() - began < 5
    assert "sys.exit(4)" in result_of(doc, "x.exit")["summary"]


def test_a_printing_plugin_cannot_corrupt_the_report(tmp_path):
    (tmp_path / "noisy.py").write_text(
        "import os, sys\nfrom sgdoctor.api import Result, check\n"
        "print('STRAY-IMPORT')\n"
        "@check('x.noisy', title='prints')\ndef noisy(ctx):\n"
        "    print('STRAY-PRINT')\n    sys.stdout.write('STRAY-WRITE\\n')\n"
        "    os.write(1, b'STRAY-FD1\\n')\n    return Result.ok('fine')\n")
    proc = run_cli(["--checks-dir", str(tmp_path), "--only", "x.*", "-f", "json"])
    doc = json_report(proc)
    assert result_of(doc, "x.noisy")["status"] == "ok"
    for stray in ("STRAY-IMPORT", "STRAY-PRINT", "STRAY-WRITE", "STRAY-FD1"):
        assert stray not in proc.stdout and stray in proc.stderr


def test_check_ids_stay_within_the_schema(tmp_path):
    (tmp_path / "badid.py").write_text(
        "from sgdoctor.api import Result, check\n"
        "@check('Bad Id!', title='x')\ndef bad(ctx):\n    return Result.ok('x')\n")
    proc = run_cli(["--checks-dir", str(tmp_path)])
    assert proc.returncode == 2 and "invalid check id 'Bad Id!'" in proc.stderr
    (tmp_path / "badid.py").unlink()
    plugin = tmp_path / "check odd\nname.sh"
    plugin.write_text("#!/bin/sh\necho OK\n")
    plugin.chmod(0o755)
    doc = json_report(run_cli(["--checks-dir", str(tmp_path), "--only", "plugin.*", "-f",
                               "json"]))
    assert [c["id"] for c in doc["checks"]] == ["plugin.check_odd_name"]


def test_explain_knows_the_mesh_check_too():
    proc = run_cli(["explain", "mesh.gloo"])
    assert proc.returncode == 0 and "Run only by `sgdoctor mesh" in proc.stdout
    assert "nonce handshake" in proc.stdout
    listed = json.loads(run_cli(["list", "--format", "json"]).stdout)["checks"]
    assert "mesh" in next(c for c in listed if c["id"] == "mesh.gloo")["tags"]
    # Listed, but not run by `sgdoctor check`: it needs the other nodes.
    ran = json_report(run_cli(["--format", "json"]))
    assert "mesh.gloo" not in [c["id"] for c in ran["checks"]]
