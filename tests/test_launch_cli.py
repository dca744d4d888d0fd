"""The launch-aware checks through the real CLI (`check -- COMMAND`, `exec -- COMMAND`) with
real parts: a rendezvous listener in another network namespace, a port held by a real
listener, model directories on disk, a real exec of a stand-in server module."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import BASE_ENV, json_report, result_of, run_cli
from netns import Namespaces, unique_subnet, veth

SERVER = ["python3", "-m", "sglang.launch_server"]
GPUS = {"MACA_VISIBLE_DEVICES": "0,1"}
LISTENER = ("import socket, sys, time\n"
            "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8)\n"
            "print('ready', flush=True); time.sleep(120)\n")


def check(only: str, command: list[str], env: dict | None = None,
          prefix: list[str] | None = None, args: tuple[str, ...] = ()) -> dict:
    proc = run_cli(["check", "--only", only, "--format", "json", "--timeout", "8", *args,
                    "--", *command], {**GPUS, **(env or {})}, prefix=prefix)
    assert proc.returncode in (0, 1), proc.stderr
    return json_report(proc)


def codes(item: dict) -> set[str]:
    return {f["code"] for f in item["details"].get("findings", []) if f["status"] != "ok"}


def model_dir(tmp_path, config=True):
    path = tmp_path / "model"
    path.mkdir(exist_ok=True)
    if config:
        (path / "config.json").write_text("{}")
    return str(path)


def test_rendezvous_served_from_another_namespace_and_one_that_is_not(needs_netns, tmp_path):
    net = unique_subnet()
    with Namespaces() as nets:
        node, rank0 = nets.new("node"), nets.new("rank0")
        veth(node, "eth0", rank0, "eth0p")
        node.add_address("eth0", f"{net}.1/24", nodad=True)
        rank0.add_address("eth0p", f"{net}.2/24", nodad=True)
        node.up("eth0")
        rank0.up("eth0p")
        node.wait_for(["ping", "-c", "1", "-W", "1", f"{net}.2"], timeout=10)
        listener = rank0.spawn([sys.executable, "-c", LISTENER, f"{net}.2", "29500"],
                               stdout=subprocess.PIPE, text=True)
        try:
            assert listener.stdout.readline().strip() == "ready"
            launch = [*SERVER, "--model-path", model_dir(tmp_path), "--tp", "4", "--nnodes",
                      "2", "--node-rank", "1"]
            doc = check("launch.*", [*launch, "--dist-init-addr", f"{net}.2:29500"],
                        prefix=node.prefix)
            item = result_of(doc, "launch.rendezvous")
            assert item["status"] == "ok", item
            assert item["details"]["dial"] == "ok" and f"{net}.2:29500" in item["summary"]
            assert result_of(doc, "launch.topology")["status"] == "ok"

            doc = check("launch.rendezvous", [*launch, "--dist-init-addr", f"{net}.2:29501"],
                        prefix=node.prefix)
            item = result_of(doc, "launch.rendezvous")
            assert item["status"] == "fail" and codes(item) == {"unreachable"}, item
            assert "connection refused" in item["summary"]

            # node rank 0 must own the address it tells the others to dial
            doc = check("launch.rendezvous", [*SERVER, "--nnodes", "2", "--node-rank", "0",
                                              "--dist-init-addr", f"{net}.2:29502"],
                        prefix=node.prefix)
            item = result_of(doc, "launch.rendezvous")
            assert item["status"] == "fail" and codes(item) == {"not_this_host"}, item
        finally:
            listener.kill()
            listener.wait()


def test_rendezvous_names_that_cannot_work():
    for addr, code in (("12345:5000", "numeric_hostname"), ("127.0.0.1:5000",
                       "loopback_multi_node"), ("no-such-host.invalid:5000", "unresolvable")):
        doc = check("launch.rendezvous", [*SERVER, "--nnodes", "2", "--node-rank", "1",
                                          "--dist-init-addr", addr])
        item = result_of(doc, "launch.rendezvous")
        assert item["status"] == "fail" and codes(item) == {code}, item
    doc = check("launch.rendezvous", [*SERVER, "--nnodes", "2", "--node-rank", "1"],
                {"MASTER_ADDR": "0.0.0.0", "MASTER_PORT": "5000"})
    item = result_of(doc, "launch.rendezvous")
    assert codes(item) == {"zero_address"} and "MASTER_ADDR/MASTER_PORT" in item["summary"]
    item = result_of(check("launch.rendezvous", [*SERVER, "--nnodes", "2"]),
                     "launch.rendezvous")
    assert codes(item) == {"missing_address"}
    item = result_of(check("launch.rendezvous", [*SERVER, "--dist-init-addr", "nonsense"]),
                     "launch.rendezvous")
    assert item["status"] == "warn" and codes(item) == {"malformed_address"}


def test_a_port_held_by_another_process_fails_rank0_and_host_ports(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", LISTENER, "127.0.0.1", "0"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        port = _listening_port(holder.pid)
        doc = check("launch.rendezvous,host.ports",
                    [*SERVER, "--model-path", model_dir(tmp_path), "--port", "31999",
                     "--dist-init-addr", f"127.0.0.1:{port}"])
        item = result_of(doc, "launch.rendezvous")
        assert item["status"] == "fail" and codes(item) == {"port_in_use"}, item
        ports = result_of(doc, "host.ports")
        assert ports["status"] == "fail" and "port_in_use" in codes(ports)
        assert ports["details"]["ports_from"] == "the launch command"
        assert {p["port"] for p in ports["details"]["ports"]} >= {31999, port}
    finally:
        holder.kill()
        holder.wait()


def _listening_port(pid: int) -> int:
    inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")
              if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")}
    with open("/proc/net/tcp") as fh:
        for line in fh.readlines()[1:]:
            parts = line.split()
            if parts[9] in inodes and parts[3] == "0A":
                return int(parts[1].split(":")[1], 16)
    raise AssertionError("the holder listens nowhere")


def test_model_directory_with_and_without_config_json(tmp_path):
    good = check("launch.model", [*SERVER, "--model", model_dir(tmp_path)])
    assert result_of(good, "launch.model")["status"] == "ok"
    bare = tmp_path / "bare"
    bare.mkdir()
    item = result_of(check("launch.model", [*SERVER, "--model-path", str(bare)]), "launch.model")
    assert item["status"] == "fail" and codes(item) == {"no_config_json"}, item
    item = result_of(check("launch.model", [*SERVER, "--model-path", str(tmp_path / "gone")]),
                     "launch.model")
    assert codes(item) == {"model_missing"}
    locked = tmp_path / "ro"
    locked.mkdir(mode=0o555)
    hub = check("launch.model,host.disk", [*SERVER, "--model-path", "Qwen/Qwen3-8B"],
                {"HF_HOME": str(locked / "hf")}, prefix=["setpriv", "--reuid=65534",
                                                         "--regid=65534", "--clear-groups"])
    item = result_of(hub, "launch.model")
    assert item["status"] == "fail" and codes(item) == {"cache_not_writable"}, item
    assert result_of(hub, "host.disk")["details"]["hub_model"] == "Qwen/Qwen3-8B"


def test_gpus_and_tp_size_reach_topology_and_host_shm(tmp_path):
    doc = check("launch.topology,host.shm", [*SERVER, "--model-path", model_dir(tmp_path),
                                             "--tp-size", "8"])
    item = result_of(doc, "launch.topology")
    assert item["status"] == "fail" and codes(item) == {"not_enough_gpus"}, item
    assert item["details"]["gpus_per_node"] == 8 and item["details"]["visible_gpus"] == 2
    assert "--tp-size 8" in result_of(doc, "host.shm")["summary"]
    item = result_of(check("launch.topology", [*SERVER, "--tp", "3", "--nnodes", "2",
                                               "--node-rank", "2"]), "launch.topology")
    assert codes(item) == {"node_rank_out_of_range", "tp_not_divisible"}


def test_recorder_mode_makes_the_record_directory_mandatory(tmp_path):
    config = tmp_path / "sgdoctor.toml"
    config.write_text('[checks."expert_record.dir"]\nmin_free_bytes = 1000000000000000000\n')
    env = {"SGDOCTOR_CONFIG": str(config),
           "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR": str(tmp_path)}
    plain = result_of(check("expert_record.dir", SERVER, env), "expert_record.dir")
    assert plain["status"] == "warn"
    doc = check("expert_record.dir", [*SERVER, "--expert-distribution-recorder-mode", "stat"],
                env)
    item = result_of(doc, "expert_record.dir")
    assert item["status"] == "fail" and "--expert-distribution-recorder-mode stat" in \
        item["summary"]


def test_kv_routing_says_what_it_needs_from_the_event_plane():
    front = ["python3", "-m", "dynamo.frontend", "--router-mode", "kv"]
    item = result_of(check("launch.router", front), "launch.router")
    assert item["status"] == "ok" and "ZMQ" in item["summary"]
    item = result_of(check("launch.router", front, {"DYN_EVENT_PLANE": "nats"}),
                     "launch.router")
    assert item["status"] == "warn" and codes(item) == {"nats_server_unset"}
    assert any("JetStream is UNCONFIRMED" in f["summary"] for f in item["details"]["findings"])
    item = result_of(check("launch.router", [*front, "--no-router-kv-events"]), "launch.router")
    assert item["status"] == "ok" and "without KV events" in item["summary"]
    skip = result_of(check("launch.router", front[:3], {"DYN_ROUTER_MODE": "random"}),
                     "launch.router")
    assert skip["status"] == "skip"


def test_out_of_scope_commands_are_said_and_change_nothing():
    doc = check("launch.*", ["torchrun", "--nproc-per-node", "8", "-m", "sglang.launch_server"])
    item = result_of(doc, "launch.command")
    assert item["status"] == "skip" and "torchrun" in item["summary"]
    assert {c["status"] for c in doc["checks"]} == {"skip"}


STAND_IN = r"""
import json, os, sys
with open(os.environ["STAND_IN_OUT"], "w") as fh:
    json.dump({"pid": os.getpid(), "argv": sys.argv[1:], "env": dict(os.environ)}, fh)
