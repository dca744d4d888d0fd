"""A real Nagios Core 4.4 (Debian's nagios4-core) runs `sgdoctor --format nagios` as a
service check on a failing and a healthy node, and what it records in status.dat is what
sgdoctor printed: the state, the status line, and the long output (one line per problem,
worst first, each followed by its remedies), with no separator rewritten by Nagios.

Nagios runs in the foreground from a configuration of its own under tmp (no systemd, no
service of the machine is touched); `nagios4 -v` validates that configuration first."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BASE_ENV, unavailable

NAGIOS = "/usr/sbin/nagios4"
FAILING_ENV = {"GLOO_SOCKET_IFNAME": "bond0,eth9", "NVSHMEM_SYMMETRIC_SIZE": "3 g",
               "TRITON_DISABLE_MACA_OPT_MMA_PREFETCH": "0"}
FAILING_CHECKS = ("gloo.interface,env.nvshmem_symmetric_size,"
                  "env.triton_disable_maca_opt_mma_prefetch")
HEALTHY_CHECKS = "etcd.endpoints,env.nvshmem_symmetric_size"


def _wrapper(directory: Path, name: str, env: dict[str, str], only: str) -> Path:
    """A check command with its whole environment spelled out (Nagios passes its own)."""
    full = {**BASE_ENV, **env}
    words = ["exec", "env", "-i", *(f"{k}={v}" for k, v in full.items()),
             sys.executable, "-m", "sgdoctor", "--format", "nagios", "--only", only]
    path = directory / f"{name}.sh"
    path.write_text("#!/bin/sh\n" + shlex.join(words) + "\n")
    path.chmod(0o755)
    return path


def _config(directory: Path, services: dict[str, Path]) -> Path:
    objects = directory / "objects.cfg"
    defs = ["define command {\n  command_name host_up\n  command_line /bin/true\n}",
            "define timeperiod {\n  timeperiod_name always\n  alias always\n"
            + "".join(f"  {day} 00:00-24:00\n" for day in
                      ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday",
                       "saturday")) + "}",
            "define contact {\n  contact_name nobody\n  host_notifications_enabled 0\n"
            "  service_notifications_enabled 0\n  host_notification_period always\n"
            "  service_notification_period always\n  host_notification_options n\n"
            "  service_notification_options n\n  host_notification_commands host_up\n"
            "  service_notification_commands host_up\n}",
            "define host {\n  host_name node-7\n  address 127.0.0.1\n  check_command host_up\n"
            "  max_check_attempts 1\n  check_period always\n  contacts nobody\n"
            "  notification_period always\n}"]
    for name, script in services.items():
        defs.append(f"define command {{\n  command_name {name}\n  command_line {script}\n}}")
        defs.append(f"define service {{\n  host_name node-7\n  service_description {name}\n"
                    f"  check_command {name}\n  max_check_attempts 1\n  check_interval 1\n"
                    "  retry_interval 1\n  check_period always\n  contacts nobody\n"
                    "  notification_period always\n  notifications_enabled 0\n}")
    objects.write_text("\n".join(defs) + "\n")
    (directory / "checkresults").mkdir()
    main = directory / "nagios.cfg"
    settings = {
        "log_file": "nagios.log", "cfg_file": "objects.cfg", "object_cache_file": "objects.cache",
        "precached_object_file": "objects.precache", "status_file": "status.dat",
        "temp_file": "nagios.tmp", "temp_path": ".", "lock_file": "nagios.lock",
        "check_result_path": "checkresults", "command_file": "nagios.cmd",
        "query_socket": "nagios.qh", "state_retention_file": "retention.dat",
    }
    lines = [f"{k}={directory / v}" for k, v in settings.items()]
    lines += ["nagios_user=root", "nagios_group=root", "check_external_commands=0",
              "retain_state_information=0", "use_retained_program_state=0",
              "status_update_interval=1", "interval_length=1",
              "service_inter_check_delay_method=n", "host_inter_check_delay_method=n",
              "max_service_check_spread=1", "max_host_check_spread=1",
              "check_result_reaper_frequency=1", "enable_notifications=0",
              "enable_flap_detection=0", "process_performance_data=0",
              "service_check_timeout=90", "use_syslog=0", "log_rotation_method=n",
              "illegal_macro_output_chars=`~$&|'\"<>"]
    main.write_text("\n".join(lines) + "\n")
    return main


def _unescape(value: str) -> str:
    """status.dat keeps a long output on one line: newline as \\n, backslash as \\\\."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def _service_status(status_file: Path) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    if not status_file.exists():
        return found
    for block in re.findall(r"servicestatus \{\n(.*?)\n\s*\}", status_file.read_text(), re.S):
        fields = dict(line.strip().split("=", 1) for line in block.splitlines() if "=" in line)
        found[fields["service_description"]] = fields
    return found


