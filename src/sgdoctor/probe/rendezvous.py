"""The mesh's meeting point in etcd: register with a lease, look at the group, leave cleanly.

Every node of a group writes under /sgdoctor/mesh/<group>/ (its record, then results/<name>,
then done/<name>) with one lease kept alive by a thread, so a crashed node disappears by
itself and a finished one revokes its lease (deleting its keys). Every etcd call is bounded;
a failure is a RendezvousError whose ``stage`` says what could not be done, with the etcd
client's own words: mesh.gloo phrases the verdict.
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
from sgdoctor.probe.etcd_client import prefix_end

CALL_TIMEOUT = 2.0     # one etcd request
POLL = 0.2             # between looks at the group's keys
PAGE = 256             # keys per range read of the group
ETCD_GRACE = 2.0       # how long etcd may fail before the node gives up


class Stage(str, enum.Enum):
    """What the rendezvous could not do (stable: mesh.gloo's finding codes derive from it)."""

    CONNECT = "connect"            # no endpoint answered
    NAME_TAKEN = "name_taken"      # another live node holds this name
    REGISTER = "register"          # the lease or the record could not be written
    PUBLISH = "publish"            # results/done could not be written
    LOST = "lost"                  # etcd failed for longer than ETCD_GRACE while waiting
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


@dataclass(frozen=True)
class Cleanup:
    """How this node left the group."""

    revoked: bool
    error: str | None = None


def _connector(env: Mapping[str, str], deadline: float) -> tuple[Callable[[], Any], str]:
    """A factory of authenticated clients for the first etcd endpoint that answers."""
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
            return client

        try:
            make().close()
        except ProbeError as exc:
            errors.append(f"{endpoint.display}: {exc.message}")
            continue
        return make, endpoint.display
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
        self._stop = threading.Event()
        self.snap = Snapshot()
        self.requests = 0          # etcd requests this node made (the bench reads them)

    def join(self, record: str) -> None:
        """Connect, refuse a name that a live node holds, and register under a fresh lease."""
        self._connect, self.endpoint = _connector(self.env, self.deadline)
        try:
            self._client = self._connect()
            if self._client.get(member_key(self.group, self.name)):
                raise RendezvousError(Stage.NAME_TAKEN, f"{self.name} is registered already")
            self._lease = self._client.lease_grant(self.ttl)
            self._client.put(member_key(self.group, self.name), record, lease=self._lease)
            self.requests += 4   # status (connect), the name look-up, the grant, the put
        except ProbeError as exc:
            raise RendezvousError(Stage.REGISTER, exc.message, exc.kind) from None
        threading.Thread(target=self._keepalive, daemon=True,
                         name="sgdoctor-mesh-keepalive").start()

    def put(self, key: str, value: str) -> None:
        try:
            self._client.put(key, value, lease=self._lease)
            self.requests += 1
        except ProbeError as exc:
            raise RendezvousError(Stage.PUBLISH, exc.message, exc.kind) from None

    def _apply(self, snap: Snapshot, kind: str, raw_key: bytes, value: bytes) -> None:
        """One key of the group (a PUT; ``kind`` DELETE removes it) into ``snap``."""
        prefix = group_prefix(self.group)
        rest = raw_key.decode("utf-8", "replace")[len(prefix):]
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

    def look(self) -> Snapshot:
        """The group's keys, read in pages of PAGE keys at one revision (no reply grows past
        PAGE records, whatever the group's size)."""
        prefix = group_prefix(self.group).encode()
        start, end = prefix, prefix_end(prefix)
        snap = Snapshot()
        revision = 0
        while True:
            kvs, more, at = self._client.range_page(start, end, limit=PAGE, revision=revision)
            self.requests += 1
            revision = revision or at
            for raw_key, value, _lease in kvs:
                self._apply(snap, "PUT", raw_key, value)
            if not more or not kvs:
                break
            start = kvs[-1][0] + b"\0"
        return snap

    def wait_until(self, until: float, ready: Callable[[Snapshot], bool]) -> Snapshot:
        """Read the group (paged) every POLL until ``ready`` or ``until``; etcd failing longer
        than ETCD_GRACE, this node's lease or record vanishing, or ``stopped()`` raise
        RendezvousError."""
        failing_since: float | None = None
        while True:
            if self.stopped():
                raise RendezvousError(Stage.STOPPED, "asked to stop")
            if self._lease_problem:
                raise RendezvousError(Stage.LEASE_ENDED, self._lease_problem)
            try:
                self.snap = self.look()
            except ProbeError as exc:
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since >= ETCD_GRACE or now >= until:
                    raise RendezvousError(Stage.LOST, exc.message, exc.kind) from None
                self._client.close()
                time.sleep(POLL)
                continue
            failing_since = None
            if self.name not in self.snap.members:
                raise RendezvousError(Stage.VANISHED, "its lease expired or the key was deleted")
            if ready(self.snap) or time.monotonic() >= until:
                return self.snap
            time.sleep(max(0.0, min(POLL, until - time.monotonic())))

    def _keepalive(self) -> None:
        client = None
        while not self._stop.wait(self.ttl / 3):
            try:
                client = client or (self._connect() if self._connect else None)
                if client is None:
                    return
                if client.lease_keepalive(self._lease) <= 0:
                    self._lease_problem = "etcd says the lease no longer exists"
                    return
                self.keepalive_error = None
            except ProbeError as exc:
                self.keepalive_error = exc.message
                if client is not None:
                    client.close()
                client = None
        if client is not None:
            client.close()

    def leave(self) -> Cleanup | None:
        """Stop the keep-alive and revoke the lease (deleting this node's keys); None when
        it never registered."""
        self._stop.set()
        if not self._lease or self._client is None:
            return None
        self._client.close()
        self._client.timeout = max(0.05, min(CALL_TIMEOUT, self.deadline - time.monotonic()))
        try:
            self._client.lease_revoke(self._lease)
            return Cleanup(True)
        except ProbeError as exc:
            return Cleanup(False, exc.message)
        finally:
            self._client.close()
