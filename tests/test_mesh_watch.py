"""The rendezvous follows its group with an etcd watch (real etcd, real sockets) and loses no
change: one written between the initial read and the watch, one whose delivery a proxy cuts
(the stream resumes after the last revision applied, without reading the group again), and
one whose history etcd compacted before the watch started (the group is read again)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.parse.mesh import Listener, Member
from sgdoctor.probe.etcd_client import b64
from sgdoctor.probe.etcd_watch import parse_reply
from sgdoctor.probe.rendezvous import Rendezvous


def record(name: str) -> str:
    return Member(name, f"tok-{name}", (Listener("eth1", "10.0.0.1", 4000, 1500),)).to_json()


def node(url: str, group: str, name: str, cls: type[Rendezvous] = Rendezvous) -> Rendezvous:
    meet = cls({"ETCD_ENDPOINTS": url}, group, name, ttl=30,
               deadline=time.monotonic() + 120)
    meet.join(record(name))
    return meet


def wait_for(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class CuttingProxy:
    """A TCP proxy to etcd that, once armed, swallows the next bytes etcd sends on a watch
    stream and closes that connection both ways (a stream dropped mid-delivery)."""

    def __init__(self, port: int) -> None:
        self.upstream = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.armed = threading.Event()
        self.cut = threading.Event()
        self.watch_bytes = 0          # bytes etcd sent on watch streams and we forwarded
        self.watch_streams = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream, timeout=10)
            state = {"watch": False}
            threading.Thread(target=self._up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, state),
                             daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, state: dict) -> None:
        first = True
        try:
            while data := client.recv(65536):
                if first and data.startswith(b"POST /v3/watch "):
                    state["watch"] = True
                    self.watch_streams += 1
                first = False
                server.sendall(data)
        except OSError:
            pass
        finally:
            _close(client, server)

    def _down(self, server: socket.socket, client: socket.socket, state: dict) -> None:
        try:
            while data := server.recv(65536):
                if state["watch"] and self.armed.is_set():
                    self.armed.clear()
                    self.cut.set()
                    return
                if state["watch"]:
                    self.watch_bytes += len(data)
                client.sendall(data)
        except OSError:
            pass
        finally:
            _close(client, server)

    def close(self) -> None:
        self._closed = True
        self.listener.close()


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def test_a_change_between_the_read_and_the_watch_is_not_lost(etcd):
    group = "between"
    leaving = node(etcd.url, group, "leaving")
    joining: list[Rendezvous] = []

    class WritesAfterReading(Rendezvous):
        def _read_group(self) -> None:
            super()._read_group()
            if not joining:   # one member joins and one leaves before the watch starts
                joining.append(node(etcd.url, group, "late"))
                assert leaving.leave() is not None

    watcher = node(etcd.url, group, "watcher", WritesAfterReading)
    try:
        snap = watcher.wait_until(time.monotonic() + 30, lambda s: "late" in s.members
                                  and "leaving" not in s.members)
        assert sorted(snap.members) == ["late", "watcher"]
        assert (watcher.watches, watcher.rereads) == (1, 0)
    finally:
        watcher.leave()
        for meet in joining:
            meet.leave()


def test_a_cut_watch_stream_resumes_after_the_last_revision_and_loses_nothing(etcd):
    group = "cut"
    proxy = CuttingProxy(etcd.client_port)
    watcher = node(proxy.url, group, "watcher")
    others: list[Rendezvous] = []
    found: dict = {}

    def wait() -> None:
        found["snap"] = watcher.wait_until(time.monotonic() + 60,
                                           lambda s: len(s.members) >= 3)

    thread = threading.Thread(target=wait)
    thread.start()
    try:
        wait_for(lambda: proxy.watch_bytes > 0, "the watch to be created")
        others.append(node(etcd.url, group, "first"))
        wait_for(lambda: "first" in watcher.snap.members, "the first event")
        proxy.armed.set()
        others.append(node(etcd.url, group, "second"))   # its event is swallowed
        wait_for(proxy.cut.is_set, "the proxy to cut the stream")
        thread.join(60)
        assert not thread.is_alive()
        assert sorted(found["snap"].members) == ["first", "second", "watcher"]
        # Resumed from the revision after the last one applied: no second read of the group.
        assert (proxy.watch_streams, watcher.watches, watcher.rereads) == (2, 2, 0)
    finally:
        proxy.armed.clear()
        thread.join(60)
        for meet in [watcher, *others]:
            meet.leave()
        proxy.close()


def test_a_compacted_start_revision_reads_the_group_again(etcd):
    group = "compacted"
    joining: list[Rendezvous] = []

    class CompactsAfterReading(Rendezvous):
        def _read_group(self) -> None:
            super()._read_group()
            if not joining:   # a change, then etcd forgets the history the watch needs
                joining.append(node(etcd.url, group, "late"))
                _, reply = etcd.call("/v3/kv/put", {"key": b64("/elsewhere"),
                                                     "value": b64("x")})
                revision = reply["header"]["revision"]
                status, _ = etcd.call("/v3/kv/compaction", {"revision": revision,
                                                             "physical": True})
                assert status == 200

    watcher = node(etcd.url, group, "watcher", CompactsAfterReading)
    try:
        snap = watcher.wait_until(time.monotonic() + 30, lambda s: "late" in s.members)
        assert sorted(snap.members) == ["late", "watcher"]
        assert (watcher.watches, watcher.rereads) == (2, 1)
    finally:
        watcher.leave()
        for meet in joining:
            meet.leave()


def test_the_returned_snapshot_is_a_copy(etcd):
    """A later wait must not change the group a phase ended with (mesh.gloo judges it)."""
    group = "copy"
    first = node(etcd.url, group, "a")
    try:
        joined = first.wait_until(time.monotonic() + 10, lambda s: "a" in s.members)
        second = node(etcd.url, group, "b")
        try:
            first.wait_until(time.monotonic() + 30, lambda s: "b" in s.members)
            assert sorted(joined.members) == ["a"]
        finally:
            second.leave()
    finally:
        first.leave()


@pytest.mark.parametrize("doc", [[], "x", {}, {"result": 3}, {"error": "boom"},
                                 {"error": {"grpc_code": "x", "http_code": [], "message": 5}},
                                 {"result": {"events": [{"kv": {"key": "abc"}}]}}])
def test_a_hostile_watch_message_is_a_typed_failure(doc):
    with pytest.raises(ProbeError) as caught:
        parse_reply(doc)
    assert caught.value.kind in (FailureKind.PROTOCOL, FailureKind.SERVER, FailureKind.AUTH)


def test_watch_messages_are_read_field_by_field():
    reply = parse_reply({"result": {"header": {"revision": "nine"}, "events": [
        {"kv": {"key": b64("/k"), "value": b64("v"), "mod_revision": "7"}}, "junk",
        {"type": "DELETE", "kv": {"key": b64("/k"), "mod_revision": "8"}}]}})
    assert reply.revision == 0 and not reply.progress
    assert [(e.kind, e.key, e.value, e.revision) for e in reply.events] == [
        ("PUT", b"/k", b"v", 7), ("DELETE", b"/k", b"", 8)]
    notice = parse_reply({"result": {"header": {"revision": "12"}}})
    assert notice.progress and notice.revision == 12
    canceled = parse_reply({"result": {"canceled": True, "compact_revision": "4"}})
    assert canceled.canceled and canceled.compact_revision == 4 and not canceled.progress


def big_record(name: str) -> str:
    """A registration of 40 KB (etcd's default request cap is 1.5 MiB; MAX_RECORD 256 KiB)."""
    return Member(name, f"tok-{name}", (), libraries={"pad": "x" * 40_000}).to_json()


def test_records_past_the_1_mib_reply_cap_are_read_in_smaller_pages_and_watched(etcd):
    """40 records of 40 KB: one page of them is past the 1 MiB cap on a reply (the page is
    asked for again in halves), and 40 more written between the read and the watch reach
    the node in etcd's catch-up message of about 2 MiB (no cap below a group's worth)."""
    group = "big"
    for i in range(40):
        etcd.call("/v3/kv/put", {"key": b64(f"/sgdoctor/mesh/{group}/old{i:02d}"),
                                 "value": b64(big_record(f"old{i:02d}"))})
    wrote: list[int] = []

    class WritesAfterReading(Rendezvous):
        def _read_group(self) -> None:
            super()._read_group()
            if not wrote:
                for i in range(40):
                    etcd.call("/v3/kv/put", {"key": b64(f"/sgdoctor/mesh/{group}/new{i:02d}"),
                                             "value": b64(big_record(f"new{i:02d}"))})
                wrote.append(40)

    watcher = node(etcd.url, group, "watcher", WritesAfterReading)
    try:
        snap = watcher.wait_until(time.monotonic() + 60, lambda s: len(s.members) == 81)
        assert len(snap.members) == 81 and not snap.unreadable
        assert watcher.retries >= 1            # the first page was too large
        assert watcher.received > 3 << 20      # every record once: 80 × 40 KB, base64
        assert (watcher.watches, watcher.rereads) == (1, 0)
    finally:
        watcher.leave()
        etcd.call("/v3/kv/deleterange", {"key": b64(f"/sgdoctor/mesh/{group}/"),
                                         "range_end": b64(f"/sgdoctor/mesh/{group}0")})