def _direct(script: Path) -> tuple[int, str]:
    proc = subprocess.run([str(script)], capture_output=True, text=True, timeout=90)
    return proc.returncode, proc.stdout


@pytest.fixture
def nagios_dir(tmp_path):
    if not Path(NAGIOS).exists():
        unavailable("Nagios Core is not installed (Debian nagios4-core; scripts/bootstrap)")
    if os.geteuid() != 0:
        unavailable("Nagios Core runs its checks as its nagios_user: root here, whose Python "
                    "other users may not run")
    directory = tmp_path / "nagios"
    directory.mkdir()
    yield directory


def test_nagios_core_records_state_status_line_and_long_output(nagios_dir, etcd):
    services = {
        "sgdoctor_failing": _wrapper(nagios_dir, "failing", FAILING_ENV, FAILING_CHECKS),
        "sgdoctor_healthy": _wrapper(nagios_dir, "healthy", {
            "ETCD_ENDPOINTS": etcd.url, "NVSHMEM_SYMMETRIC_SIZE": "3g"}, HEALTHY_CHECKS),
    }
    main = _config(nagios_dir, services)
    verify = subprocess.run([NAGIOS, "-v", str(main)], capture_output=True, text=True,
                            timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "Things look okay" in verify.stdout, verify.stdout

    nagios = subprocess.Popen([NAGIOS, str(main)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            status = _service_status(nagios_dir / "status.dat")
            if len(status) == 2 and all(s["has_been_checked"] == "1" for s in status.values()):
                break
            assert nagios.poll() is None, (nagios_dir / "nagios.log").read_text()
            assert time.monotonic() < deadline, (status, (nagios_dir / "nagios.log").read_text())
            time.sleep(0.5)
    finally:
        nagios.terminate()
        nagios.wait(timeout=60)

    failing, healthy = status["sgdoctor_failing"], status["sgdoctor_healthy"]
    code, printed = _direct(services["sgdoctor_failing"])
    assert code == 2 and failing["current_state"] == "2", failing
    head, *long_lines = printed.rstrip("\n").split("\n")
    # Nagios keeps the text before '|' as plugin_output and the rest as perfdata, unchanged.
    text, perf = head.split(" | ")
    assert failing["plugin_output"] == text
    duration = re.compile(r"duration=[0-9.]+s$")    # the one field that differs between runs
    assert duration.sub("", failing["performance_data"]) == duration.sub("", perf)
    assert perf.startswith("ok=0 warn=1 fail=2 skip=0 error=0 duration="), perf
    assert _unescape(failing["long_plugin_output"]).split("\n") == long_lines
    assert ";" not in printed and text.startswith("SGDOCTOR CRITICAL - ")
    # One line per problem, worst first, each followed by its remedies.
    problems = [line for line in long_lines if not line.startswith("  ")]
    assert [p.split(":")[0] for p in problems] == [
        "FAIL env.nvshmem_symmetric_size", "FAIL gloo.interface",
        "WARN env.triton_disable_maca_opt_mma_prefetch"]
    fixes = {p: [] for p in problems}
    current = ""
    for line in long_lines:
        if line.startswith("  "):
            fixes[current].append(line)
        else:
            current = line
    assert all(f and all(x.startswith("  fix: ") for x in f) for f in fixes.values()), fixes
    assert "  fix: Fix GLOO_SOCKET_IFNAME=bond0,eth9. Candidates" in "\n".join(long_lines)
    assert "  fix: Unset the variable" in fixes[problems[2]][0]

    code, printed = _direct(services["sgdoctor_healthy"])
    assert code == 0 and healthy["current_state"] == "0", healthy
    assert healthy["plugin_output"] == "SGDOCTOR OK - 2 ok, 0 skipped"
    assert healthy["long_plugin_output"] == ""
