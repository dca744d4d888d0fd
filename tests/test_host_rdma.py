"""host.rdma against prepared trees passed as the host root.

This machine has no RDMA hardware. The trees follow the kernel's documented sysfs ABI
(Documentation/ABI/stable/sysfs-class-infiniband and sysfs-class-infiniband_verbs):
/sys/class/infiniband/<hca>/ports/<n>/{state,phys_state,link_layer,rate,gids/<i>},
/sys/class/infiniband_verbs/uverbs<k>/ibdev, and /dev/infiniband/uverbs<k> as a REAL character
device node (made with mknod: /dev/null's numbers when it must open, an unregistered major
when the driver must be missing). Denied access is tested as a real unprivileged user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import json_report, result_of, run_cli
from sgdoctor.api import SPEC_ATTR, Context
from sgdoctor.runner import call_check

IB_GID = "fe80:0000:0000:0000:0248:8a07:03b0:4b20"
ROCE_LINK_LOCAL = "fe80:0000:0000:0000:0e42:a1ff:fe3c:0001"
ROCE_V4 = "0000:0000:0000:0000:0000:ffff:0a00:0001"   # ::ffff:10.0.0.1
ZERO_GID = "0000:0000:0000:0000:0000:0000:0000:0000"
ACTIVE = {"state": "4: ACTIVE", "phys_state": "5: LinkUp", "link_layer": "InfiniBand",
          "rate": "200 Gb/sec (4X HDR)", "gids": [IB_GID, ZERO_GID, ZERO_GID]}
DOWN = {"state": "1: DOWN", "phys_state": "2: Polling", "link_layer": "InfiniBand",
        "rate": "10 Gb/sec (4X SDR)", "gids": [IB_GID, ZERO_GID]}
ROCE = {"state": "4: ACTIVE", "phys_state": "5: LinkUp", "link_layer": "Ethernet",
        "rate": "100 Gb/sec (4X EDR)", "gids": [ROCE_LINK_LOCAL, ROCE_LINK_LOCAL, ROCE_V4]}
UNREGISTERED_MAJOR = 511   # no driver has it: open() gives ENXIO, like uverbs without ib_uverbs


@pytest.fixture
def base() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sgd-rdma-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_tree(base: Path, hcas: dict[str, dict[int, dict]], *,
              devices: dict[str, tuple[int, int] | str] | None = None,
              verbs: dict[str, str] | None = None, modules: str = "") -> Path:
    """A host root: HCAs with ports as sysfs shows them, uverbs mapping and device nodes.

    ``devices`` maps uverbs names to (major, minor) for a character device, or "fifo",
    "file", "dir"; default: one openable node per HCA. ``verbs`` maps uverbs names to HCAs.
    """
    root = base / "root"
    ib = root / "sys/class/infiniband"
    ib.mkdir(parents=True)
    verbs = verbs if verbs is not None else {f"uverbs{i}": n for i, n in enumerate(hcas)}
    for name, ports in hcas.items():
        for number, port in ports.items():
            pdir = ib / name / "ports" / str(number)
            (pdir / "gids").mkdir(parents=True)
            for key in ("state", "phys_state", "link_layer", "rate"):
                if key in port:
                    (pdir / key).write_text(port[key] + "\n")
            for index, gid in enumerate(port.get("gids", [])):
                (pdir / "gids" / str(index)).write_text(gid + "\n")
    vdir = root / "sys/class/infiniband_verbs"
    vdir.mkdir(parents=True)
    for uverbs, hca in verbs.items():
        (vdir / uverbs).mkdir()
        (vdir / uverbs / "ibdev").write_text(hca + "\n")
    dev = root / "dev/infiniband"
    dev.mkdir(parents=True)
    devices = devices if devices is not None else {u: (1, 3) for u in verbs}
    for uverbs, what in devices.items():
        path = dev / uverbs
        if what == "fifo":
            os.mkfifo(path)
        elif what == "file":
            path.write_text("")
        elif what == "dir":
            path.mkdir()
        else:
            assert isinstance(what, tuple)
            os.mknod(path, 0o666 | 0o020000, os.makedev(*what))
    (root / "proc").mkdir()
    (root / "proc/modules").write_text(modules)
    return root


def rdma(root: Path | str, env: dict[str, str] | None = None, **settings) -> dict:
    """Run host.rdma with --host-root ``root`` the way the runner does; the JSON-ready result."""
    from sgdoctor.checks.host_rdma import host_rdma

    spec = getattr(host_rdma, SPEC_ATTR)
    ctx = Context(env or {}, deadline=time.monotonic() + 10, settings=settings,
                  options={"host_root": str(root)})
    result = call_check(spec, ctx)
    doc = {"status": result.status.value, "summary": result.summary, "remedy": result.remedy,
           "details": json.loads(json.dumps(result.details)), "env": list(result.env)}
    assert "Traceback" not in result.summary, doc
    return doc


def codes(result: dict) -> list[str]:
    return [f["code"] for f in result["details"].get("findings", []) if f["status"] != "ok"]


def test_no_devices_and_nothing_asks_is_a_skip(base):
    empty = base / "empty"
    empty.mkdir()
    result = rdma(empty)
    assert result["status"] == "skip", result
    assert "no RDMA device" in result["summary"]


def test_asked_for_but_absent_fails(base):
    empty = base / "empty"
    empty.mkdir()
    result = rdma(empty, {"NCCL_IB_HCA": "mlx5_0"})
    assert result["status"] == "fail", result
    assert "no_devices" in codes(result)
    assert "NCCL_IB_HCA is set" in result["summary"] and "--device=/dev/infiniband" \
        in result["remedy"]


def test_healthy_node_is_ok(base):
    root = make_tree(base, {"mlx5_0": {1: ACTIVE}, "mlx5_1": {1: ROCE}})
    result = rdma(root, {"NCCL_IB_HCA": "=mlx5_0,mlx5_1:1"})
    assert result["status"] == "ok", result
    assert result["summary"].startswith("2 HCA(s), 2 of 2 port(s) ACTIVE (mlx5_0:1 InfiniBand "
                                        "200 Gb/sec (4X HDR); mlx5_1:1 Ethernet")
    details = result["details"]
    port = details["hcas"]["mlx5_1"]["ports"]["1"]
    assert port["state"] == "ACTIVE" and port["phys_state"] == "LinkUp"
    assert port["ipv4_gids"] == ["10.0.0.1"] and ROCE_V4 in port["gids"]
    assert details["hcas"]["mlx5_0"]["uverbs"] == "uverbs0"
    assert details["verbs"][0]["openable"] is True
    assert details["selections"]["NCCL_IB_HCA"]["rule"] == "selects exact names mlx5_0, mlx5_1:1"
    assert details["selections"]["NCCL_IB_HCA"]["active"] == ["mlx5_0:1", "mlx5_1:1"]
    assert "NCCL_IB_HCA" in result["env"]


def test_named_hca_missing_and_inactive_fail(base):
    root = make_tree(base, {"mlx5_0": {1: ACTIVE}, "mlx5_1": {1: DOWN}})
    result = rdma(root, {"NCCL_IB_HCA": "mlx5_1,mlx5_4"})
    assert result["status"] == "fail", result
    assert sorted(codes(result)) == ["hca_inactive", "hca_missing"]
    assert "mlx5_1 port 1 is DOWN, Polling" in result["summary"]
    assert "mlx5_4 matches no HCA port" in result["summary"]
    assert "NCCL ignores it silently" in result["summary"]


def test_prefix_selects_more_hcas_than_meant(base):
    root = make_tree(base, {"mlx5_1": {1: ACTIVE}, "mlx5_10": {1: ACTIVE},
                            "mlx5_11": {1: ACTIVE}})
    result = rdma(root, {"MCCL_IB_HCA": "mlx5_1"})
    assert result["status"] == "warn", result
    assert codes(result) == ["prefix_matches_more"]
    assert "also selects mlx5_10, mlx5_11" in result["summary"]
    assert "MCCL_IB_HCA==mlx5_1" in result["remedy"]
    # The exact form is fine.
    assert rdma(root, {"MCCL_IB_HCA": "=mlx5_1"})["status"] == "ok"


def test_port_syntax_and_garbage_port(base):
    root = make_tree(base, {"mlx5_0": {1: ACTIVE, 2: DOWN}})
    assert rdma(root, {"NCCL_IB_HCA": "mlx5_0:1"})["status"] == "ok"
    port2 = rdma(root, {"NCCL_IB_HCA": "mlx5_0:2"})
    assert port2["status"] == "fail" and codes(port2) == ["hca_inactive"], port2
    garbage = rdma(root, {"NCCL_IB_HCA": "mlx5_0:x"})
    assert garbage["status"] == "fail" and codes(garbage) == ["hca_missing"], garbage
    assert "reads as port 0" in garbage["summary"]


def test_exclusion_leaving_nothing_fails(base):
    root = make_tree(base, {"mlx5_0": {1: ACTIVE}, "mlx5_1": {1: DOWN}})
    result = rdma(root, {"NCCL_IB_HCA": "^mlx5_0,mlx5_9"})
    assert result["status"] == "fail", result
    assert sorted(codes(result)) == ["empty_selection", "exclude_matches_nothing"]


def test_nvshmem_list_is_exact_and_needs_nic_pe_mapping(base):
    root = make_tree(base, {"mlx5_0": {1: ACTIVE}, "mlx5_10": {1: ACTIVE}})
    ignored = rdma(root, {"NVSHMEM_HCA_LIST": "mlx5_0:1"})
    assert ignored["status"] == "warn" and codes(ignored) == ["nvshmem_list_ignored"], ignored
    env = {"NVSHMEM_HCA_LIST": "mlx5_0:1:2,mlx5_1", "NVSHMEM_ENABLE_NIC_PE_MAPPING": "1"}
    result = rdma(root, env)
    # mlx5_1 is not a prefix for NVSHMEM: it matches nothing (mlx5_10 does not count).
    assert result["status"] == "fail" and codes(result) == ["hca_missing"], result
    assert "could not find user specified HCA name" in result["summary"]
    assert result["details"]["selections"]["NVSHMEM_HCA_LIST"]["active"] == ["mlx5_0:1"]


def test_nvshmem_pe_mapping(base):
    root = make_tree(base, {"mlx5_0": {1: ACTIVE, 2: DOWN}})
    env = {"NVSHMEM_HCA_PE_MAPPING": "mlx5_0:1:2,mlx5_0:2:2", "NVSHMEM_ENABLE_NIC_PE_MAPPING": "1"}
    result = rdma(root, env)
    assert result["status"] == "fail" and codes(result) == ["hca_inactive"], result
    assert "mlx5_0 port 2 is DOWN" in result["summary"]
    both = rdma(root, {**env, "NVSHMEM_HCA_LIST": "mlx5_0:1"})
    assert both["status"] == "warn" and codes(both) == ["nvshmem_conflict"], both
    assert list(both["details"]["selections"]) == ["NVSHMEM_HCA_LIST"]


def test_no_active_port_anywhere(base):
    root = make_tree(base, {"mlx5_0": {1: DOWN}})
    asked = rdma(root, {"NCCL_NET": "IB"})
    assert asked["status"] == "fail" and codes(asked) == ["no_active_port"], asked
    assert "NET/IB : No device found" in asked["summary"]
    # Nothing asks: NCCL falls back to TCP sockets by itself, so it is a warning.
    unasked = rdma(root)
    assert unasked["status"] == "warn" and codes(unasked) == ["no_active_port"], unasked


def test_roce_without_ipv4_gid_and_slow_port(base):
    roce = dict(ROCE, gids=[ROCE_LINK_LOCAL, ROCE_LINK_LOCAL], rate="25 Gb/sec (1X EDR)")
    root = make_tree(base, {"mlx5_0": {1: roce}})
    result = rdma(root)
    assert result["status"] == "warn", result
    assert sorted(codes(result)) == ["roce_no_ipv4_gid", "slow_port"]
    assert rdma(root, min_rate_gbps=10)["status"] == "warn"
    assert codes(rdma(root, min_rate_gbps=10)) == ["roce_no_ipv4_gid"]


def test_bad_setting_is_an_error_of_configuration(base):
    root = make_tree(base, {"mlx5_0": {1: ACTIVE}})
    result = rdma(root, min_rate_gbps="fast")
    assert result["status"] == "error" and "min_rate_gbps" in result["summary"], result


@pytest.mark.parametrize("what, code", [("fifo", "uverbs_not_device"),
                                        ("file", "uverbs_not_device"),
                                        ("dir", "uverbs_not_device"),
                                        ((UNREGISTERED_MAJOR, 0), "uverbs_unusable")])
def test_uverbs_node_that_cannot_serve(base, what, code):
    root = make_tree(base, {"mlx5_0": {1: ACTIVE}}, devices={"uverbs0": what})
    assert rdma(root)["status"] == "warn"
    result = rdma(root, {"NVSHMEM_HCA_LIST": "mlx5_0", "NVSHMEM_ENABLE_NIC_PE_MAPPING": "1",
                         "NCCL_NET_GDR_LEVEL": "LOC"})
    assert result["status"] == "fail", result
    assert codes(result) == [code]
    assert "/dev/infiniband/uverbs0 (HCA mlx5_0)" in result["summary"]


def test_uverbs_missing_and_unmapped(base):
    missing = make_tree(base, {"mlx5_0": {1: ACTIVE}}, devices={})
    result = rdma(missing, {"NCCL_IB_HCA": "mlx5"})
    assert result["status"] == "fail" and codes(result) == ["uverbs_missing"], result
    shutil.rmtree(missing)
    unmapped = make_tree(base, {"mlx5_0": {1: ACTIVE}}, verbs={}, devices={})
    result = rdma(unmapped, {"NCCL_IB_HCA": "mlx5"})
    assert result["status"] == "fail" and codes(result) == ["no_uverbs"], result


def test_uverbs_denied_to_an_unprivileged_user(base, needs_root):
    if not shutil.which("setpriv"):
        pytest.skip("setpriv is not installed")
    root = make_tree(base, {"mlx5_0": {1: ACTIVE}})
    os.chmod(root / "dev/infiniband/uverbs0", 0o600)
    for path in [root, *root.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    code = ("import json, sys; sys.path.insert(0, sys.argv[2]); "
            "from test_host_rdma import rdma; "
            "print(json.dumps(rdma(sys.argv[1], {'MCCL_IB_HCA': 'mlx5_0'})))")
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           sys.executable, "-c", code, str(root), str(Path(__file__).parent)],
                          capture_output=True, text=True, timeout=60, cwd="/")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "fail", result
    assert codes(result) == ["uverbs_denied"]
    assert "Permission denied" in result["summary"]


def test_gpudirect_asked_without_peer_memory(base):
    root = make_tree(base, {"mlx5_0": {1: ACTIVE}},
                     modules="mlx5_ib 487424 0 - Live 0x0\nib_uverbs 184320 1 mlx5_ib, Live 0\n")
    result = rdma(root, {"NCCL_NET_GDR_LEVEL": "PHB"})
    assert result["status"] == "warn" and codes(result) == ["peermem_missing"], result
    assert "MetaX's equivalent is UNCONFIRMED" in result["summary"]
    assert "modprobe nvidia_peermem" in result["remedy"]
    # Not asked for: no finding.
    assert rdma(root)["status"] == "ok"


@pytest.mark.parametrize("where", ["modules", "sysmodule", "memory_peers"])
def test_gpudirect_with_peer_memory(base, where):
    modules = "nvidia_peermem 16384 0 - Live 0x0\n" if where == "modules" else ""
    root = make_tree(base, {"mlx5_0": {1: ACTIVE}}, modules=modules)
    if where == "sysmodule":
        (root / "sys/module/nv_peer_mem").mkdir(parents=True)
    if where == "memory_peers":
        (root / "sys/kernel/mm/memory_peers/nv_mem").mkdir(parents=True)
        (root / "sys/kernel/mm/memory_peers/nv_mem/version").write_text("1.3\n")
    result = rdma(root, {"NVSHMEM_IB_ENABLE_IBGDA": "1"})
    assert result["status"] == "ok", result
    assert result["details"]["gpudirect"]["loaded"], result


def test_hostile_sysfs_gets_a_verdict(base):
    root = make_tree(base, {"mlx5_0": {1: ACTIVE}, "mlx5_1": {1: ACTIVE}})
    port = root / "sys/class/infiniband/mlx5_0/ports/1"
    (port / "state").unlink()
    os.mkfifo(port / "state")                                  # a FIFO must not hang us
    (port / "rate").write_text("\udcff garbage".encode("utf-8", "surrogateescape").decode(
        "utf-8", "replace"))
    (port / "gids/1").write_text("not a gid\n")
    bad = root / "sys/class/infiniband/mlx5_1/ports/1"
    (bad / "state").write_text("banana\n")
    (bad / "link_layer").unlink()
    (root / "sys/class/infiniband/mlx5_1/ports/7x").mkdir()     # not a port number
    result = rdma(root, {"NCCL_IB_HCA": "mlx5_0,mlx5_1"})
    assert result["status"] == "fail", result
    assert "hca_inactive" in codes(result)
    details = result["details"]["hcas"]
    assert details["mlx5_0"]["ports"]["1"]["state"] is None
    assert any("not a regular file" in p for p in details["mlx5_0"]["ports"]["1"]["problems"])
    assert details["mlx5_1"]["ports"]["1"]["state"] is None
    assert list(details["mlx5_1"]["ports"]) == ["1"]


def test_fifo_proc_modules_and_a_file_for_dev_infiniband(base):
    root = make_tree(base, {"mlx5_0": {1: ACTIVE}}, devices={})
    (root / "proc/modules").unlink()
    os.mkfifo(root / "proc/modules")
    shutil.rmtree(root / "dev/infiniband")
    (root / "dev/infiniband").write_text("not a directory\n")
    result = rdma(root, {"NCCL_NET_GDR_LEVEL": "SYS", "NCCL_IB_HCA": "mlx5_0"})
    assert result["status"] == "fail", result
    assert sorted(codes(result)) == ["peermem_missing", "uverbs_missing", "uverbs_unusable"]
    assert "not a directory" in result["summary"]
    assert "not a regular file" in result["details"]["gpudirect"]["problem"]


def test_unusable_host_root_is_an_error(base):
    result = rdma(base / "missing")
    assert result["status"] == "error" and "--host-root" in result["summary"], result


def test_through_the_cli_with_host_root_in_json_and_prometheus(base):
    """The real CLI, --host-root pointing at the prepared tree: JSON and Prometheus agree."""
    root = make_tree(base, {"mlx5_0": {1: ACTIVE}, "mlx5_1": {1: DOWN}})
    env = {"NCCL_IB_HCA": "=mlx5_1"}
    proc = run_cli(["--host-root", str(root), "--only", "host.rdma", "--format", "json"], env)
    assert proc.returncode == 1, proc.stderr
    item = result_of(json_report(proc), "host.rdma")
    assert item["status"] == "fail" and "mlx5_1 port 1 is DOWN, Polling" in item["summary"]
    assert item["details"]["host_root"] == str(root)
    assert [f["code"] for f in item["details"]["findings"]] == ["hca_inactive"]
    prom = run_cli(["--host-root", str(root), "--only", "host.rdma", "--format",
                    "prometheus"], env)
    assert 'sgdoctor_check_status{check="host.rdma",status="fail"} 1' in prom.stdout
    assert 'sgdoctor_check_status{check="host.rdma",status="ok"} 0' in prom.stdout
    if os.path.exists("/sys/class/infiniband"):
        return
    # Without --host-root this machine has no RDMA device: the same variable fails there.
    here = result_of(json_report(run_cli(["--only", "host.rdma", "--format", "json"], env)),
                     "host.rdma")
    assert here["status"] == "fail" and "no_devices" in [
        f["code"] for f in here["details"]["findings"]], here