"""


def test_exec_a_malformed_command_line_still_starts_with_same_pid_and_env(tmp_path):
    package = tmp_path / "lib" / "sglang"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "launch_server.py").write_text(STAND_IN)
    out = tmp_path / "out.json"
    env = {**BASE_ENV, **GPUS, "PYTHONPATH": str(tmp_path / "lib"), "STAND_IN_OUT": str(out)}
    argv = ["--model-path", model_dir(tmp_path), "--tp", "--h", "--nnodes=x", "--bogus",
            "--port", "31998"]
    proc = subprocess.Popen([sys.executable, "-m", "sgdoctor", "exec", "--only", "launch.*",
                             "--", sys.executable, "-m", "sglang.launch_server", *argv],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "warn launch.command" in stderr and "unrecognized arguments: --bogus" in stderr
    info = json.loads(out.read_text())
    assert info["pid"] == proc.pid and info["argv"] == argv
    assert info["env"] == env


def test_ib_device_reaches_host_rdma(tmp_path):
    """No RDMA hardware here: a host root following the kernel's sysfs ABI (as
    test_host_rdma.py builds it) stands in for the node."""
    from test_host_rdma import ACTIVE, DOWN, make_tree

    root = make_tree(tmp_path, {"mlx5_0": {1: ACTIVE}, "mlx5_1": {1: DOWN}})
    for device, status, expected in (("mlx5_0", "ok", set()), ("mlx5_1", "fail", {"hca_inactive"}),
                                     ("mlx5_9", "fail", {"hca_missing"})):
        doc = check("host.rdma", [*SERVER, "--disaggregation-ib-device", device],
                    args=("--host-root", str(root)))
        item = result_of(doc, "host.rdma")
        assert item["status"] == status and set(codes(item)) >= expected, item
        assert f"--disaggregation-ib-device {device}" in item["details"]["requests"]
