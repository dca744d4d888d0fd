"""The mesh's meeting point in etcd: register with a lease, follow the group, leave cleanly.

Every node of a group writes under /sgdoctor/mesh/<group>/ (its record, then results/<name>,
then done/<name>) with one lease kept alive by a thread, so a crashed node disappears by
itself and a finished one revokes its lease (deleting its keys). Every etcd call is bounded;
a failure is a RendezvousError whose ``stage`` says what could not be done, with the etcd
client's own words: mesh.gloo phrases the verdict.

Scale: a node reads the group once, as it joins (in pages of PAGE keys at one revision R,
so no reply nears the 1 MiB cap), and then watches it from R + 1, so it receives every key
of the group once — O(N) bytes and O(1) requests per node, whatever the group's size — and
loses nothing written between the read and the watch (its own record included). A dropped
stream resumes after the last revision applied; a compacted one (etcd no longer has that
history) reads the group again.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.parse.mesh import Member, group_prefix, member_key, parse_member
from sgdoctor.probe.etcd_client import EtcdError, prefix_end
from sgdoctor.probe.etcd_watch import WatchStream, revision_of

CALL_TIMEOUT = 2.0     # proving an endpoint answers (status, authenticate), and the revoke
REQUEST_TIMEOUT = 10.0  # one request once connected, and opening the watch: a fleet starting
                        # at once keeps etcd busy for seconds (ETCD_GRACE still applies)
TICK = 0.25            # longest wait on a silent watch before looking at stop/lease/deadline
RETRY = 0.2            # between attempts to reach etcd again
PAGE = 256             # keys per range read of the group (halved while a page is too large)
ETCD_GRACE = 2.0       # how long etcd may fail before the node gives up
OUT_OF_RANGE = 11      # gRPC code of a read at a compacted revision


class Stage(str, enum.Enum):
    """What the rendezvous could not do (stable: mesh.gloo's finding codes derive from it)."""

    CONNECT = "connect"            # no endpoint answered
    NAME_TAKEN = "name_taken"      # another live node holds this name
    REGISTER = "register"          # the lease or the record could not be written
    PUBLISH = "publish"            # results/done could not be written
    LOST = "lost"                  # etcd failed for longer than ETCD_GRACE while waiting,
                                   # or the keep-alives for longer than the lease's TTL
    LEASE_ENDED = "lease_ended"    # etcd says the lease no longer exists
    VANISHED = "vanished"          # this node's record disappeared
    STOPPED = "stopped"            # the caller asked to stop (a signal)


class RendezvousError(Exception):
    """The rendezvous cannot go on; ``message`` is the etcd client's or endpoint's words."""

    def __init__(self, stage: Stage, message: str, kind: FailureKind | None = None) -> None:
        super().__init__(message)
        self.stage, self.message, self.kind = stage, message, kind


@dataclass
class Snapshot:
    """The group's keys at one moment."""

    members: dict[str, Member] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    results: dict[str, bytes] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)

    def copy(self) -> Snapshot:
        return Snapshot(dict(self.members), dict(self.unreadable), dict(self.results),
                        set(self.done))


@dataclass(frozen=True)
class Cleanup:
    """How this node left the group."""

    revoked: bool
    error: str | None = None


def _connector(env: Mapping[str, str],
               deadline: float) -> tuple[Callable[[], Any], str, Any]:
    """A factory of authenticated clients for the first etcd endpoint that answers, its
    name, and the client that proved it answers."""
    from sgdoctor.parse.endpoints import etcd_config
    from sgdoctor.probe.etcd import EtcdClient, TlsMaterial, client_tls_context, etcd_password

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

        def make(endpoint: Any = endpoint) -> Any:
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
            client.timeout = REQUEST_TIMEOUT
            return client

        try:
            client = make()
        except ProbeError as exc:
            errors.append(f"{endpoint.display}: {exc.message}")
            continue
        return make, endpoint.display, client
    raise RendezvousError(Stage.CONNECT, "; ".join(errors) or "ETCD_ENDPOINTS names no endpoint")


