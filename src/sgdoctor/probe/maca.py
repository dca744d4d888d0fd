"""Host probes for the MACA stack: the SDK tree, device nodes, a C compiler, `mx-smi`.

Everything here only looks (stat, access, a capped read) except :func:`run_bounded`, which
runs one command in its own process group and kills the whole group when it is late —
a hung `mx-smi` must not outlive the check, nor its children.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping

from sgdoctor.errors import FailureKind
from sgdoctor.probe import files
from sgdoctor.probe.accounts import group_name
from sgdoctor.probe.process import RunResult, os_error, run_bounded
from sgdoctor.records import dataclass, field

__all__ = [
    "FileText", "read_head", "Entry", "path_entry", "SdkLayout", "sdk_layout",
    "Compiler", "find_c_compiler", "which", "Node", "inspect_node", "DeviceNodes",
    "device_nodes", "find_mx_smi", "RunResult", "run_bounded",
]

VERSION_FILE_CAP = 64 * 1024
SDK_TOOLS = ("mxgpu_llvm/bin/mxcc", "mxgpu_llvm/bin/ld.lld")


# --------------------------------------------------------------------------------------
# Files


@dataclass(frozen=True)
class FileText:
    """The head of a small text file, or why it could not be read: ``kind`` to judge on,
    ``problem`` in words to quote ("missing", "not a regular file", the OS's words)."""

    text: str | None = None
    problem: str | None = None
    kind: FailureKind | None = None
    undecodable: bool = False       # not valid UTF-8 (shown with U+FFFD replacements)
    truncated: bool = False         # larger than the cap: only the head was read


def read_head(path: str, cap: int = VERSION_FILE_CAP) -> FileText:
    """Read at most ``cap`` bytes of a regular file, never blocking on a FIFO or device."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return FileText(problem="missing", kind=FailureKind.NOT_FOUND)
    except PermissionError as exc:
        return FileText(problem=os_error(exc), kind=FailureKind.PERMISSION)
    except OSError as exc:
        return FileText(problem=os_error(exc), kind=FailureKind.IO)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return FileText(problem="not a regular file", kind=FailureKind.NOT_A_FILE)
        chunks: list[bytes] = []
        left = cap + 1
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        return FileText(problem=os_error(exc), kind=FailureKind.IO)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    truncated = len(data) > cap
    data = data[:cap]
    try:
        return FileText(text=data.decode("utf-8"), truncated=truncated)
    except UnicodeDecodeError as exc:
        # A cut in the middle of a multi-byte character at the cap is not the file's fault.
        if truncated and exc.start >= len(data) - 3:
            return FileText(text=data[:exc.start].decode("utf-8"), truncated=True)
        return FileText(text=data.decode("utf-8", "replace"), undecodable=True,
                        truncated=truncated)



@dataclass(frozen=True)
class Entry:
    """What a path is once symlinks are followed, as the program opening it would see it."""

    path: str
    exists: bool
    is_dir: bool = False
    is_file: bool = False
    executable: bool = False
    broken_link: bool = False


def path_entry(path: str) -> Entry:
    """What is at ``path`` (following symlinks), and whether we may execute it."""
    try:
        st = os.stat(path)
    except OSError:
        return Entry(path, exists=False, broken_link=os.path.islink(path))
    is_file = stat.S_ISREG(st.st_mode)
    return Entry(path, exists=True, is_dir=stat.S_ISDIR(st.st_mode), is_file=is_file,
                 executable=is_file and os.access(path, os.X_OK))


# --------------------------------------------------------------------------------------
# The SDK tree


@dataclass(frozen=True)
class SdkLayout:
    """What MetaX Triton and mcoplib need from ``$MACA_PATH``."""

    path: str
    root: Entry
    real_path: str | None = None
    via_symlink: bool = False
    dirs: Mapping[str, Entry] = field(default_factory=dict)     # lib, include
    tools: Mapping[str, Entry] = field(default_factory=dict)    # mxcc, ld.lld
    version: FileText = FileText(problem="missing", kind=FailureKind.NOT_FOUND)


def sdk_layout(path: str) -> SdkLayout:
    """Look at the pieces of the SDK by name (no directory listing: SDK trees are large)."""
    root = path_entry(path)
    if not root.is_dir:
        return SdkLayout(path, root)
    real = os.path.realpath(path)
    return SdkLayout(
        path=path,
        root=root,
        real_path=real,
        via_symlink=real != os.path.abspath(path),
        dirs={name: path_entry(os.path.join(path, name)) for name in ("lib", "include")},
        tools={rel: path_entry(os.path.join(path, rel)) for rel in SDK_TOOLS},
        version=read_head(os.path.join(path, "Version.txt")),
    )


# --------------------------------------------------------------------------------------
# Programs on PATH


def which(name: str, env: Mapping[str, str]) -> str | None:
    """shutil.which against the snapshot's PATH, not this process's."""
    return files.which(name, env.get("PATH", os.defpath))


@dataclass(frozen=True)
class Compiler:
    """The C compiler Triton would pick for its run-time launcher builds."""

    source: str             # "CC", "gcc", "clang", or "none"
    command: str | None     # what Triton would run
    path: str | None        # where that command resolves, None when it does not
    plain_cc: str | None = None   # a `cc` on PATH, which Triton never tries by itself


def find_c_compiler(env: Mapping[str, str]) -> Compiler:
    """Pick the compiler the way Triton's runtime/build.py does.

    ``CC`` when set (used as is, even if it names nothing runnable), else ``gcc``, else
    ``clang``; plain ``cc`` is never tried. That mcTriton keeps upstream's rule is
    UNCONFIRMED (its build.py is not public in the form we read).
    """
    cc = env.get("CC")
    if cc is not None:
        return Compiler("CC", cc, which(cc, env) if cc else None)
    for name in ("gcc", "clang"):
        found = which(name, env)
        if found:
            return Compiler(name, name, found)
    return Compiler("none", None, None, plain_cc=which("cc", env))


# --------------------------------------------------------------------------------------
# Device nodes


@dataclass(frozen=True)
class Node:
    """A device node as this process sees it: its type, and whether it may open it."""

    path: str
    kind: str                       # "char", "block", "file", "dir", "other", "missing"
    rdev: tuple[int, int] | None = None
    group: str | None = None        # the node's group, by name when known
    readwrite: bool = False
    in_group: bool = False          # this process is a member of the node's group


def inspect_node(path: str) -> Node:
    """os.access, not the mode bits: it accounts for root, groups and read-only mounts."""
    try:
        st = os.stat(path)
    except OSError:
        return Node(path, "missing")
    mode = st.st_mode
    kind = ("char" if stat.S_ISCHR(mode) else "block" if stat.S_ISBLK(mode)
            else "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "other")
    rdev = (os.major(st.st_rdev), os.minor(st.st_rdev)) if kind in ("char", "block") else None
    groups = set(os.getgroups()) | {os.getegid()}
    return Node(path, kind, rdev, group_name(st.st_gid),
                readwrite=os.access(path, os.R_OK | os.W_OK), in_group=st.st_gid in groups)



@dataclass(frozen=True)
class DeviceNodes:
    mxcd: Node
    render: tuple[Node, ...]
    dri_exists: bool


def device_nodes(root: str) -> DeviceNodes:
    """/dev/mxcd and /dev/dri/renderD* under ``root`` (``/`` on a real host)."""
    dev = os.path.join(root, "dev")
    dri = os.path.join(dev, "dri")
    try:
        names = sorted(n for n in os.listdir(dri) if n.startswith("renderD"))
    except OSError:
        names = []
    return DeviceNodes(inspect_node(os.path.join(dev, "mxcd")),
                       tuple(inspect_node(os.path.join(dri, n)) for n in names),
                       os.path.isdir(dri))


def find_mx_smi(env: Mapping[str, str], driver_dir: str) -> str | None:
    """mx-smi on PATH, else in the driver's bin directory (images often leave it off PATH)."""
    found = which("mx-smi", env)
    if found:
        return found
    candidate = os.path.join(driver_dir, "bin", "mx-smi")
    entry = path_entry(candidate)
    return candidate if entry.executable else None


