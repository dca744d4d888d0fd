"""`sgdoctor mesh`: every node of a group proves it can reach every other over its Gloo address.

etcd (the one Dynamo already uses, through its JSON gateway) is the meeting point:

1. this node's Gloo address(es) come from the gloo.interface check itself (one implementation);
2. a handshake server listens there (probe/nonce.py);
3. the node registers under /sgdoctor/mesh/<group>/<name> with a lease kept alive by a thread,
   so a crashed node disappears by itself;
4. once --expect nodes joined (or the join window closed) it dials every peer, publishes what
   it saw under results/<name>, reads the peers' results, and marks itself done/<name>;
5. it waits for every peer to be done (so nobody deletes results a slow peer still needs to
   read), then revokes its lease: the group's keys are gone.

Every etcd call and socket operation is bounded, and the phases share out --timeout so the
run ends on time with a verdict even when etcd dies half-way.
"""

from __future__ import annotations

import errno
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sgdoctor import __version__
from sgdoctor.api import Context, Result, Status, check
from sgdoctor.parse.mesh import (
    Listener,
    Member,
    Probe,
    done_key,
    group_prefix,
    judge,
    member_key,
    parse_member,
    parse_results,
    results_key,
    results_to_json,
)

CALL_TIMEOUT = 2.0     # one etcd request
DIAL_TIMEOUT = 3.0     # connect + handshakes with one peer
POLL = 0.2             # between looks at the group's keys
ETCD_GRACE = 2.0       # how long etcd may fail before the node gives up
DEFAULT_TTL = 10       # seconds a crashed node's keys survive it
ENV = ("GLOO_SOCKET_IFNAME", "ETCD_ENDPOINTS", "ETCD_AUTH_USERNAME", "ETCD_AUTH_PASSWORD",
       "ETCD_AUTH_CA", "ETCD_AUTH_CLIENT_CERT", "ETCD_AUTH_CLIENT_KEY", "MACA_PATH",
       "LD_LIBRARY_PATH")
ETCD_REMEDY = ("Check the etcd cluster from this node (`sgdoctor --only etcd.endpoints`); "
               "the mesh uses the same ETCD_ENDPOINTS and ETCD_AUTH_* as Dynamo")


class Abort(Exception):
    """The run cannot go on; the summary and remedy become the verdict."""

    def __init__(self, summary: str, remedy: str) -> None:
        super().__init__(summary)
        self.summary, self.remedy = summary, remedy


@dataclass
class Snapshot:
    """The group's keys at one moment."""

    members: dict[str, Member] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    results: dict[str, bytes] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)


def _etcd_connector(env: Mapping[str, str], deadline: float) -> tuple[Callable[[], Any], str]:
    """A factory of authenticated clients for the first etcd endpoint that answers."""
    from sgdoctor.parse.endpoints import etcd_config
    from sgdoctor.probe.etcd import EtcdClient, TlsMaterial, client_tls_context, etcd_password
    from sgdoctor.probe.http import ProbeError

    cfg = etcd_config(env)
    password = etcd_password(env, cfg)
    tls = None
    errors: list[str] = []
    if any(ep.scheme == "https" for ep in cfg.endpoints):
        material = TlsMaterial.from_env(env, cfg)
        try:
            tls = client_tls_context(material)
        except ProbeError as exc:
            errors.append(exc.message)
    for endpoint in cfg.endpoints:
        if endpoint.error:
            errors.append(f"{endpoint.display}: {endpoint.error}")
            continue
        if endpoint.scheme == "https" and tls is None:
            continue

        def make(endpoint=endpoint) -> Any:
            timeout = max(0.05, min(CALL_TIMEOUT, deadline - time.monotonic()))
            client = EtcdClient.for_endpoint(endpoint, tls=tls, username=cfg.username,
                                             password=password, timeout=timeout,
                                             deadline=deadline)
            try:
                if cfg.username is not None:
                    client.authenticate()
                client.status()
            except BaseException:
                client.close()
                raise
            return client

        try:
            make().close()
        except ProbeError as exc:
            errors.append(f"{endpoint.display}: {exc.message}")
            continue
        return make, endpoint.display
    raise Abort(f"no usable etcd endpoint to meet the group: {'; '.join(errors)}", ETCD_REMEDY)


