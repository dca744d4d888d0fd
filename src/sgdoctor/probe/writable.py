"""Can this process write large files into a directory, the way a dump writer would?

The writer we mirror (SGLang's expert distribution recorder) does ``mkdir(parents=True,
exist_ok=True)`` and then writes a new file. So the probe answers: is the path a directory
(or creatable as one), is its filesystem writable, does a real 1 MiB write with fsync succeed,
and how much room is left. It leaves nothing behind: the probe file is created with
``O_CREAT|O_EXCL|O_NOFOLLOW`` (a symlink planted at its name is never followed), removed only
if it is still the very file we created (never deleted through), and a missing directory is
never created (the write test then runs in a probe directory of our own, removed afterwards).
While they exist, the probe file and directory are registered (sgdoctor.cleanup): when the
process ends with the check still writing (the runner gave up on it at the deadline), the
exit removes them, under the same "still the very file we created" rule.

It returns facts (:class:`DirectoryFacts`); judging them, and every sentence about them, is
the check's (checks/expert_record.py).
"""

from __future__ import annotations

import enum
import errno
import os
import stat
import threading
from collections.abc import Callable

from sgdoctor.errors import FailureKind
from sgdoctor.parse.mountinfo import MountEntry, mount_for, parse_mountinfo
from sgdoctor.probe.accounts import group_name, user_name
from sgdoctor.records import dataclass, field

__all__ = ["Obstacle", "Step", "OsFailure", "Occupant", "LeftBehind", "DirectoryFacts",
           "probe_directory", "default_probe_name", "failure_kind", "WRITE_TEST_BYTES"]

WRITE_TEST_BYTES = 1 << 20
_CHUNK = 1 << 16
_ATTEMPTS = 3
# O_PATH: a writable but unreadable directory (mode 0333) must still pass, as it does for
# the writer; the fd only anchors the *at() calls against a path swapped under us.
_DIR_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC


class Obstacle(str, enum.Enum):
    """What about the path itself stops the writer before any write is tried."""

    INVALID_PATH = "invalid_path"                    # a NUL, or not encodable as a file name
    NO_WORKING_DIRECTORY = "no_working_directory"    # relative, and our cwd is gone
    NOT_A_DIRECTORY = "not_a_directory"              # something else is at the path
    ANCESTOR_NOT_DIRECTORY = "ancestor_not_directory"  # a parent is a file
    DANGLING_SYMLINK = "dangling_symlink"            # mkdir would fail on it
    SYMLINK_LOOP = "symlink_loop"


class Step(str, enum.Enum):
    """Which step of the probe the OS refused."""

    LOOK_UP = "look_up"                      # stat of the path or an ancestor
    OPEN_DIRECTORY = "open_directory"
    CREATE_FILE = "create_file"              # the probe file: create, write 1 MiB, fsync
    CREATE_DIRECTORY = "create_directory"    # mkdir, as the writer's mkdir -p would
    WRITE_FILE = "write_file"                # the probe file inside our probe directory


def failure_kind(code: int | None) -> FailureKind:
    """An errno as the kind a check judges on."""
    if code == errno.EROFS:
        return FailureKind.READ_ONLY
    if code in (errno.EACCES, errno.EPERM):
        return FailureKind.PERMISSION
    if code in (errno.ENOSPC, errno.EDQUOT):
        return FailureKind.NO_SPACE
    if code in (errno.ENOENT, errno.ENOTDIR):
        return FailureKind.NOT_FOUND
    return FailureKind.IO


@dataclass(frozen=True)
class OsFailure:
    """A step the OS refused: where, its kind, and the OS's own terms (never parsed)."""

    step: Step
    path: str
    kind: FailureKind
    errno: str           # symbolic, e.g. "EDQUOT" ("" when the OS gave none)
    message: str         # strerror

    @classmethod
    def of(cls, exc: OSError, step: Step, path: str) -> OsFailure:
        return cls(step, path, failure_kind(exc.errno), errno.errorcode.get(exc.errno or 0, ""),
                   exc.strerror or str(exc))


@dataclass(frozen=True)
class Occupant:
    """Something already at a probe name, left untouched."""

    name: str
    kind: str                    # "symlink", "directory", "file" or "unknown"
    target: str | None = None    # a symlink's target, when readable


@dataclass(frozen=True)
class LeftBehind:
    """Our probe directory, which could not be removed again."""

    path: str
    message: str


@dataclass
class DirectoryFacts:
    """Everything learnt about one directory. ``examined`` is the directory whose owner,
    mode and filesystem are reported: the path itself, or its nearest existing ancestor."""

    path: str
    exists: bool = False
    obstacle: Obstacle | None = None
    obstacle_path: str | None = None       # a dangling symlink's target; the non-directory
    regular_file: bool = False             # NOT_A_DIRECTORY: a plain file is at the path
    examined: str | None = None
    will_be_created: bool = False
    user: str = ""                         # who we are (the writer runs as the same user)
    owner: str | None = None
    group: str | None = None
    mode: str | None = None                # "0755"
    permissions: str | None = None         # "drwxr-xr-x"
    mount: MountEntry | None = None
    free_bytes: int | None = None
    total_bytes: int | None = None
    free_inodes: int | None = None         # None: the filesystem has no inode table
    statvfs_error: str | None = None
    write_test_passed: bool = False
    names_taken: list[Occupant] = field(default_factory=list)
    write_test_skipped: bool = False       # every probe name was taken
    failure: OsFailure | None = None
    left_behind: list[LeftBehind] = field(default_factory=list)


