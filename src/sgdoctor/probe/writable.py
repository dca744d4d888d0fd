"""Can this process write large files into a directory, the way a dump writer would?

The writer we mirror (SGLang's expert distribution recorder) does ``mkdir(parents=True,
exist_ok=True)`` and then writes a new file. So the probe answers: is the path a directory
(or creatable as one), is its filesystem writable, does a real 1 MiB write with fsync succeed,
and is there room for more. It leaves nothing behind: the probe file is created with
``O_CREAT|O_EXCL|O_NOFOLLOW`` (a symlink planted at its name is never followed), removed only
if it is still the very file we created (never deleted through), and a missing directory is
never created (the write test then runs in a probe directory of our own, removed afterwards).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sgdoctor.parse.mountinfo import MountEntry, mount_for, parse_mountinfo
from sgdoctor.parse.verdict import shown as escaped
from sgdoctor.probe.accounts import group_name, user_name

__all__ = ["Finding", "DirectoryReport", "probe_directory", "default_probe_name",
           "approx_bytes", "shown", "WRITE_TEST_BYTES"]

WRITE_TEST_BYTES = 1 << 20
_CHUNK = 1 << 16
_ATTEMPTS = 3
PATH_LIMIT = 1024
# O_PATH: a writable but unreadable directory (mode 0333) must still pass, as it does for
# the writer; the fd only anchors the *at() calls against a path swapped under us.
_DIR_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC


def shown(path: str) -> str:
    """A path made safe to print, cut only when absurdly long: a remedy such as
    ``chown nobody <path>`` must show the whole path to be of use."""
    return escaped(path, PATH_LIMIT)


def approx_bytes(n: int) -> str:
    """Rounded to one decimal: free space changes by the second, exact bytes would be noise
    (parse.verdict.human_bytes is the exact form, for values a user typed)."""
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def default_probe_name() -> str:
    """Unpredictable, so nobody can plant something at the name before we create it."""
    return f".sgdoctor-probe-{os.getpid()}-{os.urandom(8).hex()}"


@dataclass(frozen=True)
class Finding:
    """One problem: ``fail`` (the writer would break) or ``warn`` (risky)."""

    severity: str
    code: str
    message: str
    remedy: str


@dataclass
class DirectoryReport:
    """Everything learnt about one directory; ``findings`` empty means healthy."""

    path: str
    exists: bool = False
    examined: str | None = None     # the directory whose owner/mode/fs are reported
    facts: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def add(self, severity: str, code: str, message: str, remedy: str) -> None:
        self.findings.append(Finding(severity, code, message, remedy))

    @property
    def worst(self) -> str:
        severities = {f.severity for f in self.findings}
        return "fail" if "fail" in severities else "warn" if "warn" in severities else "ok"

    def details(self) -> dict[str, Any]:
        return {
            "path": shown(self.path),
            "exists": self.exists,
            "examined": shown(self.examined) if self.examined else None,
            **self.facts,
            "findings": [{"severity": f.severity, "code": f.code, "message": f.message}
                         for f in self.findings],
        }


def _user() -> str:
    return user_name(os.geteuid())




def _read_mounts() -> list[MountEntry]:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
            return parse_mountinfo(fh.read())
    except OSError:
        return []


def _describe(report: DirectoryReport, directory: str, st: os.stat_result) -> MountEntry | None:
    """Owner, mode and filesystem (mount point, source, read-only) of an existing directory."""
    facts = report.facts
    facts["owner"] = user_name(st.st_uid)
    facts["group"] = group_name(st.st_gid)
    facts["mode"] = f"{stat.S_IMODE(st.st_mode):04o}"
    facts["permissions"] = stat.filemode(st.st_mode)
    facts["user"] = _user()
    real = os.path.realpath(directory)
    mounts = _read_mounts()
    mount = (mount_for(mounts, real, (os.major(st.st_dev), os.minor(st.st_dev)))
             or mount_for(mounts, real))
    if mount is not None:
        facts["filesystem"] = mount.fstype
        facts["mount_point"] = shown(mount.mount_point)
        facts["mount_source"] = shown(mount.source)
        facts["mount_options"] = ",".join(mount.mount_options)
        facts["read_only_mount"] = mount.read_only
    return mount


def _check_space(report: DirectoryReport, directory: str, min_free_bytes: int,
                 min_free_inodes: int) -> None:
    try:
        vfs = os.statvfs(directory)
    except OSError as exc:
        report.facts["statvfs_error"] = exc.strerror
        return
    free = vfs.f_bavail * vfs.f_frsize
    report.facts["free_bytes"] = free
    report.facts["total_bytes"] = vfs.f_blocks * vfs.f_frsize
    # Filesystems without an inode table (btrfs, many network filesystems) report 0 inodes.
    inodes_limited = vfs.f_files > 0
    report.facts["free_inodes"] = vfs.f_favail if inodes_limited else None
    where = shown(report.examined or directory)
    # Pseudo filesystems (proc, sysfs) report no blocks at all: the write test speaks for them.
    if vfs.f_blocks > 0 and free < min_free_bytes:
        report.add("warn", "low_space",
                   f"only {approx_bytes(free)} free on the filesystem of {where} "
                   f"(minimum {approx_bytes(min_free_bytes)})",
                   "free space there, or point the recorder at a larger filesystem; per-token "
                   "and per-pass dumps are written by every rank and can be large")
    if inodes_limited and vfs.f_favail < min_free_inodes:
        report.add("warn", "low_inodes",
                   f"only {vfs.f_favail} free inodes on the filesystem of {where} "
                   f"(minimum {min_free_inodes})",
                   "delete unneeded files there, or use another filesystem")


def _permission_remedy(report: DirectoryReport, directory: str) -> str:
    user = report.facts.get("user", _user())
    return (f"as root: `chown {user} {shown(directory)}` (or `chmod` it so that {user} may "
            f"write), or choose a directory that {user} can write")


def _os_failure(report: DirectoryReport, exc: OSError, action: str, directory: str,
                mount: MountEntry | None) -> None:
    """Turn the errno of a failed write step into a finding that says what to do."""
    where = shown(directory)
    code = exc.errno
    if code == errno.EROFS:
        on = (f" ({mount.fstype} {shown(mount.source)} mounted read-only at "
              f"{shown(mount.mount_point)})" if mount else "")
        report.add("fail", "read_only", f"{where} is on a read-only filesystem{on}",
                   "mount a writable volume there (docker: drop `:ro`), or choose a directory "
                   "on a writable filesystem")
    elif code in (errno.EACCES, errno.EPERM) and "owner" in report.facts:
        f = report.facts
        report.add("fail", "permission_denied",
                   f"{f['user']} may not {action} in {where} "
                   f"(owner {f['owner']}:{f['group']}, mode {f['mode']})",
                   _permission_remedy(report, directory))
    elif code in (errno.EACCES, errno.EPERM):
        report.add("fail", "permission_denied",
                   f"{_user()} may not {action} {where}: a parent directory is not searchable",
                   f"let {_user()} search (chmod o+x or a+x) every parent directory, or choose "
                   f"a directory that {_user()} can reach")
    elif code == errno.ENOSPC:
        report.add("fail", "no_space",
                   f"no space left on the filesystem of {where}: a {approx_bytes(WRITE_TEST_BYTES)}"
                   " test write failed with ENOSPC (out of blocks or inodes)",
                   "free space or inodes there, or point the recorder at a larger filesystem")
    elif code == errno.EDQUOT:
        report.add("fail", "quota", f"disk quota exceeded writing to {where}",
                   "raise the quota of this user, or choose another directory")
    else:
        name = errno.errorcode.get(code or 0, "error")
        report.add("fail", "write_failed",
                   f"could not {action} in {where}: {exc.strerror or exc} ({name})",
                   "check the filesystem (dmesg, mount options), or choose another directory")


def _occupant(dir_fd: int, name: str) -> str:
    try:
        st = os.lstat(name, dir_fd=dir_fd)
    except OSError:
        return "something"
    if stat.S_ISLNK(st.st_mode):
        try:
            return f"a symlink to {shown(os.readlink(name, dir_fd=dir_fd))}"
        except OSError:
            return "a symlink"
    return "a directory" if stat.S_ISDIR(st.st_mode) else "a file"


def _write_probe(dir_fd: int, name: str) -> None:
    """Create ``name`` exclusively, write 1 MiB, fsync, and remove it again.

    Raises FileExistsError untouched when the name is taken (a planted symlink included:
    O_EXCL and O_NOFOLLOW never follow it); any other OSError means the write failed.
    """
    flags = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_WRONLY | os.O_CLOEXEC
    fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
    created = os.fstat(fd)
    try:
        try:
            block = memoryview(os.urandom(_CHUNK))
            left = WRITE_TEST_BYTES
            while left:
                left -= os.write(fd, block[:min(left, _CHUNK)])
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        _remove_if_ours(dir_fd, name, created)


def _remove_if_ours(dir_fd: int, name: str, created: os.stat_result) -> None:
    """Unlink the probe only while the name still points at the inode we created."""
    try:
        now = os.lstat(name, dir_fd=dir_fd)
    except OSError:
        return
    if (now.st_dev, now.st_ino) == (created.st_dev, created.st_ino):
        os.unlink(name, dir_fd=dir_fd)


def _try_names(report: DirectoryReport, directory: str, mount: MountEntry | None,
               probe_name: Callable[[], str], action: str,
               attempt: Callable[[int, str], None]) -> None:
    """Run ``attempt(dir_fd, name)`` in ``directory`` under up to three probe names.

    ``attempt`` raises FileExistsError when the name is taken: whatever is there (a planted
    symlink included) is reported and left untouched, and the next name is tried.
    """
    try:
        dir_fd = os.open(directory, _DIR_FLAGS)
    except OSError as exc:
        _os_failure(report, exc, "open the directory", directory, mount)
        return
    taken = []
    try:
        for _ in range(_ATTEMPTS):
            name = probe_name()
            try:
                attempt(dir_fd, name)
            except FileExistsError:
                taken.append(f"{name} ({_occupant(dir_fd, name)})")
                continue
            except OSError as exc:
                _os_failure(report, exc, action, directory, mount)
                return
            if taken:
                report.facts["probe_names_taken"] = taken
            return
        report.facts["write_test"] = "not run"
        report.facts["probe_names_taken"] = taken
        report.add("warn", "probe_name_taken",
                   f"could not run the write test in {shown(directory)}: "
                   f"{', '.join(taken)} already there; left untouched",
                   "find out who created it and remove it if it is not yours; a symlink "
                   "there may be an attempt to make a writer overwrite another file")
    finally:
        os.close(dir_fd)


def _write_test(report: DirectoryReport, directory: str, mount: MountEntry | None,
                probe_name: Callable[[], str], action: str) -> None:
    def attempt(dir_fd: int, name: str) -> None:
        _write_probe(dir_fd, name)
        report.facts["write_test"] = f"passed ({approx_bytes(WRITE_TEST_BYTES)}, fsync)"

    _try_names(report, directory, mount, probe_name, action, attempt)


def _nearest_existing(path: str) -> tuple[str, os.stat_result | None, OSError | None]:
    current = path
    while True:
        parent = os.path.dirname(current)
        if parent == current:
            return current, None, None
        current = parent
        try:
            return current, os.stat(current), None
        except FileNotFoundError:
            continue
        except OSError as exc:
            return current, None, exc


def _probe_missing(report: DirectoryReport, path: str, min_free_bytes: int,
                   min_free_inodes: int, probe_name: Callable[[], str]) -> None:
    """A missing directory is fine if the writer's ``mkdir -p`` would succeed: test that by
    creating (and removing) a probe directory of our own in the nearest existing ancestor."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            report.add("fail", "dangling_symlink",
                       f"{shown(path)} is a symlink to {shown(os.readlink(path))}, which does "
                       "not exist; the writer's mkdir would fail on it",
                       "create the symlink's target directory, or remove the symlink")
            return
    except OSError:
        pass
    ancestor, st, error = _nearest_existing(path)
    report.examined = ancestor
    if error is not None:
        _os_failure(report, error, "look up", ancestor, None)
        return
    if st is None or not stat.S_ISDIR(st.st_mode):
        report.add("fail", "ancestor_not_directory",
                   f"{shown(path)} cannot be created: {shown(ancestor)} is not a directory",
                   "choose a path whose parents are directories")
        return
    mount = _describe(report, ancestor, st)
    report.facts["will_be_created"] = True
    _check_space(report, ancestor, min_free_bytes, min_free_inodes)
    def attempt(dir_fd: int, name: str) -> None:
        os.mkdir(name, 0o700, dir_fd=dir_fd)
        try:
            _write_test(report, os.path.join(ancestor, name), mount, default_probe_name,
                        "write a file")
        finally:
            try:
                os.rmdir(name, dir_fd=dir_fd)
            except OSError as exc:
                report.add("warn", "probe_left_behind",
                           f"could not remove the probe directory {shown(ancestor)}/{name}: "
                           f"{exc.strerror}", "remove it by hand")

    _try_names(report, ancestor, mount, probe_name, "create a directory", attempt)


