"""Free space on the filesystems that will receive downloads and caches: statvfs of a path,
or of its nearest existing parent when the path is yet to be created."""

from __future__ import annotations

import os

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.probe.hostroot import HostRoot, os_failure
from sgdoctor.records import dataclass

__all__ = ["SpaceFacts", "space_at"]


@dataclass(frozen=True)
class SpaceFacts:
    path: str                         # the local path asked about
    measured: str | None = None       # the existing directory statvfs was taken of
    exists: bool = False
    device: int | None = None         # st_dev, to tell filesystems apart
    total_bytes: int | None = None
    free_bytes: int | None = None     # f_bavail: what an unprivileged writer may use
    read_only: bool = False
    error: ProbeError | None = None


def _nearest_existing(path: str) -> tuple[str, bool]:
    probe = path
    while True:
        if os.path.isdir(probe):
            return probe, probe == path
        parent = os.path.dirname(probe)
        if parent == probe:
            return probe, False
        probe = parent


def space_at(root: HostRoot, host_path: str) -> SpaceFacts:
    """Never raises; ``host_path`` is absolute on the node."""
    local = os.path.normpath(root.resolve(host_path))
    if os.path.lexists(local) and not os.path.isdir(local):
        return SpaceFacts(local, error=ProbeError(FailureKind.NOT_A_FILE,
                                                  f"{local}: not a directory"))
    measured, exists = _nearest_existing(local)
    try:
        st = os.stat(measured)
        vfs = os.statvfs(measured)
    except OSError as exc:
        return SpaceFacts(local, measured, exists, error=os_failure(exc, measured))
    return SpaceFacts(local, measured, exists, st.st_dev, vfs.f_blocks * vfs.f_frsize,
                      vfs.f_bavail * vfs.f_frsize, bool(vfs.f_flag & os.ST_RDONLY))
