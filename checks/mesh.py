"""mesh.gloo: every node of a group proves it can reach every other over its Gloo address.

Run by `sgdoctor mesh` on every node (the rendezvous parameters arrive in ``ctx.options``):

1. this node's Gloo address(es) come from probe.gloo, the facts gloo.interface judges;
2. a handshake server listens there (probe.nonce);
3. the node joins the group in etcd (probe.rendezvous) with its record: addresses, MTUs,
   the number of gloo devices, the cluster-wide variables, the MACA version and libraries;
4. once --expect nodes joined (or the join window closed) it dials every peer, publishes what
   it saw, waits for every member's results (or the results window's end) and reads them,
   and marks itself done;
5. it waits for every member to be done (so nobody deletes results a slow peer still needs),
   then leaves (revoking its lease: the group's keys are gone). The rendezvous tells a
   phase's end by a marker key its last writer sets (probe.rendezvous), not by watching the
   whole group.

The phases share out the deadline so the run ends on time with a verdict even when etcd dies
half-way; parse.mesh_verdict judges the fleet.
"""

from __future__ import annotations

import errno
import functools
import time
from collections.abc import Callable, Mapping

from sgdoctor import __version__
from sgdoctor.api import Context, Findings, Result, Text, check
from sgdoctor.parse.mesh import (
    CLUSTER_VARIABLES,
    Listener,
    Member,
    Probe,
    parse_results,
    results_to_json,
)
from sgdoctor.parse.verdict import shown

TYPE_CHECKING = False
if TYPE_CHECKING:  # the run's machinery loads only when `sgdoctor mesh` runs the check
    from typing import Any

    from sgdoctor.parse.mesh_verdict import MeshVerdict
    from sgdoctor.probe.gloo import GlooFacts
    from sgdoctor.probe.rendezvous import RendezvousError

DIAL_TIMEOUT = 3.0     # connect + handshakes with one peer
GLOO_TIMEOUT = 2.0     # resolving the hostname and the etcd/NATS hosts
DEFAULT_TTL = 10       # seconds a crashed node's keys survive it
ENV = ("GLOO_SOCKET_IFNAME", "ETCD_ENDPOINTS", "ETCD_AUTH_USERNAME", "ETCD_AUTH_PASSWORD",
       "ETCD_AUTH_CA", "ETCD_AUTH_CLIENT_CERT", "ETCD_AUTH_CLIENT_KEY", "MACA_PATH",
       "LD_LIBRARY_PATH", *CLUSTER_VARIABLES)
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")
ETCD_REMEDY = Text("Check the etcd cluster from this node (`sgdoctor --only etcd.endpoints`); "
                   "the mesh uses the same ETCD_ENDPOINTS and ETCD_AUTH_* as Dynamo")


class Abort(Exception):
    """The run cannot go on; the summary and remedy become a finding."""

    def __init__(self, summary: Text, remedy: Text, *, code: str) -> None:
        super().__init__(str(summary))
        self.summary, self.remedy, self.code = summary, remedy, code


def _stopped(ctx: Context) -> Callable[[], str | None]:
    """``options["stop"]``: a callable saying why to stop now (a signal), or None."""
    stop = ctx.options.get("stop")
    return stop if callable(stop) else (lambda: None)


