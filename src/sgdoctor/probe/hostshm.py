"""Facts about /dev/shm as NCCL/MCCL will use it: the mount holding it, its size and free
space, and whether a real segment can be created there (created, allocated, removed).

NCCL creates its segments with open(O_CREAT) + posix_fallocate in /dev/shm, so the write
probe does the same: fallocate makes tmpfs reserve the pages, which is what fails first on a
full or tiny /dev/shm ("No space left on device" is a fact here, not a guess).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.parse.mountinfo import MountEntry, mount_for, parse_mountinfo
from sgdoctor.probe.hostroot import HostRoot, os_failure
from sgdoctor.records import dataclass

__all__ = ["ShmFacts", "probe_shm", "SHM_PATH", "PROBE_BYTES"]

SHM_PATH = "/dev/shm"
PROBE_BYTES = 1 << 20


@dataclass(frozen=True)
class ShmFacts:
    path: str                            # the local path probed
    node_path: str                       # the same path on the node, symlinks followed
    kind: str                            # "dir", "missing", "other" (a file, FIFO, ...)
    mount: MountEntry | None = None      # the mount holding the path, by mountinfo
    mount_error: ProbeError | None = None
    size_bytes: int | None = None
    free_bytes: int | None = None
    space_error: ProbeError | None = None
    write_error: ProbeError | None = None
    write_errno: int | None = None       # errno of the failed write probe (ENOSPC, EROFS, ...)
    write_tested: bool = False
    device: tuple[int, int] | None = None  # major, minor of the directory actually probed
    segments: int = 0                    # nccl-*/mccl-* files already there
    segment_bytes: int = 0

    @property
    def own_mount(self) -> bool:
        return self.mount is not None and self.mount.mount_point == self.node_path

    @property
    def visible(self) -> bool:
        """False when the directory probed is not the mount the table names (under
        --host-root: the node's /dev/shm is not propagated into this container)."""
        return not (self.own_mount and self.mount is not None and self.device is not None
                    and self.mount.device != self.device)


def _mount(root: HostRoot, node_path: str) -> tuple[MountEntry | None, ProbeError | None]:
    try:
        text = root.read_text(f"/proc/{root.pid}/mountinfo")
    except ProbeError as exc:
        return None, exc
    entries = parse_mountinfo(text)
    if not entries:
        return None, ProbeError(FailureKind.INVALID, f"{root.proc_self('mountinfo')}: "
                                "no mount line could be read")
    return mount_for(entries, node_path), None


def _write_probe(path: str, size: int) -> tuple[ProbeError | None, int | None]:
    name = os.path.join(path, f".sgdoctor-shm-{os.getpid()}-{os.urandom(4).hex()}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, 0o600)
    except OSError as exc:
        return os_failure(exc, f"creating a file in {path}"), exc.errno
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        return os_failure(exc, f"allocating {size} bytes in {path}"), exc.errno
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name)
    return None, None


def probe_shm(root: HostRoot, *, write: bool = True,
              probe_bytes: int = PROBE_BYTES) -> ShmFacts:
    """Never raises: every failure is in the facts. ``write=False`` skips the segment probe
    (a monitoring pod's view of the node is read-only, and the node's /dev/shm not its own)."""
    path = root.resolve(SHM_PATH)
    node_path = path if root.on_host else path[len(root.root):] or "/"
    mount, mount_error = _mount(root, node_path)
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return ShmFacts(path, node_path, "missing", mount, mount_error)
        return ShmFacts(path, node_path, "other", mount, mount_error,
                        space_error=os_failure(exc, path))
    if not stat.S_ISDIR(st.st_mode):
        return ShmFacts(path, node_path, "other", mount, mount_error)
    size = free = None
    space_error = None
    try:
        vfs = os.statvfs(path)
        size, free = vfs.f_blocks * vfs.f_frsize, vfs.f_bavail * vfs.f_frsize
    except OSError as exc:
        space_error = os_failure(exc, path)
    write_error, write_errno = _write_probe(path, probe_bytes) if write else (None, None)
    segments, segment_bytes = _segments(path)
    return ShmFacts(path, node_path, "dir", mount, mount_error, size, free, space_error,
                    write_error, write_errno, write_tested=write,
                    device=(os.major(st.st_dev), os.minor(st.st_dev)),
                    segments=segments, segment_bytes=segment_bytes)


def _segments(path: str, limit: int = 10_000) -> tuple[int, int]:
    """How many NCCL/MCCL segments are there and the bytes they hold (bounded scan)."""
    count = size = 0
    try:
        with os.scandir(path) as entries:
            for n, entry in enumerate(entries):
                if n >= limit:
                    break
                if entry.name.startswith(("nccl-", "mccl-")):
                    with contextlib.suppress(OSError):
                        size += entry.stat(follow_symlinks=False).st_blocks * 512
                        count += 1
    except OSError:
        pass
    return count, size
