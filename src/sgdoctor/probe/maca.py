"""Host probes for the MACA stack: the SDK tree, device nodes, a C compiler, `mx-smi`.

Everything here only looks (stat, access, a capped read) except :func:`run_bounded`, which
runs one command in its own process group and kills the whole group when it is late —
a hung `mx-smi` must not outlive the check, nor its children.
"""

from __future__ import annotations

import errno
import os
import selectors
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "shown", "FileText", "read_head", "Entry", "inspect", "SdkLayout", "sdk_layout",
    "Compiler", "find_c_compiler", "which", "Node", "inspect_node", "DeviceNodes",
    "device_nodes", "find_mx_smi", "RunResult", "run_bounded",
]

VERSION_FILE_CAP = 64 * 1024
SDK_TOOLS = ("mxgpu_llvm/bin/mxcc", "mxgpu_llvm/bin/ld.lld")


def shown(path: str) -> str:
    """A path fit for a message: undecodable bytes (surrogateescape'd) as \\xNN escapes."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# --------------------------------------------------------------------------------------
# Files


@dataclass(frozen=True)
class FileText:
    """The head of a small text file, or why it could not be read."""

    text: str | None = None
    problem: str | None = None      # "missing", "not a regular file", an OS error, ...
    undecodable: bool = False       # not valid UTF-8 (shown with U+FFFD replacements)
    truncated: bool = False         # larger than the cap: only the head was read


def read_head(path: str, cap: int = VERSION_FILE_CAP) -> FileText:
    """Read at most ``cap`` bytes of a regular file, never blocking on a FIFO or device."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return FileText(problem="missing")
    except OSError as exc:
        return FileText(problem=_os_error(exc))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return FileText(problem="not a regular file")
        chunks: list[bytes] = []
        left = cap + 1
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        return FileText(problem=_os_error(exc))
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


def _os_error(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, "") or type(exc).__name__


@dataclass(frozen=True)
class Entry:
    """What a path is, without following it further than stat() does."""

    path: str
    exists: bool
    is_dir: bool = False
    is_file: bool = False
    executable: bool = False
    broken_link: bool = False


def inspect(path: str) -> Entry:
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
    version: FileText = FileText(problem="missing")


def sdk_layout(path: str) -> SdkLayout:
    root = inspect(path)
    if not root.is_dir:
        return SdkLayout(path, root)
    real = os.path.realpath(path)
    return SdkLayout(
        path=path,
        root=root,
        real_path=real,
        via_symlink=real != os.path.abspath(path),
        dirs={name: inspect(os.path.join(path, name)) for name in ("lib", "include")},
        tools={rel: inspect(os.path.join(path, rel)) for rel in SDK_TOOLS},
        version=read_head(os.path.join(path, "Version.txt")),
    )


# --------------------------------------------------------------------------------------
# Programs on PATH


def which(name: str, env: Mapping[str, str]) -> str | None:
    """shutil.which against the snapshot's PATH, not this process's."""
    return shutil.which(name, path=env.get("PATH", os.defpath))


@dataclass(frozen=True)
class Compiler:
    source: str             # "CC", "gcc", "clang", or "none"
    command: str | None     # what Triton would run
    path: str | None        # where that command resolves, None when it does not


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
    return Compiler("none", None, None)


# --------------------------------------------------------------------------------------
# Device nodes


@dataclass(frozen=True)
class Node:
    path: str
    kind: str                       # "char", "block", "file", "dir", "other", "missing"
    rdev: tuple[int, int] | None = None
    group: str | None = None        # the node's group, by name when known
    readwrite: bool = False
    in_group: bool = False          # this process is a member of the node's group


def inspect_node(path: str) -> Node:
    try:
        st = os.stat(path)
    except OSError:
        return Node(path, "missing")
    mode = st.st_mode
    kind = ("char" if stat.S_ISCHR(mode) else "block" if stat.S_ISBLK(mode)
            else "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "other")
    rdev = (os.major(st.st_rdev), os.minor(st.st_rdev)) if kind in ("char", "block") else None
    groups = set(os.getgroups()) | {os.getegid()}
    return Node(path, kind, rdev, _group_name(st.st_gid),
                readwrite=os.access(path, os.R_OK | os.W_OK), in_group=st.st_gid in groups)


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except (KeyError, OverflowError):
        return str(gid)


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
    entry = inspect(candidate)
    return candidate if entry.executable else None


# --------------------------------------------------------------------------------------
# Running a command


@dataclass(frozen=True)
class RunResult:
    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    too_large: bool = False
    error: str | None = None        # could not start it at all
    seconds: float = 0.0


def run_bounded(argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None,
                max_bytes: int = 1 << 20) -> RunResult:
    """Run ``argv`` with a hard deadline and an output cap, in its own process group.

    On timeout (or too much output) the whole group is SIGKILLed: a shell-script wrapper
    that is stuck in a child would otherwise keep our pipes open past the deadline.
    """
    start = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=dict(env) if env is not None else None,
                                start_new_session=True, close_fds=True)
    except OSError as exc:
        return RunResult(None, error=_os_error(exc))
    deadline = start + timeout
    out = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    timed_out = too_large = False
    with selectors.DefaultSelector() as sel:
        for pipe in out:
            sel.register(pipe, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                out[key.fileobj] += chunk
                if len(out[key.fileobj]) > max_bytes:
                    too_large = True
            if too_large:
                break
    if timed_out or too_large:
        _kill_group(proc)
    else:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()) or 0.01)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
    for pipe in out:
        pipe.close()
    stdout, stderr = (bytes(b[:max_bytes]).decode("utf-8", "replace") for b in out.values())
    return RunResult(None if timed_out or too_large else proc.returncode, stdout, stderr,
                     timed_out=timed_out, too_large=too_large,
                     seconds=time.monotonic() - start)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()
