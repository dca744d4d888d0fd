"""`host.limits`: locked memory for RDMA registration, and open files for a busy server."""

from __future__ import annotations

import re

from sgdoctor.api import Context, FailureKind, Findings, ProbeError, Result, Text, check
from sgdoctor.parse.verdict import shown

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

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



def _runtime_limit(line: str) -> Text:
    return Text("Kubernetes (pods inherit the runtime's limits): {edit}, add {line}, {restart}",
                edit="systemctl edit containerd", line=line,
                restart="systemctl restart containerd")


MEMLOCK_REMEDY = Text.join("\n", ["ulimit -l unlimited", "docker run --ulimit memlock=-1:-1 ...",
                                  _runtime_limit("[Service] LimitMEMLOCK=infinity")])
NOFILE_REMEDY = Text.join("\n", ["ulimit -Hn 1048576 && ulimit -n 65535",
                                 "docker run --ulimit nofile=65535:1048576 ...",
                                 _runtime_limit("[Service] LimitNOFILE=1048576")])


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
    from sgdoctor.parse.settings import SettingError, int_setting, setting_error, size_setting
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
            raise SettingError(Text('setting pid={pid} must be a process id or "self"',
                                    pid=repr(pid)))
        root = HostRoot.from_options(ctx.options)
    except ValueError as exc:
        return Result.error(setting_error("host.limits", exc), env=ENV)
    except ProbeError as exc:
        return Result.error(Text("--host-root: {error}", error=exc.message), env=ENV)

    found = Findings()
    try:
        devices = rdma_devices(root)
    except ProbeError as exc:
        devices = []
        found.warn(Text("cannot list RDMA devices: {error}", error=shown(exc.message)),
                   code="rdma_unknown")
    wanted = _ib_requests(ctx)
    whose = Text("this process") if root.on_host else Text("the node's pid 1")
    if pid is None and not root.on_host:
        runtime = runtime_process(root)
        if runtime is not None:
            pid, whose = runtime[0], Text("{runtime}, whose limits containers inherit",
                                          runtime=runtime[1])
    elif pid is not None:
        whose = Text("pid {pid}", pid=pid)
    limits = process_limits(root, None if pid is None else str(pid))
    details: dict[str, Any] = {"source": shown(limits.source), "whose": str(whose),
                               "rdma_devices": devices,
                               "ib_requested_by": wanted,
                               "limits": {k: _limit_json(v) for k, v in limits.limits.items()},
                               "thresholds": {"rdma_memlock_min_bytes": rdma_min,
                                              "memlock_min_bytes": plain_min,
                                              "nofile_min": nofile_min}}
    if limits.error is not None:
        if limits.error.kind is FailureKind.NOT_FOUND and not root.on_host:
            return Result.skip(Text("no {path}: the host root has no /proc of the node",
                                    path=shown(limits.source)), details=details, env=ENV)
        found.warn(Text("cannot read the limits: {error}", error=shown(limits.error.message)),
                   code="limits_unreadable")
        return found.result("", details=details, env=ENV)
    for name, line in limits.garbage.items():
        found.warn(Text("{name}: cannot read {line} in {path}", name=name,
                        line=repr(shown(line)), path=shown(limits.source)),
                   code="limit_unreadable")

    who = None if root.on_host and pid is None else whose
    memlock = limits.limits.get(MEMLOCK)
    if memlock is not None:
        _judge_memlock(ctx, found, memlock, devices, wanted, rdma_min, plain_min, who)
    nofile = limits.limits.get(NOFILE)
    if nofile is not None:
        _judge_nofile(found, nofile, nofile_min, who)
    said = {"whose": whose, "memlock": _bytes(memlock), "soft": _count(nofile, "soft"),
            "hard": _count(nofile, "hard")}
    summary = (Text("{whose}: memlock {memlock}, nofile soft {soft} / hard {hard}; RDMA: "
                    "{rdma}", **said, rdma=", ".join(devices + wanted)) if devices or wanted
               else Text("{whose}: memlock {memlock}, nofile soft {soft} / hard {hard}", **said))
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
                   wanted: list[str], rdma_min: int, plain_min: int, who: Text | None) -> None:
    soft = memlock.soft
    if soft is None:
        return
    disabled = all(ctx.env.get(v, "").strip() == "1" for v in ("NCCL_IB_DISABLE",
                                                                "MCCL_IB_DISABLE"))
    said = {"soft": _bytes_value(soft), "hard": _bytes_value(memlock.hard)}
    if wanted and soft < rdma_min:
        found.fail(_whose(who, Text(
            "locked memory is limited to {soft} (hard {hard}), but {wanted} asks for RDMA: "
            "registering buffers fails with \"ibv_reg_mr ... Cannot allocate memory\" (needs "
            "at least {minimum}, best unlimited)", **said, wanted=", ".join(wanted),
            minimum=_bytes_value(rdma_min))), MEMLOCK_REMEDY, code="memlock_rdma")
    elif devices and soft < rdma_min:
        report = found.warn if disabled else found.fail
        said["devices"] = ", ".join(devices)
        report(_whose(who, Text(
            "locked memory is limited to {soft} (hard {hard}) on a node with RDMA devices "
            "({devices}): NCCL/MCCL's IB transport fails with \"ibv_reg_mr ... Cannot allocate "
            "memory\" (NCCL_IB_DISABLE=1 and MCCL_IB_DISABLE=1: only other RDMA users are at "
            "risk)", **said) if disabled else Text(
            "locked memory is limited to {soft} (hard {hard}) on a node with RDMA devices "
            "({devices}): NCCL/MCCL's IB transport fails with \"ibv_reg_mr ... Cannot allocate "
            "memory\"", **said)), MEMLOCK_REMEDY, code="memlock_rdma")
    elif soft < plain_min:
        found.warn(_whose(who, Text("locked memory is limited to {soft} (hard {hard}), below "
                                    "{minimum}: pinned host buffers may fail", **said,
                                    minimum=_bytes_value(plain_min))), MEMLOCK_REMEDY,
                   code="memlock_small")


def _judge_nofile(found: Findings, nofile: Limit, nofile_min: int, who: Text | None) -> None:
    soft, hard = nofile.soft, nofile.hard
    if hard is not None and hard < nofile_min and (soft is None or soft < nofile_min):
        found.warn(_whose(who, Text("open files: hard limit {hard} is below {minimum}, so "
                                    "SGLang cannot raise the soft limit ({soft}) to {minimum}: "
                                    "\"Too many open files\" under load", hard=hard,
                                    minimum=nofile_min, soft=soft)),
                   NOFILE_REMEDY, code="nofile_hard_low")


def _whose(who: Text | None, text: Text) -> Text:
    """A finding about another process's limits says whose they are first."""
    return text if who is None else Text("{whose}: {text}", whose=who, text=text)


def _limit_json(limit: Limit) -> dict[str, Any]:
    return {"soft": limit.soft, "hard": limit.hard, "unit": limit.unit}


def _bytes_value(value: int | None) -> str | Text:
    from sgdoctor.parse.verdict import human_bytes

    return Text("unlimited") if value is None else human_bytes(value).split(" (")[0]


def _bytes(limit: Limit | None) -> str | Text:
    return Text("unknown") if limit is None else _bytes_value(limit.soft)


def _count(limit: Limit | None, which: str) -> str | Text:
    if limit is None:
        return Text("unknown")
    value = limit.soft if which == "soft" else limit.hard
    return Text("unlimited") if value is None else str(value)
