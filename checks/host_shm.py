"""`host.shm`: /dev/shm as NCCL/MCCL need it — mounted, writable, and big enough for the
segments the node's GPUs will create between each other."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sgdoctor.api import Context, Findings, ProbeError, Result, check
from sgdoctor.parse.verdict import shown

if TYPE_CHECKING:
    from sgdoctor.probe.hostroot import HostRoot
    from sgdoctor.probe.hostshm import ShmFacts

ENV = ("MACA_VISIBLE_DEVICES",)
MIB, GIB = 1 << 20, 1 << 30
PER_PAIR_BYTES = 32 * MIB          # 7-10 MB seen per segment; several communicators per pair
MULTI_GPU_MIN_BYTES = 1 * GIB      # NVIDIA's own container guidance: --shm-size=1g at least
WARN_BELOW_BYTES = 4 * GIB         # generous floor: SGLang's examples use --shm-size 32g


@check("host.shm", title="Shared memory (/dev/shm)", env=ENV, timeout=5.0, tags=("host",),
       settings=dict.fromkeys(("per_pair_bytes", "multi_gpu_min_bytes", "warn_below_bytes"),
                              (int, str)))
def host_shm(ctx: Context) -> Result:
    """NCCL and MCCL put a shared-memory segment in /dev/shm for every pair of GPUs on the
    node that talk over it (segments of 7-10 MB each are reported); when one cannot be made
    the run dies with "Error while creating shared memory segment /dev/shm/nccl-...".
    Docker gives containers a 64 MB /dev/shm by default, which fails at two GPUs already.

    The check finds the mount holding /dev/shm (mountinfo), creates and allocates a real
    1 MiB file there and removes it (not under --host-root: that view of the node is a
    monitor's, read-only), then compares size and free space with what the node's
    GPU count needs: the TP size when the launch command is known, else MACA_VISIBLE_DEVICES,
    else the render nodes beside /dev/mxcd.

    Settings: per_pair_bytes (32 MiB per ordered GPU pair), multi_gpu_min_bytes (1 GiB,
    the least for two or more GPUs), warn_below_bytes (4 GiB). Sizes take units ("8GiB").
    """
    from sgdoctor.parse.settings import size_setting
    from sgdoctor.probe.hostroot import HostRoot
    from sgdoctor.probe.hostshm import probe_shm

    try:
        per_pair = size_setting(ctx, "per_pair_bytes", PER_PAIR_BYTES)
        multi_min = size_setting(ctx, "multi_gpu_min_bytes", MULTI_GPU_MIN_BYTES)
        floor = size_setting(ctx, "warn_below_bytes", WARN_BELOW_BYTES)
        root = HostRoot.from_options(ctx.options)
    except ValueError as exc:
        return Result.error(f'[checks."host.shm"] {exc}', env=ENV)
    except ProbeError as exc:
        return Result.error(f"--host-root: {exc.message}", env=ENV)

    gpus, source = _gpu_count(ctx, root)
    need = max(multi_min, gpus * (gpus - 1) * per_pair) if gpus >= 2 else 0
    floor = max(floor, need)
    facts = probe_shm(root, write=root.on_host)
    path = shown(facts.path)
    details: dict[str, Any] = {
        "path": path, "gpus": gpus, "gpus_from": source, "required_bytes": need,
        "warn_below_bytes": floor, "size_bytes": facts.size_bytes,
        "free_bytes": facts.free_bytes, "kind": facts.kind,
        "mount": None if facts.mount is None else {
            "mount_point": shown(facts.mount.mount_point), "fstype": shown(facts.mount.fstype),
            "read_only": facts.mount.read_only},
        "write_tested": facts.write_tested,
        "segments": {"count": facts.segments, "bytes": facts.segment_bytes},
    }
    fix = _remedy(max(floor, need))
    found = Findings()
    if facts.kind == "missing":
        if gpus == 0:
            return Result.skip(f"{path} does not exist and no MetaX GPU is visible "
                               "(nothing here would use shared memory)", details=details, env=ENV)
        found.fail(f"{path} does not exist: NCCL/MCCL cannot create their segments", fix,
                   code="missing")
        return found.result("", details=details, env=ENV)
    if facts.kind != "dir":
        found.fail(f"{path} is not a directory", fix, code="not_a_directory")
        return found.result("", details=details, env=ENV)

    _judge_mount(found, facts, path, fix)
    _judge_write(found, facts, path, fix)
    _judge_space(found, facts, path, gpus, source, need, floor, fix)
    size = _size(facts.size_bytes)
    written = "writable" if facts.write_tested else "not write-tested under --host-root"
    return found.result(f"{path}: {size}, {_size(facts.free_bytes)} free, {written}; "
                        f"{_need_text(gpus, source, need)}", details=details, env=ENV)


def _gpu_count(ctx: Context, root: HostRoot) -> tuple[int, str]:
    """GPUs that will share this node's /dev/shm, and what said so."""
    from sgdoctor.parse.maca import parse_visible_devices
    from sgdoctor.probe.maca import device_nodes

    tp = ctx.options.get("tp_size")
    if isinstance(tp, int) and not isinstance(tp, bool) and tp >= 1:
        nnodes = ctx.options.get("nnodes", 1)
        if not isinstance(nnodes, int) or isinstance(nnodes, bool) or nnodes < 1:
            nnodes = 1
        per_node = -(-tp // nnodes)
        return per_node, f"--tp-size {tp}" + (f" over {nnodes} nodes" if nnodes > 1 else "")
    visible = ctx.env.get("MACA_VISIBLE_DEVICES")
    if visible is not None:
        parsed = parse_visible_devices(visible)
        count = 0 if parsed.empty else len(set(parsed.indices)) + len(set(parsed.uuids))
        return count, "MACA_VISIBLE_DEVICES"
    nodes = device_nodes(root.root)
    if nodes.mxcd.kind != "missing":
        return len(nodes.render), "render nodes beside /dev/mxcd"
    return 0, "no MetaX GPU found"


def _need_text(gpus: int, source: str, need: int) -> str:
    if gpus < 2:
        return f"{gpus} GPU(s) ({source}): no GPU-to-GPU segments needed"
    return f"{gpus} GPUs ({source}) need at least {_size(need)}"


def _size(value: int | None) -> str:
    from sgdoctor.parse.verdict import approx_bytes

    return "unknown size" if value is None else approx_bytes(value)


def _remedy(size: int) -> str:
    gib = max(1, -(-size // GIB))
    return (f"docker run --shm-size={gib}g ...\n"
            f"Kubernetes: volumes: [{{name: dshm, emptyDir: {{medium: Memory, sizeLimit: "
            f"{gib}Gi}}}}] and volumeMounts: [{{name: dshm, mountPath: /dev/shm}}]\n"
            f"on the host itself: mount -o remount,size={gib}G /dev/shm")


def _judge_mount(found: Findings, facts: ShmFacts, path: str, fix: str) -> None:
    if facts.mount_error is not None:
        found.warn(f"cannot read the mount table ({shown(facts.mount_error.message)}): "
                   "the filesystem of /dev/shm is not verified", code="mountinfo_unreadable")
    elif facts.mount is None:
        found.warn(f"no mount holds {path} in the mount table", code="not_mounted")
    elif not facts.own_mount:
        found.warn(f"{path} is not a mount of its own: segments land on "
                   f"{shown(facts.mount.mount_point)} ({shown(facts.mount.fstype)}), "
                   "which competes with everything else there", fix, code="not_own_mount")
    elif facts.mount.fstype != "tmpfs":
        found.warn(f"{path} is {shown(facts.mount.fstype)}, not tmpfs: segments are not "
                   "in memory", fix, code="not_tmpfs")
    if not facts.visible:
        found.warn(f"{path} is not the node's /dev/shm: the mount table names a tmpfs there, "
                   "but this directory is another filesystem (mount the node's / with "
                   "mountPropagation: HostToContainer)", code="not_visible")
    if facts.mount is not None and facts.own_mount and facts.mount.read_only:
        found.fail(f"{path} is mounted read-only", fix, code="read_only")


def _judge_write(found: Findings, facts: ShmFacts, path: str, fix: str) -> None:
    import errno

    from sgdoctor.api import FailureKind

    error = facts.write_error
    if error is None:
        return
    if facts.write_errno == errno.ENOSPC:
        found.fail(f"{path} is full: allocating 1 MiB there failed ({shown(error.message)})",
                   fix, code="no_space")
    elif facts.write_errno == errno.EROFS:
        if not any(f.code == "read_only" for f in found):
            found.fail(f"{path} is read-only ({shown(error.message)})", fix, code="read_only")
    elif error.kind is FailureKind.PERMISSION:
        found.fail(f"this user cannot create files in {path} ({shown(error.message)})",
                   f"chmod 1777 {path} (it must be world-writable with the sticky bit)",
                   code="not_writable")
    else:
        found.fail(f"creating a segment in {path} failed: {shown(error.message)}", fix,
                   code="write_failed")


def _judge_space(found: Findings, facts: ShmFacts, path: str, gpus: int, source: str, need: int,
                 floor: int, fix: str) -> None:
    size, free = facts.size_bytes, facts.free_bytes
    if size is None or free is None:
        reason = shown(facts.space_error.message) if facts.space_error else "unknown"
        found.warn(f"cannot read the size of {path} ({reason})", code="size_unknown")
        return
    if need and size < need:
        found.fail(f"{path} is only {_size(size)}: {_need_text(gpus, source, need)} "
                   "(NCCL/MCCL fail with \"Error while creating shared memory segment\")",
                   fix, code="too_small")
    elif need and free < need:
        held = (f"; {facts.segments} nccl-*/mccl-* segment(s) hold "
                f"{_size(facts.segment_bytes)}" if facts.segments else "")
        found.fail(f"{path} has only {_size(free)} free of {_size(size)}{held}: "
                   f"{_need_text(gpus, source, need)}", fix + f"\nls -la {path}  "
                   "(stale nccl-* segments of a crashed run can be removed)", code="low_free")
    elif size < floor:
        found.warn(f"{path} is only {_size(size)} (below {_size(floor)}): PyTorch and "
                   "SGLang worker processes share tensors through it too", fix, code="small")
    elif free < floor:
        found.warn(f"{path} has only {_size(free)} free of {_size(size)} (below "
                   f"{_size(floor)})", f"ls -la {path}  (something is filling it)",
                   code="little_free")
