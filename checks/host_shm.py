"""`host.shm`: /dev/shm as NCCL/MCCL need it — mounted, writable, and big enough for the
segments the node's GPUs will create between each other."""

from __future__ import annotations

from sgdoctor.api import Context, Findings, ProbeError, Result, Text, check
from sgdoctor.parse.verdict import shown

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

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
    from sgdoctor.parse.settings import setting_error, size_setting
    from sgdoctor.probe.hostroot import HostRoot
    from sgdoctor.probe.hostshm import probe_shm

    try:
        per_pair = size_setting(ctx, "per_pair_bytes", PER_PAIR_BYTES)
        multi_min = size_setting(ctx, "multi_gpu_min_bytes", MULTI_GPU_MIN_BYTES)
        floor = size_setting(ctx, "warn_below_bytes", WARN_BELOW_BYTES)
        root = HostRoot.from_options(ctx.options)
    except ValueError as exc:
        return Result.error(setting_error("host.shm", exc), env=ENV)
    except ProbeError as exc:
        return Result.error(Text("--host-root: {error}", error=exc.message), env=ENV)

    gpus, source = _gpu_count(ctx, root)
    need = max(multi_min, gpus * (gpus - 1) * per_pair) if gpus >= 2 else 0
    floor = max(floor, need)
    facts = probe_shm(root, write=root.on_host)
    path = shown(facts.path)
    details: dict[str, Any] = {
        "path": path, "gpus": gpus, "gpus_from": str(source), "required_bytes": need,
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
            return Result.skip(Text("{path} does not exist and no MetaX GPU is visible "
                                    "(nothing here would use shared memory)", path=path),
                               details=details, env=ENV)
        found.fail(Text("{path} does not exist: NCCL/MCCL cannot create their segments",
                        path=path), fix, code="missing")
        return found.result("", details=details, env=ENV)
    if facts.kind != "dir":
        found.fail(Text("{path} is not a directory", path=path), fix, code="not_a_directory")
        return found.result("", details=details, env=ENV)

    _judge_mount(found, facts, path, fix)
    _judge_write(found, facts, path, fix)
    _judge_space(found, facts, path, gpus, source, need, floor, fix)
    size = _size(facts.size_bytes)
    return found.result(Text("{path}: {size}, {free} free, writable; {need}", path=path,
                             size=size, free=_size(facts.free_bytes),
                             need=_need_text(gpus, source, need)) if facts.write_tested else
                        Text("{path}: {size}, {free} free, not write-tested under --host-root; "
                             "{need}", path=path, size=size, free=_size(facts.free_bytes),
                             need=_need_text(gpus, source, need)), details=details, env=ENV)


def _gpu_count(ctx: Context, root: HostRoot) -> tuple[int, str | Text]:
    """GPUs that will share this node's /dev/shm, and what said so."""
    from sgdoctor.parse.maca import parse_visible_devices
    from sgdoctor.probe.maca import device_nodes

    tp = ctx.options.get("tp_size")
    if isinstance(tp, int) and not isinstance(tp, bool) and tp >= 1:
        nnodes = ctx.options.get("nnodes", 1)
        if not isinstance(nnodes, int) or isinstance(nnodes, bool) or nnodes < 1:
            nnodes = 1
        per_node = -(-tp // nnodes)
        return per_node, (Text("--tp-size {tp} over {nodes} nodes", tp=tp, nodes=nnodes)
                          if nnodes > 1 else f"--tp-size {tp}")
    visible = ctx.env.get("MACA_VISIBLE_DEVICES")
    if visible is not None:
        parsed = parse_visible_devices(visible)
        count = 0 if parsed.empty else len(set(parsed.indices)) + len(set(parsed.uuids))
        return count, "MACA_VISIBLE_DEVICES"
    nodes = device_nodes(root.root)
    if nodes.mxcd.kind != "missing":
        return len(nodes.render), Text("render nodes beside {path}", path="/dev/mxcd")
    return 0, Text("no MetaX GPU found")


def _need_text(gpus: int, source: str | Text, need: int) -> Text:
    if gpus < 2:
        return Text("{gpus} GPU(s) ({source}): no GPU-to-GPU segments needed", gpus=gpus,
                    source=source)
    return Text("{gpus} GPUs ({source}) need at least {size}", gpus=gpus, source=source,
                size=_size(need))


def _size(value: int | None) -> str | Text:
    from sgdoctor.parse.verdict import approx_bytes

    return Text("unknown size") if value is None else approx_bytes(value)


def _remedy(size: int) -> Text:
    gib = max(1, -(-size // GIB))
    return Text.join("\n", [
        f"docker run --shm-size={gib}g ...",
        Text("Kubernetes: {volumes} and {mounts}",
             volumes=f"volumes: [{{name: dshm, emptyDir: {{medium: Memory, sizeLimit: "
                     f"{gib}Gi}}}}]",
             mounts="volumeMounts: [{name: dshm, mountPath: /dev/shm}]"),
        Text("on the host itself: {command}", command=f"mount -o remount,size={gib}G /dev/shm")])


def _judge_mount(found: Findings, facts: ShmFacts, path: str, fix: Text) -> None:
    if facts.mount_error is not None:
        found.warn(Text("cannot read the mount table ({error}): the filesystem of /dev/shm is "
                        "not verified", error=shown(facts.mount_error.message)),
                   code="mountinfo_unreadable")
    elif facts.mount is None:
        found.warn(Text("no mount holds {path} in the mount table", path=path),
                   code="not_mounted")
    elif not facts.own_mount:
        found.warn(Text("{path} is not a mount of its own: segments land on {mount} "
                        "({fstype}), which competes with everything else there", path=path,
                        mount=shown(facts.mount.mount_point), fstype=shown(facts.mount.fstype)),
                   fix, code="not_own_mount")
    elif facts.mount.fstype != "tmpfs":
        found.warn(Text("{path} is {fstype}, not tmpfs: segments are not in memory", path=path,
                        fstype=shown(facts.mount.fstype)), fix, code="not_tmpfs")
    if not facts.visible:
        found.warn(Text("{path} is not the node's /dev/shm: the mount table names a tmpfs "
                        "there, but this directory is another filesystem (mount the node's / "
                        "with mountPropagation: HostToContainer)", path=path),
                   code="not_visible")
    if facts.mount is not None and facts.own_mount and facts.mount.read_only:
        found.fail(Text("{path} is mounted read-only", path=path), fix, code="read_only")


def _judge_write(found: Findings, facts: ShmFacts, path: str, fix: Text) -> None:
    import errno

    from sgdoctor.api import FailureKind

    error = facts.write_error
    if error is None:
        return
    said = {"path": path, "error": shown(error.message)}
    if facts.write_errno == errno.ENOSPC:
        found.fail(Text("{path} is full: allocating 1 MiB there failed ({error})", **said),
                   fix, code="no_space")
    elif facts.write_errno == errno.EROFS:
        if not any(f.code == "read_only" for f in found):
            found.fail(Text("{path} is read-only ({error})", **said), fix, code="read_only")
    elif error.kind is FailureKind.PERMISSION:
        found.fail(Text("this user cannot create files in {path} ({error})", **said),
                   Text("{command} (it must be world-writable with the sticky bit)",
                        command=f"chmod 1777 {path}"), code="not_writable")
    else:
        found.fail(Text("creating a segment in {path} failed: {error}", **said), fix,
                   code="write_failed")


def _judge_space(found: Findings, facts: ShmFacts, path: str, gpus: int, source: str | Text,
                 need: int, floor: int, fix: Text) -> None:
    size, free = facts.size_bytes, facts.free_bytes
    if size is None or free is None:
        reason = shown(facts.space_error.message) if facts.space_error else Text("unknown")
        found.warn(Text("cannot read the size of {path} ({reason})", path=path, reason=reason),
                   code="size_unknown")
        return
    said = {"path": path, "size": _size(size), "free": _size(free), "floor": _size(floor),
            "need": _need_text(gpus, source, need)}
    if need and size < need:
        found.fail(Text("{path} is only {size}: {need} (NCCL/MCCL fail with \"Error while "
                        "creating shared memory segment\")", **said), fix, code="too_small")
    elif need and free < need:
        stale = Text("{command}  (stale nccl-* segments of a crashed run can be removed)",
                     command=f"ls -la {path}")
        found.fail(Text("{path} has only {free} free of {size}; {count} nccl-*/mccl-* "
                        "segment(s) hold {held}: {need}", **said, count=facts.segments,
                        held=_size(facts.segment_bytes)) if facts.segments else
                   Text("{path} has only {free} free of {size}: {need}", **said),
                   Text.join("\n", [fix, stale]), code="low_free")
    elif size < floor:
        found.warn(Text("{path} is only {size} (below {floor}): PyTorch and SGLang worker "
                        "processes share tensors through it too", **said), fix, code="small")
    elif free < floor:
        found.warn(Text("{path} has only {free} free of {size} (below {floor})", **said),
                   Text("{command}  (something is filling it)", command=f"ls -la {path}"),
                   code="little_free")
