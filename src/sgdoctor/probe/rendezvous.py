"""The mesh's meeting point in etcd: register with a lease, pass the group's phases, leave
cleanly.

Keys under /sgdoctor/mesh/<group>/ (the prefix <p>): every node's record <p><name>, then its
<p>results/<name> and <p>done/<name>; three phase markers <p>phase/gathered, <p>phase/results
and <p>phase/done, with the summaries <p>summary/gathered and <p>summary/results their writer
puts in the same txn; and a claim <p>phase/claim-<marker> when a phase's window closes. All
are under the writer's lease (one per node, kept alive by a thread), so a crashed node's keys
disappear by themselves and a finished node revokes its lease (deleting them): once the nodes
have left, the group has no key. A member named "phase" or "summary" is the key <p>phase (no
slash): no clash with the sections.

Scale (issue 13): a node watches only the markers and reads one summary per phase, so it
costs etcd O(1) requests, O(1) watch messages and bytes that grow with N only through the
summaries (the roster of 1024 members is 28 KiB), whatever the group's size N; the one node
completing a phase reads the section's N keys. Watching the whole group cost etcd about 4·N²
watch messages, and every node reading every record and result about 2·N² keys (1 GB of JSON
at 1024 nodes): etcd 3.4's JSON gateway could deliver neither.

1. join: status (and authenticate), a lease, then ONE txn at revision R: the record is put
   only if no live node holds the name (an atomic refusal: Stage.NAME_TAKEN), and the group's
   keys, results, done, summaries and markers are counted (the markers listed). The node
   whose record brings the members (the keys but the sections) to ``expect`` reads the records
   and writes phase/gathered with the roster (parse.mesh.roster_summary).
2. the node watches <p>phase/ only, from R + 1, so a marker written between the txn and the
   watch is not lost; a stream that drops resumes after the last revision applied; one whose
   start etcd compacted is canceled by etcd, and the node reads the markers again and watches
   from that read. Its events: three marker PUTs, and their DELETEs as the writers leave — at
   most six at any N (four more when claims close both phases).
3. gather: the marker, or the join window's end (``until``: then ``_close``); then the roster,
   one serializable read at the member whose watch event or txn reply showed the marker (its
   own view holds every write before the marker; a linearizable read would wait for the
   quorum round and etcd's apply loop, seconds behind when a whole fleet reads at once). With
   no roster holding this node (its writer left, or it was too large, or this node came late)
   the members are read themselves at one revision: a txn ranging over the spans of the
   prefix between the sections, then pages of PAGE pinned at its revision, each request made
   again on its own while etcd fails for less than ETCD_GRACE; a page too large for the 1 MiB
   cap on a reply is asked for again in halves, a read that etcd compacted starts over.
4. results, then done: one txn puts results/<name> (done/<name>) if this node's record still
   exists (else Stage.VANISHED) and counts the group; the publisher that sees every member's
   publication (count ≥ members) writes the phase's marker, for results with every node's
   results as its summary; each node waits for it or ``until``, then reads the summary (or
   the section, as the members). A marker is written put-if-absent (a txn comparing its
   create_revision with 0): one PUT per phase whatever the races between the last writers.
5. leave: revoke the lease (and, leaving early, end the phases only this node held up).

A phase whose window ends without its marker (a node missing or silent) is closed by one
node: each tries to put the claim (put-if-absent, and only while the marker is absent); the
one that wins reads the section and writes the marker with its summary, and the others wait
for it until the claim is deleted (its writer left) or CLAIM_WAIT, then read the section
themselves. So 3 of 4 nodes joining meet in the roster of the 3 at the join window's end, and
their results and done complete by count (3 ≥ 3). What the markers give up: a peer that
crashes mid-phase no longer shortens the wait (nothing watches the members' deletes) — if its
publication was the one missing, the others wait for the phase's ``until``; its keys still
expire with its lease. A node that leaves early (it failed) counts the group again after its
revoke and writes the markers its leaving completes, so a failure does not hold the others
up. A marker's writer that leaves early deletes the marker and summary with its lease: a node
that had not seen it yet waits for ``until``, or writes it again if it completes the count.

Every etcd call is bounded; etcd failing for less than ETCD_GRACE is retried (writes are
harmless to repeat: a timed-out one may have landed); a failure is a RendezvousError whose
``stage`` says what could not be done, with the etcd client's own words: mesh.gloo phrases the
verdict.
"""