class Rendezvous:
    """One node's membership of one group."""

    def __init__(self, env: Mapping[str, str], group: str, name: str, *, ttl: int,
                 deadline: float, stopped: Callable[[], bool] = lambda: False) -> None:
        self.env, self.group, self.name, self.ttl = env, group, name, ttl
        self.deadline = deadline
        self.stopped = stopped
        self.endpoint: str | None = None
        self.keepalive_error: str | None = None
        self._client: Any = None
        self._connect: Callable[[], Any] | None = None
        self._lease = 0
        self._lease_problem: str | None = None
        self._keepalive_failing: float | None = None   # since when keep-alives fail
        self._keepalive_kind: FailureKind | None = None
        self._stop = threading.Event()
        self._prefix = group_prefix(group).encode()
        self._watch: WatchStream | None = None
        self._revision = 0         # every change of the group up to it is in ``snap``
        self._registered = 0       # the revision of this node's record
        self._reauth = False
        self._watched = 0          # body bytes of the watch streams already closed
        self.snap = Snapshot()
        # What this node cost etcd (the bench and the scale tests read them).
        self.requests = 0          # requests, the keep-alives apart
        self.keepalives = 0
        self.watches = 0           # watch streams opened (1 + reconnects + re-reads)
        self.rereads = 0           # full reads of the group after a compaction
        self.retries = 0           # requests made again after a failure

    @property
    def received(self) -> int:
        """Reply body bytes from etcd (range reads, puts and watch streams; no keep-alives)."""
        own = self._client.received if self._client is not None else 0
        return own + self._watched + (self._watch.received if self._watch else 0)

    def join(self, record: str) -> None:
        """Connect, read the group, refuse a name that a live node holds, and register under
        a fresh lease. Reading first, in a fleet starting at once, finds the group nearly
        empty: the records arrive through the watch instead, spread over time."""
        self._connect, self.endpoint, self._client = _connector(self.env, self.deadline)
        self.requests += 1 + (self._client.username is not None)   # (authenticate,) status
        try:
            self._read_group()
            if self.name in self.snap.members or self.name in self.snap.unreadable:
                raise RendezvousError(Stage.NAME_TAKEN, f"{self.name} is registered already")
            self.requests += 1
            self._lease = self._client.lease_grant(self.ttl)
            self.requests += 1
            reply = self._client.put(member_key(self.group, self.name), record,
                                     lease=self._lease)
        except ProbeError as exc:
            raise RendezvousError(Stage.REGISTER, exc.message, exc.kind) from None
        header = reply.get("header")
        self._registered = revision_of(header.get("revision") if isinstance(header, dict)
                                       else None)
        threading.Thread(target=self._keepalive, daemon=True,
                         name="sgdoctor-mesh-keepalive").start()

    def put(self, key: str, value: str) -> None:
        """Write ``key`` under the lease, again while etcd fails for less than ETCD_GRACE
        (the same value again is harmless if a timed-out write did land)."""
        failing_since: float | None = None
        while True:
            try:
                self.requests += 1
                self._client.put(key, value, lease=self._lease)
                return
            except ProbeError as exc:
                now = time.monotonic()
                failing_since = failing_since or now
                if (exc.kind is FailureKind.AUTH or now - failing_since >= ETCD_GRACE
                        or now >= self.deadline):
                    raise RendezvousError(Stage.PUBLISH, exc.message, exc.kind) from None
                self.retries += 1
                time.sleep(RETRY)

    def _apply(self, snap: Snapshot, kind: str, raw_key: bytes, value: bytes) -> None:
        """One key of the group (a PUT; ``kind`` DELETE removes it) into ``snap``."""
        rest = raw_key[len(self._prefix):].decode("utf-8", "replace")
        section, _, name = rest.rpartition("/")
        if kind == "DELETE":
            if section == "":
                snap.members.pop(name, None)
                snap.unreadable.pop(name, None)
            elif section == "results":
                snap.results.pop(name, None)
            elif section == "done":
                snap.done.discard(name)
            return
        if section == "":
            member = parse_member(name, value)
            if isinstance(member, Member):
                snap.members[name] = member
                snap.unreadable.pop(name, None)
            else:
                snap.unreadable[name] = member
        elif section == "results":
            snap.results[name] = value
        elif section == "done":
            snap.done.add(name)

    def _read_group(self) -> None:
        """``snap`` from the group's keys, read in pages at one revision (no reply grows past
        PAGE records; a page etcd finds too large is asked for again in halves)."""
        end = prefix_end(self._prefix)
        page, restarts = PAGE, 0
        start, revision, snap = self._prefix, 0, Snapshot()
        while True:
            try:
                self.requests += 1
                kvs, more, at = self._client.range_page(start, end, limit=page,
                                                        revision=revision, serializable=True)
            except ProbeError as exc:
                if exc.kind is FailureKind.TOO_LARGE and page > 1:
                    page //= 2
                    self.retries += 1
                    continue
                if (isinstance(exc, EtcdError) and exc.code == OUT_OF_RANGE and revision
                        and restarts < 3):   # compacted while we read: read afresh
                    restarts += 1
                    self.retries += 1
                    start, revision, snap = self._prefix, 0, Snapshot()
                    continue
                raise
            revision = revision or at
            for raw_key, value, _lease in kvs:
                self._apply(snap, "PUT", raw_key, value)
            if not more or not kvs:
                break
            start = kvs[-1][0] + b"\0"
        self.snap, self._revision = snap, revision

    def _start_watch(self) -> None:
        """Watch the group from the revision after the last one applied (reading the group
        first when nothing is applied yet, or when etcd compacted what we would need)."""
        if self._reauth and self._client.username is not None:
            self.requests += 1
            self.retries += 1
            self._client.authenticate()
        self._reauth = False
        for _ in range(3):
            if not self._revision:
                self._read_group()
            stream = WatchStream(self._client, self._prefix, prefix_end(self._prefix),
                                 self._revision + 1)
            self.requests += 1
            self.watches += 1
            first = stream.open(min(self.deadline, time.monotonic() + REQUEST_TIMEOUT))
            if not first.canceled:
                self._watch = stream
                return
            self._watched += stream.received
            stream.close()
            if not first.compact_revision:
                raise _cancel_error(first.cancel_reason)
            self._revision = 0
            self.rereads += 1
        raise ProbeError(FailureKind.SERVER, "etcd compacted the group's history three times "
                                             "while this node read it")

    def _follow(self, until: float) -> None:
        """Apply what the watch delivers by ``until`` (nothing: the group did not change)."""
        assert self._watch is not None
        for reply in self._watch.read(until):
            if reply.canceled:
                self._drop()
                if not reply.compact_revision:
                    raise _cancel_error(reply.cancel_reason)
                self._revision = 0
                self.rereads += 1
                return
            for event in reply.events:
                self._apply(self.snap, event.kind, event.key, event.value)
                self._revision = max(self._revision, event.revision)
            if reply.progress:
                self._revision = max(self._revision, reply.revision)

    def _drop(self, exc: ProbeError | None = None) -> None:
        """Close the watch (and the client's connection, after a failure)."""
        if self._watch is not None:
            self._watched += self._watch.received
            self._watch.close()
            self._watch = None
        if exc is not None:
            self._client.close()
            self._reauth = exc.kind is FailureKind.AUTH

    def wait_until(self, until: float, ready: Callable[[Snapshot], bool]) -> Snapshot:
        """Follow the group (watched) until ``ready`` of it or ``until``; a copy of it then.

        etcd failing longer than ETCD_GRACE (or the keep-alives longer than the lease's TTL:
        the lease cannot have survived), this node's lease or record vanishing, or
        ``stopped()`` raise RendezvousError."""
        failing_since: float | None = None
        while True:
            if self.stopped():
                raise RendezvousError(Stage.STOPPED, "asked to stop")
            if self._lease_problem:
                raise RendezvousError(Stage.LEASE_ENDED, self._lease_problem)
            since = self._keepalive_failing
            if since is not None and time.monotonic() - since >= self.ttl:
                raise RendezvousError(Stage.LOST, self.keepalive_error or "keep-alives fail",
                                      self._keepalive_kind)
            try:
                if self._watch is None:
                    self._start_watch()
                if self._revision >= self._registered and self.name not in self.snap.members:
                    raise RendezvousError(Stage.VANISHED,
                                          "its lease expired or the key was deleted")
                now = time.monotonic()
                if ready(self.snap) or now >= until:
                    return self.snap.copy()
                self._follow(min(until, now + TICK))
                failing_since = None
            except ProbeError as exc:
                self._drop(exc)
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since >= ETCD_GRACE or now >= until:
                    raise RendezvousError(Stage.LOST, exc.message, exc.kind) from None
                time.sleep(max(0.0, min(RETRY, until - now)))

    def _keepalive(self) -> None:
        """Refresh the lease every third of its TTL, and a failed refresh within a second, on
        a connection of its own (reopened after a failure; no new status probe: a busy etcd
        would fail it)."""
        client = None
        reauth = False
        while not self._stop.wait(self.ttl / 3 if self._keepalive_failing is None
                                  else min(1.0, self.ttl / 10)):
            try:
                if client is None:
                    if self._connect is None:
                        return
                    client = self._connect()
                elif reauth and client.username is not None:
                    client.authenticate()
                self.keepalives += 1
                if client.lease_keepalive(self._lease) <= 0:
                    self._lease_problem = "etcd says the lease no longer exists"
                    return
                self.keepalive_error, self._keepalive_failing, reauth = None, None, False
            except ProbeError as exc:
                self.keepalive_error, self._keepalive_kind = exc.message, exc.kind
                self._keepalive_failing = self._keepalive_failing or time.monotonic()
                reauth = exc.kind is FailureKind.AUTH
                if client is not None:
                    client.close()
        if client is not None:
            client.close()

    def leave(self) -> Cleanup | None:
        """Stop the keep-alive and the watch and revoke the lease (deleting this node's
        keys); None when it never registered."""
        self._stop.set()
        if self._watch is not None:
            self._drop()
        if not self._lease or self._client is None:
            return None
        self._client.close()
        self._client.timeout = max(0.05, min(CALL_TIMEOUT, self.deadline - time.monotonic()))
        try:
            self.requests += 1
            self._client.lease_revoke(self._lease)
            return Cleanup(True)
        except ProbeError as exc:
            return Cleanup(False, exc.message)
        finally:
            self._client.close()


def _cancel_error(reason: str) -> ProbeError:
    """etcd canceled the watch for another reason than compaction (its words; AUTH by the
    gRPC status code they carry)."""
    auth = any(f"code = {code}" in reason for code in ("Unauthenticated", "PermissionDenied"))
    return ProbeError(FailureKind.AUTH if auth else FailureKind.SERVER,
                      f"etcd canceled the watch of the group: {reason or 'no reason given'}")
