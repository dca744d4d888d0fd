"""The IP SGLang 0.5.23 advertises for its cross-node message queue, found as SGLang finds it.

Mirrors ``sglang/srt/utils/network.py::get_local_ip_auto`` of SGLang 0.5.23 (called by
``shm_broadcast.MessageQueue`` as ``get_local_ip_auto("0.0.0.0")`` when a reader is on
another node, and by ``parallel_state`` for its master address):

1. ``SGLANG_HOST_IP``, else ``HOST_IP`` (the first non-empty one, taken as is);
2. ``get_local_ip_by_nic``: the interface named by ``SGLANG_LOCAL_IP_NIC`` — its first IPv4
   address that is not 127.0.0.1 or 0.0.0.0, else its first IPv6 one not starting with
   ``fe80::`` and not ``::1`` (a missing interface is logged and skipped);
3. ``get_local_ip_by_remote``: the source address of a UDP ``connect()`` to 8.8.8.8:80, else
   to 2001:4860:4860::8888 (both through ``getaddrinfo(..., AI_ADDRCONFIG)``; no packet is
   sent), else the hostname's first ``getaddrinfo`` address unless it is 127.0.0.1, 0.0.0.0
   or ::1 (so 127.0.1.1 passes);
4. the caller's fallback, ``0.0.0.0`` for the message queue.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping

from sgdoctor.api import Text
from sgdoctor.probe import host_arg
from sgdoctor.records import dataclass, field

SGLANG_RELEASE = "0.5.23"
SOURCE_FUNCTION = "sglang/srt/utils/network.py::get_local_ip_auto"
ENV_VARS = ("SGLANG_HOST_IP", "HOST_IP", "SGLANG_LOCAL_IP_NIC")
REMOTE_PROBES = (("8.8.8.8", 80), ("2001:4860:4860::8888", 80))
FALLBACK = "0.0.0.0"


@dataclass(frozen=True)
class Advertised:
    """The address and which step of SGLang's auto-detection gave it."""

    address: str
    step: str                        # "SGLANG_HOST_IP", "HOST_IP", "SGLANG_LOCAL_IP_NIC",
                                     # "route to 8.8.8.8", "route to 2001:...", "hostname",
                                     # "fallback"
    notes: tuple[Text, ...] = field(default=())  # steps that were tried and gave nothing
    found_by: Text | None = None     # the route or hostname step, in words


def _by_nic(name: str) -> tuple[str | None, Text | None]:
    """get_local_ip_by_nic for one interface name: (address, why none)."""
    import netifaces

    try:
        addresses = netifaces.ifaddresses(name)
    except (ValueError, OSError) as exc:
        return None, Text("SGLANG_LOCAL_IP_NIC={name}: {error} (SGLang logs this and goes on)",
                          name=repr(name), error=str(exc))
    for info in addresses.get(netifaces.AF_INET, ()):
        ip = info.get("addr")
        if ip and ip not in ("127.0.0.1", "0.0.0.0"):
            return ip, None
    for info in addresses.get(netifaces.AF_INET6, ()):
        ip = info.get("addr")
        if ip and not ip.startswith("fe80::") and ip != "::1":
            return ip.split("%")[0], None
    return None, Text("SGLANG_LOCAL_IP_NIC={name} has no address SGLang accepts",
                      name=repr(name))


def _by_route(host: str, port: int) -> str | None:
    try:
        family, socktype, proto, _, sockaddr = socket.getaddrinfo(
            host_arg(host), port, socket.AF_UNSPEC, socket.SOCK_DGRAM, 0, socket.AI_ADDRCONFIG)[0]
        with socket.socket(family, socktype, proto) as sock:
            sock.connect(sockaddr)
            return str(sock.getsockname()[0])
    except (socket.gaierror, OSError):
        return None


def _by_hostname(box: dict) -> None:
    try:
        hostname = socket.gethostname()
        box["hostname"] = hostname
        ip = socket.getaddrinfo(host_arg(hostname), None, socket.AF_UNSPEC, 0, 0,
                                socket.AI_ADDRCONFIG)[0][4][0]
        box["address"] = str(ip)
    except Exception as exc:  # SGLang swallows every exception here too
        box["error"] = str(exc)


def advertised_ip(env: Mapping[str, str], timeout: float) -> Advertised:
    """What SGLang 0.5.23's get_local_ip_auto("0.0.0.0") returns on this host."""
    for name in ("SGLANG_HOST_IP", "HOST_IP"):
        if env.get(name):
            return Advertised(env[name], name)
    notes: list[Text] = []
    nic = env.get("SGLANG_LOCAL_IP_NIC")
    if nic:
        address, why = _by_nic(nic)
        if address:
            return Advertised(address, "SGLANG_LOCAL_IP_NIC")
        notes.append(why or Text("SGLANG_LOCAL_IP_NIC={name} gave nothing", name=repr(nic)))
    for host, port in REMOTE_PROBES:
        address = _by_route(host, port)
        if address:
            return Advertised(address, f"route to {host}", tuple(notes),
                              Text("route to {host}", host=host))
        notes.append(Text("no route to {host}", host=host))
    box: dict = {}
    worker = threading.Thread(target=_by_hostname, args=(box,), daemon=True,
                              name="sgdoctor-sglang-hostname")
    worker.start()
    worker.join(timeout)
    address = box.get("address")
    if worker.is_alive():
        notes.append(Text("resolving the hostname took longer than {seconds}s",
                          seconds=f"{timeout:.1f}"))
    elif address and address not in ("127.0.0.1", "0.0.0.0", "::1"):
        name = repr(box.get("hostname"))
        return Advertised(address, f"hostname {name}", tuple(notes),
                          Text("hostname {name}", name=name))
    elif address:
        notes.append(Text("the hostname {name} resolves first to {address}, which SGLang "
                          "skips", name=repr(box.get("hostname")), address=address))
    else:
        notes.append(Text("the hostname {name} does not resolve: {error}",
                          name=repr(box.get("hostname")), error=str(box.get("error"))))
    return Advertised(FALLBACK, "fallback", tuple(notes))
