"""Which local address (and so which interface) the kernel would use to reach a host.

A UDP socket's ``connect()`` only asks the routing table; ``getsockname()`` then tells the source
address. No packet is sent. Name resolution has no timeout of its own (getaddrinfo), so it runs
in a daemon thread that we stop waiting for.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterable

from sgdoctor.probe import host_arg
from sgdoctor.records import dataclass


@dataclass(frozen=True)
class Resolution:
    host: str
    addresses: tuple[str, ...] = ()
    error: str | None = None


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return None


def _getaddrinfo(host: str, box: dict) -> None:
    try:
        infos = socket.getaddrinfo(host_arg(host), None, socket.AF_UNSPEC, socket.SOCK_STREAM)
        seen: list[str] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            address = str(sockaddr[0]).split("%", 1)[0]
            if address not in seen:
                seen.append(address)
        box["addresses"] = tuple(seen)
    except (OSError, UnicodeError, ValueError) as exc:
        box["error"] = f"cannot resolve {host!r}: {exc}"


def resolve_many(hosts: Iterable[str], timeout: float) -> dict[str, Resolution]:
    """Resolve every host in parallel; the whole batch takes at most ``timeout`` seconds.

    Addresses keep getaddrinfo's order (AF_UNSPEC, SOCK_STREAM: what gloo and PyTorch ask for).
    """
    results: dict[str, Resolution] = {}
    pending: list[tuple[str, threading.Thread, dict]] = []
    for host in dict.fromkeys(hosts):
        literal = _literal(host)
        if literal is not None:
            results[host] = Resolution(host, (literal,))
            continue
        box: dict = {}
        thread = threading.Thread(target=_getaddrinfo, args=(host, box), daemon=True,
                                  name=f"sgdoctor-resolve-{host[:40]}")
        thread.start()
        pending.append((host, thread, box))
    deadline = time.monotonic() + timeout
    for host, thread, box in pending:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            results[host] = Resolution(host, error=f"resolving {host!r} took longer than "
                                                   f"{timeout:.1f}s")
        elif "error" in box:
            results[host] = Resolution(host, error=box["error"])
        else:
            results[host] = Resolution(host, box.get("addresses", ()))
    return results


def source_address(destination: str) -> tuple[str | None, str | None]:
    """(local source address, error) the kernel picks to reach ``destination``.

    The port is irrelevant to routing; 9 (discard) is used. No packet is sent.
    """
    literal = _literal(destination)
    if literal is None:
        return None, f"{destination!r} is not an IP address"
    family = socket.AF_INET6 if ":" in literal else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((destination, 9))
            return str(sock.getsockname()[0]).split("%", 1)[0], None
    except OSError as exc:
        return None, f"no route to {destination}: {exc.strerror or exc}"


def first_bindable(addresses: Iterable[str]) -> tuple[str | None, list[str]]:
    """The first address a TCP socket can bind to, as PyTorch and gloo try them, and errors.

    Binding (to an ephemeral port, closed at once) touches no network.
    """
    errors: list[str] = []
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.bind((address, 0))
            return address, errors
        except OSError as exc:
            errors.append(f"bind({address}) failed: {exc.strerror or exc}")
    return None, errors
