"""The rendezvous's protocol against a real etcd (real sockets): nodes watch only the phase
markers and read the rest once. No marker is lost — one written between the join txn and the
watch's start, one whose delivery a proxy cuts (the stream resumes after the last revision
applied, without reading anything again), one whose history etcd compacted before the watch
started (the markers are read again) —, records and results past the 1 MiB cap on a reply are
read in halved pages, a name is taken atomically, and a group short of --expect completes by
count at the join window's end."""

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
from sgdoctor.probe.rendezvous import Cleanup, Rendezvous, RendezvousError, Stage


def record(name: str) -> str:
    return Member(name, f"tok-{name}", (Listener("eth1", "10.0.0.1", 4000, 1500),)).to_json()


def meeting(url: str, group: str, name: str, cls: type[Rendezvous] = Rendezvous,
            timeout: float = 120) -> Rendezvous:
    return cls({"ETCD_ENDPOINTS": url}, group, name, ttl=30,
               deadline=time.monotonic() + timeout)


def node(url: str, group: str, name: str, expect: int,
         cls: type[Rendezvous] = Rendezvous) -> Rendezvous:
    meet = meeting(url, group, name, cls)
    meet.join(record(name), expect)
    return meet


def wait_for(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def group_keys(etcd, group: str) -> list[str]:
    import base64

    _, body = etcd.call("/v3/kv/range", {"key": b64(f"/sgdoctor/mesh/{group}/"),
                                         "range_end": b64(f"/sgdoctor/mesh/{group}0"),
                                         "keys_only": True})
    return [base64.b64decode(kv["key"]).decode() for kv in body.get("kvs", [])]


def leave_all(*meetings: Rendezvous) -> None:
    for meet in meetings:
        meet.leave()


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


def test_a_marker_written_between_the_join_and_the_watch_is_not_lost(etcd):
    """The watch starts at the join txn's revision + 1: the gathered marker the second node
    writes before the first one watches reaches it through the watch, at once."""
    group = "between"
    late: list[Rendezvous] = []

    class JoinsBeforeWatching(Rendezvous):
        def _start_watch(self) -> None:
            if not late:   # the group completes (and its marker is written) right here
                late.append(node(etcd.url, group, "late", 2))
                assert "gathered" in late[0]._markers and late[0].marks == 1
            super()._start_watch()

    watcher = node(etcd.url, group, "watcher", 2, JoinsBeforeWatching)
    try:
        assert not watcher._markers            # the group was not complete at its join
        started = time.monotonic()
        snap = watcher.gather(time.monotonic() + 60)
        assert time.monotonic() - started < 30   # the marker, not the join window's end
        assert sorted(snap.members) == ["late", "watcher"]
        assert (watcher.watches, watcher.rereads, watcher.events) == (1, 0, 1)
    finally:
        leave_all(watcher, *late)
    assert group_keys(etcd, group) == []


def test_a_cut_watch_stream_resumes_after_the_last_revision_and_loses_no_marker(etcd):
    group = "cut"
    proxy = CuttingProxy(etcd.client_port)
    watcher = meeting(proxy.url, group, "watcher")
    watcher.join(record("watcher"), 3)
    others: list[Rendezvous] = []
    found: dict = {}
    probe = f"/sgdoctor/mesh/{group}/phase/probe"

    def gather() -> None:
        found["snap"] = watcher.gather(time.monotonic() + 60)

    thread = threading.Thread(target=gather)
    thread.start()
    try:
        wait_for(lambda: proxy.watch_bytes > 0, "the watch to be created")
        others.append(node(etcd.url, group, "first", 3))
        etcd.put(probe, "x")                     # a change of the markers' range
        wait_for(lambda: watcher.events == 1, "the first event")
        proxy.armed.set()
        others.append(node(etcd.url, group, "second", 3))   # its marker's event is swallowed
        wait_for(proxy.cut.is_set, "the proxy to cut the stream")
        thread.join(60)
        assert not thread.is_alive()
        assert sorted(found["snap"].members) == ["first", "second", "watcher"]
        # Resumed from the revision after the last one applied: no event twice, no re-read.
        assert (proxy.watch_streams, watcher.watches, watcher.rereads) == (2, 2, 0)
        assert watcher.events == 2
    finally:
        proxy.armed.clear()
        thread.join(60)
        leave_all(watcher, *others)
        etcd.call("/v3/kv/deleterange", {"key": b64(probe)})
        proxy.close()
    assert group_keys(etcd, group) == []


def test_a_compacted_start_revision_reads_the_markers_again(etcd):
    group = "compacted"
    late: list[Rendezvous] = []

    class CompactsBeforeWatching(Rendezvous):
        def _start_watch(self) -> None:
            if not late:   # the marker, then etcd forgets the history the watch needs
                late.append(node(etcd.url, group, "late", 2))
                _, reply = etcd.call("/v3/kv/put", {"key": b64("/elsewhere"),
                                                     "value": b64("x")})
                revision = reply["header"]["revision"]
                status, _ = etcd.call("/v3/kv/compaction", {"revision": revision,
                                                             "physical": True})
                assert status == 200
            super()._start_watch()

    watcher = node(etcd.url, group, "watcher", 2, CompactsBeforeWatching)
    try:
        started = time.monotonic()
        snap = watcher.gather(time.monotonic() + 60)
        assert time.monotonic() - started < 30
        assert sorted(snap.members) == ["late", "watcher"]
        assert (watcher.watches, watcher.rereads, watcher.events) == (2, 1, 0)
    finally:
        leave_all(watcher, *late)


def test_a_name_is_taken_atomically(etcd):
    """Eight nodes of one name join at once: exactly one registers, the others are refused
    (the record is put only if its key does not exist, in the same txn)."""
    group = "twins"
    twins = [meeting(etcd.url, group, "twin") for _ in range(8)]
    outcomes: list[object] = [None] * len(twins)
    barrier = threading.Barrier(len(twins))

    def join(i: int) -> None:
        barrier.wait(30)
        try:
            twins[i].join(record("twin"), 2)
            outcomes[i] = "joined"
        except RendezvousError as exc:
            outcomes[i] = exc.stage

    threads = [threading.Thread(target=join, args=(i,)) for i in range(len(twins))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert sorted(map(str, outcomes)) == sorted(
            ["joined"] + [str(Stage.NAME_TAKEN)] * (len(twins) - 1)), outcomes
    finally:
        leave_all(*twins)
    assert group_keys(etcd, group) == []


def test_three_of_four_complete_by_count_at_the_join_window(etcd):
    """--expect 4, three come: no gathered marker by count; at the join window's end one of
    them claims the phase and writes the marker with the roster of the three, which all
    use; results and done then complete by count (3 of 3), long before their windows."""
    group = "short"
    names = ["a", "b", "c"]
    meets = [node(etcd.url, group, name, 4) for name in names]
    join_until = time.monotonic() + 3
    out: dict[str, tuple] = {}

    def run(meet: Rendezvous) -> None:
        snap = meet.gather(join_until)
        gathered = time.monotonic()
        results = meet.share("results", f"seen by {meet.name}", time.monotonic() + 60)
        meet.share("done", "1", time.monotonic() + 60, read=False)
        out[meet.name] = (sorted(snap.members), results, gathered, time.monotonic())

    threads = [threading.Thread(target=run, args=(meet,)) for meet in meets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    try:
        assert sorted(out) == names
        for members, results, gathered, finished in out.values():
            assert members == names
            assert gathered >= join_until
            assert results == {n: f"seen by {n}".encode() for n in names}
            assert finished - join_until < 30      # by count, not at the windows' end
        # three claims tried (one won), the gathered marker, results and done once each
        assert sum(m.marks for m in meets) == 6
        # the claimant read the members and the last publisher the results; nobody else
        assert sum(m.summarised for m in meets) == 2, [m.summarised for m in meets]
        assert len({m._summaries["gathered"] for m in meets}) == 1
        assert sum(m.fetched for m in meets) == 4   # the others' roster and results each
    finally:
        leave_all(*meets)
    assert group_keys(etcd, group) == []


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


def test_records_and_results_past_the_1_mib_reply_cap_are_read_in_smaller_pages(etcd):
    """40 records and 40 results of 40 KB: a page of them is past the 1 MiB cap on a reply
    (the page is asked for again in halves, until it fits) — for the members and for the
    results alike."""
    group = "big"
    prefix = f"/sgdoctor/mesh/{group}/"
    for i in range(40):
        etcd.put(f"{prefix}old{i:02d}", big_record(f"old{i:02d}"))
        etcd.put(f"{prefix}results/old{i:02d}", "r" * 40_000)
    watcher = node(etcd.url, group, "watcher", 41)
    try:
        assert "gathered" in watcher._markers      # 41 records: the join completed it
        snap = watcher.gather(time.monotonic() + 60)
        assert len(snap.members) == 41 and not snap.unreadable
        retries = watcher.retries
        assert retries >= 1                        # the first page was too large
        assert watcher.received > 40 * 40_000 * 4 // 3   # every record once, base64
        results = watcher.share("results", "mine", time.monotonic() + 60)
        assert len(results) == 41 and results["watcher"] == b"mine"
        assert watcher.retries > retries
        assert watcher.watches == 0                # every marker came from its own txns
    finally:
        watcher.leave()
        etcd.call("/v3/kv/deleterange", {"key": b64(prefix), "range_end": b64(prefix[:-1] + "0")})


def test_a_node_leaving_early_ends_the_phase_it_held_up(etcd):
    """Two nodes published their results, the third leaves without (it failed): its leave
    counts the group again after its revoke and writes the results marker, so the others
    go on at once instead of at the results window's end."""
    group = "early"
    meets = [node(etcd.url, group, name, 3) for name in ("a", "b", "c")]
    for meet in meets:
        assert sorted(meet.gather(time.monotonic() + 30).members) == ["a", "b", "c"]
    out: dict[str, dict] = {}

    def share(meet: Rendezvous) -> None:
        out[meet.name] = meet.share("results", meet.name, time.monotonic() + 60)

    threads = [threading.Thread(target=share, args=(m,)) for m in meets[:2]]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len([k for k in group_keys(etcd, group) if "/results/" in k]) == 2,
                 "two results")
        started = time.monotonic()
        assert meets[2].leave() == Cleanup(True)
        for thread in threads:
            thread.join(60)
        assert time.monotonic() - started < 30
        assert out == {"a": {"a": b"a", "b": b"b"}, "b": {"a": b"a", "b": b"b"}}
        assert meets[2].marks == 2          # gathered as it joined, results as it left
    finally:
        leave_all(*meets[:2])
    assert group_keys(etcd, group) == []


@pytest.mark.parametrize("claimant", ["leaves", "hangs"])
def test_a_claimant_that_leaves_or_hangs_does_not_hold_the_others(etcd, claimant):
    """--expect 3, two come, and a third party claimed the closing of the join phase but
    never writes its marker: when its claim is deleted (its lease ended) the two read the
    members themselves at once; while it holds the claim they wait CLAIM_WAIT, then read."""
    from sgdoctor.probe.rendezvous import CLAIM_WAIT

    group = f"claimed-{claimant}"
    names = ["a", "b"]
    meets = [node(etcd.url, group, name, 3) for name in names]
    _, lease = etcd.call("/v3/lease/grant", {"TTL": 60})
    claim = f"/sgdoctor/mesh/{group}/phase/claim-gathered"
    status, _ = etcd.call("/v3/kv/put", {"key": b64(claim), "value": b64("x"),
                                         "lease": lease["ID"]})
    assert status == 200
    join_until = time.monotonic() + 2
    out: dict[str, tuple[list[str], float]] = {}

    def run(meet: Rendezvous) -> None:
        snap = meet.gather(join_until)
        out[meet.name] = (sorted(snap.members), time.monotonic())

    threads = [threading.Thread(target=run, args=(meet,)) for meet in meets]
    for thread in threads:
        thread.start()
    try:
        if claimant == "leaves":
            wait_for(lambda: all(m.marks for m in meets), "both claims tried")
            etcd.call("/v3/lease/revoke", {"ID": lease["ID"]})
        for thread in threads:
            thread.join(60)
        assert sorted(out) == names
        for members, _ended in out.values():
            assert members == names
        assert all("gathered" not in m._markers for m in meets)   # nobody wrote it
        assert sum(m.summarised for m in meets) == 0
        assert sum(m.marks for m in meets) == 2                   # a claim tried each
        if claimant == "hangs":
            assert all(ended >= join_until + CLAIM_WAIT * 0.9 for _, ended in out.values())
        else:
            assert all("claim-gathered" in m._gone for m in meets)
    finally:
        leave_all(*meets)
        etcd.call("/v3/lease/revoke", {"ID": lease["ID"]})
    assert group_keys(etcd, group) == []
