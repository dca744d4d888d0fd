"""This network namespace's TCP sockets from the kernel's sock_diag netlink interface, as
``ss`` reads them.

/proc/net/tcp and tcp6 walk the whole established hash on every read(): on a node with
262,144 buckets that is about 2 ms a read and four reads a run (two files, and the read that
finds the end), 8 ms in all, however few sockets there are. One sock_diag dump walks it once
for IPv4 and IPv6 together (the compatibility request, family AF_UNSPEC): 1.3 ms measured on
the same node. Only this process's namespace can be asked; --host-root reads /proc.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import time

from sgdoctor.parse.host import Socket

__all__ = ["tcp_sockets", "SockDiagError"]

NETLINK_SOCK_DIAG = 4
TCPDIAG_GETSOCK = 18            # the compatibility request: both address families at once
NLM_F_REQUEST, NLM_F_ROOT, NLM_F_MATCH = 0x1, 0x100, 0x200
NLMSG_ERROR, NLMSG_DONE = 2, 3
ALL_STATES = 0xFFF              # every TCP state, TIME_WAIT and the request sockets included
_HEADER = struct.Struct("=IHHII")   # nlmsghdr: len, type, flags, seq, pid
# inet_diag_msg: family, state, timer, retrans; then inet_diag_sockid: sport, dport (network
# order), src[16], dst[16], if, cookie[2]; then expires, rqueue, wqueue, uid, inode
_MESSAGE = struct.Struct("=BBBB2s2s16s16sI8sIIIII")
_LIMIT = 1 << 20                # sockets: a dump beyond this is not a node's


class SockDiagError(OSError):
    """The kernel would not answer (no sock_diag, a seccomp filter, a garbled reply)."""


def _request(seq: int) -> bytes:
    # inet_diag_req: family 0 (both), src_len, dst_len, ext; a zero sockid; states; dbs
    body = struct.pack("=BBBB48sII", 0, 0, 0, 0, b"", ALL_STATES, 0)
    return _HEADER.pack(_HEADER.size + len(body), TCPDIAG_GETSOCK,
                        NLM_F_REQUEST | NLM_F_ROOT | NLM_F_MATCH, seq, 0) + body


def _address(raw: bytes, v6: bool) -> str:
    """The address as /proc/net/tcp prints it: each 32-bit word in host order, %08X."""
    words = raw if v6 else raw[:4]
    return "".join(f"{int.from_bytes(words[i:i + 4], sys.byteorder):08X}"
                   for i in range(0, len(words), 4))


def _failed(code: int) -> SockDiagError:
    try:
        said = os.strerror(code)
    except (ValueError, OverflowError):
        said = f"error {code}"
    return SockDiagError(code, f"sock_diag: {said}")


def tcp_sockets(deadline: float) -> list[Socket]:
    """Every TCP socket of this network namespace; SockDiagError when the kernel does not
    say, or not by ``deadline`` (time.monotonic())."""
    seq = os.getpid() & 0x7FFFFFFF
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    except (OSError, AttributeError) as exc:
        raise SockDiagError(getattr(exc, "errno", None), f"sock_diag: {exc}") from None
    try:
        return _dump(sock, seq, deadline)
    except SockDiagError:
        raise
    except (OSError, struct.error) as exc:
        raise SockDiagError(getattr(exc, "errno", None), f"sock_diag: {exc}") from None
    finally:
        sock.close()


def _dump(sock: socket.socket, seq: int, deadline: float) -> list[Socket]:
    sock.settimeout(max(0.001, deadline - time.monotonic()))
    sock.sendall(_request(seq))
    sockets: list[Socket] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SockDiagError(None, "sock_diag: no full answer before the deadline")
        sock.settimeout(left)
        data = sock.recv(1 << 16)
        if not data:
            raise SockDiagError(None, "sock_diag: the kernel closed the socket")
        if _read_reply(data, seq, sockets):
            return sockets


def _read_reply(data: bytes, seq: int, sockets: list[Socket]) -> bool:
    """Add the sockets of one recv()'s messages to ``sockets``; True at the dump's end."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, _, got_seq, _ = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size or offset + length > len(data):
            raise SockDiagError(None, "sock_diag: a truncated message")
        if got_seq == seq:
            if kind in (NLMSG_DONE, NLMSG_ERROR):
                # a dump that failed part way ends in DONE with -errno (iproute2 reads it);
                # ERROR carries -errno, 0 being an acknowledgement
                code = (-struct.unpack_from("=i", data, offset + _HEADER.size)[0]
                        if length >= _HEADER.size + 4 else 0)
                if code:
                    raise _failed(code)
                if kind == NLMSG_DONE:
                    return True
            elif kind == TCPDIAG_GETSOCK and length >= _HEADER.size + _MESSAGE.size:
                sockets.append(_socket(data, offset + _HEADER.size))
                if len(sockets) > _LIMIT:
                    raise SockDiagError(None, "sock_diag: more sockets than a node has")
        offset += (length + 3) & ~3
    return False


def _socket(data: bytes, offset: int) -> Socket:
    (family, state, _, _, sport, _, src, _, _, _, _, _, _, _,
     inode) = _MESSAGE.unpack_from(data, offset)
    v6 = family == socket.AF_INET6
    return Socket(_address(src, v6), int.from_bytes(sport, "big"), state, inode, v6)