class _InFlight:
    """Probe files and directories that exist right now, by absolute path and identity.

    Creating one and registering it happen under one lock, which the exit's sweep takes:
    after the sweep nothing new is created, so nothing is missed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.closed = False
        self.entries: dict[str, tuple[int, int, bool]] = {}

    def create(self, make: Callable[[], os.stat_result], path: str,
               is_dir: bool) -> os.stat_result:
        from sgdoctor.cleanup import at_exit

        at_exit(self.sweep)
        with self.lock:
            if self.closed:
                raise OSError(errno.ESHUTDOWN, "sgdoctor is exiting")
            created = make()
            self.entries[path] = (created.st_dev, created.st_ino, is_dir)
        return created

    def forget(self, path: str) -> None:
        with self.lock:
            self.entries.pop(path, None)

    def sweep(self) -> None:
        """Remove what is still ours: files first, then (emptied) probe directories."""
        if not self.lock.acquire(timeout=0.5):  # a creation stuck in the kernel
            return
        try:
            self.closed = True
            for path, (dev, ino, is_dir) in sorted(self.entries.items(),
                                                   key=lambda e: e[1][2]):
                try:
                    now = os.lstat(path)
                    if (now.st_dev, now.st_ino) == (dev, ino):
                        (os.rmdir if is_dir else os.unlink)(path)
                except OSError:
                    pass
            self.entries.clear()
        finally:
            self.lock.release()


_IN_FLIGHT = _InFlight()


def default_probe_name() -> str:
    """Unpredictable, so nobody can plant something at the name before we create it."""
    return f".sgdoctor-probe-{os.getpid()}-{os.urandom(8).hex()}"


def _read_mounts() -> list[MountEntry]:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
            return parse_mountinfo(fh.read())
    except OSError:
        return []


def _describe(facts: DirectoryFacts, directory: str, st: os.stat_result) -> None:
    """Owner, mode and filesystem (mount point, source, read-only) of an existing directory."""
    facts.owner = user_name(st.st_uid)
    facts.group = group_name(st.st_gid)
    facts.mode = f"{stat.S_IMODE(st.st_mode):04o}"
    facts.permissions = stat.filemode(st.st_mode)
    real = os.path.realpath(directory)
    mounts = _read_mounts()
    facts.mount = (mount_for(mounts, real, (os.major(st.st_dev), os.minor(st.st_dev)))
                   or mount_for(mounts, real))


def _measure_space(facts: DirectoryFacts, directory: str) -> None:
    try:
        vfs = os.statvfs(directory)
    except OSError as exc:
        facts.statvfs_error = exc.strerror
        return
    # Pseudo filesystems (proc, sysfs) report no blocks at all: the write test speaks for them.
    if vfs.f_blocks > 0:
        facts.free_bytes = vfs.f_bavail * vfs.f_frsize
        facts.total_bytes = vfs.f_blocks * vfs.f_frsize
    # Filesystems without an inode table (btrfs, many network filesystems) report 0 inodes.
    facts.free_inodes = vfs.f_favail if vfs.f_files > 0 else None


def _occupant(dir_fd: int, name: str) -> Occupant:
    try:
        st = os.lstat(name, dir_fd=dir_fd)
    except OSError:
        return Occupant(name, "unknown")
    if stat.S_ISLNK(st.st_mode):
        try:
            return Occupant(name, "symlink", os.readlink(name, dir_fd=dir_fd))
        except OSError:
            return Occupant(name, "symlink")
    return Occupant(name, "directory" if stat.S_ISDIR(st.st_mode) else "file")


def _write_probe(dir_fd: int, name: str, directory: str) -> None:
    """Create ``name`` exclusively, write 1 MiB, fsync, and remove it again.

    Raises FileExistsError untouched when the name is taken (a planted symlink included:
    O_EXCL and O_NOFOLLOW never follow it); any other OSError means the write failed.
    """
    flags = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_WRONLY | os.O_CLOEXEC
    opened: list[int] = []

    def make() -> os.stat_result:
        opened.append(os.open(name, flags, 0o600, dir_fd=dir_fd))
        return os.fstat(opened[0])

    path = os.path.join(directory, name)
    created = _IN_FLIGHT.create(make, path, is_dir=False)
    fd = opened[0]
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
        _IN_FLIGHT.forget(path)


def _remove_if_ours(dir_fd: int, name: str, created: os.stat_result) -> None:
    """Unlink the probe only while the name still points at the inode we created."""
    try:
        now = os.lstat(name, dir_fd=dir_fd)
    except OSError:
        return
    if (now.st_dev, now.st_ino) == (created.st_dev, created.st_ino):
        os.unlink(name, dir_fd=dir_fd)


def _try_names(facts: DirectoryFacts, directory: str, probe_name: Callable[[], str],
               step: Step, attempt: Callable[[int, str], None]) -> None:
    """Run ``attempt(dir_fd, name)`` in ``directory`` under up to three probe names.

    ``attempt`` raises FileExistsError when the name is taken: whatever is there (a planted
    symlink included) is recorded and left untouched, and the next name is tried.
    """
    try:
        dir_fd = os.open(directory, _DIR_FLAGS)
    except OSError as exc:
        facts.failure = OsFailure.of(exc, Step.OPEN_DIRECTORY, directory)
        return
    try:
        for _ in range(_ATTEMPTS):
            name = probe_name()
            try:
                attempt(dir_fd, name)
            except FileExistsError:
                facts.names_taken.append(_occupant(dir_fd, name))
                continue
            except OSError as exc:
                facts.failure = OsFailure.of(exc, step, directory)
            return
        facts.write_test_skipped = True
    finally:
        os.close(dir_fd)


def _write_test(facts: DirectoryFacts, directory: str, probe_name: Callable[[], str],
                step: Step) -> None:
    def attempt(dir_fd: int, name: str) -> None:
        _write_probe(dir_fd, name, directory)
        facts.write_test_passed = True

    _try_names(facts, directory, probe_name, step, attempt)


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


def _probe_missing(facts: DirectoryFacts, path: str, probe_name: Callable[[], str]) -> None:
    """A missing directory is fine if the writer's ``mkdir -p`` would succeed: test that by
    creating (and removing) a probe directory of our own in the nearest existing ancestor."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            facts.obstacle = Obstacle.DANGLING_SYMLINK
            facts.obstacle_path = os.readlink(path)
            return
    except OSError:
        pass
    ancestor, st, error = _nearest_existing(path)
    facts.examined = ancestor
    if error is not None:
        facts.failure = OsFailure.of(error, Step.LOOK_UP, ancestor)
        return
    if st is None or not stat.S_ISDIR(st.st_mode):
        facts.obstacle = Obstacle.ANCESTOR_NOT_DIRECTORY
        facts.obstacle_path = ancestor
        return
    _describe(facts, ancestor, st)
    facts.will_be_created = True
    _measure_space(facts, ancestor)

    def attempt(dir_fd: int, name: str) -> None:
        def make() -> os.stat_result:
            os.mkdir(name, 0o700, dir_fd=dir_fd)
            return os.lstat(name, dir_fd=dir_fd)

        probe_dir = os.path.join(ancestor, name)
        _IN_FLIGHT.create(make, probe_dir, is_dir=True)
        try:
            _write_test(facts, probe_dir, default_probe_name, Step.WRITE_FILE)
        finally:
            try:
                os.rmdir(name, dir_fd=dir_fd)
            except OSError as exc:
                facts.left_behind.append(LeftBehind(probe_dir, exc.strerror or str(exc)))
            _IN_FLIGHT.forget(probe_dir)

    _try_names(facts, ancestor, probe_name, Step.CREATE_DIRECTORY, attempt)


