"""Errors are types: the CLI maps each to an exit code and a one-line message, and a check
matches a probe's failure on its kind, never on its words."""

from __future__ import annotations

import enum


class SgdoctorError(Exception):
    """Base of every error sgdoctor raises on purpose."""


class ConfigError(SgdoctorError):
    """Bad options, config file or plugins: nothing was checked (exit code 2)."""


class Interrupted(SgdoctorError):
    """SIGINT or SIGTERM arrived; the exit code is 128 + signum, as a shell reports it."""

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class FailureKind(str, enum.Enum):
    """Why a probe could not get its fact; the values appear in JSON details (stable)."""

    DNS = "dns"                    # the name does not resolve (or resolving timed out)
    REFUSED = "refused"            # nothing listens there (TCP RST)
    UNREACHABLE = "unreachable"    # no route to host / network unreachable
    TIMEOUT = "timeout"            # silent peer, or the deadline came first
    CLOSED = "closed"              # the peer closed or reset the connection mid-talk
    TLS = "tls"                    # the TLS handshake failed (plain server, version, ...)
    TLS_CONFIG = "tls_config"      # our TLS material is unusable (bad PEM, encrypted key, ...)
    CERTIFICATE = "certificate"    # the server's certificate did not verify
    AUTH = "auth"                  # the server refused the credentials
    PROTOCOL = "protocol"          # it answered, but not as the protocol says
    SERVER = "server"              # it answered in protocol, with an error of its own
    TOO_LARGE = "too_large"        # the answer exceeds what we read
    NOT_FOUND = "not_found"        # a file or object that should exist does not
    PERMISSION = "permission"      # the OS refused access
    READ_ONLY = "read_only"        # the filesystem is mounted read-only (EROFS)
    NO_SPACE = "no_space"          # out of blocks, inodes or quota (ENOSPC, EDQUOT)
    NOT_A_FILE = "not_a_file"      # a FIFO, device or directory where a file belongs
    INVALID = "invalid"            # the file or value exists but cannot be used as it is
    IO = "io"                      # any other OS error
    INTERNAL = "internal"          # a bug or missing dependency of sgdoctor itself


class ProbeError(SgdoctorError):
    """A probe could not get a fact: ``kind`` says why, ``message`` in the peer's or the OS's
    own words (quoted in findings, never parsed)."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = FailureKind(kind)
        self.message = message
