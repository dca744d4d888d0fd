"""host.ports with the real CLI inside network namespaces this test creates: there the
ephemeral range and reserved ports are the namespace's own (writable), listeners and
connections are real sockets; --host-root trees for the kernel's /proc/net/tcp format and
the hostile files."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import BASE_ENV, json_report, result_of
from host_helpers import codes, config_args, run_check, tree
from netns import Namespaces
from sgdoctor.api import Status
from sgdoctor.parse.ports import sglang_ports

LISTEN = """
import socket, sys, time
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen()
print("ready", flush=True)
time.sleep(120)
"""
# A connection whose LOCAL port is the given one: what an outgoing socket that drew the
# port from the ephemeral range looks like.
CONNECT_FROM = """
import socket, sys, time
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
c = socket.socket()
c.bind(("127.0.0.1", int(sys.argv[1])))
c.connect(server.getsockname())
print("ready", flush=True)
time.sleep(120)
"""

# A connection accepted by a listener that has since closed: its LOCAL port is the given one
# too, but a server binding with SO_REUSEADDR (as servers do) gets the port all the same.
ACCEPTED_ON = """
import socket, sys, time
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", int(sys.argv[1])))
server.listen()
client = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
accepted, _ = server.accept()
server.close()
print("ready", flush=True)
time.sleep(120)
"""

@pytest.fixture
def ns(needs_netns):
    with Namespaces() as nets:
        yield nets.new("ports")


def cli(ns, args=(), env=None) -> tuple[int, dict]:
    full = {**BASE_ENV, **(env or {})}
    proc = subprocess.run([*ns.prefix, sys.executable, "-m", "sgdoctor", "--format", "json",
                           "--only", "host.ports", *args], env=full, capture_output=True,
                          text=True, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, result_of(json_report(proc), "host.ports")


def spawn_ready(ns, script: str, *argv: str) -> subprocess.Popen:
    proc = ns.spawn([sys.executable, "-c", script, *argv], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_defaults_outside_the_range_and_free_is_ok(ns):
    code, item = cli(ns)
    assert code == 0 and item["status"] == "ok", item
    assert item["details"]["ports"][0]["port"] == 30000
    assert item["details"]["ports"][0]["bind"] == "ok"
    assert "SGLang's defaults" in item["summary"]


def test_port_inside_the_ephemeral_range_warns(ns):
    ns.sysctl("net.ipv4.ip_local_port_range", "'20000 40000'")
    code, item = cli(ns, env={"DYN_HTTP_PORT": "8000"})
    assert code == 0 and item["status"] == "warn", item
    assert codes(item) == {"ephemeral"}
    assert "30000 (SGLang HTTP server (--port))" in item["summary"]
    assert "8000" not in item["summary"].split("range")[1]
    assert item["remedy"].splitlines()[0] == "sysctl -w net.ipv4.ip_local_reserved_ports=30000"
    assert item["details"]["ephemeral_range"] == [20000, 40000]


def test_reserved_port_inside_the_range_is_ok(ns):
    ns.sysctl("net.ipv4.ip_local_port_range", "'20000 40000'")
    ns.sysctl("net.ipv4.ip_local_reserved_ports", "30000")
    code, item = cli(ns)
    assert item["status"] == "ok", item


def test_remedy_keeps_the_reserved_ports_already_there(ns):
    ns.sysctl("net.ipv4.ip_local_port_range", "'1024 65000'")
    ns.sysctl("net.ipv4.ip_local_reserved_ports", "8080")
    code, item = cli(ns, env={"DYN_HTTP_PORT": "8000", "MASTER_PORT": "29500"})
    assert item["remedy"].splitlines()[0] == (
        "sysctl -w net.ipv4.ip_local_reserved_ports=8000,8080,29500,30000")


def test_a_real_listener_fails_naming_its_process(ns):
    holder = spawn_ready(ns, LISTEN, "0.0.0.0", "30000")
    try:
        code, item = cli(ns)
    finally:
        holder.kill()
        holder.wait()
    assert code == 1 and item["status"] == "fail", item
    assert codes(item) == {"port_in_use"}
    assert f"pid {holder.pid} (python" in item["summary"]
    assert item["details"]["ports"][0]["held_by"][0]["state"] == "LISTEN"


def test_a_dual_stack_ipv6_listener_holds_the_port(ns):
    holder = spawn_ready(ns, LISTEN, "::", "8000")
    try:
        code, item = cli(ns, env={"DYN_HTTP_PORT": "8000"})
    finally:
        holder.kill()
        holder.wait()
    assert item["status"] == "fail" and codes(item) == {"port_in_use"}, item
    assert "Dynamo frontend HTTP (DYN_HTTP_PORT)" in item["summary"]
    assert f"pid {holder.pid}" in item["summary"]


def test_a_listener_on_ipv6_loopback_does_not_block_ipv4(ns):
    holder = spawn_ready(ns, LISTEN, "::1", "8000")
    try:
        code, item = cli(ns, env={"DYN_HTTP_PORT": "8000"})
    finally:
        holder.kill()
        holder.wait()
    assert item["status"] == "ok", item


def test_a_connection_holding_the_port_fails(ns):
    holder = spawn_ready(ns, CONNECT_FROM, "30000")
    try:
        code, item = cli(ns)
    finally:
        holder.kill()
        holder.wait()
    assert item["status"] == "fail" and codes(item) == {"port_taken"}, item
    assert "ESTABLISHED" in item["summary"]


def test_a_connection_a_server_can_bind_beside_is_not_a_holder(ns):
    """The bind decides: the socket table holds an ESTABLISHED socket on 30000, yet the
    server's bind succeeds, so nothing is in the way (the table is not even read)."""
    holder = spawn_ready(ns, ACCEPTED_ON, "30000")
    try:
        table = subprocess.run([*ns.prefix, "cat", "/proc/net/tcp"], capture_output=True,
                               text=True, timeout=30).stdout
        code, item = cli(ns)
    finally:
        holder.kill()
        holder.wait()
    assert ":7530 " in table  # 30000, the accepted connection's local port, is in the table
    assert code == 0 and item["status"] == "ok", item
    entry = item["details"]["ports"][0]
    assert (entry["port"], entry["held_by"], entry["bind"]) == (30000, [], "ok"), entry


