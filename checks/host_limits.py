"""`host.limits`: locked memory for RDMA registration, and open files for a busy server."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sgdoctor.api import Context, FailureKind, Findings, ProbeError, Result, check
from sgdoctor.parse.verdict import shown

if TYPE_CHECKING:
    from sgdoctor.parse.host import Limit

MIB, GIB = 1 << 20, 1 << 30
RDMA_MEMLOCK_MIN = 1 * GIB     # 8 MiB fails ibv_reg_mr in the public reports; vendors say unlimited
MEMLOCK_MIN = 8 * MIB          # the kernel's own default since 5.16; less is a deliberate squeeze
NOFILE_MIN = 65535             # what SGLang's set_ulimit raises the soft limit to
# Variables that make NCCL/MCCL or NVSHMEM register memory with an RDMA NIC.
IB_HCA_VARS = ("NCCL_IB_HCA", "MCCL_IB_HCA", "NVSHMEM_HCA_LIST", "NVSHMEM_HCA_PE_MAPPING")
ENV = (*IB_HCA_VARS, "NCCL_NET", "MCCL_NET", "NCCL_IB_DISABLE", "MCCL_IB_DISABLE",
       "NVSHMEM_REMOTE_TRANSPORT", "NVSHMEM_IB_ENABLE_IBGDA")
_IB_TRANSPORTS = ("ibrc", "ibgda", "ibdevx", "ucx")

MEMLOCK_REMEDY = ("ulimit -l unlimited\n"
                  "docker run --ulimit memlock=-1:-1 ...\n"
                  "Kubernetes (pods inherit the runtime's limits): systemctl edit containerd, "
                  "add [Service] LimitMEMLOCK=infinity, systemctl restart containerd")
NOFILE_REMEDY = ("ulimit -Hn 1048576 && ulimit -n 65535\n"
                 "docker run --ulimit nofile=65535:1048576 ...\n"
                 "Kubernetes (pods inherit the runtime's limits): systemctl edit containerd, "
                 "add [Service] LimitNOFILE=1048576, systemctl restart containerd")


@check("host.limits", title="Resource limits (memlock, nofile)", env=ENV, timeout=3.0,
       tags=("host",), settings={"rdma_memlock_min_bytes": (int, str),
       "memlock_min_bytes": (int, str), "nofile_min": int, "pid": (int, str)})
def host_limits(ctx: Context) -> Result:
    """RLIMIT_MEMLOCK bounds how much memory an RDMA NIC may register: NCCL's IB transport
    fails with "ibv_reg_mr ... Cannot allocate memory" at the common 8 MiB. It is a fail
    when the node has RDMA devices (/sys/class/infiniband) or the environment asks for an IB
    transport (NCCL_IB_HCA, MCCL_IB_HCA, NVSHMEM_HCA_LIST, NCCL_NET=IB, an NVSHMEM IB remote
    transport), else a warning when unusually small. RLIMIT_NOFILE: SGLang raises the soft
    limit to 65535 at start, which fails when the hard limit is lower — and then "Too many
    open files" under load.

    Settings: rdma_memlock_min_bytes (1 GiB), memlock_min_bytes (8 MiB), nofile_min (65535),
    pid (whose limits: default this process; under --host-root the node's container runtime
    — containerd, crio or dockerd, whose limits pods inherit — else the node's pid 1).
    """
    from sgdoctor.parse.settings import int_setting, size_setting
    from sgdoctor.probe.hostlimits import (
        MEMLOCK,
        NOFILE,
        process_limits,
        rdma_devices,
        runtime_process,
    )
    from sgdoctor.probe.hostroot import HostRoot

    try:
        rdma_min = size_setting(ctx, "rdma_memlock_min_bytes", RDMA_MEMLOCK_MIN)
        plain_min = size_setting(ctx, "memlock_min_bytes", MEMLOCK_MIN)
        nofile_min = int_setting(ctx, "nofile_min", NOFILE_MIN)
        pid = ctx.setting("pid")
        if pid is not None and not (pid == "self" or re.fullmatch(r"[1-9]\d{0,9}", str(pid))):
            raise ValueError(f"setting pid={pid!r} must be a process id or \"self\"")
        root = HostRoot.from_options(ctx.options)
    except ValueError as exc:
        return Result.error(f'[checks."host.limits"] {exc}', env=ENV)
    except ProbeError as exc:
        return Result.error(f"--host-root: {exc.message}", env=ENV)

    found = Findings()
    try:
        devices = rdma_devices(root)
    except ProbeError as exc:
        devices = []
        found.warn(f"cannot list RDMA devices: {shown(exc.message)}", code="rdma_unknown")
    wanted = _ib_requests(ctx)
    whose = "this process" if root.on_host else "the node's pid 1"
    if pid is None and not root.on_host:
        runtime = runtime_process(root)
        if runtime is not None:
            pid, whose = runtime[0], f"{runtime[1]}, whose limits containers inherit"
    elif pid is not None:
        whose = f"pid {pid}"
    limits = process_limits(root, None if pid is None else str(pid))
    details: dict[str, Any] = {"source": shown(limits.source), "whose": whose,
                               "rdma_devices": devices,
                               "ib_requested_by": wanted,
                               "limits": {k: _limit_json(v) for k, v in limits.limits.items()},
                               "thresholds": {"rdma_memlock_min_bytes": rdma_min,
                                              "memlock_min_bytes": plain_min,
                                              "nofile_min": nofile_min}}
    if limits.error is not None:
        if limits.error.kind is FailureKind.NOT_FOUND and not root.on_host:
            return Result.skip(f"no {shown(limits.source)}: the host root has no /proc of the "
                               "node", details=details, env=ENV)
        found.warn(f"cannot read the limits: {shown(limits.error.message)}",
                   code="limits_unreadable")
        return found.result("", details=details, env=ENV)
    for name, line in limits.garbage.items():
        found.warn(f"{name}: cannot read {shown(line)!r} in {shown(limits.source)}",
                   code="limit_unreadable")

    who = "" if whose == "this process" else f"{whose}: "
    memlock = limits.limits.get(MEMLOCK)
    if memlock is not None:
        _judge_memlock(ctx, found, memlock, devices, wanted, rdma_min, plain_min, who)
    nofile = limits.limits.get(NOFILE)
    if nofile is not None:
        _judge_nofile(found, nofile, nofile_min, who)
    summary = (f"{whose}: memlock {_bytes(memlock)}, nofile soft {_count(nofile, 'soft')} / hard "
               f"{_count(nofile, 'hard')}" + (f"; RDMA: {', '.join(devices + wanted)}"
                                              if devices or wanted else ""))
    return found.result(summary, details=details, env=ENV)


def _ib_requests(ctx: Context) -> list[str]:
    """What in the environment (or the launch command) makes a library register memory."""
    from sgdoctor.parse.nvshmem import parse_bool

    env = ctx.env
    wanted = [f"{v}={shown(env[v], 40)}" for v in IB_HCA_VARS if env.get(v, "").strip()]
    wanted += [f"{v}={shown(env[v], 20)}" for v in ("NCCL_NET", "MCCL_NET")
               if env.get(v, "").strip().lower() == "ib"]
    transport = env.get("NVSHMEM_REMOTE_TRANSPORT", "").strip().lower()
    if transport in _IB_TRANSPORTS:
        wanted.append(f"NVSHMEM_REMOTE_TRANSPORT={transport}")
    ibgda = env.get("NVSHMEM_IB_ENABLE_IBGDA")
    if ibgda is not None and parse_bool(ibgda).value:
        wanted.append("NVSHMEM_IB_ENABLE_IBGDA")
    device = ctx.options.get("ib_device")
    if isinstance(device, str) and device:
        wanted.append(f"--disaggregation-ib-device {shown(device, 40)}")
    return wanted


def _judge_memlock(ctx: Context, found: Findings, memlock: Limit, devices: list[str],
                   wanted: list[str], rdma_min: int, plain_min: int, who: str) -> None:
    soft = memlock.soft
    if soft is None:
        return
    disabled = all(ctx.env.get(v, "").strip() == "1" for v in ("NCCL_IB_DISABLE",
                                                                "MCCL_IB_DISABLE"))
    hard = f" (hard {_bytes_value(memlock.hard)})"
    if wanted and soft < rdma_min:
        found.fail(f"{who}locked memory is limited to {_bytes_value(soft)}{hard}, but "
                   f"{', '.join(wanted)} asks for RDMA: registering buffers fails with "
                   f"\"ibv_reg_mr ... Cannot allocate memory\" (needs at least "
                   f"{_bytes_value(rdma_min)}, best unlimited)", MEMLOCK_REMEDY,
                   code="memlock_rdma")
    elif devices and soft < rdma_min:
        report = found.warn if disabled else found.fail
        why = (" (NCCL_IB_DISABLE=1 and MCCL_IB_DISABLE=1: only other RDMA users are at risk)"
               if disabled else "")
        report(f"{who}locked memory is limited to {_bytes_value(soft)}{hard} on a node with RDMA "
               f"devices ({', '.join(devices)}): NCCL/MCCL's IB transport fails with "
               f"\"ibv_reg_mr ... Cannot allocate memory\"{why}", MEMLOCK_REMEDY,
               code="memlock_rdma")
    elif soft < plain_min:
        found.warn(f"{who}locked memory is limited to {_bytes_value(soft)}{hard}, below "
                   f"{_bytes_value(plain_min)}: pinned host buffers may fail", MEMLOCK_REMEDY,
                   code="memlock_small")


def _judge_nofile(found: Findings, nofile: Limit, nofile_min: int, who: str) -> None:
    soft, hard = nofile.soft, nofile.hard
    if hard is not None and hard < nofile_min and (soft is None or soft < nofile_min):
        found.warn(f"{who}open files: hard limit {hard} is below {nofile_min}, so SGLang cannot "
                   f"raise the soft limit ({soft}) to {nofile_min}: \"Too many open files\" "
                   "under load", NOFILE_REMEDY, code="nofile_hard_low")


def _limit_json(limit: Limit) -> dict[str, Any]:
    return {"soft": limit.soft, "hard": limit.hard, "unit": limit.unit}


def _bytes_value(value: int | None) -> str:
    from sgdoctor.parse.verdict import human_bytes

    return "unlimited" if value is None else human_bytes(value).split(" (")[0]


def _bytes(limit: Limit | None) -> str:
    return "unknown" if limit is None else _bytes_value(limit.soft)


def _count(limit: Limit | None, which: str) -> str:
    if limit is None:
        return "unknown"
    value = limit.soft if which == "soft" else limit.hard
    return "unlimited" if value is None else str(value)