class _Mesh:
    def __init__(self, ctx: Context) -> None:
        opts = ctx.options
        self.env = ctx.env
        self.group: str = opts["group"]
        self.name: str = opts["name"]
        self.expect: int = int(opts["expect"])
        self.port: int = int(opts.get("port") or 0)
        self.expected_names: tuple[str, ...] = tuple(opts.get("expected_names") or ())
        self.settings: Mapping[str, Mapping[str, Any]] = opts.get("settings") or {}
        self.ttl = int(ctx.setting("lease_ttl", DEFAULT_TTL))
        self.stop_reason = _stopped(ctx)
        now = time.monotonic()
        self.end = ctx.deadline
        total = max(0.1, self.end - now)
        self.cleanup_at = self.end - min(1.0, 0.1 * total)
        self.join_until = self.cleanup_at - min(5.0, 0.35 * total)
        self.results_until = self.cleanup_at - min(1.0, 0.1 * total)
        import secrets

        from sgdoctor.probe.rendezvous import Rendezvous, Snapshot

        self.token = secrets.token_hex(16)
        self.server: Any = None
        self.meeting = Rendezvous(self.env, self.group, self.name, ttl=self.ttl,
                                  deadline=self.end,
                                  stopped=lambda: self.stop_reason() is not None)
        self.gloo: GlooFacts | None = None
        self.me: Member | None = None
        self.problem: Text | None = None
        self.joined = Snapshot()     # the members read as the join window closed: the
                                     # verdict's group
        self.peers: dict[str, Member] = {}
        self.views: dict[str, dict[str, Probe]] = {}
        self.abort: Abort | None = None
        self.details: dict[str, Any] = {"group": self.group, "node": self.name,
                                        "expect": self.expect, "lease_ttl": self.ttl}

    # ---------------------------------------------------------------- phases
    def phases(self) -> None:
        listeners, problem = self.listen()
        self.register(listeners, problem)
        self.joined = self.etcd(Text("waiting for the group to gather"),
                                lambda: self.meeting.gather(self.join_until))
        self.peers = {n: m for n, m in self.joined.members.items() if n != self.name}
        self.views[self.name] = self.dial_peers()
        results = self.etcd(Text("waiting for the peers' results"),
                            lambda: self.meeting.share("results",
                                                       results_to_json(self.views[self.name]),
                                                       self.results_until))
        self.views.update(self.peer_views(results))
        self.etcd(Text("waiting for the others to finish"),
                  lambda: self.meeting.share("done", "1", self.cleanup_at, read=False))

    def listen(self) -> tuple[list[Listener], Text | None]:
        """A handshake server on every address gloo would bind."""
        from sgdoctor.probe.nonce import NonceServer

        budget = max(0.05, min(GLOO_TIMEOUT, self.join_until - time.monotonic()))
        from sgdoctor.probe.gloo import probe_gloo

        self.gloo = facts = probe_gloo(self.env, budget)
        problem = _gloo_problem(facts)
        wanted: dict[str, str | None] = {}
        for device in facts.devices:
            if device.address and device.entry != "":
                wanted.setdefault(device.address, device.interface)
        if not wanted:
            return [], problem or Text("gloo binds no address")
        self.server = NonceServer(self.group, self.name, self.token)
        listeners = []
        for address, interface in wanted.items():
            try:
                port = self.server.listen(address, self.port)
            except OSError as exc:
                where = f"{address}:{self.port}" if self.port else address
                remedy = (Text("Choose a free --port (or omit it for an ephemeral one)")
                          if exc.errno == errno.EADDRINUSE else
                          Text("Fix GLOO_SOCKET_IFNAME (see `sgdoctor --only gloo.interface`)"))
                raise Abort(Text("cannot listen on the Gloo address {where}: {error}",
                                 where=where, error=str(exc.strerror or exc)), remedy,
                            code="listen_failed") from None
            iface = facts.interfaces.get(interface or "")
            listeners.append(Listener(interface, address, port,
                                      iface.mtu if iface is not None else None))
        return listeners, problem

    def register(self, listeners: list[Listener], problem: Text | None) -> None:
        from sgdoctor.probe.fleet import node_facts
        from sgdoctor.probe.rendezvous import RendezvousError

        assert self.gloo is not None
        maca_dir, names = _maca_settings(self.env, self.settings)
        version, libraries, facts_problem = node_facts(
            self.env, maca_dir, names, min(self.join_until, time.monotonic() + 5.0))
        if facts_problem:
            self.details["facts_problem"] = facts_problem
        spec = self.gloo.spec
        self.problem = problem   # the record carries it in English: peers read it
        self.me = Member(self.name, self.token, tuple(listeners), version, libraries,
                         __version__, None if problem is None else str(problem),
                         spec.device_count,
                         None if spec.raw is None else shown(spec.raw, 200),
                         {v: self.env.get(v) for v in CLUSTER_VARIABLES})
        try:
            self.meeting.join(self.me.to_json(), self.expect)
        except RendezvousError as exc:
            self.details["etcd"] = self.meeting.endpoint
            raise self._abort(exc, Text("registering")) from None
        self.details["etcd"] = self.meeting.endpoint

    def dial_peers(self) -> dict[str, Probe]:
        from sgdoctor.probe.nonce import dial
        from sgdoctor.probe.parallel import run_all

        peers = sorted(self.peers.values(), key=lambda m: m.name)
        timeout = max(0.05, min(DIAL_TIMEOUT, self.cleanup_at - time.monotonic()))

        def one(peer: Member) -> Probe:
            if not peer.listeners:
                return Probe(False, error=f"it has no usable Gloo address "
                                          f"({peer.problem or 'none registered'})")
            probes = [dial(li, group=self.group, name=peer.name, token=peer.token,
                           timeout=timeout) for li in peer.listeners]
            bad = next((p for p in probes if not p.ok), None)
            if bad:
                return bad
            return Probe(True, max(p.rtt_ms or 0.0 for p in probes),
                         address=", ".join(p.address or "" for p in probes))

        def fallback(index: int, exc: BaseException | None) -> Probe:
            why = "no answer within the timeout" if exc is None else f"{type(exc).__name__}"
            return Probe(False, error=why)

        found = run_all([functools.partial(one, p) for p in peers],
                        time.monotonic() + timeout + 0.5, fallback)
        return {p.name: probe for p, probe in zip(peers, found, strict=True)}

    def peer_views(self, results: Mapping[str, bytes]) -> dict[str, dict[str, Probe]]:
        views = {}
        for name in self.peers:
            raw = results.get(name)
            parsed = parse_results(raw) if raw is not None else None
            if parsed is not None:
                views[name] = parsed
        return views

    # ---------------------------------------------------------------- etcd, in the check's words
    def etcd(self, what: Text, phase: Callable[[], T]) -> T:
        """``phase()``; its RendezvousError as an Abort saying what the node was doing
        (publishing, or the wait ``what`` names)."""
        from sgdoctor.probe.rendezvous import RendezvousError, Stage

        try:
            return phase()
        except RendezvousError as exc:
            raise self._abort(exc, Text("publishing") if exc.stage is Stage.PUBLISH
                              else what) from None

    def _abort(self, exc: RendezvousError, what: Text) -> Abort:
        from sgdoctor.probe.rendezvous import Stage

        at = self.meeting.endpoint
        if exc.stage is Stage.CONNECT:
            return Abort(Text("no usable etcd endpoint to meet the group: {message}",
                              message=exc.message), ETCD_REMEDY, code="etcd_unusable")
        if exc.stage is Stage.NAME_TAKEN:
            return Abort(Text("another node is already registered as {name} in group {group}",
                              name=self.name, group=self.group),
                         Text("Give every node its own --name (the default is the hostname), "
                              "or wait {ttl} s for a crashed run's lease to expire",
                              ttl=self.ttl), code="name_taken")
        if exc.stage is Stage.REGISTER:
            return Abort(Text("cannot register in etcd at {at}: {message}", at=at,
                              message=exc.message), ETCD_REMEDY, code="etcd_unusable")
        if exc.stage is Stage.STOPPED:
            reason = self.stop_reason()
            return Abort(Text("{reason} before the mesh was proven", reason=reason) if reason
                         else Text("stopped before the mesh was proven"),
                         Text("Let the run finish (see --timeout)"), code="interrupted")
        if exc.stage is Stage.LEASE_ENDED:
            return Abort(Text("this node's etcd lease ended while {what}: {message}",
                              what=what, message=exc.message), ETCD_REMEDY, code="etcd_lost")
        if exc.stage is Stage.VANISHED:
            return Abort(Text("this node's registration vanished from etcd while {what} "
                              "({message})", what=what, message=exc.message), ETCD_REMEDY,
                         code="etcd_lost")
        return Abort(Text("lost etcd at {at} while {what}: {message}", at=at, what=what,
                          message=exc.message), ETCD_REMEDY, code="etcd_lost")

    def cleanup(self) -> None:
        """Stop serving and leave the group (revoking the lease deletes our keys)."""
        if self.server is not None:
            self.server.close()
        left = self.meeting.leave()
        if left is None:
            return
        self.details["cleanup"] = (
            "lease revoked: this node's keys are deleted" if left.revoked else
            f"could not revoke the lease ({left.error}): this node's keys expire with it "
            f"within {self.ttl} s")

    # ---------------------------------------------------------------- verdict
    def result(self) -> Result:
        found = Findings()
        self._own_findings(found)
        if self.abort is not None:
            found.fail(self.abort.summary, self.abort.remedy, code=self.abort.code)
        members = dict(self.joined.members)
        if self.me is not None:
            members[self.name] = self.me
        verdict = None
        if self.abort is None:
            from sgdoctor.parse.mesh_verdict import judge

            verdict = judge(self.group, self.name, self.expect, members, self.views,
                            self.joined.unreadable, expected_names=self.expected_names)
            found.extend(verdict.findings)
            self.details["matrix"] = verdict.matrix
            self.details["pairs"] = verdict.pairs
        self.details["members"] = {n: m.as_details() for n, m in sorted(members.items())}
        if self.meeting.keepalive_error:
            self.details["keepalive_error"] = self.meeting.keepalive_error
        return found.result(self._ok_summary(verdict), details=self.details, env=ENV)

    def _own_findings(self, found: Findings) -> None:
        """This node's own Gloo setup, from the same facts gloo.interface judges."""
        facts = self.gloo
        if facts is None or self.me is None:
            return
        fix = _route_remedy(facts)
        if self.me.problem:
            found.fail(Text("this node's Gloo setup is unusable: {problem}",
                            problem=self.problem or self.me.problem), fix,
                       code="own_gloo_unusable")
            return
        loop = [li for li in self.me.listeners if li.loopback]
        if loop and self.expect > 1:
            # Peers on other hosts then fail to connect (reported per pair); this says why.
            found.warn(Text("this node's Gloo address {address} is loopback: only nodes on this "
                            "host can reach it", address=loop[0].address), fix,
                       code="own_gloo_loopback")

    def _ok_summary(self, verdict: MeshVerdict | None) -> Text:
        """The summary when nothing is wrong; the pairs counted by the verdict, those a
        peer's summarised results imply too (above FULL_ROWS peers)."""
        joined = len(self.joined.members)
        if joined == 1:
            return Text("the only node of group {group}, as expected: nothing to dial",
                        group=self.group)
        pairs = verdict.reached if verdict is not None else 0
        if verdict is not None and verdict.slowest_ms is not None:
            return Text("all {joined} nodes of group {group} reach each other over Gloo "
                        "({pairs} directed pairs, slowest round trip {rtt} ms)", joined=joined,
                        group=self.group, pairs=pairs, rtt=f"{verdict.slowest_ms:.2f}")
        return Text("all {joined} nodes of group {group} reach each other over Gloo ({pairs} "
                    "directed pairs)", joined=joined, group=self.group, pairs=pairs)