def test_in_use_can_be_a_warning_for_monitoring(ns, tmp_path):
    holder = spawn_ready(ns, LISTEN, "0.0.0.0", "30000")
    try:
        code, item = cli(ns, config_args(tmp_path, "host.ports", 'in_use = "warn"'))
    finally:
        holder.kill()
        holder.wait()
    assert code == 0 and item["status"] == "warn" and codes(item) == {"port_in_use"}, item


def test_in_use_can_be_ignored_keeping_the_holder_in_details(ns, tmp_path):
    holder = spawn_ready(ns, LISTEN, "0.0.0.0", "30000")
    try:
        code, item = cli(ns, config_args(tmp_path, "host.ports", 'in_use = "ignore"'))
    finally:
        holder.kill()
        holder.wait()
    assert code == 0 and item["status"] == "ok", item
    assert "30000 already held" in item["summary"]
    assert [(f["code"], f["status"]) for f in item["details"]["findings"]] == [
        ("port_in_use", "ok")]
    assert item["details"]["ports"][0]["held_by"][0]["state"] == "LISTEN"


def test_extra_ports_setting_and_bad_env(ns, tmp_path):
    code, item = cli(ns, config_args(tmp_path, "host.ports", "ports = [5000, 30000]"),
                     env={"MASTER_PORT": "http"})
    assert [p["port"] for p in item["details"]["ports"]] == [30000, 5000]
    assert "setting ports" in item["details"]["ports"][0]["name"]
    assert codes(item) == {"port_env_invalid"}


def test_bad_ports_setting_is_an_error(tmp_path):
    from host_helpers import cli_result
    code, item = cli_result("host.ports", config_args(tmp_path, "host.ports",
                                                      'ports = [70000]'))
    assert code == 3 and item["status"] == "error", item
    # A wrong type is caught before anything runs: a usage error naming check and key.
    from conftest import run_cli
    proc = run_cli(["--only", "host.ports",
                    *config_args(tmp_path, "host.ports", 'ports = ["30000"]')])
    assert proc.returncode == 2 and '[checks."host.ports"] ports' in proc.stderr


# --- what SGLang derives ------------------------------------------------------------------

def test_sglang_derives_dp_attention_ports_on_one_node():
    ports = sglang_ports(dp_attention=True)
    assert [p.port for p in ports] == [30000, 30234, 30235, 30236, 30237, 30238]


def test_sglang_derives_from_dist_init_addr_on_rank_0_only():
    ports = sglang_ports(dist_init_addr="10.0.0.1:5000", nnodes=2, dp_attention=True)
    assert [p.port for p in ports] == [30000, 5000, 5001, 5002, 5003, 5004, 5005, 5006]
    assert [p.port for p in sglang_ports(dist_init_addr="[fd00::1]:5000", nnodes=2,
                                         node_rank=1, dp_attention=True)] == [30000]
    assert [p.port for p in sglang_ports(dist_init_addr="10.0.0.1:5000", nnodes=2)] == [
        30000, 5000]