from __future__ import annotations

import contextlib
import enum
import threading
import time
from collections.abc import Callable, Mapping

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.parse.mesh import (
    Member,
    group_prefix,
    member_key,
    parse_member,
    parse_results_summary,
    parse_roster,
    results_summary,
    roster_summary,
)
from sgdoctor.probe.etcd_client import (
    EtcdError,
    TxnReply,
    created_at,
    prefix_end,
    put_op,
    range_op,
    range_reply,
)
from sgdoctor.probe.etcd_watch import WatchStream
from sgdoctor.records import dataclass, field

CALL_TIMEOUT = 2.0     # proving an endpoint answers (status, authenticate), and the revoke
REQUEST_TIMEOUT = 10.0  # one request once connected, and opening the watch: a fleet starting
                        # at once keeps etcd busy for seconds (ETCD_GRACE still applies)
TICK = 0.25            # longest wait on a silent watch before looking at stop/lease/deadline
RETRY = 0.2            # between attempts to reach etcd again
PAGE = 256             # keys per range read (halved while a page is too large)
ETCD_GRACE = 2.0       # how long etcd may fail before the node gives up
OUT_OF_RANGE = 11      # gRPC code of a read at a compacted revision
SECTIONS = ("done", "phase", "results", "summary")   # <p><section>/…: not members (in
                                                     # key order)
SUMMARY_BUDGET = 512 * 1024   # bytes of a marker's summary at most (in base64, a reply holding
                              # it stays under the client's 1 MiB cap; etcd takes 1.5 MiB)
CLAIM_WAIT = 5.0       # how long the others wait for a claimant's marker of a closed phase
MARKERS = ("gathered", "results", "done")  # <p>phase/<marker>: the phases' ends

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")


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
    """The group's members at one revision (records that do not parse: ``unreadable``)."""

    members: dict[str, Member] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Counts:
    """How many of the group's keys a txn saw: members, their results and done keys."""

    members: int
    results: int
    done: int


@dataclass(frozen=True)
class Cleanup:
    """How this node left the group."""

    revoked: bool
    error: str | None = None