def _gloo_problem(facts: GlooFacts) -> Text | None:
    """Why gloo would abort or be unreachable on this node, from its facts (None: it binds)."""
    spec = facts.spec
    if spec.has_empty:
        return Text("GLOO_SOCKET_IFNAME={value} has an empty entry: PyTorch aborts at once",
                    value=repr(shown(spec.raw or "", 200)))
    problems = []
    for device in facts.devices:
        if device.entry is None:
            if device.interface is None and not (facts.hostname and facts.hostname.fallback):
                problems.append(Text("the hostname resolves to {address}, which no interface "
                                     "has", address=device.address))
            continue
        name = shown(device.entry, 200)
        iface = facts.interfaces.get(device.entry)
        if iface is None:
            problems.append(Text("GLOO_SOCKET_IFNAME entry {name} names no interface here",
                                 name=repr(name)))
        elif device.address is None:
            problems.append(Text("interface {name} has no address", name=name))
        elif not iface.up:
            problems.append(Text("interface {name} is down ({state})", name=name,
                                 state=iface.state()))
    return Text.join("; ", problems) if problems else None


def _route_remedy(facts: GlooFacts) -> Text:
    peer = facts.route_peer
    if peer is not None:
        return Text("Set GLOO_SOCKET_IFNAME={interface} (it carries the route to the {service} "
                    "server {host}); see `sgdoctor --only gloo.interface`",
                    interface=peer.interface, service=peer.service, host=peer.host)
    return Text("See `sgdoctor --only gloo.interface` on this node")


