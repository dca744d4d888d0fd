"""A real Prometheus (Debian's prometheus) reads sgdoctor both ways the recipes deliver it:
the textfile the systemd unit writes, through a real node_exporter's textfile collector
(Debian's prometheus-node-exporter), and `sgdoctor serve`'s /metrics scraped as job
sgdoctor. deploy/alerts.yaml is loaded as it ships: the failing check's alert and the
unreachable target's alert become active (pending: their `for` has not passed)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import BASE_ENV, run_cli, unavailable
from servers import free_port

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = str(Path(__file__).parent / "plugins")


def _binary(name: str, package: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                   else None)
    if found is None:
        unavailable(f"{name} is not installed (Debian {package}; scripts/bootstrap)")
        raise AssertionError("unreachable")
    return found


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.loads(reply.read())


def _spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


@pytest.fixture
def stack(tmp_path):
    prometheus = _binary("prometheus", "prometheus")
    node_exporter = _binary("prometheus-node-exporter", "prometheus-node-exporter")
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    # The systemd unit's own command line, with its output in this test's directory.
    unit = (ROOT / "deploy" / "sgdoctor-textfile.service").read_text()
    argv = shlex.split(re.search(r"^ExecStart=(.*)$", unit, re.M).group(1))
    argv[argv.index("--output") + 1] = str(textfiles / "sgdoctor.prom")
    written = run_cli([*argv[1:], "--checks-dir", PLUGINS, "--only", "demo.ok,demo.fail"],
                      {"DEMO_FAIL": "1"})
    assert written.returncode == 1, written.stderr

    ports = {name: free_port() for name in ("node", "serve", "prometheus", "dead")}
    procs = [
        _spawn([node_exporter, f"--web.listen-address=127.0.0.1:{ports['node']}",
                "--collector.disable-defaults", "--collector.textfile",
                f"--collector.textfile.directory={textfiles}"], tmp_path / "node.log"),
        _spawn([sys.executable, "-m", "sgdoctor", "serve", "--listen",
                f"127.0.0.1:{ports['serve']}", "--interval", "2s", "--checks-dir", PLUGINS,
                "--only", "demo.ok,demo.warn"], tmp_path / "serve.log", env=dict(BASE_ENV)),
    ]
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{ROOT / 'deploy' / 'alerts.yaml'}]\n"
        "scrape_configs:\n"
        f"  - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{ports['node']}']}}]\n"
        "  - job_name: sgdoctor\n    static_configs: [{targets: ["
        f"'127.0.0.1:{ports['serve']}', '127.0.0.1:{ports['dead']}']}}]\n")
    check = subprocess.run([_binary("promtool", "prometheus"), "check", "config", str(config)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    procs.append(_spawn([prometheus, f"--config.file={config}",
                         f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                         f"--web.listen-address=127.0.0.1:{ports['prometheus']}"],
                        tmp_path / "prometheus.log"))
    try:
        yield f"http://127.0.0.1:{ports['prometheus']}", ports, tmp_path
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


def _until(api: str, what: str, condition, logs: Path, timeout: float = 120):
    """Poll the Prometheus API until `condition(reply)` holds (generous: a loaded machine)."""
    deadline = time.monotonic() + timeout
    reply: dict = {}
    while time.monotonic() < deadline:
        try:
            reply = _get(api + what)
            if condition(reply):
                return reply
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what}: {reply}\n" + "\n".join(
        f"--- {p.name}\n{p.read_text()[-2000:]}" for p in logs.glob("*.log")))


def _query(expr: str) -> str:
    return "/api/v1/query?query=" + urllib.parse.quote(expr)


def test_prometheus_reads_the_textfile_and_serve_and_the_alerts_fire(stack):
    api, ports, logs = stack
    # The textfile, through node_exporter: the failing check, and no parse error.
    failing = _until(api, _query('sgdoctor_check_status{job="node",status="fail"} == 1'),
                     lambda r: r["data"]["result"], logs)
    assert [s["metric"]["check"] for s in failing["data"]["result"]] == ["demo.fail"]
    errors = _until(api, _query('node_textfile_scrape_error{job="node"}'),
                    lambda r: r["data"]["result"], logs)
    assert [s["value"][1] for s in errors["data"]["result"]] == ["0"]
    # serve's /metrics, as job sgdoctor: a warning, its run up.
    served = _until(api, _query('sgdoctor_check_status{job="sgdoctor",status="warn"} == 1'),
                    lambda r: r["data"]["result"], logs)
    assert [s["metric"]["check"] for s in served["data"]["result"]] == ["demo.warn"]
    up = _until(api, _query('up{job="sgdoctor"}'),
                lambda r: len(r["data"]["result"]) == 2, logs)
    assert sorted((s["metric"]["instance"], s["value"][1]) for s in up["data"]["result"]) == \
        sorted([(f"127.0.0.1:{ports['serve']}", "1"), (f"127.0.0.1:{ports['dead']}", "0")])
    # deploy/alerts.yaml as it ships: the failing check and the dead target are alerting.
    alerts = _until(api, "/api/v1/alerts", lambda r: {
        a["labels"]["alertname"] for a in r["data"]["alerts"]} >= {
        "SgdoctorCheckFailing", "SgdoctorDown"}, logs)
    by_name = {a["labels"]["alertname"]: a for a in alerts["data"]["alerts"]}
    assert by_name["SgdoctorCheckFailing"]["labels"]["check"] == "demo.fail"
    assert by_name["SgdoctorCheckFailing"]["state"] in ("pending", "firing")
    assert by_name["SgdoctorDown"]["labels"]["instance"] == f"127.0.0.1:{ports['dead']}"
    assert "SgdoctorAbsent" not in by_name and "SgdoctorStale" not in by_name