def probe_directory(path: str, *,
                    probe_name: Callable[[], str] = default_probe_name) -> DirectoryFacts:
    """Probe ``path`` as a dump directory; never raises OSError, never leaves anything."""
    facts = DirectoryFacts(path, user=user_name(os.geteuid()))
    try:
        os.fsencode(path)
    except UnicodeEncodeError:
        facts.obstacle = Obstacle.INVALID_PATH
        return facts
    if "\0" in path:
        facts.obstacle = Obstacle.INVALID_PATH
        return facts
    try:
        path = facts.path = os.path.abspath(path)
    except OSError as exc:    # relative, and our working directory is gone
        facts.obstacle = Obstacle.NO_WORKING_DIRECTORY
        facts.failure = OsFailure.of(exc, Step.LOOK_UP, path)
        return facts
    try:
        st = os.stat(path)
    except FileNotFoundError:
        _probe_missing(facts, path, probe_name)
        return facts
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            facts.obstacle = Obstacle.ANCESTOR_NOT_DIRECTORY
        elif exc.errno == errno.ELOOP:
            facts.obstacle = Obstacle.SYMLINK_LOOP
        else:
            facts.failure = OsFailure.of(exc, Step.LOOK_UP, path)
        return facts
    facts.exists = True
    if not stat.S_ISDIR(st.st_mode):
        facts.obstacle = Obstacle.NOT_A_DIRECTORY
        facts.regular_file = stat.S_ISREG(st.st_mode)
        return facts
    facts.examined = path
    _describe(facts, path, st)
    _measure_space(facts, path)
    _write_test(facts, path, probe_name, Step.CREATE_FILE)
    return facts
