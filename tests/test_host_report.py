"""The host checks in every report format monitoring reads: one Prometheus series per
status per check (node_exporter's textfile collector), and `explain` for each id."""

from __future__ import annotations

import re

from conftest import run_cli

IDS = ("host.shm", "host.limits", "host.ptrace", "host.ports", "host.disk")


def test_prometheus_series_for_each_host_check():
    proc = run_cli(["--format", "prometheus", "--only", ",".join(IDS)])
    assert "Traceback" not in proc.stderr, proc.stderr
    for check_id in IDS:
        series = re.findall(rf'^sgdoctor_check_status{{check="{re.escape(check_id)}",'
                            r'status="(\w+)"} ([01])$', proc.stdout, re.M)
        assert {status for status, _ in series} == {"ok", "warn", "fail", "skip", "error"}
        assert [value for _, value in series].count("1") == 1, (check_id, series)
        assert re.search(rf'^sgdoctor_check_duration_seconds{{check="{re.escape(check_id)}"}} ',
                         proc.stdout, re.M)


def test_explain_names_the_failure_each_check_prevents():
    words = {"host.shm": "Error while creating shared memory segment",
             "host.limits": "Cannot allocate memory",
             "host.ptrace": "Operation not permitted",
             "host.ports": "EADDRINUSE",
             "host.disk": "HF_HUB_CACHE"}
    for check_id, text in words.items():
        proc = run_cli(["explain", check_id])
        assert proc.returncode == 0, proc.stderr
        assert text in " ".join(proc.stdout.split()), (check_id, proc.stdout)
