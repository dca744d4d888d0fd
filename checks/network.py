"""The remedies for a server that cannot be talked to, keyed by FailureKind.

One table for every network check: etcd.endpoints and nats.server format it with their
``Service`` and extend it with the rows only they know (credentials, TLS settings). A refusal
or "no route to host" from another host names a firewall: firewalld's default zone REJECTs
with icmp-host-prohibited (EHOSTUNREACH, "No route to host"), an iptables REJECT answers
"connection refused".
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sgdoctor.api import FailureKind, ProbeError, Text
from sgdoctor.records import dataclass

TYPE_CHECKING = False

if TYPE_CHECKING:
    from sgdoctor.probe.tls_material import TlsMaterialError


@dataclass(frozen=True)
class Service:
    """Who the remedies talk about."""

    name: str       # "etcd"
    daemon: str     # what to start: "etcd", "nats-server"
    variable: str   # the address setting: "ETCD_ENDPOINTS"
    port: int       # its usual port, for "check the host and port"


# The templates of the rows; {name}, {daemon}, {variable} and {port} are the Service's.
_ROWS: Mapping[FailureKind, Text] = {
    FailureKind.DNS: Text("Use a host name this node can resolve, or the {name} server's IP "
                          "address"),
    FailureKind.REFUSED: Text("Start {daemon} on that host and port, or fix {variable}"),
    FailureKind.UNREACHABLE: Text("Check the route to the {name} host (wrong network or "
                                  "interface?)"),
    FailureKind.TIMEOUT: Text("Check that a firewall or a wrong address is not swallowing the "
                              "traffic, and that {name} listens on this address"),
    FailureKind.CLOSED: Text("Something on this port closes connections: check the host and "
                             "port ({name}'s usual port is {port})"),
    FailureKind.PROTOCOL: Text("This port does not speak {name}'s protocol: check the host and "
                               "port ({name}'s usual port is {port})"),
    FailureKind.TOO_LARGE: Text("This port does not speak {name}'s protocol: check the host "
                                "and port ({name}'s usual port is {port})"),
    FailureKind.PERMISSION: Text("A local firewall rule (an OUTPUT chain) blocks connections "
                                 "to this address: allow them"),
    FailureKind.IO: Text("Check the network of this node ({name} could not be dialled)"),
    FailureKind.INTERNAL: Text("This is a fault of sgdoctor or its installation, not of "
                               "{name}: run with --verbose and report it"),
}

FIREWALL_KINDS = frozenset({FailureKind.REFUSED, FailureKind.UNREACHABLE})


def remedies(service: Service, extra: Mapping[FailureKind, str | Text] | None = None
             ) -> Mapping[FailureKind, str | Text]:
    """The network rows for ``service``, overridden and extended by ``extra``."""
    rows: dict[FailureKind, str | Text] = {
        kind: Text(row.msgid, name=service.name, daemon=service.daemon,
                   variable=service.variable, port=service.port)
        for kind, row in _ROWS.items()}
    rows.update(extra or {})
    return MappingProxyType(rows)


def firewall_suspected(kind: FailureKind, peer_local: bool | None) -> bool:
    """A refusal or no-route from an address that is not this host's."""
    return kind in FIREWALL_KINDS and peer_local is False


def firewall_note(port: int | None) -> Text:
    """Said with the failure, when ``firewall_suspected``."""
    what = Text("port {port}", port=port) if port else Text("the port")
    return Text("a firewall on that host may be rejecting {what} (firewalld's default zone "
                "answers \"no route to host\", an iptables REJECT \"connection refused\")",
                what=what)


def firewall_remedy(port: int | None) -> Text:
    if not port:
        return Text("If the server runs, open the port in that host's firewall (firewalld: "
                    "firewall-cmd --permanent --add-port=the port && firewall-cmd --reload)")
    return Text("If the server runs, open {where} in that host's firewall (firewalld: "
                "firewall-cmd --permanent --add-port={where} && firewall-cmd --reload)",
                where=f"{port}/tcp")


def describe(failure: ProbeError, peer_local: bool | None, port: int | None) -> str | Text:
    """The failure in the peer's or the OS's words (verbatim), plus the firewall note when it
    applies."""
    if firewall_suspected(failure.kind, peer_local):
        return Text("{message} — {note}", message=failure.message, note=firewall_note(port))
    return failure.message


