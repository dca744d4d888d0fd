"""probe.hostroot: node paths under --host-root, and reads that never block or run away."""

from __future__ import annotations

import os
import threading

import pytest

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.probe.hostroot import READ_CAP, HostRoot


def test_default_root_is_the_host_itself():
    root = HostRoot.from_options({})
    assert root.on_host and root.pid == "self"
    assert root.path("/proc/sys/kernel/yama/ptrace_scope") == "/proc/sys/kernel/yama/ptrace_scope"
    assert root.proc_self("limits") == "/proc/self/limits"


def test_other_root_prefixes_paths_and_uses_pid_1(tmp_path):
    root = HostRoot.from_options({"host_root": str(tmp_path) + "/./"})
    assert not root.on_host and root.pid == "1"
    assert root.path("/sys/class/infiniband") == f"{tmp_path}/sys/class/infiniband"
    assert root.proc_self("mountinfo") == f"{tmp_path}/proc/1/mountinfo"
    with pytest.raises(ValueError):
        root.path("relative/path")


@pytest.mark.parametrize("value", ["/nonexistent/host", 7, "a\0b"])
def test_unusable_root_is_a_typed_error(value, tmp_path):
    with pytest.raises(ProbeError) as caught:
        HostRoot.from_options({"host_root": value})
    assert caught.value.kind in (FailureKind.NOT_FOUND, FailureKind.INVALID)


def test_a_file_as_root_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ProbeError) as caught:
        HostRoot.from_options({"host_root": str(tmp_path / "file")})
    assert caught.value.kind is FailureKind.NOT_FOUND


def test_read_text_and_listdir(tmp_path):
    (tmp_path / "proc" / "1").mkdir(parents=True)
    (tmp_path / "proc" / "1" / "limits").write_bytes(b"Max open files 1024 \xff\n")
    root = HostRoot(str(tmp_path))
    assert root.read_text("/proc/1/limits") == "Max open files 1024 \udcff\n"
    assert root.listdir("/proc") == ["1"]
    assert root.exists("/proc/1/limits") and not root.exists("/proc/2")


def test_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    root = HostRoot(str(tmp_path))
    box: dict[str, BaseException] = {}

    def read() -> None:
        try:
            root.read_text("/fifo")
        except ProbeError as exc:
            box["error"] = exc

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "reading a FIFO blocked"
    assert isinstance(box["error"], ProbeError) and box["error"].kind is FailureKind.NOT_A_FILE


@pytest.mark.parametrize("target,kind", [
    ("/missing", FailureKind.NOT_FOUND),
    ("/file/below", FailureKind.NOT_FOUND),
    ("/dir", FailureKind.NOT_A_FILE),
    ("/big", FailureKind.TOO_LARGE),
])
def test_read_failures_are_typed(tmp_path, target, kind):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    (tmp_path / "big").write_bytes(b"0" * (READ_CAP + 1))
    with pytest.raises(ProbeError) as caught:
        HostRoot(str(tmp_path)).read_text(target)
    assert caught.value.kind is kind
    assert str(tmp_path) in caught.value.message


def test_device_is_not_a_file():
    with pytest.raises(ProbeError) as caught:
        HostRoot().read_text("/dev/null")
    assert caught.value.kind is FailureKind.NOT_A_FILE


def test_listdir_of_missing_directory(tmp_path):
    with pytest.raises(ProbeError) as caught:
        HostRoot(str(tmp_path)).listdir("/sys/class/infiniband")
    assert caught.value.kind is FailureKind.NOT_FOUND


def test_listdir_of_a_file_is_not_a_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    root = HostRoot(str(tmp_path))
    with pytest.raises(ProbeError) as caught:
        root.listdir("/file")
    assert caught.value.kind is FailureKind.NOT_A_FILE
    with pytest.raises(ProbeError) as caught:
        root.listdir("/file/below")
    assert caught.value.kind is FailureKind.NOT_FOUND


def test_resolve_follows_links_inside_the_root(tmp_path):
    (tmp_path / "run" / "shm").mkdir(parents=True)
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "shm").symlink_to("/run/shm")           # absolute: the node's /run
    (tmp_path / "data").symlink_to("run/../run")                # relative
    (tmp_path / "loop").symlink_to("/loop")
    root = HostRoot(str(tmp_path))
    assert root.resolve("/dev/shm") == f"{tmp_path}/run/shm"
    assert root.resolve("/data/shm/x") == f"{tmp_path}/run/shm/x"
    assert root.resolve("/../../etc") == f"{tmp_path}/etc"      # never above the root
    assert root.resolve("/loop/a") == f"{tmp_path}/loop/a"      # a loop ends, as ELOOP would
    assert root.resolve("/") == str(tmp_path)
    assert HostRoot().resolve("/dev/shm") == "/dev/shm"
