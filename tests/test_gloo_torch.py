"""gloo.interface against the real consumer: PyTorch 2.13's gloo process groups across network
namespaces, and sgdoctor on the same node, must agree.

Three ranks on one bridge: the node under test (x.5) between a peer with a smaller address
(x.2, which also holds the TCPStore and plays "the etcd server") and one with a greater
address (x.9). gloo lets the greater address dial, so a bad local choice can work against one
side and fail against the other: the process group must work with both. Agreement: torch
works ⇔ sgdoctor says ok or warn; torch aborts or hangs ⇔ sgdoctor fails. The subnet is
198.18.0.0/15 (benchmarking, above 127.x), so loopback loses every comparison.

Needs torch 2.13.0 in the consumer venv (scripts/bootstrap makes .venv-consumers); in CI a
missing torch is a failure.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from dataclasses import dataclass, field

import pytest

from conftest import have_netns, json_report, result_of, run_cli, unavailable
from consumer_harness import consumer_python, require, site_packages
from netns import Namespaces, Netns, veth


@pytest.fixture(scope="module", autouse=True)
def torch_python() -> str:
    """The ranks run in the consumer venv (torch 2.13.0 beside, not inside, sgdoctor's)."""
    require(site_packages() / "torch", "torch 2.13.0")
    return str(consumer_python())


RANK = r"""
import datetime, json, sys
import torch
import torch.distributed as dist
store, rank = sys.argv[1], int(sys.argv[2])
try:
    dist.init_process_group("gloo", init_method=f"tcp://{store}", rank=rank, world_size=3,
                            timeout=datetime.timedelta(seconds=float(sys.argv[3])))
    t = torch.ones(1)
    dist.all_reduce(t)
    print(json.dumps({"ok": t.item() == 3.0, "error": None}), flush=True)
    dist.destroy_process_group()
except Exception as exc:
    print(json.dumps({"ok": False, "error": str(exc).splitlines()[0][:300]}), flush=True)
"""
TIMEOUT = 8.0


@dataclass
class Case:
    value: str | None              # GLOO_SOCKET_IFNAME on the node under test
    hostname: str = "gloo-under-test"
    hosts: str = "own"             # own: the hostname maps to eth0's address; stale; none
    nonlocal_bind: bool = False
    peers: str = "eth0"            # GLOO_SOCKET_IFNAME on the peers
    extra: dict[str, str] = field(default_factory=dict)


CASES = {
    "named": Case("eth0"),
    "trailing comma": Case("eth0,"),
    "leading comma": Case(",eth0"),
    "double comma": Case("eth0,,eth0"),
    "two devices everywhere": Case("eth0,eth0", peers="eth0,eth0"),
    "missing interface": Case("bond0"),
    "nccl syntax": Case("^lo"),
    "ipv6 only": Case("v6only"),
    "loopback": Case("lo"),
    "unset, hostname on eth0": Case(None),
    "one character": Case("e"),
    "unset, stale /etc/hosts": Case(None, hosts="stale"),
    "unset, stale /etc/hosts, nonlocal bind": Case(None, hosts="stale", nonlocal_bind=True),
    "unset, numeric hostname": Case(None, hostname="189", hosts="none"),
}


@dataclass
class Lan:
    subnet: str
    node: Netns
    small: Netns
    great: Netns


@pytest.fixture(scope="module")
def lan():
    if not have_netns():
        unavailable("this test needs root and `ip netns`")
    subnet = f"198.18.{secrets.randbelow(250) + 1}"
    with Namespaces() as nets:
        hub = nets.new("hub")
        spaces = {}
        for label, host in (("node", 5), ("small", 2), ("great", 9)):
            ns = nets.new(label)
            veth(ns, "eth0", hub, f"p-{label}")
            ns.add_address("eth0", f"{subnet}.{host}/24")
            spaces[label] = ns
        hub.bridge("br0", ["p-node", "p-small", "p-great"])
        node = spaces["node"]
        node.ip("link", "add", "v6only", "type", "veth", "peer", "name", "v6peer")
        node.no_auto_link_local("v6only")
        node.add_address("v6only", "fd00:5d0c::5/64", nodad=True)
        node.up("v6peer")
        node.up("v6only")
        for ns in spaces.values():
            ns.up("eth0", wait=True)
        yield Lan(subnet, node, spaces["small"], spaces["great"])


def _node_prefix(lan: Lan, case: Case) -> list[str]:
    hosts = {"own": f"127.0.0.1 localhost\n{lan.subnet}.5 {case.hostname}\n",
             "stale": f"127.0.0.1 localhost\n{lan.subnet}.77 {case.hostname}\n",
             "none": "127.0.0.1 localhost\n"}[case.hosts]
    lan.node.etc_file("hosts", hosts)
    lan.node.sysctl("net.ipv4.ip_nonlocal_bind", "1" if case.nonlocal_bind else "0")
    return [*lan.node.prefix, "unshare", "-u", "sh", "-c", 'hostname "$0" && exec "$@"',
            case.hostname]


def _env(value: str | None) -> dict[str, str]:
    import os

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/root", "LANG": "C.UTF-8"}
    if value is not None:
        env["GLOO_SOCKET_IFNAME"] = value
    return env


def torch_works(lan: Lan, case: Case, prefix: list[str],
                python: str) -> tuple[bool, list[dict]]:
    port = 20000 + secrets.randbelow(20000)
    store = f"{lan.subnet}.2:{port}"
    ranks = [(lan.small.prefix, 0, case.peers), (prefix, 1, case.value),
             (lan.great.prefix, 2, case.peers)]
    procs = [subprocess.Popen([*pre, python, "-c", RANK, store, str(rank), str(TIMEOUT)],
                              env=_env(value), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for pre, rank, value in ranks]
    outcomes = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=TIMEOUT * 4 + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        lines = out.strip().splitlines()
        outcomes.append(json.loads(lines[-1]) if lines else
                        {"ok": False, "error": f"no output (exit {proc.returncode}): {err[-500:]}"})
    return all(o["ok"] for o in outcomes), outcomes


@pytest.mark.parametrize("name", list(CASES))
def test_sgdoctor_agrees_with_pytorch(lan, name, torch_python):
    case = CASES[name]
    prefix = _node_prefix(lan, case)
    works, outcomes = torch_works(lan, case, prefix, torch_python)
    env = {**_env(case.value), "ETCD_ENDPOINTS": f"http://{lan.subnet}.2:2379", **case.extra}
    proc = run_cli(["--only", "gloo.interface", "--format", "json"], env, prefix=prefix,
                   timeout=60)
    result = result_of(json_report(proc), "gloo.interface")
    verdict = result["status"]
    assert verdict in ("ok", "warn", "fail"), result
    assert (verdict != "fail") == works, (name, outcomes, result["summary"])