def _maca_settings(env: Mapping[str, str],
                   settings: Mapping[str, Mapping[str, Any]]) -> tuple[str, list[str]]:
    """MACA directory and required libraries with maca.sdk's and maca.libs' defaults."""
    from sgdoctor.parse.maca import DEFAULT_MACA_DIR

    maca_dir = env.get("MACA_PATH") or str(settings.get("maca.sdk", {}).get(
        "maca_dir", DEFAULT_MACA_DIR))
    from sgdoctor.parse.maca import MACA_LIBRARIES

    names = settings.get("maca.libs", {}).get("libraries")
    if isinstance(names, list) and all(isinstance(n, str) and n for n in names):
        return maca_dir, list(names)
    return maca_dir, list(MACA_LIBRARIES)


@check("mesh.gloo", title="Gloo full mesh across the group", env=ENV, timeout=60.0,
       tags=("network", "fleet", "mesh"), settings={"lease_ttl": int})
def mesh_gloo(ctx: Context) -> Result:
    """Run only by `sgdoctor mesh --group NAME --expect N`, on every node of a deployment at
    about the same time: each node listens on its Gloo address (the facts gloo.interface
    judges), meets the others in etcd (/sgdoctor/mesh/<group>/), dials every peer with a
    nonce handshake and measures the round trip. Fails on any pair that cannot connect (seen
    from either end), when fewer than N nodes joined, when this node's Gloo setup is unusable,
    and on fleet drift in what must agree across a deployment: the Gloo address family, the
    number of GLOO_SOCKET_IFNAME entries (a different count hangs gloo's init), the MTU of
    the Gloo interfaces, NVSHMEM_SYMMETRIC_SIZE, the DYN_* planes and the MACA version; warns
    when a node's MACA library set differs from the majority's."""
    if "group" not in ctx.options:
        return Result.skip(Text("only `sgdoctor mesh --group NAME --expect N` runs it: it needs "
                                "the other nodes of the deployment"))
    mesh = _Mesh(ctx)
    crash: Exception | None = None
    try:
        mesh.phases()
    except Abort as exc:
        mesh.abort = exc
    except Exception as exc:  # a fault of sgdoctor: still leave the group cleanly
        crash = exc
    finally:
        mesh.cleanup()
    if crash is not None:
        return Result.error(Text("sgdoctor mesh raised {kind}: {error}",
                                 kind=type(crash).__name__, error=str(crash)),
                            details=mesh.details, env=ENV)
    return mesh.result()