def probe_directory(path: str, *, min_free_bytes: int, min_free_inodes: int,
                    probe_name: Callable[[], str] = default_probe_name) -> DirectoryReport:
    """Probe ``path`` as a dump directory; never raises OSError, never leaves anything."""
    report = DirectoryReport(path)
    try:
        os.fsencode(path)
    except UnicodeEncodeError:
        path = "\0"
    if "\0" in path:
        report.add("fail", "invalid_path", f"{shown(report.path)} is not a possible file name",
                   "set a real directory path")
        return report
    try:
        path = os.path.abspath(path)
    except OSError as exc:    # relative, and our working directory is gone
        report.add("fail", "no_working_directory",
                   f"cannot resolve {shown(path)}: the working directory: {exc.strerror}",
                   "use an absolute path")
        return report
    try:
        st = os.stat(path)
    except FileNotFoundError:
        _probe_missing(report, path, min_free_bytes, min_free_inodes, probe_name)
        return report
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            report.add("fail", "ancestor_not_directory",
                       f"{shown(path)} cannot be a directory: one of its parents is a file",
                       "choose a path whose parents are directories")
        elif exc.errno == errno.ELOOP:
            report.add("fail", "symlink_loop", f"{shown(path)}: too many levels of symlinks",
                       "fix the symlinks on the path")
        else:
            _os_failure(report, exc, "look up", path, None)
        return report
    report.exists = True
    if not stat.S_ISDIR(st.st_mode):
        kind = "a file" if stat.S_ISREG(st.st_mode) else "not a directory"
        report.add("fail", "not_a_directory",
                   f"{shown(path)} is {kind}, not a directory; the writer's mkdir would fail",
                   f"remove or rename {shown(path)}, or choose another directory")
        return report
    report.examined = path
    mount = _describe(report, path, st)
    _check_space(report, path, min_free_bytes, min_free_inodes)
    _write_test(report, path, mount, probe_name, "create a file")
    return report
