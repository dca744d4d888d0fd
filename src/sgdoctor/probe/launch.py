"""Facts the launch checks need: how a rendezvous host resolves, whether its port answers or
binds here, and how many MetaX GPUs this process sees. Facts only; the checks judge.

``socket`` is imported where a rendezvous is resolved or dialled: a run whose launch checks
skip asks only visible_gpus and model_facts, in a process that may import no socket at all.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.probe import host_arg
from sgdoctor.records import dataclass

__all__ = ["Resolved", "resolve", "dial", "bind_here", "Gpus", "visible_gpus", "ModelFacts",
           "model_facts", "writable_at"]


@dataclass(frozen=True)
class Resolved:
    addresses: tuple[str, ...] = ()
    error: ProbeError | None = None


def resolve(host: str, port: int, timeout: float) -> Resolved:
    """getaddrinfo as torch's TCPStore does (any family, stream), bounded by ``timeout``."""
    import socket

    from sgdoctor.probe.parallel import run_all

    def lookup() -> Resolved:
        try:
            infos = socket.getaddrinfo(host_arg(host), port, 0, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            return Resolved(error=ProbeError(FailureKind.DNS, exc.strerror or str(exc)))
        except (OSError, UnicodeError) as exc:
            return Resolved(error=ProbeError(FailureKind.INVALID, str(exc)))
        return Resolved(tuple(dict.fromkeys(str(i[4][0]) for i in infos)))

    def late(_index: int, exc: BaseException | None) -> Resolved:
        if exc is not None:
            return Resolved(error=ProbeError(FailureKind.INTERNAL, str(exc)))
        return Resolved(error=ProbeError(FailureKind.TIMEOUT, f"no answer from the resolver "
                                                              f"within {timeout:.1f} s"))

    return run_all([lookup], time.monotonic() + timeout, late)[0]


def dial(address: str, port: int, timeout: float) -> ProbeError | None:
    """A TCP connect to address:port (what a rank > 0 does first); None when it connects."""
    import socket

    from sgdoctor.probe.http import classify_os_error

    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(max(0.01, timeout))
        sock.connect((address, port))
    except OSError as exc:
        return classify_os_error(exc)
    finally:
        sock.close()
    return None


def bind_here(address: str, port: int) -> OSError | None:
    """Bind address:port as the rank-0 store does (SO_REUSEADDR), then let go."""
    import socket

    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
    except OSError as exc:
        return exc
    finally:
        sock.close()
    return None


@dataclass(frozen=True)
class Gpus:
    count: int
    source: str          # what said so
    indices: tuple[int, ...] = ()   # MACA_VISIBLE_DEVICES' indices, when it lists them


def visible_gpus(env: Mapping[str, str], root: str = "/", mx_smi_timeout: float = 3.0) -> Gpus:
    """GPUs this process may use: MACA_VISIBLE_DEVICES when set, else the render nodes
    beside /dev/mxcd, else the GPUs `mx-smi -L` lists."""
    from sgdoctor.parse.maca import parse_smi_list, parse_visible_devices
    from sgdoctor.probe.maca import device_nodes, find_mx_smi, run_bounded

    visible = env.get("MACA_VISIBLE_DEVICES")
    if visible is not None:
        parsed = parse_visible_devices(visible)
        count = 0 if parsed.empty else len(set(parsed.indices)) + len(set(parsed.uuids))
        return Gpus(count, "MACA_VISIBLE_DEVICES", tuple(parsed.indices))
    nodes = device_nodes(root)
    if nodes.mxcd.kind != "missing" and nodes.render:
        return Gpus(len(nodes.render), "/dev/dri render nodes beside /dev/mxcd")
    smi = find_mx_smi(env, "/opt/mxdriver")
    if smi is not None and mx_smi_timeout > 0.05:
        run = run_bounded([smi, "-L"], timeout=mx_smi_timeout, env=env)
        if run.returncode == 0 and run.stdout:
            listing = parse_smi_list(run.stdout)
            return Gpus(len(listing.gpus), "mx-smi -L")
    if nodes.mxcd.kind != "missing":
        return Gpus(0, "/dev/mxcd without render nodes")
    return Gpus(0, "no /dev/mxcd, no MACA_VISIBLE_DEVICES, no mx-smi")


@dataclass(frozen=True)
class ModelFacts:
    path: str
    exists: bool
    is_dir: bool = False
    readable: bool = False            # listable (directory) or readable (file)
    config: str = "missing"           # config.json: ok, missing, unreadable, not_a_file


def model_facts(path: str) -> ModelFacts:
    """What is at a local --model-path: a directory SGLang can list, and its config.json."""
    import os

    try:
        st = os.stat(path)
    except OSError:
        return ModelFacts(path, False)
    import stat as stat_mod

    if not stat_mod.S_ISDIR(st.st_mode):
        return ModelFacts(path, True, False, os.access(path, os.R_OK), "not_a_file")
    readable = os.access(path, os.R_OK | os.X_OK)
    config = os.path.join(path, "config.json")
    try:
        cst = os.stat(config)
    except OSError:
        return ModelFacts(path, True, True, readable, "missing")
    if not stat_mod.S_ISREG(cst.st_mode):
        return ModelFacts(path, True, True, readable, "not_a_file")
    try:
        with open(config, "rb") as fh:
            fh.read(1)
    except OSError:
        return ModelFacts(path, True, True, readable, "unreadable")
    return ModelFacts(path, True, True, readable, "ok")


def writable_at(path: str) -> tuple[str, bool]:
    """The nearest existing directory at or above ``path`` and whether this user may create
    entries in it (what a download into a cache below it needs)."""
    import os

    current = os.path.abspath(path)
    while not os.path.isdir(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current, os.access(current, os.W_OK | os.X_OK)