def _connector(env: Mapping[str, str],
               deadline: float) -> tuple[Callable[..., Any], str, Any]:
    """A factory of authenticated clients for the first etcd endpoint that answers (each
    proving it answers its status, unless ``probe=False``), its name, and the client that
    proved it."""
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

        def make(endpoint: Any = endpoint, probe: bool = True) -> Any:
            timeout = max(0.05, min(CALL_TIMEOUT if probe else REQUEST_TIMEOUT,
                                    deadline - time.monotonic()))
            client = EtcdClient.for_endpoint(endpoint, tls=tls, username=cfg.username,
                                             password=password, timeout=timeout,
                                             deadline=deadline)
            try:
                if cfg.username is not None:
                    client.authenticate()
                if probe:
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
    """One node's membership of one group: ``join``, ``gather``, ``share`` results, ``share``
    done, ``leave``."""

    def __init__(self, env: Mapping[str, str], group: str, name: str, *, ttl: int,
                 deadline: float, stopped: Callable[[], bool] = lambda: False) -> None:
        self.env, self.group, self.name, self.ttl = env, group, name, ttl
        self.deadline = deadline
        self.stopped = stopped
        self.endpoint: str | None = None
        self.keepalive_error: str | None = None
        self._client: Any = None
        self._connect: Callable[..., Any] | None = None
        self._lease = 0
        self._lease_problem: str | None = None
        self._keepalive_failing: float | None = None   # since when keep-alives fail
        self._keepalive_kind: FailureKind | None = None
        self._stop = threading.Event()
        self._prefix = group_prefix(group).encode()
        self._key = member_key(group, name).encode()
        self._phase = self._prefix + b"phase/"
        self._watch: WatchStream | None = None
        self._markers: set[str] = set()   # the phase keys seen (PUT) so far
        self._summaries: dict[str, bytes | None] = {}   # the markers' summaries read/written
        self._gone: dict[str, int] = {}   # the phase keys seen deleted: the last revision
        self._revision = 0         # every marker change up to it is in ``_markers``
        self._registered = 0       # the revision of this node's record (its create_revision)
        self._reauth = False
        self._watched = 0          # body bytes of the watch streams already closed
        # What this node cost etcd (the bench and the scale tests read them).
        self.requests = 0          # requests, the keep-alives apart
        self.keepalives = 0
        self.watches = 0           # watch streams opened (1 + reconnects + re-watches)
        self.rereads = 0           # reads of the markers after a compaction
        self.retries = 0           # requests made again after a failure
        self.marks = 0             # marker and claim writes (put-if-absent txns)
        self.events = 0            # watch events received
        self.summarised = 0        # requests reading a section to write its marker's summary
        self.fetched = 0           # reads of a marker's summary

    @property
    def received(self) -> int:
        """Reply body bytes from etcd (reads, txns and watch streams; no keep-alives)."""
        own = self._client.received if self._client is not None else 0
        return own + self._watched + (self._watch.received if self._watch else 0)

    # ---------------------------------------------------------------- the phases
    def join(self, record: str, expect: int) -> None:
        """Connect and register under a fresh lease in one txn that refuses a name a live
        node holds and counts the group; the node that brings the members to ``expect``
        writes phase/gathered."""
        self._connect, self.endpoint, self._client = _connector(self.env, self.deadline)
        self.requests += 1 + (self._client.username is not None)   # (authenticate,) status
        try:
            self.requests += 1
            self._lease = self._client.lease_grant(self.ttl)
            self.requests += 1
            reply = self._client.txn([created_at(self._key, 0)],
                                     [put_op(self._key, record, lease=self._lease),
                                      *self._counting()])
            if not reply.succeeded:
                raise RendezvousError(Stage.NAME_TAKEN, f"{self.name} is registered already")
            self._registered = self._revision = reply.revision
            counts = self._counted(reply, 1)
        except ProbeError as exc:
            raise RendezvousError(Stage.REGISTER, exc.message, exc.kind) from None
        threading.Thread(target=self._keepalive, daemon=True,
                         name="sgdoctor-mesh-keepalive").start()
        if counts.members >= expect:
            self._mark("gathered", Stage.REGISTER)

    def gather(self, until: float) -> Snapshot:
        """Wait for phase/gathered (or ``until``: then the group's first claimant writes
        it); the members are its roster, or (when it has none holding this node) read."""
        self._await("gathered", until)
        if "gathered" not in self._markers:
            self._close("gathered")
        roster = parse_roster(self._summary_of("gathered") or b"")
        if roster is not None and self.name in roster[0]:
            snap = Snapshot(*roster)
        else:
            snap = self._read_members()
        if self.name not in snap.members:
            raise RendezvousError(Stage.VANISHED, "its lease expired or the key was deleted")
        return snap

    def share(self, section: str, value: str, until: float, *,
              read: bool = True) -> dict[str, bytes]:
        """Publish <p><section>/<name> (``section``: results or done), wait for every
        member's (the phase's marker) or ``until`` (then, with ``read``, the group's first
        claimant writes it); the section's values by node name then (``read``: the marker's
        summary, or read), else {}."""
        if section not in ("results", "done"):
            raise ValueError(f"no section {section!r}")
        key = self._prefix + f"{section}/{self.name}".encode()

        def publish() -> TxnReply:
            self.requests += 1
            return self._client.txn([created_at(self._key, self._registered)],
                                    [put_op(key, value, lease=self._lease),
                                     *self._counting()])

        reply = self._persist(publish, Stage.PUBLISH)
        if not reply.succeeded:
            raise RendezvousError(Stage.VANISHED, "its lease expired or the key was deleted")
        try:
            counts = self._counted(reply, 1)
        except ProbeError as exc:
            raise RendezvousError(Stage.PUBLISH, exc.message, exc.kind) from None
        published = counts.results if section == "results" else counts.done
        if published >= counts.members and section not in self._markers:
            self._mark(section, Stage.PUBLISH)
        self._await(section, until)
        if not read:
            return {}
        if section not in self._markers:
            self._close(section)
        summary = parse_results_summary(self._summary_of(section) or b"")
        return summary if summary is not None else self._read_section(section)

    # ---------------------------------------------------------------- etcd, bounded
    def _span(self, section: str) -> tuple[bytes, bytes]:
        start = self._prefix + section.encode() + b"/"
        return start, prefix_end(start)

    def _counting(self) -> list[dict[str, Any]]:
        """A txn's reads that count the group: its keys, results, done, summaries, and the
        markers."""
        return [range_op(self._prefix, prefix_end(self._prefix), count_only=True),
                range_op(*self._span("results"), count_only=True),
                range_op(*self._span("done"), count_only=True),
                range_op(*self._span("summary"), count_only=True),
                range_op(*self._span("phase"), keys_only=True, limit=PAGE)]

    def _counted(self, reply: TxnReply, first: int) -> Counts:
        """The counts ``_counting``'s reads (from response ``first`` on) found; the markers
        they list are seen."""
        whole, results, done, summaries, phase = (
            range_reply(r) for r in reply.responses[first:first + 5])
        for key, _value, _lease in phase.kvs:
            self._saw(key)
        return Counts(whole.count - results.count - done.count - summaries.count - phase.count,
                      results.count, done.count)

    def _saw(self, key: bytes) -> None:
        """The phase key <p>phase/<name> ``key`` names is seen."""
        self._markers.add(key[len(self._phase):].decode("utf-8", "replace"))

    def _marking(self, marker: str, lease: int) -> tuple[list[dict[str, Any]],
                                                          list[dict[str, Any]], bytes]:
        """The txn writing phase/<marker> unless it exists, and with it its summary at
        <p>summary/<marker> (a key apart: the watch then carries a one-byte marker to every
        node, not the summary — 10 s after etcd 3.4 took a 28 KiB marker, 346 of 1024
        watchers had not received it; a read of it is bounded and retried)."""
        key = self._phase + marker.encode()
        summary = self._summary(marker)
        puts = [put_op(key, "1", lease=lease)]
        if summary != b"1":
            puts.append(put_op(self._summary_key(marker), summary, lease=lease))
        return [created_at(key, 0)], puts, summary

    def _mark(self, marker: str, stage: Stage) -> None:
        """Write phase/<marker> and its summary under the lease unless it exists (either way
        it does)."""
        compare, puts, summary = self._marking(marker, self._lease)

        def mark() -> TxnReply:
            self.requests += 1
            self.marks += 1
            return self._client.txn(compare, puts)

        if self._persist(mark, stage).succeeded:
            self._summaries[marker] = summary
        self._markers.add(marker)

    def _summary(self, marker: str) -> bytes:
        """What the node completing a phase writes with its marker, so each of the others reads
        one key instead of the section's N: the members' roster for gathered, everyone's
        results for results; "1" for done, or a summary past SUMMARY_BUDGET (the others then
        read the section)."""
        before = self.requests
        try:
            if marker == "gathered":
                raw = roster_summary(dict(self._records()))
            elif marker == "results":
                raw = results_summary(self._read_section("results"))
            else:
                return b"1"
        finally:
            self.summarised += self.requests - before
        return raw if len(raw) <= SUMMARY_BUDGET else b"1"

    def _summary_key(self, marker: str) -> bytes:
        return self._span("summary")[0] + marker.encode()

    def _summary_of(self, marker: str) -> bytes | None:
        """A seen marker's summary (read once, serializable: the member that showed the
        marker holds what the marker's txn wrote); None for a marker not seen, a summary that
        is gone (its writer left) or was never written, or too large to read: the caller
        reads the section instead."""
        if marker not in self._markers or marker in self._summaries:
            return self._summaries.get(marker)
        key = self._summary_key(marker)

        def get() -> tuple[list[tuple[bytes, bytes, int]], bool, int]:
            self.requests += 1
            self.fetched += 1
            return self._client.range_page(key, key + b"\0", limit=1, serializable=True)

        try:
            kvs, _more, _at = self._persist(get, Stage.LOST)
        except ProbeError:
            return None
        self._summaries[marker] = kvs[0][1] if kvs else None
        return self._summaries[marker]

    def _close(self, marker: str) -> None:
        """The phase's window ended without its marker (a member is missing or silent): the
        first node to claim the phase (<p>phase/claim-<marker>, put-if-absent, under its
        lease) writes the marker with its summary, which the others wait for until the
        claim is deleted (the claimant left) or for CLAIM_WAIT; past that they read the
        section themselves. Otherwise each of N nodes would read N keys at the same moment,
        the N² reads etcd could not serve at 1024 nodes."""
        claim = f"claim-{marker}"
        key, claim_key = self._phase + marker.encode(), self._phase + claim.encode()

        def attempt() -> TxnReply:
            self.requests += 1
            self.marks += 1
            return self._client.txn([created_at(key, 0), created_at(claim_key, 0)],
                                    [put_op(claim_key, self.name, lease=self._lease)])

        reply = self._persist(attempt, Stage.LOST)
        if reply.succeeded:
            self._mark(marker, Stage.LOST)
            return
        self._await(marker, min(self.deadline, time.monotonic() + CLAIM_WAIT),
                    unless=(claim, reply.revision))

    def _persist(self, call: Callable[[], T], stage: Stage) -> T:
        """``call()``, made again while etcd fails for less than ETCD_GRACE (what it does is
        harmless to repeat); a refused token is renewed once (it may have expired). Failing
        longer, or ``stopped()``, raises RendezvousError; a reply too large, or a read at a
        compacted revision, is raised as it is (ProbeError: the caller asks otherwise)."""
        failing_since: float | None = None
        renewed = False
        while True:
            if self.stopped():
                raise RendezvousError(Stage.STOPPED, "asked to stop")
            try:
                if self._reauth and self._client.username is not None:
                    self.requests += 1
                    self._client.authenticate()
                self._reauth = False
                return call()
            except ProbeError as exc:
                if exc.kind is FailureKind.TOO_LARGE or _compacted(exc):
                    raise
                self._client.close()
                now = time.monotonic()
                failing_since = failing_since or now
                auth = exc.kind is FailureKind.AUTH
                if ((auth and (renewed or self._client.username is None))
                        or now - failing_since >= ETCD_GRACE or now >= self.deadline):
                    raise RendezvousError(stage, exc.message, exc.kind) from None
                renewed = renewed or auth
                self._reauth = auth
                self.retries += 1
                time.sleep(max(0.0, min(RETRY, self.deadline - now)))

    def _read(self, spans: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """Every key in ``spans`` with its value, at one revision: one txn over them all
        (serializable, at the member that showed the marker), then pages pinned at its
        revision, each request made again on its
        own while etcd fails for less than ETCD_GRACE (the pages read are kept); a page
        etcd's reply would make too large is asked for again in halves, a read whose revision
        etcd compacted meanwhile starts over."""
        page, restarts = PAGE, 0
        while True:
            def first(page: int = page) -> TxnReply:
                self.requests += 1
                return self._client.txn([], [range_op(a, b, limit=page, serializable=True)
                                               for a, b in spans])

            try:
                reply = self._persist(first, Stage.LOST)
            except ProbeError as exc:
                if exc.kind is FailureKind.TOO_LARGE and page > 1:
                    page //= 2
                    self.retries += 1
                    continue
                raise RendezvousError(Stage.LOST, exc.message, exc.kind) from None
            found: list[tuple[bytes, bytes]] = []
            more: list[tuple[bytes, bytes]] = []
            try:
                for (_start, end), response in zip(spans, reply.responses, strict=True):
                    got = range_reply(response)
                    found += [(k, v) for k, v, _lease in got.kvs]
                    if got.more and got.kvs:
                        more.append((got.kvs[-1][0] + b"\0", end))
            except ProbeError as exc:
                raise RendezvousError(Stage.LOST, exc.message, exc.kind) from None
            try:
                for start, end in more:
                    found += self._pages(start, end, reply.revision, page)
            except ProbeError as exc:
                if _compacted(exc) and restarts < 3:
                    restarts += 1
                    self.retries += 1
                    continue
                raise RendezvousError(Stage.LOST, exc.message, exc.kind) from None
            return found

    def _pages(self, start: bytes, end: bytes, revision: int,
               page: int) -> list[tuple[bytes, bytes]]:
        found: list[tuple[bytes, bytes]] = []
        while True:
            def one(start: bytes = start, page: int = page
                    ) -> tuple[list[tuple[bytes, bytes, int]], bool, int]:
                self.requests += 1
                return self._client.range_page(start, end, limit=page, revision=revision,
                                               serializable=True)

            try:
                kvs, more, _at = self._persist(one, Stage.LOST)
            except ProbeError as exc:
                if exc.kind is FailureKind.TOO_LARGE and page > 1:
                    page //= 2
                    self.retries += 1
                    continue
                raise
            found += [(k, v) for k, v, _lease in kvs]
            if not more or not kvs:
                return found
            start = kvs[-1][0] + b"\0"

    def _records(self) -> list[tuple[str, bytes]]:
        """The records by name: the prefix's keys outside the sections (the five spans around
        them), at one revision."""
        bounds = [self._prefix]
        for section in SECTIONS:
            bounds += self._span(section)
        bounds.append(prefix_end(self._prefix))
        found = []
        for raw_key, value in self._read(list(zip(bounds[::2], bounds[1::2], strict=True))):
            name = raw_key[len(self._prefix):].decode("utf-8", "replace")
            if "/" not in name:    # else not a record (a key of another tool's layout)
                found.append((name, value))
        return found

    def _read_members(self) -> Snapshot:
        snap = Snapshot()
        for name, value in self._records():
            member = parse_member(name, value)
            if isinstance(member, Member):
                snap.members[name] = member
            else:
                snap.unreadable[name] = member
        return snap

    def _read_section(self, section: str) -> dict[str, bytes]:
        start, end = self._span(section)
        return {key[len(start):].decode("utf-8", "replace"): value
                for key, value in self._read([(start, end)])}

    # ---------------------------------------------------------------- the markers' watch
    def _await(self, marker: str, until: float, *,
               unless: tuple[str, int] | None = None) -> None:
        """Follow the markers (watched) until phase/<marker> is seen, or ``until``, or (with
        ``unless`` = (name, revision)) phase/<name> is seen deleted after that revision.

        etcd failing longer than ETCD_GRACE (or the keep-alives longer than the lease's TTL:
        the lease cannot have survived), this node's lease ending, or ``stopped()`` raise
        RendezvousError."""
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
            now = time.monotonic()
            if (marker in self._markers or now >= until
                    or (unless is not None and self._gone.get(unless[0], 0) > unless[1])):
                return
            try:
                if self._watch is None:
                    self._start_watch()
                self._follow(min(until, now + TICK))
                failing_since = None
            except ProbeError as exc:
                self._drop(exc)
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since >= ETCD_GRACE or now >= until:
                    raise RendezvousError(Stage.LOST, exc.message, exc.kind) from None
                time.sleep(max(0.0, min(RETRY, until - now)))

    def _read_markers(self) -> None:
        """The markers as they are now (after etcd compacted the history a watch needed)."""
        start, end = self._span("phase")
        self.requests += 1
        kvs, _more, at = self._client.range_page(start, end, limit=PAGE, keys_only=True)
        for key, _value, _lease in kvs:
            self._saw(key)
        self._revision = at

    def _start_watch(self) -> None:
        """Watch the markers from the revision after the last one applied (reading them
        first when etcd compacted what the watch would need)."""
        if self._reauth and self._client.username is not None:
            self.requests += 1
            self.retries += 1
            self._client.authenticate()
        self._reauth = False
        start, end = self._span("phase")
        for _ in range(3):
            if not self._revision:
                self._read_markers()
            stream = WatchStream(self._client, start, end, self._revision + 1)
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
        raise ProbeError(FailureKind.SERVER, "etcd compacted the markers' history three times "
                                             "while this node read them")

    def _follow(self, until: float) -> None:
        """Apply what the watch delivers by ``until`` (nothing: no marker changed)."""
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
                self.events += 1
                if event.key.startswith(self._phase):
                    if event.kind == "PUT":
                        self._saw(event.key)
                    else:
                        name = event.key[len(self._phase):].decode("utf-8", "replace")
                        self._gone[name] = event.revision
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

    def _keepalive(self) -> None:
        """Refresh the lease every third of its TTL, and a failed refresh within a second, on
        a connection of its own (opened, and reopened after a failure, with no status probe:
        a fleet's etcd busy for 2 s would fail it, while a keep-alive has REQUEST_TIMEOUT)."""
        client = None
        reauth = False
        while not self._stop.wait(self.ttl / 3 if self._keepalive_failing is None
                                  else min(1.0, self.ttl / 10)):
            try:
                if client is None:
                    if self._connect is None:
                        return
                    client = self._connect(probe=False)
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
            if self._registered and "done" not in self._markers:
                self._release()
            return Cleanup(True)
        except ProbeError as exc:
            return Cleanup(False, exc.message)
        finally:
            self._client.close()

    def _release(self) -> None:
        """Leaving before the end (its keys just deleted), end the phases that only waited
        for this node: count the group again and, where every remaining member published,
        write the marker under a lease of its own, revoked at once (the watchers get the
        PUT). Counting after the revoke closes the race with the last peer's publication:
        that peer counted without this node, or this count sees its publication. Best
        effort: etcd failing, the peers wait for the phase's end."""
        with contextlib.suppress(ProbeError):
            self.requests += 1
            counts = self._counted(self._client.txn([], self._counting()), 0)
            due = [marker for marker, published in (("results", counts.results),
                                                    ("done", counts.done))
                   if counts.members and published >= counts.members
                   and marker not in self._markers]
            if not due:
                return
            self.requests += 1
            lease = self._client.lease_grant(self.ttl)
            try:
                for marker in due:
                    try:
                        compare, puts, _summary = self._marking(marker, lease)
                    except RendezvousError:   # the others read the section
                        key = self._phase + marker.encode()
                        compare, puts = [created_at(key, 0)], [put_op(key, "1", lease=lease)]
                    self.requests += 1
                    self.marks += 1
                    self._client.txn(compare, puts)
            finally:
                self.requests += 1
                self._client.lease_revoke(lease)


def _compacted(exc: ProbeError) -> bool:
    """etcd refused a read at a revision it compacted."""
    return isinstance(exc, EtcdError) and exc.code == OUT_OF_RANGE


def _cancel_error(reason: str) -> ProbeError:
    """etcd canceled the watch for another reason than compaction (its words; AUTH by the
    gRPC status code they carry)."""
    auth = any(f"code = {code}" in reason for code in ("Unauthenticated", "PermissionDenied"))
    return ProbeError(FailureKind.AUTH if auth else FailureKind.SERVER,
                      "etcd canceled the watch of the group's markers: "
                      f"{reason or 'no reason given'}")