def material_remedy(error: TlsMaterialError, *, pem_text_ok: bool) -> Text:
    """What to do about one unusable file or PEM value, naming its variable."""
    from sgdoctor.probe.tls_material import TlsProblem

    name = error.variable
    missing = (Text("Point {name} at a file that exists (or give the PEM text itself)",
                    name=name) if pem_text_ok else
               Text("Point {name} at a file that exists", name=name))
    give = (Text("Give {name} as PEM text or a path to a readable PEM file", name=name)
            if pem_text_ok else Text("Give {name} as a readable file", name=name))
    return {
        TlsProblem.MISSING: missing,
        TlsProblem.UNREADABLE: Text("Make the file named by {name} readable by this user",
                                    name=name),
        TlsProblem.NOT_A_FILE: Text("Point {name} at a regular file, not a pipe, device or "
                                    "directory", name=name),
        TlsProblem.ENCRYPTED_KEY: Text("Give {name} an unencrypted key (openssl pkey -in "
                                       "key.pem -out plain.pem); nothing can type its pass "
                                       "phrase", name=name),
        TlsProblem.BAD_PAIR: Text("Give {name} the private key of the client certificate",
                                  name=name),
    }.get(error.problem, give)


def remedy_lines(table: Mapping[FailureKind, str | Text], failure: ProbeError,
                 peer_local: bool | None, port: int | None, *,
                 pem_text_ok: bool = False) -> list[str | Text]:
    """The remedy for one failure: its row (or the material's), then the firewall line when
    it applies."""
    from sgdoctor.probe.tls_material import TlsMaterialError

    if isinstance(failure, TlsMaterialError):
        return [material_remedy(failure, pem_text_ok=pem_text_ok)]
    lines = [table[failure.kind]] if failure.kind in table else []
    if firewall_suspected(failure.kind, peer_local):
        lines.append(firewall_remedy(port))
    return lines


STARTUP_KINDS = frozenset({FailureKind.DNS, FailureKind.REFUSED, FailureKind.UNREACHABLE,
                           FailureKind.TIMEOUT})
VERIFIED_DYNAMO = "1.6.1"


def startup_retry_line(name: str, variable: str) -> Text:
    """For a server that cannot be reached: Dynamo (1.6.1) keeps retrying for a while."""
    return Text("Dynamo retries its first connection to {name} for {variable} seconds (120 by "
                "default) before it gives up: a server started within that window is found",
                name=name, variable=variable)


@dataclass(frozen=True)
class DynamoRelease:
    """The Dynamo release whose rules apply: found in the server's environment, pinned in
    the config, or assumed (the release the rules were verified against)."""

    version: str
    where: str | None  # None: assumed
    why_assumed: str = ""

    @property
    def parts(self) -> tuple[int, ...]:
        numbers = []
        for piece in self.version.split("."):
            digits = "".join(c for c in piece if c.isdigit())
            if not digits or digits != piece:
                break
            numbers.append(int(digits))
        return tuple(numbers)

    @property
    def before_1_6(self) -> bool:
        """A release older than the 1.6 line whose rules sgdoctor verified."""
        return bool(self.parts) and self.parts < (1, 6)

    def describe(self) -> Text:
        if self.where is None:
            return Text("Dynamo {version} (assumed: {why})", version=self.version,
                        why=self.why_assumed)
        return Text("Dynamo {version}", version=self.version)

    def as_json(self) -> dict[str, str | None]:
        return {"version": self.version, "where": self.where,
                "assumed": self.why_assumed or None}


def dynamo_release(options: Mapping[str, object], env: Mapping[str, str],
                   timeout: float) -> DynamoRelease:
    """The server's Dynamo (probe.consumers), else the verified release, saying so."""
    from sgdoctor.probe.consumers import for_options

    consumers = for_options(options, env, timeout=timeout)
    release = consumers.found.get("dynamo")
    if release is not None:
        return DynamoRelease(release.version, release.where)
    why = (consumers.error.message if consumers.error is not None
           else "no ai-dynamo-runtime found for " + consumers.describe())
    return DynamoRelease(VERIFIED_DYNAMO, None, why)
