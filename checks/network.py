"""The remedies for a server that cannot be talked to, keyed by FailureKind.

One table for every network check: etcd.endpoints and nats.server format it with their
``Service`` and extend it with the rows only they know (credentials, TLS settings). A refusal
or "no route to host" from another host names a firewall: firewalld's default zone REJECTs
with icmp-host-prohibited (EHOSTUNREACH, "No route to host"), an iptables REJECT answers
"connection refused".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from sgdoctor.api import FailureKind, ProbeError

if TYPE_CHECKING:
    from sgdoctor.probe.tls_material import TlsMaterialError


@dataclass(frozen=True)
class Service:
    """Who the remedies talk about."""

    name: str       # "etcd"
    daemon: str     # what to start: "etcd", "nats-server"
    variable: str   # the address setting: "ETCD_ENDPOINTS"
    port: int       # its usual port, for "check the host and port"


_ROWS: Mapping[FailureKind, str] = {
    FailureKind.DNS: "Use a host name this node can resolve, or the {name} server's IP address",
    FailureKind.REFUSED: "Start {daemon} on that host and port, or fix {variable}",
    FailureKind.UNREACHABLE: "Check the route to the {name} host (wrong network or interface?)",
    FailureKind.TIMEOUT: "Check that a firewall or a wrong address is not swallowing the "
                         "traffic, and that {name} listens on this address",
    FailureKind.CLOSED: "Something on this port closes connections: check the host and port "
                        "({name}'s usual port is {port})",
    FailureKind.PROTOCOL: "This port does not speak {name}'s protocol: check the host and port "
                          "({name}'s usual port is {port})",
    FailureKind.TOO_LARGE: "This port does not speak {name}'s protocol: check the host and "
                           "port ({name}'s usual port is {port})",
    FailureKind.PERMISSION: "A local firewall rule (an OUTPUT chain) blocks connections to "
                            "this address: allow them",
    FailureKind.IO: "Check the network of this node ({name} could not be dialled)",
    FailureKind.INTERNAL: "This is a fault of sgdoctor or its installation, not of {name}: "
                          "run with --verbose and report it",
}

FIREWALL_KINDS = frozenset({FailureKind.REFUSED, FailureKind.UNREACHABLE})


def remedies(service: Service,
             extra: Mapping[FailureKind, str] | None = None) -> Mapping[FailureKind, str]:
    """The network rows for ``service``, overridden and extended by ``extra``."""
    rows = {kind: text.format(name=service.name, daemon=service.daemon,
                              variable=service.variable, port=service.port)
            for kind, text in _ROWS.items()}
    rows.update(extra or {})
    return MappingProxyType(rows)


def firewall_suspected(kind: FailureKind, peer_local: bool | None) -> bool:
    """A refusal or no-route from an address that is not this host's."""
    return kind in FIREWALL_KINDS and peer_local is False


def firewall_note(port: int | None) -> str:
    """Said with the failure, when ``firewall_suspected``."""
    what = f"port {port}" if port else "the port"
    return (f"a firewall on that host may be rejecting {what} (firewalld's default zone "
            "answers \"no route to host\", an iptables REJECT \"connection refused\")")


def firewall_remedy(port: int | None) -> str:
    where = f"{port}/tcp" if port else "the port"
    return (f"If the server runs, open {where} in that host's firewall (firewalld: "
            f"firewall-cmd --permanent --add-port={where} && firewall-cmd --reload)")


def describe(failure: ProbeError, peer_local: bool | None, port: int | None) -> str:
    """The failure in the peer's or the OS's words, plus the firewall note when it applies."""
    if firewall_suspected(failure.kind, peer_local):
        return f"{failure.message} — {firewall_note(port)}"
    return failure.message


def material_remedy(error: TlsMaterialError, *, pem_text_ok: bool) -> str:
    """What to do about one unusable file or PEM value, naming its variable."""
    from sgdoctor.probe.tls_material import TlsProblem

    name = error.variable
    give = "PEM text or a path to a readable PEM file" if pem_text_ok else "a readable file"
    return {
        TlsProblem.MISSING: f"Point {name} at a file that exists"
                            + (" (or give the PEM text itself)" if pem_text_ok else ""),
        TlsProblem.UNREADABLE: f"Make the file named by {name} readable by this user",
        TlsProblem.NOT_A_FILE: f"Point {name} at a regular file, not a pipe, device or "
                               "directory",
        TlsProblem.ENCRYPTED_KEY: f"Give {name} an unencrypted key (openssl pkey -in key.pem "
                                  "-out plain.pem); nothing can type its pass phrase",
        TlsProblem.BAD_PAIR: f"Give {name} the private key of the client certificate",
    }.get(error.problem, f"Give {name} as {give}")


def remedy_lines(table: Mapping[FailureKind, str], failure: ProbeError,
                 peer_local: bool | None, port: int | None, *,
                 pem_text_ok: bool = False) -> list[str]:
    """The remedy for one failure: its row (or the material's), then the firewall line when
    it applies."""
    from sgdoctor.probe.tls_material import TlsMaterialError

    if isinstance(failure, TlsMaterialError):
        return [material_remedy(failure, pem_text_ok=pem_text_ok)]
    lines = [table[failure.kind]] if failure.kind in table else []
    if firewall_suspected(failure.kind, peer_local):
        lines.append(firewall_remedy(port))
    return lines
