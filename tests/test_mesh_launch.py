"""`exec --mesh`: the launch's nodes prove the Gloo full mesh through etcd before COMMAND
starts. Three nodes in network namespaces on one bridge (the fleet of test_mesh_netns), each
running the real CLI as its container entrypoint with a stand-in server that leaves a marker
file when it starts."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys

from conftest import BASE_ENV
from netns import unique_subnet
from test_mesh_netns import fleet  # noqa: F401  (the shared fixture)

STAND_IN = r"""
import json, os, sys
with open(os.environ["STAND_IN_OUT"] + "." + os.environ["RANK"], "w") as fh:
    json.dump({"pid": os.getpid(), "argv": sys.argv[1:]}, fh)
"""


def stand_in(tmp_path):
    package = tmp_path / "lib" / "sglang"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "launch_server.py").write_text(STAND_IN)
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text("{}")
    return str(model)


def launch(fleet, tmp_path, rank, nnodes, *, addr, extra=(), argv=None, env=None):  # noqa: F811
    model = stand_in(tmp_path)
    argv = argv if argv is not None else [
        "--model-path", model, "--nnodes", str(nnodes), "--node-rank", str(rank),
        "--dist-init-addr", addr]
    node_env = {**fleet.env(rank), "PYTHONPATH": str(tmp_path / "lib"),
                "STAND_IN_OUT": str(tmp_path / "started"), "RANK": str(rank), **(env or {})}
    cmd = [*fleet.nodes[rank].prefix, sys.executable, "-m", "sgdoctor", "exec",
           "--only", "launch.command", "--config", str(fleet.config),
           "--report", str(tmp_path / f"report.{rank}.json"), *extra,
           "--", sys.executable, "-m", "sglang.launch_server", *argv]
    return subprocess.Popen(cmd, env=node_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def mesh_result(tmp_path, rank):
    doc = json.loads((tmp_path / f"report.{rank}.json").read_text())
    return next(c for c in doc["checks"] if c["id"] == "mesh.gloo")


def started(tmp_path, rank):
    return (tmp_path / f"started.{rank}").exists()


def test_three_healthy_nodes_all_exec_their_command(fleet, tmp_path):  # noqa: F811
    addr = f"{fleet.addresses[0]}:{20000 + secrets.randbelow(9000)}"
    procs = [launch(fleet, tmp_path, rank, 3, addr=addr) for rank in range(3)]
    for rank, proc in enumerate(procs):
        _, stderr = proc.communicate(timeout=90)
        assert proc.returncode == 0, stderr
        info = json.loads((tmp_path / f"started.{rank}").read_text())
        assert info["pid"] == proc.pid           # exec'd: same PID
        result = mesh_result(tmp_path, rank)
        assert result["status"] == "ok", result
        assert sorted(result["details"]["matrix"]) == ["rank0", "rank1", "rank2"]
        assert result["details"]["node"] == f"rank{rank}"
    assert fleet.keys(addr) == []


def test_a_node_the_others_cannot_reach_stops_every_launch(fleet, tmp_path):  # noqa: F811
    """rank2 binds gloo on an interface of a subnet nobody else routes to: rank0 and rank1
    cannot dial it, so no node starts its command."""
    node = fleet.nodes[2]
    island = unique_subnet()
    node.ip("link", "add", "gloo0", "type", "veth", "peer", "name", "gloo0p")
    try:
        node.add_address("gloo0", f"{island}.5/24", nodad=True)
        node.up("gloo0p")
        node.up("gloo0", wait=True)
        addr = f"{fleet.addresses[0]}:{20000 + secrets.randbelow(9000)}"
        procs = [launch(fleet, tmp_path, rank, 3, addr=addr,
                        env={"GLOO_SOCKET_IFNAME": "gloo0"} if rank == 2 else None)
                 for rank in range(3)]
        for proc in procs:
            _, stderr = proc.communicate(timeout=90)
            assert proc.returncode == 1, stderr
            assert "mesh.gloo" in stderr
        for rank in range(3):
            assert not started(tmp_path, rank)
            result = mesh_result(tmp_path, rank)
            assert result["status"] == "fail"
            assert {f["code"] for f in result["details"]["findings"]
                    if f["status"] == "fail"} == {"pairs_unreachable"}, result
            assert f"rank0 → rank2 ({island}.5:" in result["summary"]
            assert f"rank1 → rank2 ({island}.5:" in result["summary"]
    finally:
        node.ip("link", "del", "gloo0", check=False)


def test_a_node_that_never_comes_is_named_and_nothing_starts(fleet, tmp_path):  # noqa: F811
    addr = f"{fleet.addresses[0]}:{20000 + secrets.randbelow(9000)}"
    procs = [launch(fleet, tmp_path, rank, 3, addr=addr, extra=("--mesh-timeout", "8s"))
             for rank in range(2)]
    for rank, proc in enumerate(procs):
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 1, stderr
        assert not started(tmp_path, rank)
        result = mesh_result(tmp_path, rank)
        assert "only 2 of 3 expected nodes joined" in result["summary"], result
        assert "missing: rank2; joined: rank0, rank1" in result["summary"]


def test_a_malformed_command_line_never_blocks_a_healthy_node(fleet, tmp_path):  # noqa: F811
    """--nnodes x: the node count cannot be read, so there is no mesh to wait for."""
    argv = ["--model-path", stand_in(tmp_path), "--nnodes", "x", "--node-rank", "1",
            "--dist-init-addr", f"{fleet.addresses[0]}:29500", "--bogus"]
    proc = launch(fleet, tmp_path, 1, 3, addr="", argv=argv)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert started(tmp_path, 1)
    assert not any(c["id"] == "mesh.gloo" for c in json.loads(
        (tmp_path / "report.1.json").read_text())["checks"])


def test_no_mesh_and_explicit_mesh_usage(fleet, tmp_path):  # noqa: F811
    addr = f"{fleet.addresses[0]}:29500"
    proc = launch(fleet, tmp_path, 1, 3, addr=addr, extra=("--no-mesh",))
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert started(tmp_path, 1)
    single = ["--model-path", stand_in(tmp_path)]
    proc = launch(fleet, tmp_path, 0, 1, addr=addr, extra=("--mesh",), argv=single)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--mesh needs a launch with --nnodes N > 1" in stderr
    assert not started(tmp_path, 0)
    assert "Traceback" not in stderr


def test_the_group_is_named_after_the_rendezvous_address():
    from sgdoctor.cli_mesh import launch_group
    from sgdoctor.parse.mesh import check_name

    assert launch_group("10.0.0.1:5000") == "10.0.0.1:5000"
    for address in ("[fd00::1]:5000", "_x", "a/b c", "é" * 300):
        assert check_name(launch_group(address), "group") is None, address
    assert BASE_ENV  # the shared environment the nodes start from