def test_a_prefill_server_binds_its_bootstrap_port():
    assert [p.port for p in sglang_ports(disaggregation_mode="prefill")] == [30000, 8998]
    assert [p.port for p in sglang_ports(disaggregation_mode="prefill", bootstrap_port=9000,
                                         node_rank=1)] == [30000, 9000]
    assert [p.port for p in sglang_ports(disaggregation_mode="decode")] == [30000]


def test_launch_options_feed_the_derivation(tmp_path):
    root = tree(tmp_path, {"proc/sys/net/ipv4/ip_local_port_range": "5000\t6000\n",
                           "proc/1/net/tcp": TCP_HEADER})
    result = run_check("host.ports", options={"host_root": str(root), "port": 8080,
                                               "dist_init_addr": "10.0.0.1:5000",
                                               "nnodes": 2, "enable_dp_attention": True})
    assert result.status is Status.WARN and codes(result) == {"ephemeral"}, result
    assert [p["port"] for p in result.details["ports"]] == [8080, *range(5000, 5007)]
    assert "reserved_ports=5000-5006" in result.remedy


def test_ports_given_by_the_launch_command(tmp_path):
    root = tree(tmp_path, {"proc/sys/net/ipv4/ip_local_port_range": "32768 60999\n",
                           "proc/1/net/tcp": TCP_HEADER + _tcp_line(40000, 0x0A, 777)})
    result = run_check("host.ports", options={"host_root": str(root),
                                               "ports": [{"port": 40000, "name": "--port"}]})
    assert result.status is Status.WARN, result      # under --host-root: in_use = "ignore"
    assert codes(result) == {"ephemeral"}
    assert ("port_in_use", "ok") in [(f["code"], f["status"])
                                     for f in result.details["findings"]]
    failing = run_check("host.ports", settings={"in_use": "fail"},
                        options={"host_root": str(root), "ports": [{"port": 40000,
                                                                    "name": "--port"}]})
    assert failing.status is Status.FAIL and codes(failing) == {"port_in_use", "ephemeral"}
    assert failing.summary.startswith("port 40000 (--port) is already in use")
    empty = run_check("host.ports", options={"host_root": str(root), "ports": []})
    assert empty.status is Status.SKIP


# --- --host-root trees --------------------------------------------------------------------

TCP_HEADER = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   "
              "uid  timeout inode\n")


def _tcp_line(port: int, state: int, inode: int) -> str:
    return (f"   0: 00000000:{port:04X} 00000000:0000 {state:02X} 00000000:00000000 00:00000000 "
            f"00000000     0        0 {inode} 1 0000000000000000 100 0 0 10 0\n")


def test_time_wait_does_not_hold_a_port(tmp_path):
    root = tree(tmp_path, {"proc/sys/net/ipv4/ip_local_port_range": "32768 60999\n",
                           "proc/1/net/tcp": TCP_HEADER + _tcp_line(30000, 0x06, 0)})
    result = run_check("host.ports", options={"host_root": str(root)})
    assert result.status is Status.OK, result


@pytest.mark.parametrize("text", ["", "lots of ports", "70000 80000", "5 3", "\xff"])
def test_garbage_range_is_a_clear_warning(tmp_path, text):
    root = tree(tmp_path, {"proc/sys/net/ipv4/ip_local_port_range": text,
                           "proc/1/net/tcp": TCP_HEADER})
    result = run_check("host.ports", options={"host_root": str(root)})
    assert result.status is Status.WARN and codes(result) == {"range_unreadable"}, result


def test_garbage_socket_table_lines_are_passed_over(tmp_path):
    root = tree(tmp_path, {"proc/sys/net/ipv4/ip_local_port_range": "32768 60999\n",
                           "proc/1/net/tcp": TCP_HEADER + "junk\n   0: zz:zz 0:0 QQ 1 2 3 4 5 x\n"})
    result = run_check("host.ports", options={"host_root": str(root)})
    assert result.status is Status.OK, result


def test_fifos_are_refused_not_waited_on(tmp_path):
    root = tree(tmp_path, {"proc/sys/net/ipv4/": "", "proc/1/net/": ""})
    os.mkfifo(root / "proc/sys/net/ipv4/ip_local_port_range")
    os.mkfifo(root / "proc/1/net/tcp")
    result = run_check("host.ports", options={"host_root": str(root)})
    assert result.status is Status.WARN, result
    assert codes(result) == {"range_unreadable", "sockets_unreadable"}


def test_no_proc_under_the_host_root_is_a_skip(tmp_path):
    result = run_check("host.ports", options={"host_root": str(tmp_path)})
    assert result.status is Status.SKIP, result
