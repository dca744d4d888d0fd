"""Which release of each consumer (Dynamo, PyTorch, SGLang, NVSHMEM, Triton) the server runs.

sgdoctor may live in a venv of its own, so its sys.path says nothing about the server's.
The server's interpreter is exec's COMMAND when that is a Python (``python3 -m …`` or a
console script's shebang), else the first ``python3`` on PATH; an explicit path (``--python``,
config ``python``) overrides both. Releases come from ``*.dist-info/METADATA`` in that
interpreter's sys.path, never from importing anything: importing torch takes seconds.

Finding sys.path: a venv whose pyvenv.cfg excludes the system site-packages (and no
PYTHONPATH) is read from disk (about 0.1 ms); anything else asks the interpreter itself in a
bounded subprocess (about 15-25 ms for ``python3 -S``-free start-up, measured on this node;
a pyenv shim, bash and pyenv's own scripts first, 80-150 ms). A one-shot command that knows
the interpreter before its own imports starts that subprocess then (:func:`prefetch`), so
it runs beside sgdoctor's start instead of after it; the answer is used only for the same
interpreter and the very same environment.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
from collections.abc import Mapping, Sequence

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.probe.files import which
from sgdoctor.records import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:  # subprocess only once a server's sys.path must be asked for
    import subprocess
    from typing import Any

__all__ = ["CONSUMERS", "Release", "Consumers", "server_python", "site_dirs", "find",
           "for_options", "prefetch"]

# consumer name -> distribution names that provide it, in order of preference
CONSUMERS: Mapping[str, tuple[str, ...]] = {
    "dynamo": ("ai-dynamo-runtime", "ai-dynamo"),
    "torch": ("torch",),
    "sglang": ("sglang",),
    "nvshmem": ("nvidia-nvshmem-cu12", "nvidia-nvshmem-cu13"),
    "triton": ("triton",),
    # MetaX ships mcTriton under names of its own (UNCONFIRMED which one a given image uses)
    "mctriton": ("mctriton", "triton-metax", "metax-triton", "triton-maca"),
}
_PYTHON_NAME = re.compile(r"python(\d+(\.\d+)?)?\Z")
_SHEBANG_LIMIT = 256
_SHEBANG_DEPTH = 4  # Linux's BINPRM_MAX_RECURSION
_METADATA_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Release:
    """One consumer found: its version and the METADATA (or config) it came from."""

    version: str
    where: str

    def as_json(self) -> dict[str, str]:
        return {"version": self.version, "where": self.where}


@dataclass(frozen=True)
class Consumers:
    """The server environment's consumers; ``error`` says why it could not be read."""

    python: str | None
    how: str  # how the interpreter was chosen, for messages
    found: Mapping[str, Release] = field(default_factory=dict)
    error: ProbeError | None = None

    def version(self, name: str) -> str | None:
        release = self.found.get(name)
        return release.version if release else None

    def as_json(self) -> dict[str, dict[str, str] | None]:
        return {name: (self.found[name].as_json() if name in self.found else None)
                for name in CONSUMERS}

    def describe(self) -> str:
        """``python /usr/bin/python3 (first python3 on PATH)``, for footers and verdicts."""
        return f"{self.python or 'no python'} ({self.how})"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _resolve(program: str, path: str | None) -> str | None:
    if "/" in program:
        return program if os.access(program, os.X_OK) else None
    return which(program, path or os.defpath)


def _shebang(path: str) -> list[str]:
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SHEBANG_LIMIT)
    except OSError:
        return []
    if not head.startswith(b"#!"):
        return []
    line = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace")
    return line.split()


def _python_of(argv: Sequence[str], path: str | None, depth: int = 0) -> str | None:
    """The Python that ``argv`` would run, or None when it is not a Python program
    (shebangs are followed as deep as Linux follows them)."""
    if depth > _SHEBANG_DEPTH:
        return None
    words = list(argv)
    while words and os.path.basename(words[0]) == "env":
        words = [w for w in words[1:] if "=" not in w and not w.startswith("-")]
    if not words:
        return None
    program = _resolve(words[0], path)
    if program is None:
        return None
    if _PYTHON_NAME.match(os.path.basename(program)):
        return program
    interpreter = _shebang(program)
    if interpreter and interpreter != list(argv)[:len(interpreter)]:
        return _python_of(interpreter, path, depth + 1)
    return None


