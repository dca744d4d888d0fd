"""The deployment recipes in deploy/ parse, and agree with what the code really emits."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

from conftest import run_cli
from sgdoctor.serve import parse_listen

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
PLUGINS = str(Path(__file__).parent / "plugins")


def _docs(name):
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def _emitted_metrics() -> str:
    proc = run_cli(["--checks-dir", PLUGINS, "--only", "demo.ok,demo.fail", "--format",
                    "prometheus"], {"DEMO_FAIL": "1"})
    return proc.stdout


def test_every_yaml_recipe_parses():
    for path in DEPLOY.glob("*.yaml"):
        assert _docs(path.name), path


def test_alert_rules_use_metrics_and_labels_the_code_emits():
    emitted = _emitted_metrics()
    names = set(re.findall(r"^(sgdoctor_[a-z_]+)", emitted, re.M))
    (group,) = _docs("alerts.yaml")[0]["groups"]
    exprs = [rule["expr"] for rule in group["rules"]]
    assert 'sgdoctor_check_status{status="fail"} == 1' in exprs
    for expr in exprs:
        for metric in re.findall(r"sgdoctor_[a-z_]+", expr):
            assert metric in names, (metric, sorted(names))
        for label, value in re.findall(r'(\w+)="([^"]*)"', expr):
            assert f'{label}="{value}"' in emitted, (label, value)


def test_daemonset_port_agrees_everywhere():
    (ds,) = _docs("daemonset.yaml")
    template = ds["spec"]["template"]
    (container,) = template["spec"]["containers"]
    command = container["command"]
    assert command[:2] == ["sgdoctor", "serve"]
    _, port = parse_listen(command[command.index("--listen") + 1])
    assert template["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert container["ports"][0]["containerPort"] == port
    assert template["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"


def test_dockerfile_entrypoint_is_a_valid_exec_invocation(tmp_path):
    text = (DEPLOY / "Dockerfile").read_text()
    entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
    assert entry[:2] == ["sgdoctor", "exec"] and entry[-1] == "--"
    args = entry[1:-1]
    args[args.index("--report") + 1] = str(tmp_path / "r.json")
    marker = tmp_path / "started"
    proc = run_cli([*args, "--checks-dir", PLUGINS, "--only", "demo.ok", "--",
                    "touch", str(marker)])
    assert proc.returncode == 0, proc.stderr
    assert marker.exists() and (tmp_path / "r.json").exists()


def test_textfile_recipes_write_a_prometheus_file(tmp_path):
    service = (DEPLOY / "sgdoctor-textfile.service").read_text()
    cron = (DEPLOY / "crontab").read_text()
    exec_start = re.search(r"^ExecStart=(.*)$", service, re.M).group(1)
    cron_cmd = [line for line in cron.splitlines() if line and not line.startswith("#")][0]
    for command in (exec_start, cron_cmd.split(" root ", 1)[1].split(" >")[0]):
        argv = shlex.split(command)
        assert argv[0].endswith("/sgdoctor")
        out = tmp_path / "sgdoctor.prom"
        argv[argv.index("--output") + 1] = str(out)
        proc = run_cli([*argv[1:], "--checks-dir", PLUGINS, "--only", "demo.ok"])
        assert proc.returncode == 0, proc.stderr
        assert "sgdoctor_up 1" in out.read_text()
        out.unlink()


def test_initcontainer_runs_a_valid_check_command():
    (pod,) = _docs("k8s-initcontainer.yaml")
    (init,) = pod["spec"]["initContainers"]
    command = init["command"]
    assert command[:2] == ["sgdoctor", "check"]
    proc = run_cli([*command[1:], "--checks-dir", PLUGINS, "--only", "demo.ok"])
    assert proc.returncode == 0, proc.stderr
