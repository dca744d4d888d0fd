"""Host paths under a root: ``--host-root DIR`` (config key ``host_root``), as node_exporter's
``--path.rootfs`` does, so a DaemonSet that mounts the node's / at /host inspects the node and
a test can point the host checks at a prepared tree.

Every host-resource check reads /proc, /sys, /dev and /etc through one :class:`HostRoot`
taken from ``ctx.options["host_root"]`` (default "/"). Reads never block (a FIFO planted at a
path is refused, not waited on), never read without bound, and fail with a typed
:class:`ProbeError` whose kind says why.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.probe.files import NotRegular, TooLarge, open_nonblocking, read_regular
from sgdoctor.records import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["HostRoot", "READ_CAP", "os_failure"]

READ_CAP = 1 << 20   # /proc and /sys files are small; a bigger one is not what we expect


def os_failure(exc: OSError, what: str) -> ProbeError:
    """An OSError as a typed probe failure that names the file."""
    code = exc.errno
    if code in (errno.ENOENT, errno.ENOTDIR):
        kind = FailureKind.NOT_FOUND
    elif code in (errno.EACCES, errno.EPERM):
        kind = FailureKind.PERMISSION
    elif code == errno.EISDIR:
        kind = FailureKind.NOT_A_FILE
    else:
        kind = FailureKind.IO
    return ProbeError(kind, f"{what}: {exc.strerror or exc}")


@dataclass(frozen=True)
class HostRoot:
    """Where the node's / is seen from this process ("/" when sgdoctor runs on the node)."""

    root: str = "/"

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> HostRoot:
        """The root named by ``options["host_root"]``; raises ProbeError(INVALID or
        NOT_FOUND) when it is not a usable directory."""
        value = options.get("host_root") or "/"
        if not isinstance(value, str) or "\0" in value:
            raise ProbeError(FailureKind.INVALID, f"host root {value!r} is not a path")
        root = os.path.normpath(os.path.abspath(value))
        if not os.path.isdir(root):
            raise ProbeError(FailureKind.NOT_FOUND, f"host root {value} is not a directory")
        return cls(root)

    @property
    def on_host(self) -> bool:
        """True when the root is this process's own / (no prefix)."""
        return self.root == "/"

    @property
    def pid(self) -> str:
        """The /proc entry that stands for "the node": this process on the node itself,
        pid 1 of the node's /proc under another root (/proc/self there would be us)."""
        return "self" if self.on_host else "1"

    def path(self, host_path: str) -> str:
        """The local path of an absolute path on the node."""
        if not host_path.startswith("/"):
            raise ValueError(f"host path must be absolute: {host_path!r}")
        return host_path if self.on_host else self.root + host_path

    def resolve(self, host_path: str) -> str:
        """The local path of a node path with its symlinks followed INSIDE the root, as the
        node would follow them (an absolute link such as /dev/shm -> /run/shm points into
        the node's tree, not ours). Missing parts are kept as they are; never raises."""
        if self.on_host:
            return host_path
        parts = [p for p in host_path.split("/") if p]
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == ".":
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            local = self.root + "/" + "/".join([*done, part])
            try:
                target = os.readlink(local)
            except OSError:              # not a link, or missing: keep it
                done.append(part)
                continue
            hops += 1
            if hops > 40:                # ELOOP, as the kernel gives up
                done.append(part)
                continue
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
        return self.root + "/" + "/".join(done) if done else self.root

    def proc_self(self, name: str) -> str:
        """``/proc/<node pid>/<name>`` under the root."""
        return self.path(f"/proc/{self.pid}/{name}")

    def read_text(self, host_path: str, cap: int = READ_CAP) -> str:
        """A small text file of the node; ProbeError NOT_FOUND, PERMISSION, NOT_A_FILE (FIFO,
        device, directory), TOO_LARGE or IO. Undecodable bytes are kept as surrogates."""
        local = self.path(host_path)
        try:
            data = read_regular(open_nonblocking(local), cap)
        except OSError as exc:
            raise os_failure(exc, local) from None
        except NotRegular:
            raise ProbeError(FailureKind.NOT_A_FILE, f"{local}: not a regular file") from None
        except TooLarge:
            raise ProbeError(FailureKind.TOO_LARGE, f"{local}: larger than {cap} bytes") from None
        return data.decode("utf-8", "surrogateescape")

    def listdir(self, host_path: str) -> list[str]:
        """Sorted entry names of a node directory; ProbeError NOT_FOUND, NOT_A_FILE (it is
        not a directory), PERMISSION or IO."""
        local = self.path(host_path)
        try:
            return sorted(os.listdir(local))
        except NotADirectoryError:
            if os.path.lexists(local):
                raise ProbeError(FailureKind.NOT_A_FILE, f"{local}: not a directory") from None
            raise ProbeError(FailureKind.NOT_FOUND, f"{local}: not found") from None
        except OSError as exc:
            raise os_failure(exc, local) from None

    def exists(self, host_path: str) -> bool:
        """Whether anything (a dangling symlink included) is at the node path."""
        return os.path.lexists(self.path(host_path))