def server_python(*, python: str | None = None, command: Sequence[str] | None = None,
                  env: Mapping[str, str]) -> tuple[str | None, str]:
    """The interpreter of the server and how it was chosen."""
    path = env.get("PATH")
    if python:
        return _resolve(python, path) or python, "--python / config python"
    if command:
        found = _python_of(command, path)
        if found:
            return found, f"the interpreter of {os.path.basename(command[0])}"
    found = _resolve("python3", path)
    return found, "first python3 on PATH"


def _venv_dirs(python: str) -> list[str] | None:
    """site-packages of a venv that sees nothing else, read from disk; None otherwise."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(python)))
    try:
        with open(os.path.join(root, "pyvenv.cfg"), encoding="utf-8", errors="replace") as fh:
            cfg = fh.read(8192)
    except OSError:
        return None
    if re.search(r"^\s*include-system-site-packages\s*=\s*true\s*$", cfg, re.M | re.I):
        return None
    dirs = []
    for lib in ("lib", "lib64"):
        try:
            names = sorted(os.listdir(os.path.join(root, lib)))
        except OSError:
            continue
        dirs += [os.path.join(root, lib, n, "site-packages") for n in names
                 if n.startswith("python")]
    return [d for d in dict.fromkeys(os.path.realpath(d) for d in dirs) if os.path.isdir(d)]


_ASK = "import sys; print('\\0'.join(sys.path))"
_started: dict[tuple[str, tuple[tuple[str, str], ...]], subprocess.Popen[bytes]] = {}
_started_lock = threading.Lock()


def _ask(python: str, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """The question, in a process group of its own: a shim's helpers go with it (_kill)."""
    import subprocess

    return subprocess.Popen([python, "-c", _ASK], env=dict(env), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """The interpreter and whatever it started (a pyenv shim runs a dozen helpers); called
    before the process is reaped, so its id still names its own group."""
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)


def _forget_started() -> None:
    """In a forked child (sgdoctor.split): the prefetched interpreter answers the parent;
    the child asks its own if it needs to."""
    global _started_lock
    _started_lock = threading.Lock()
    _started.clear()


os.register_at_fork(after_in_child=_forget_started)


def _stop_started() -> None:
    with _started_lock:
        procs = list(_started.values())
        _started.clear()
    for proc in procs:
        _kill(proc)
        with contextlib.suppress(OSError):
            proc.wait()


def prefetch(env: Mapping[str, str], python: str | None = None) -> None:
    """Start asking the interpreter a run will ask (``python``, else the first python3 on
    PATH) for its sys.path now; :func:`site_dirs` takes the answer if it asks the same of
    the same environment, and one nobody took is killed at exit."""
    from sgdoctor.cleanup import at_exit

    found, _ = server_python(python=python, env=env)
    if found is None or (not env.get("PYTHONPATH") and _venv_dirs(found)):
        return
    key = (found, tuple(sorted(env.items())))
    with _started_lock:
        if key in _started:
            return
        try:
            _started[key] = _ask(found, env)
        except OSError:
            return  # site_dirs will say why, in its own words
    at_exit(_stop_started)


