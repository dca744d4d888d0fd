"""Issue 14 through the real CLI: files that are not files, a hostile PYTHONPATH, plugins
that hang while imported, outputs under every locale and encoding, and nothing left behind.

Each test names the environment that once hung the run, printed a traceback or an empty
status line, or left a `.sgdoctor-probe-*` file behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import BASE_ENV, json_report, result_of, run_cli

# A run under --timeout T ends within T plus this (interpreter start-up, a loaded CI box).
MARGIN = 6.0
CONSOLE_SCRIPT = Path(sys.executable).with_name("sgdoctor")


def _bytes_env(extra: dict[str, bytes | str]) -> dict[bytes, bytes]:
    env = {k.encode(): v.encode() for k, v in BASE_ENV.items()}
    env.update({k.encode(): v if isinstance(v, bytes) else v.encode("utf-8", "surrogateescape")
                for k, v in extra.items()})
    return env


def _run(args: list[str | bytes], extra: dict[str, bytes | str], *, script: bool = False,
         timeout: float = 60) -> tuple[subprocess.CompletedProcess[bytes], float]:
    prefix: list[str | bytes] = ([str(CONSOLE_SCRIPT)] if script
                                 else [sys.executable, "-m", "sgdoctor"])
    began = time.monotonic()
    proc = subprocess.run([*prefix, *args], env=_bytes_env(extra), capture_output=True,
                          timeout=timeout)
    return proc, time.monotonic() - began


@pytest.fixture
def fifo(tmp_path: Path) -> str:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return str(path)


# -- files that are not regular files ------------------------------------------------------

@pytest.mark.parametrize("kind", ["fifo", "zero", "directory"])
def test_config_that_is_not_a_regular_file_is_a_usage_error_at_once(kind, fifo, tmp_path):
    path = {"fifo": fifo, "zero": "/dev/zero", "directory": str(tmp_path)}[kind]
    words = {"fifo": "a FIFO", "zero": "a device", "directory": "a directory"}[kind]
    proc, elapsed = _run(["--format", "json", "--timeout", "3"], {"SGDOCTOR_CONFIG": path})
    assert proc.returncode == 2, proc.stderr
    assert f"config file {path} is {words}, not a regular file".encode() in proc.stderr
    assert b"Traceback" not in proc.stderr and elapsed < 3 + MARGIN
    nagios, _ = _run(["--format", "nagios"], {"SGDOCTOR_CONFIG": path})
    assert nagios.returncode == 3
    assert nagios.stdout.startswith(b"SGDOCTOR UNKNOWN - usage error: config file")


def test_config_larger_than_the_limit_is_a_usage_error(tmp_path):
    big = tmp_path / "big.toml"
    big.write_bytes(b"# padding\n" * 110_000)
    proc = run_cli(["--format", "json"], {"SGDOCTOR_CONFIG": str(big)})
    assert proc.returncode == 2 and "larger than 1024 KiB" in proc.stderr


@pytest.mark.parametrize("script", [True, False], ids=["console-script", "python-m"])
@pytest.mark.parametrize("entry", ["fifo", "/dev/zero", "/dev/urandom"])
def test_hostile_pythonpath_neither_hangs_sgdoctor_nor_escapes_the_check(entry, script, fifo):
    if script and not CONSOLE_SCRIPT.exists():
        pytest.skip("no console script beside this interpreter")
    value = fifo if entry == "fifo" else entry
    proc, elapsed = _run(["--only", "env.pythonpath", "--format", "json", "--timeout", "3"],
                         {"PYTHONPATH": value}, script=script)
    assert b"Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert elapsed < 3 + MARGIN
    doc = json_report(subprocess.CompletedProcess([], proc.returncode, proc.stdout.decode(),
                                                  proc.stderr.decode()))
    item = result_of(doc, "env.pythonpath")
    assert item["status"] in ("warn", "fail") and value in item["summary"]  # judged as given


def test_exec_starts_the_command_with_the_hostile_pythonpath_untouched(fifo):
    proc, elapsed = _run(["exec", "--only", "host.shm", "--timeout", "3", "--",
                          "sh", "-c", 'printf "ran with %s" "$PYTHONPATH"'],
                         {"PYTHONPATH": f"{fifo}:/dev/zero"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == f"ran with {fifo}:/dev/zero".encode()
    assert elapsed < 3 + MARGIN


def test_entry_point_discovery_skips_devices_on_sys_path(fifo):
    """The registry on its own (library use, no console script) prunes sys.path too."""
    code = ("import sys; sys.path[1:1] = [sys.argv[1], '/dev/zero']\n"
            "from sgdoctor.registry import entry_point_specs\n"
            "entry_point_specs(); print(sys.argv[1] in sys.path, '/dev/zero' in sys.path)")
    proc = subprocess.run([sys.executable, "-c", code, fifo], capture_output=True, text=True,
                          timeout=60, env=BASE_ENV)
    assert proc.returncode == 0 and proc.stdout.split() == ["False", "False"], proc.stderr


# -- plugins that hang while being imported ------------------------------------------------

def test_plugin_hanging_at_import_is_a_usage_error_within_the_deadline(tmp_path):
    (tmp_path / "aaa_fine.py").write_text("X = 1\n")
    (tmp_path / "hangs.py").write_text("import threading\nthreading.Event().wait()\n")
    for fmt, code in (("json", 2), ("nagios", 3)):
        proc, elapsed = _run(["--checks-dir", str(tmp_path), "--format", fmt,
                              "--timeout", "1.5"], {})
        assert proc.returncode == code, proc.stderr
        assert elapsed < 1.5 + MARGIN
        assert b"Traceback" not in proc.stderr
        line = f"check module {tmp_path / 'hangs.py'} did not finish importing within the " \
               f"run's 1.5 s timeout"
        assert line.encode() in proc.stderr
    assert proc.stdout.startswith(b"SGDOCTOR UNKNOWN - usage error: check module ")


# -- outputs under every locale and encoding ------------------------------------------------

C_LOCALE = {"LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
# A value every format shows back: non-ASCII, undecodable bytes and a control character.
ODD_VALUE = {"GLOO_SOCKET_IFNAME": b"\xc3\xa9th\xff\x01\xe2\x80\x94x"}


def _well_formed(fmt: str, out: bytes) -> None:
    if fmt == "json":
        from conftest import validate_report

        validate_report(json.loads(out))
    elif fmt == "junit":
        ET.fromstring(out)
    elif fmt == "prometheus":
        from prometheus_client.parser import text_string_to_metric_families

        assert list(text_string_to_metric_families(out.decode("utf-8")))
    elif fmt == "nagios":
        assert out.split(b"\n", 1)[0].startswith(b"SGDOCTOR ")
    else:
        assert out.strip()


FORMATS = ["table", "json", "junit", "prometheus", "nagios"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("setting", ["c-locale", "ascii-io", "columns-digit"])
def test_every_format_is_well_formed_under_odd_locales(fmt, setting):
    extra: dict[str, bytes | str] = dict(ODD_VALUE)
    extra.update({"c-locale": C_LOCALE, "ascii-io": {"PYTHONIOENCODING": "ascii"},
                  "columns-digit": {"COLUMNS": "\u00b2"}}[setting])
    proc, _ = _run(["--only", "gloo.interface,env.*", "--format", fmt, "--timeout", "4"], extra)
    assert b"Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode in ((0, 1, 2, 3) if fmt == "nagios" else (0, 1, 3)), proc.stderr
    _well_formed(fmt, proc.stdout)


def test_junit_on_an_ascii_stdout_carries_the_text_as_character_references():
    proc, _ = _run(["--only", "gloo.interface", "--format", "junit", "--timeout", "4"],
                   {"PYTHONIOENCODING": "ascii", **ODD_VALUE})
    assert proc.stdout.isascii()
    case = ET.fromstring(proc.stdout).find("testsuite/testcase")
    assert case is not None
    text = ET.tostring(case, encoding="unicode")
    assert "\u00e9th" in text and "\u2014x" in text  # é and — kept, as &#233; and &#8212;


def test_junit_replaces_what_xml_cannot_carry():
    from sgdoctor.report.junit import _clean

    text = _clean("a\x01b\udcffc\ufffed\tok\U0001f600")
    assert text == "a\ufffdb\ufffdc\ufffdd\tok\U0001f600"
    ET.fromstring(ET.tostring(ET.Element("x", {"m": text}), encoding="us-ascii"))


def test_nagios_status_line_survives_a_long_undecodable_checks_dir():
    for name in (b"/tmp/nx" + b"\xff" * 300, b"/tmp/" + b"\xfe" * 200 + b"/" + b"\xff" * 40):
        proc, _ = _run([b"--checks-dir", name, b"--format", b"nagios"], {})
        first = proc.stdout.split(b"\n", 1)[0]
        assert proc.returncode == 3 and first.startswith(b"SGDOCTOR UNKNOWN - usage error: "
                                                         b"checks directory /tmp/")
        assert b"\\xff" in first and b"\\udc" not in first and b"Traceback" not in proc.stderr


# -- overlong path components in every path variable ----------------------------------------

PATH_VARIABLES = ["SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR",
                  "SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR", "MACA_PATH", "LD_LIBRARY_PATH",
                  "PATH", "PYTHONPATH", "ETCD_AUTH_CA",
                  "ETCD_AUTH_CLIENT_CERT", "ETCD_AUTH_CLIENT_KEY", "NATS_AUTH_CREDENTIALS_FILE",
                  "NATS_TLS_CA_CERT_PATH", "NATS_TLS_CLIENT_CERT_PATH", "NATS_TLS_CLIENT_KEY_PATH",
                  "SGDOCTOR_CHECKS_DIR"]


def test_overlong_path_components_give_verdicts_not_tracebacks(tmp_path):
    long = "/tmp/" + "n" * 300 + "/x"
    extra: dict[str, bytes | str] = {name: long for name in PATH_VARIABLES
                                     if name != "SGDOCTOR_CHECKS_DIR"}
    extra["PATH"] = f"{long}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    proc, elapsed = _run(["--format", "json", "--timeout", "5"], extra)
    assert b"Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode in (0, 1, 3) and elapsed < 5 + MARGIN
    doc = json.loads(proc.stdout)
    errors = [(c["id"], c["summary"][:200]) for c in doc["checks"] if c["status"] == "error"]
    assert not errors
    proc, _ = _run(["--format", "json"], {"SGDOCTOR_CHECKS_DIR": long})
    assert proc.returncode == 2 and b"File name too long" in proc.stderr
    proc, _ = _run(["--format", "json"], {"SGDOCTOR_CONFIG": long})
    assert proc.returncode == 2 and b"File name too long" in proc.stderr


# -- nothing left behind ---------------------------------------------------------------------

def test_record_dir_probe_leaves_nothing_when_the_deadline_strikes_mid_write(tmp_path):
    """Before the fix about one run in ten left a 1 MiB `.sgdoctor-probe-*` file here."""
    record = tmp_path / "record"
    record.mkdir()
    missing = tmp_path / "made" / "by" / "writer"
    timeouts = ["4ms", "6ms", "8ms", "12ms", "20ms", "30ms", "45ms", "60ms"]
    finished = 0
    for round_ in range(4):
        for timeout in timeouts:
            target = record if round_ % 2 == 0 else missing
            proc, _ = _run(["--only", "expert_record.dir", "--format", "json",
                            "--timeout", timeout],
                           {"SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR": str(target)})
            assert b"Traceback" not in proc.stderr
            item = result_of(json.loads(proc.stdout), "expert_record.dir")
            finished += "did not finish" not in item["summary"]
            assert sorted(os.listdir(record)) == [], (timeout, item["summary"])
            assert not (tmp_path / "made").exists(), (timeout, item["summary"])
    assert finished < len(timeouts) * 4  # the deadline did strike


def test_cleanup_hooks_run_once_newest_first():
    from sgdoctor import cleanup

    calls: list[str] = []
    first, second = (lambda: calls.append("first")), (lambda: calls.append("second"))
    cleanup.at_exit(first)
    cleanup.at_exit(second)
    cleanup.at_exit(first)
    cleanup.run_hooks()
    cleanup.run_hooks()
    assert calls == ["second", "first"]


def test_probe_in_flight_sweep_removes_only_our_inode(tmp_path):
    from sgdoctor.probe import writable

    sweeper = writable._InFlight()
    ours = tmp_path / ".sgdoctor-probe-ours"
    sweeper.create(lambda: (ours.touch(), ours.lstat())[1], str(ours), is_dir=False)
    theirs = tmp_path / ".sgdoctor-probe-theirs"
    sweeper.create(lambda: (theirs.touch(), theirs.lstat())[1], str(theirs), is_dir=False)
    other = tmp_path / "other"
    other.write_text("someone else's file, put at the same name")  # another inode
    os.replace(other, theirs)
    sweeper.sweep()
    assert not ours.exists() and theirs.exists()
    with pytest.raises(OSError):
        sweeper.create(lambda: ours.lstat(), str(ours), is_dir=False)


def test_list_with_a_plugin_hanging_at_import_ends_at_the_configured_timeout(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "hangs.py").write_text("import threading\nthreading.Event().wait()\n")
    config = tmp_path / "config.toml"
    config.write_text('timeout = "1s"\n')
    proc, elapsed = _run(["list", "--checks-dir", str(plugins)],
                         {"SGDOCTOR_CONFIG": str(config)})
    assert proc.returncode == 2 and b"did not finish importing" in proc.stderr
    assert elapsed < 1 + MARGIN


@pytest.mark.parametrize("setting", ["c-locale", "ascii-io"])
def test_env_json_is_json_on_a_stdout_without_utf8(setting):
    extra: dict[str, bytes | str] = {"GLOO_SOCKET_IFNAME": "\u00e9th0\u2014x"}
    extra.update(C_LOCALE if setting == "c-locale" else {"PYTHONIOENCODING": "ascii"})
    proc, _ = _run(["env", "--format", "json"], extra)
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr
    assert proc.stdout.isascii()
    doc = json.loads(proc.stdout)
    assert "variables" in doc
    if setting == "ascii-io":  # under the C locale the value itself is undecodable bytes
        assert "\u00e9th0\u2014x" in json.dumps(doc, ensure_ascii=False)
