"""Client TLS material (CA, certificate, key) read safely, for etcd and NATS alike.

Files are opened without blocking and must be regular files, so a FIFO or a device named as
a certificate fails at once instead of hanging the check. An encrypted key never prompts
("Enter PEM pass phrase:" on the terminal would block the run): the password callback
refuses. ssl loads a certificate chain only from paths, so the PEM text is handed over in
anonymous memory files (memfd) that never touch a disk; only where those cannot be opened by
path does it fall back to a 0700 temporary directory, removed on every path out.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import stat
from collections.abc import Iterator

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.probe.files import NotRegular, TooLarge, open_nonblocking, read_regular
from sgdoctor.records import dataclass

TYPE_CHECKING = False

if TYPE_CHECKING:
    import ssl

PEM_MARK = "-----BEGIN"
MAX_PEM = 1 << 20  # a CA bundle is a few hundred KiB at most


class TlsProblem(str, enum.Enum):
    """What is wrong with one piece of TLS material (stable: it feeds finding codes)."""

    MISSING = "missing"              # the file does not exist
    UNREADABLE = "unreadable"        # permission denied, or another OS error
    NOT_A_FILE = "not_a_file"        # a FIFO, device, socket or directory
    NOT_PEM = "not_pem"              # neither PEM text nor a path, or a file without PEM
    BAD_CA = "bad_ca"                # PEM, but no usable CA certificate
    ENCRYPTED_KEY = "encrypted_key"  # the key needs a pass phrase
    BAD_PAIR = "bad_pair"            # certificate and key unusable or not a pair


_KINDS = {TlsProblem.MISSING: FailureKind.NOT_FOUND, TlsProblem.UNREADABLE: FailureKind.PERMISSION,
          TlsProblem.NOT_A_FILE: FailureKind.NOT_A_FILE}


class TlsMaterialError(ProbeError):
    """Our own TLS material is unusable: ``variable`` names the setting, ``problem`` says why,
    the message says it in words (never quoting PEM text)."""

    def __init__(self, problem: TlsProblem, variable: str, message: str) -> None:
        super().__init__(_KINDS.get(problem, FailureKind.TLS_CONFIG), message)
        self.problem, self.variable = problem, variable


@dataclass(frozen=True)
class Pem:
    """One piece of material: the variable that gave it and its PEM text."""

    variable: str
    text: str


def _file_type(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def read_file(path: str, variable: str, *, limit: int = MAX_PEM) -> str:
    """The text of a regular file named by ``variable``; never blocks on a FIFO or device."""
    shown = f"{variable}={path}"
    try:
        fd = open_nonblocking(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            problem = TlsProblem.MISSING
        elif exc.errno == errno.EISDIR:
            problem = TlsProblem.NOT_A_FILE
        else:
            problem = TlsProblem.UNREADABLE
        raise TlsMaterialError(problem, variable, f"{shown} is not a readable file "
                                                  f"({exc.strerror or exc})") from None
    try:
        data = read_regular(fd, limit)
    except NotRegular as exc:
        raise TlsMaterialError(TlsProblem.NOT_A_FILE, variable,
                               f"{shown} is {_file_type(exc.mode)}, not a regular file") from None
    except OSError as exc:
        raise TlsMaterialError(TlsProblem.UNREADABLE, variable,
                               f"{shown} cannot be read ({exc.strerror or exc})") from None
    except TooLarge:
        raise TlsMaterialError(TlsProblem.NOT_PEM, variable,
                               f"{shown} is larger than {limit} bytes: not a PEM file") from None
    return data.decode("ascii", "replace")


def pem_from_value(value: str, variable: str) -> Pem:
    """PEM text given inline or as a path (etcd's ETCD_AUTH_* take both); never echoes PEM."""
    if value.lstrip().startswith(PEM_MARK):
        return Pem(variable, value)
    if len(value) > 4096 or "\n" in value:
        raise TlsMaterialError(TlsProblem.NOT_PEM, variable,
                               f"{variable} is neither PEM text (-----BEGIN …) nor a file path")
    return pem_from_file(value, variable)


def pem_from_file(path: str, variable: str) -> Pem:
    text = read_file(path, variable)
    if PEM_MARK not in text:
        raise TlsMaterialError(TlsProblem.NOT_PEM, variable,
                               f"{variable}={path} holds no PEM block")
    return Pem(variable, text)


class _PassphraseRefused(Exception):
    """Raised by the password callback: an encrypted key is reported, never prompted for."""


def _refuse() -> bytes:
    raise _PassphraseRefused


def client_context(ca: Pem | None, cert: Pem | None, key: Pem | None) -> ssl.SSLContext:
    """A verifying client context with ``ca`` as its trust (else the system's) and the
    ``cert``/``key`` identity (key may be inside ``cert``)."""
    import ssl

    try:
        context = ssl.create_default_context(cadata=ca.text if ca else None)
    except (ssl.SSLError, ValueError):
        assert ca is not None
        raise TlsMaterialError(TlsProblem.BAD_CA, ca.variable,
                               f"{ca.variable} does not hold a usable PEM certificate") from None
    if cert is None:
        return context
    names = " and ".join(p.variable for p in (cert, key) if p is not None)
    with _memory_files([cert.text] + ([key.text] if key else [])) as paths:
        try:
            context.load_cert_chain(paths[0], paths[1] if key else None, password=_refuse)
        except _PassphraseRefused:
            holder = key or cert
            raise TlsMaterialError(
                TlsProblem.ENCRYPTED_KEY, holder.variable,
                f"{holder.variable} holds an encrypted private key (it needs a pass phrase, "
                "which nothing here can give)") from None
        except (ssl.SSLError, ValueError, OSError):
            raise TlsMaterialError(TlsProblem.BAD_PAIR, (key or cert).variable,
                                   f"{names} do not form a usable certificate/key "
                                   "pair") from None
    return context


@contextlib.contextmanager
def _memory_files(texts: list[str]) -> Iterator[list[str]]:
    """Paths that open to ``texts``: memfds by /proc/self/fd, else files in a 0700 temporary
    directory; closed or removed on every way out."""
    fds: list[int] = []
    try:
        if _fill_memfds(texts, fds):
            yield [f"/proc/self/fd/{fd}" for fd in fds]
            return
    finally:
        for fd in fds:
            os.close(fd)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sgdoctor-tls-") as tmp:
        os.chmod(tmp, 0o700)
        paths = []
        for index, text in enumerate(texts):
            path = os.path.join(tmp, f"{index}.pem")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii", errors="replace") as handle:
                handle.write(text)
            paths.append(path)
        yield paths


def _fill_memfds(texts: list[str], fds: list[int]) -> bool:
    """One memfd per text (appended to ``fds``); False where memfds cannot be used by path
    (no memfd_create, seccomp, /proc not mounted)."""
    try:
        for text in texts:
            fd = os.memfd_create("sgdoctor-tls", os.MFD_CLOEXEC)
            fds.append(fd)
            os.write(fd, text.encode("ascii", "replace"))
        return all(os.path.exists(f"/proc/self/fd/{fd}") for fd in fds)
    except (AttributeError, OSError):
        return False