def site_dirs(python: str, env: Mapping[str, str], timeout: float) -> list[str]:
    """The server interpreter's sys.path entries (directories only); raises ProbeError."""
    if not env.get("PYTHONPATH"):
        fast = _venv_dirs(python)
        if fast:
            return fast
    import subprocess

    try:
        with _started_lock:
            proc = _started.pop((python, tuple(sorted(env.items()))), None)
        if proc is None:
            proc = _ask(python, env)
        with proc:
            try:
                stdout, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill(proc)
                raise
        done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout)
    except subprocess.TimeoutExpired:
        raise ProbeError(FailureKind.TIMEOUT, f"{python} did not print sys.path within "
                         f"{timeout:g} s") from None
    except PermissionError:
        raise ProbeError(FailureKind.PERMISSION, f"{python} is not executable") from None
    except OSError as exc:
        raise ProbeError(FailureKind.NOT_FOUND, f"{python}: {exc.strerror}") from None
    if done.returncode != 0:
        raise ProbeError(FailureKind.PROTOCOL, f"{python} exited {done.returncode} when asked "
                         "for sys.path")
    text = done.stdout.decode("utf-8", "surrogateescape").strip("\n")
    return [d for d in text.split("\0") if d and os.path.isdir(d)]


def _version(metadata: str) -> str | None:
    try:
        with open(metadata, "rb") as fh:
            head = fh.read(_METADATA_LIMIT).decode("utf-8", "replace")
    except OSError:
        return None
    match = re.search(r"^Version:[ \t]*(\S+)", head, re.M)
    return match.group(1) if match else None


def _scan(dirs: Sequence[str]) -> dict[str, Release]:
    """First distribution of each wanted name along sys.path, as importlib would find it."""
    wanted = {_normalize(d): name for name, dists in CONSUMERS.items() for d in dists}
    best: dict[str, tuple[int, Release]] = {}
    for directory in dirs:
        try:
            entries = os.listdir(directory)
        except OSError:
            continue
        for entry in entries:
            stem, dot, suffix = entry.rpartition(".")
            if suffix not in ("dist-info", "egg-info") or not dot:
                continue
            dist = _normalize(stem.split("-", 1)[0])
            name = wanted.get(dist)
            if name is None:
                continue
            rank = CONSUMERS[name].index(next(d for d in CONSUMERS[name]
                                              if _normalize(d) == dist))
            if name in best and best[name][0] <= rank:
                continue
            base = os.path.join(directory, entry)
            meta = os.path.join(base, "METADATA" if suffix == "dist-info" else "PKG-INFO")
            version = _version(meta) if os.path.isdir(base) else _version(base)
            if version:
                best[name] = (rank, Release(version, meta if os.path.isdir(base) else base))
        if len(best) == len(CONSUMERS):
            break
    found = {name: release for name, (_, release) in best.items()}
    triton = found.get("triton")
    if triton and "mctriton" not in found and re.search(r"metax|maca", triton.version, re.I):
        found["mctriton"] = triton
    return found


def find(*, python: str | None, how: str, env: Mapping[str, str],
         pins: Mapping[str, Any] | None = None, timeout: float = 2.0) -> Consumers:
    """Read the consumers of ``python``'s environment; config pins win over what is found."""
    pinned = {str(k): Release(str(v), "pinned in the config ([consumers])")
              for k, v in (pins or {}).items() if str(k) in CONSUMERS}
    if python is None:
        return Consumers(None, how, pinned, ProbeError(FailureKind.NOT_FOUND,
                                                       "no python3 on PATH"))
    try:
        found = _scan(site_dirs(python, env, timeout))
    except ProbeError as exc:
        return Consumers(python, how, pinned, exc)
    return Consumers(python, how, {**found, **pinned})


_cache: dict[tuple[Any, ...], Consumers] = {}
_lock = threading.Lock()


def for_options(options: Mapping[str, Any], env: Mapping[str, str],
                timeout: float = 2.0) -> Consumers:
    """The consumers for one run, computed once however many checks ask.

    Options: ``python`` (an interpreter path), ``command`` (exec's argv), ``consumers``
    (pins, name -> version)."""
    pins = options.get("consumers") or {}
    command = tuple(options.get("command") or ())
    key = (options.get("python"), command, env.get("PATH"), env.get("PYTHONPATH"),
           env.get("HOME"), tuple(sorted((str(k), str(v)) for k, v in pins.items())))
    with _lock:
        if key not in _cache:
            python, how = server_python(python=options.get("python"), command=command,
                                        env=env)
            _cache[key] = find(python=python, how=how, env=env, pins=pins, timeout=timeout)
        return _cache[key]