class _Mesh:
    def __init__(self, ctx: Context) -> None:
        opts = ctx.options
        self.env = ctx.env
        self.group: str = opts["group"]
        self.name: str = opts["name"]
        self.expect: int = int(opts["expect"])
        self.port: int = int(opts.get("port") or 0)
        self.settings: Mapping[str, Mapping[str, Any]] = opts.get("settings") or {}
        self.ttl = int(ctx.setting("lease_ttl", DEFAULT_TTL))
        now = time.monotonic()
        self.end = ctx.deadline
        total = max(0.1, self.end - now)
        self.cleanup_at = self.end - min(1.0, 0.1 * total)
        self.join_until = self.cleanup_at - min(5.0, 0.35 * total)
        self.results_until = self.cleanup_at - min(1.0, 0.1 * total)
        self.token = secrets.token_hex(16)
        self.server: Any = None
        self.client: Any = None
        self.connect: Callable[[], Any] | None = None
        self.lease = 0
        self.stop = threading.Event()
        self.lease_problem: str | None = None
        self.keepalive_error: str | None = None
        self.gloo: Result | None = None
        self.me: Member | None = None
        self.snap = Snapshot()       # the latest look at the group
        self.joined = Snapshot()     # the look that ended the join window: the verdict's group
        self.peers: dict[str, Member] = {}
        self.views: dict[str, dict[str, Probe]] = {}
        self.abort: Abort | None = None
        self.details: dict[str, Any] = {"group": self.group, "node": self.name,
                                        "expect": self.expect, "lease_ttl": self.ttl}

    # ---------------------------------------------------------------- phases
    def phases(self) -> None:
        listeners, problem = self.listen()
        self.register(listeners, problem)
        self.peers = self.wait_for_members()
        self.views[self.name] = self.dial_peers()
        self.put(results_key(self.group, self.name), results_to_json(self.views[self.name]))
        self.views.update(self.wait_for_results())
        self.put(done_key(self.group, self.name), "1")
        self.wait_until(self.cleanup_at, "waiting for the others to finish", lambda s: all(
            n in s.done for n in self.peers if n in s.members))

    def listen(self) -> tuple[list[Listener], str | None]:
        """Gloo's address(es), exactly as gloo.interface works them out, and a server there."""
        from sgdoctor.checks.gloo import gloo_interface
        from sgdoctor.probe.nonce import NonceServer

        ctx = Context(self.env, deadline=min(self.end, time.monotonic() + 5.0))
        self.gloo = gloo = gloo_interface(ctx)
        self.details["gloo"] = {"status": gloo.status.value, "summary": gloo.summary}
        interfaces = gloo.details.get("interfaces", {})
        wanted: dict[str, str | None] = {}
        for device in gloo.details.get("chosen", {}).values():
            if device.get("address"):
                wanted.setdefault(device["address"], device.get("interface"))
        if not wanted:
            return [], gloo.summary
        self.server = NonceServer(self.group, self.name, self.token)
        listeners = []
        for address, interface in wanted.items():
            try:
                port = self.server.listen(address, self.port)
            except OSError as exc:
                where = f"{address}:{self.port}" if self.port else address
                remedy = ("Choose a free --port (or omit it for an ephemeral one)"
                          if exc.errno == errno.EADDRINUSE else
                          gloo.remedy or "Fix GLOO_SOCKET_IFNAME (see `sgdoctor --only "
                                         "gloo.interface`)")
                raise Abort(f"cannot listen on the Gloo address {where}: "
                            f"{exc.strerror or exc}", remedy) from None
            mtu = interfaces.get(interface or "", {}).get("mtu")
            listeners.append(Listener(interface, address, port, mtu))
        return listeners, None

    def register(self, listeners: list[Listener], problem: str | None) -> None:
        from sgdoctor.probe.fleet import node_facts
        from sgdoctor.probe.http import ProbeError

        maca_dir, names = _maca_settings(self.env, self.settings)
        version, libraries, facts_problem = node_facts(
            self.env, maca_dir, names, min(self.join_until, time.monotonic() + 5.0))
        if facts_problem:
            self.details["facts_problem"] = facts_problem
        self.me = Member(self.name, self.token, tuple(listeners), version, libraries,
                         __version__, problem)
        self.connect, self.details["etcd"] = _etcd_connector(self.env, self.end)
        try:
            self.client = self.connect()
            taken = self.client.get(member_key(self.group, self.name))
            if taken:
                raise Abort(f"another node is already registered as {self.name} in group "
                            f"{self.group}",
                            "Give every node its own --name (the default is the hostname), or "
                            f"wait {self.ttl} s for a crashed run's lease to expire")
            self.lease = self.client.lease_grant(self.ttl)
            self.client.put(member_key(self.group, self.name), self.me.to_json(),
                            lease=self.lease)
        except ProbeError as exc:
            raise Abort(f"cannot register in etcd at {self.details['etcd']}: {exc.message}",
                        ETCD_REMEDY) from None
        threading.Thread(target=self._keepalive, daemon=True,
                         name="sgdoctor-mesh-keepalive").start()

    def wait_for_members(self) -> dict[str, Member]:
        self.wait_until(self.join_until, "waiting for the group to gather",
                        lambda s: len(s.members) >= self.expect)
        self.joined = self.snap
        return {n: m for n, m in self.snap.members.items() if n != self.name}

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

        found = run_all([lambda p=p: one(p) for p in peers], time.monotonic() + timeout + 0.5,
                        fallback)
        return {p.name: probe for p, probe in zip(peers, found, strict=True)}

    def wait_for_results(self) -> dict[str, dict[str, Probe]]:
        self.wait_until(self.results_until, "waiting for the peers' results", lambda s: all(
            n in s.results for n in self.peers if n in s.members))
        views = {}
        for name in self.peers:
            raw = self.snap.results.get(name)
            parsed = parse_results(raw) if raw is not None else None
            if parsed is not None:
                views[name] = parsed
        return views

    # ---------------------------------------------------------------- etcd plumbing
    def put(self, key: str, value: str) -> None:
        from sgdoctor.probe.http import ProbeError

        try:
            self.client.put(key, value, lease=self.lease)
        except ProbeError as exc:
            raise Abort(f"lost etcd at {self.details['etcd']} while publishing: {exc.message}",
                        ETCD_REMEDY) from None

    def look(self) -> Snapshot:
        """One range read of the group's prefix, split into members, results and done."""
        prefix = group_prefix(self.group)
        snap = Snapshot()
        for raw_key, value, _lease in self.client.get(prefix, prefix=True):
            rest = raw_key.decode("utf-8", "replace")[len(prefix):]
            kind, _, name = rest.rpartition("/")
            if kind == "":
                member = parse_member(name, value)
                if isinstance(member, Member):
                    snap.members[name] = member
                else:
                    snap.unreadable[name] = member
            elif kind == "results":
                snap.results[name] = value
            elif kind == "done":
                snap.done.add(name)
        return snap

    def wait_until(self, until: float, what: str, ready: Callable[[Snapshot], bool]) -> None:
        """Poll the group until ``ready`` or ``until``; etcd failing longer than ETCD_GRACE
        (or this node's lease vanishing) aborts the run."""
        from sgdoctor.probe.http import ProbeError

        failing_since: float | None = None
        while True:
            if self.lease_problem:
                raise Abort(f"this node's etcd lease ended while {what}: {self.lease_problem}",
                            ETCD_REMEDY)
            try:
                snap = self.look()
            except ProbeError as exc:
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since >= ETCD_GRACE or now >= until:
                    raise Abort(f"lost etcd at {self.details['etcd']} while {what}: "
                                f"{exc.message}", ETCD_REMEDY) from None
                self.client.close()
                time.sleep(POLL)
                continue
            failing_since = None
            if self.name not in snap.members:
                raise Abort(f"this node's registration vanished from etcd while {what} (its "
                            "lease expired or the key was deleted)", ETCD_REMEDY)
            self.snap = snap
            if ready(snap) or time.monotonic() >= until:
                return
            time.sleep(max(0.0, min(POLL, until - time.monotonic())))

    def _keepalive(self) -> None:
        from sgdoctor.probe.http import ProbeError

        client = None
        while not self.stop.wait(self.ttl / 3):
            try:
                client = client or (self.connect() if self.connect else None)
                if client is None:
                    return
                if client.lease_keepalive(self.lease) <= 0:
                    self.lease_problem = "etcd says the lease no longer exists"
                    return
                self.keepalive_error = None
            except ProbeError as exc:
                self.keepalive_error = exc.message
                if client is not None:
                    client.close()
                client = None
        if client is not None:
            client.close()

    def cleanup(self) -> None:
        """Stop serving, stop the keep-alive and revoke the lease (deleting our keys)."""
        from sgdoctor.probe.http import ProbeError

        self.stop.set()
        if self.server is not None:
            self.server.close()
        if not self.lease or self.client is None:
            return
        self.client.close()
        self.client.timeout = max(0.05, min(CALL_TIMEOUT, self.end - time.monotonic()))
        try:
            self.client.lease_revoke(self.lease)
            self.details["cleanup"] = "lease revoked: this node's keys are deleted"
        except ProbeError as exc:
            self.details["cleanup"] = (f"could not revoke the lease ({exc.message}): this "
                                       f"node's keys expire with it within {self.ttl} s")
        finally:
            self.client.close()

    # ---------------------------------------------------------------- verdict
    def result(self) -> Result:
        fails, warns = self._own_findings()
        if self.abort is not None:
            fails.append((self.abort.summary, self.abort.remedy))
        members = dict(self.joined.members or self.snap.members)
        if self.me is not None:
            members[self.name] = self.me
        if self.abort is None:
            verdict = judge(self.group, self.name, self.expect, members, self.views,
                            self.joined.unreadable)
            fails += verdict.fails
            warns += verdict.warns
            self.details["matrix"] = verdict.matrix
            self.details["pairs"] = verdict.pairs
        self.details["members"] = {n: m.as_details() for n, m in sorted(members.items())}
        if self.keepalive_error:
            self.details["keepalive_error"] = self.keepalive_error
        return _fold(fails, warns, self._ok_summary(), self.details)

    def _own_findings(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(fails, warns) about this node's own Gloo address, in gloo.interface's words."""
        gloo = self.gloo
        if gloo is None:
            return [], []
        if gloo.status is Status.FAIL:
            return [(f"this node's Gloo setup: {gloo.summary}",
                     gloo.remedy or "See `sgdoctor --only gloo.interface`")], []
        loop = [li for li in (self.me.listeners if self.me else ()) if li.loopback]
        if loop and self.expect > 1:
            # Peers on other hosts then fail to connect (reported per pair); this says why.
            return [], [(f"this node's Gloo address {loop[0].address} is loopback: only "
                         "nodes on this host can reach it", gloo.remedy or "Set "
                         "GLOO_SOCKET_IFNAME to an interface the other nodes can reach")]
        return [], []

    def _ok_summary(self) -> str:
        rtts = [p.rtt_ms for view in self.views.values() for p in view.values()
                if p.ok and p.rtt_ms is not None]
        joined = len(self.joined.members)
        if joined == 1:
            return f"the only node of group {self.group}, as expected: nothing to dial"
        worst = f", slowest round trip {max(rtts):.2f} ms" if rtts else ""
        return (f"all {joined} nodes of group {self.group} reach each other over Gloo "
                f"({len(rtts)} directed pairs{worst})")


def _maca_settings(env: Mapping[str, str],
                   settings: Mapping[str, Mapping[str, Any]]) -> tuple[str, list[str]]:
    """MACA directory and required libraries with maca.sdk's and maca.libs' defaults."""
    from sgdoctor.parse.maca import DEFAULT_MACA_DIR

    maca_dir = env.get("MACA_PATH") or str(settings.get("maca.sdk", {}).get(
        "maca_dir", DEFAULT_MACA_DIR))
    names = settings.get("maca.libs", {}).get("libraries")
    if not (isinstance(names, list) and all(isinstance(n, str) and n for n in names)):
        from sgdoctor.parse.maca import MACA_LIBRARIES as names
    return maca_dir, list(names)


def _fold(fails: list[tuple[str, str]], warns: list[tuple[str, str]], ok_summary: str,
          details: dict[str, Any]) -> Result:
    items = fails or warns
    if not items:
        return Result.ok(ok_summary, details=details, env=ENV)
    summary = "; ".join(dict.fromkeys(s for s, _ in items))
    remedy = " ".join(dict.fromkeys(r for _, r in fails + warns if r))
    status = Status.FAIL if fails else Status.WARN
    return Result(status, summary, remedy, details, ENV)


def run(ctx: Context) -> tuple[Result, int | None]:
    """The whole mesh run; always cleans up. Returns the result and a signal, if one ended it."""
    from sgdoctor.waiting import Interrupted

    mesh = _Mesh(ctx)
    signum = None
    crash: Exception | None = None
    try:
        mesh.phases()
    except Abort as exc:
        mesh.abort = exc
    except Interrupted as exc:
        signum = exc.signum
        mesh.abort = Abort(f"interrupted by {exc} before the mesh was proven",
                           "Let the run finish (see --timeout)")
    except Exception as exc:  # a fault of sgdoctor: still leave the group cleanly
        crash = exc
    finally:
        try:
            mesh.cleanup()
        except Interrupted as exc:  # a second signal: the lease then expires by itself
            signum = signum or exc.signum
    if crash is not None:
        return Result.error(f"sgdoctor mesh raised {type(crash).__name__}: {crash}",
                            details=mesh.details, env=ENV), signum
    return mesh.result(), signum


@check("mesh.gloo", title="Gloo full mesh across the group", env=ENV, timeout=60.0,
       tags=("network", "fleet"))
def mesh_gloo(ctx: Context) -> Result:
    """Run by `sgdoctor mesh --group NAME --expect N` on every node of a deployment: each
    node listens on its Gloo address (as gloo.interface works it out), meets the others in
    etcd (/sgdoctor/mesh/<group>/), dials every peer with a nonce handshake and measures the
    round trip. Fails on any pair that cannot connect (seen from either end), when fewer than
    N nodes joined, or when this node's Gloo address is unusable; warns when a node's MACA
    version or MACA library set differs from the majority's."""
    return run(ctx)[0]
