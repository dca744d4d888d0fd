"""README's sample outputs, made by running the real CLI in a world built for each.

Every output block of README.md that follows a ``<!-- sample: NAME -->`` marker is what
``SAMPLES[NAME]()`` returns: the ``$ …`` command line README shows, then what sgdoctor
printed. tests/test_readme_samples.py fails when a block differs; this script rewrites them:

    .venv/bin/python tests/readme_samples.py [NAME…]      # as root: namespaces and mounts

Each world is real: its own network namespace (interfaces named as README names them, a
real etcd on 2379 and nats-server on 4222 inside it), UTS namespace (hostname node-7), mount
namespace (a gcc-built SDK at /opt/maca, tmpfs /dev and /dev/shm of chosen sizes), real
rlimits (prlimit) and sysctls. The environment is exactly the one shown plus PATH, HOME,
LANG, NO_COLOR and COLUMNS=100 (``env -i``), and /opt is a tmpfs holding the server's venv
(/opt/venv, first on PATH, with the METADATA of Dynamo 1.6.1, SGLang 0.5.23, PyTorch 2.13.0
and NVSHMEM 3.8.0). Only what varies from run to run is
normalised, and only where it is printed: durations (the closing line's ``in N ms``, round
trips ``(N ms)`` and the mesh's matrix, the JSON's ``duration_ms`` and ``started_at``,
Prometheus' timestamps and durations, Nagios' ``duration=``). Nothing else — no path,
port, host name or verdict — is rewritten.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from netns import Namespaces, Netns, veth  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARKER = "<!-- sample: {name} (tests/readme_samples.py) -->"
WORLD_ENV = {"PATH": "/opt/venv/bin:/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
             "NO_COLOR": "1", "COLUMNS": "100", "SGDOCTOR_CONFIG": ""}
SAMPLES: dict[str, Callable[[], str]] = {}


def sample(name: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    def register(fn: Callable[[], str]) -> Callable[[], str]:
        SAMPLES[name] = fn
        return fn
    return register


# --- normalisation: only what differs between two runs of the same world ----------------

_CLOSING = re.compile(r"^((?:OK|WARN|FAIL|ERROR): .* in )\d+( ms on \S+)$", re.M)
_RTT = re.compile(r"\((\d+(?:\.\d+)?) ms\)")


def normalised(text: str) -> str:
    text = _CLOSING.sub(r"\g<1>28\g<2>", text)
    return _RTT.sub("(1.3 ms)", text)


# --- worlds -------------------------------------------------------------------------------

def _sgdoctor_line(args: list[str], env: dict[str, str]) -> list[str]:
    return ["env", "-i", *(f"{k}={v}" for k, v in {**WORLD_ENV, **env}.items()),
            sys.executable, "-m", "sgdoctor", *args]


# The server's venv, as in an SGLang image: first on PATH, so the releases the verdicts
# name are those of its packages (their METADATA is all sgdoctor reads).
RELEASES = {"ai_dynamo_runtime": "1.6.1", "sglang": "0.5.23", "torch": "2.13.0",
            "nvidia_nvshmem_cu12": "3.8.0"}
_VENV = tempfile.TemporaryDirectory(prefix="sgdoctor-readme-venv-")


def _server_venv() -> Path:
    venv = Path(_VENV.name) / "venv"
    if not venv.exists():
        (venv / "bin").mkdir(parents=True)
        (venv / "bin" / "python3").symlink_to(sys.executable)
        (venv / "pyvenv.cfg").write_text("include-system-site-packages = false\n")
        site = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / \
            "site-packages"
        for dist, version in RELEASES.items():
            meta = site / f"{dist}-{version}.dist-info"
            meta.mkdir(parents=True)
            (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\n"
                                           f"Version: {version}\n")
    return venv


def _kept() -> list[str]:
    """What the run needs from the real filesystem: this checkout (its .venv) and the
    interpreter behind it, wherever they live (a CI checkout under /tmp, Python in
    /usr/local or /opt)."""
    import sysconfig

    paths = {str(ROOT), os.path.realpath(sys.prefix), os.path.realpath(sys.executable),
             sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")}
    libdir, library = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("LDLIBRARY")
    if libdir and library and os.path.exists(os.path.join(libdir, library)):
        paths.add(os.path.realpath(os.path.join(libdir, library)))
    return sorted(paths)


# `over DIR [OPTIONS]`: a tmpfs on DIR through which the kept paths under DIR still show.
OVER = """over() {{
  k=$(mktemp -d /var/tmp/.sgdoctor-keep.XXXXXX)
  mount --bind "$1" "$k"
  mount -t tmpfs ${{2:+-o "$2"}} tmpfs "$1"
  for p in {kept}; do
    case "$p" in "$1"/*)
      if [ -d "$k${{p#"$1"}}" ]; then mkdir -p "$p"; else mkdir -p "${{p%/*}}"; : >"$p"; fi
      mount --bind "$k${{p#"$1"}}" "$p";;
    esac
  done
  umount "$k"; rmdir "$k"
}}
"""


def prelude() -> str:
    """The shell every world's script starts with: `over`, and /opt holding the venv."""
    return (OVER.format(kept=" ".join(shlex.quote(p) for p in _kept()))
            + f"over /opt\ncp -a {_server_venv()} /opt/venv\n")


def run_in(prefix: list[str], setup: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """``argv`` after ``setup`` (sh) in private mount and UTS namespaces named node-7 whose
    /opt (a tmpfs) holds the server's venv, inside ``prefix`` (a network namespace, prlimit)."""
    script = f"set -e\nhostname node-7\n{prelude()}{setup}\nexec \"$@\""
    return subprocess.run([*prefix, "unshare", "-m", "-u", "--propagation", "private", "--",
                           "sh", "-c", script, "sh", *argv], capture_output=True, text=True,
                          timeout=180)


def shown(command: str, proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.stdout and "Traceback" not in proc.stderr, proc.stderr
    return f"$ {command}\n" + normalised(proc.stdout)


@contextmanager
def network(interface: str = "eth0", address: str = "192.0.2.2/24",
            v6: str | None = "fd00::2/64") -> Iterator[Netns]:
    """A node with one interface (up, with a default route through it) and its peer."""
    with Namespaces() as nets:
        node, peer = nets.new("readme"), nets.new("rpeer")
        veth(node, interface, peer, "peer0")
        node.no_auto_link_local(interface)
        node.add_address(interface, address)
        if v6:
            node.add_address(interface, v6, nodad=True)
        peer.add_address("peer0", address.rsplit(".", 1)[0] + ".1/24")
        peer.up("peer0")
        node.up(interface, wait=True)
        node.ip("route", "add", "default", "via", address.rsplit(".", 1)[0] + ".1")
        yield node


@contextmanager
def server(ns: Netns, cmd: list[str], port: int, host: str = "127.0.0.1") -> Iterator[None]:
    """A real server inside ``ns``, until a TCP connect to host:port succeeds."""
    workdir = tempfile.mkdtemp(prefix="sgdoctor-readme-")
    proc = ns.spawn(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True)
    probe = ("import socket,sys\ntry: socket.create_connection((sys.argv[1], int(sys.argv[2])),"
             " 0.5)\nexcept OSError: sys.exit(1)")
    try:
        deadline = time.monotonic() + 30
        while ns.exec([sys.executable, "-c", probe, host, str(port)], check=False).returncode:
            assert proc.poll() is None and time.monotonic() < deadline, cmd
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        subprocess.run(["rm", "-rf", workdir], check=False)


def etcd(ns: Netns) -> AbstractContextManager[None]:
    from servers import etcd_binary

    url, peer = "http://127.0.0.1:2379", "http://127.0.0.1:2380"
    return server(ns, [str(etcd_binary()), "--name", "node-7", "--data-dir", "data",
                       "--listen-client-urls", url, "--advertise-client-urls", url,
                       "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                       "--initial-cluster", f"node-7={peer}", "--log-level", "error",
                       "--logger", "zap"], 2379)


def nats(ns: Netns, *flags: str) -> AbstractContextManager[None]:
    from servers import nats_server_binary

    return server(ns, [str(nats_server_binary()), "-a", "127.0.0.1", "-p", "4222", *flags],
                  4222)


# --- the samples --------------------------------------------------------------------------

@sample("gloo-loopback")
def gloo_loopback() -> str:
    env = {"GLOO_SOCKET_IFNAME": "lo", "ETCD_ENDPOINTS": "http://10.99.1.2:2379"}
    args = ["--only", "gloo.interface"]
    with network("bond0", "10.99.1.7/24", None) as node:
        proc = run_in(node.prefix, "", _sgdoctor_line(args, env))
    return shown("GLOO_SOCKET_IFNAME=lo ETCD_ENDPOINTS=http://10.99.1.2:2379 sgdoctor "
                 "--only gloo.interface", proc)


@sample("etcd-space")
def etcd_space() -> str:
    env = {"ETCD_ENDPOINTS": "http://10.0.0.5:2379, http://10.0.0.6:2379"}
    with network("eth0", "10.0.0.7/24", None) as node, etcd_at(node, "10.0.0.5"):
        proc = run_in(node.prefix, "", _sgdoctor_line(["--only", "etcd.endpoints"], env))
    return shown('ETCD_ENDPOINTS="http://10.0.0.5:2379, http://10.0.0.6:2379" sgdoctor '
                 "--only etcd.endpoints", proc)


@sample("etcd-member-down")
def etcd_member_down() -> str:
    """The canonical drift: README once showed warn here; Dynamo 1.6.1 does not start."""
    env = {"ETCD_ENDPOINTS": "http://10.0.0.5:2379,http://10.0.0.6:2379"}
    with network("eth0", "10.0.0.7/24", None) as node, etcd_at(node, "10.0.0.5"):
        node.ip("addr", "add", "10.0.0.6/32", "dev", "lo")     # the host is up, etcd is not
        proc = run_in(node.prefix, "", _sgdoctor_line(["--only", "etcd.endpoints"], env))
    return shown("ETCD_ENDPOINTS=http://10.0.0.5:2379,http://10.0.0.6:2379 sgdoctor "
                 "--only etcd.endpoints    # 10.0.0.6: etcd stopped", proc)


def etcd_at(ns: Netns, address: str) -> AbstractContextManager[None]:
    """etcd listening on ``address``:2379 (an address of ``ns``) and loopback."""
    from servers import etcd_binary

    ns.ip("addr", "add", f"{address}/32", "dev", "lo")
    urls = f"http://{address}:2379,http://127.0.0.1:2379"
    peer = "http://127.0.0.1:2380"
    return server(ns, [str(etcd_binary()), "--name", "node-5", "--data-dir", "data",
                       "--listen-client-urls", urls, "--advertise-client-urls",
                       f"http://{address}:2379", "--listen-peer-urls", peer,
                       "--initial-advertise-peer-urls", peer, "--initial-cluster",
                       f"node-5={peer}", "--log-level", "error", "--logger", "zap"], 2379)


@sample("nats-jetstream")
def nats_jetstream() -> str:
    env = {"NATS_SERVER": "nats://127.0.0.1:4222"}
    with network() as node, nats(node):
        proc = run_in(node.prefix, "", _sgdoctor_line(["--only", "nats.server"], env))
    return shown("NATS_SERVER=nats://127.0.0.1:4222 sgdoctor --only nats.server", proc)


@sample("expert-record")
def expert_record() -> str:
    env = {"SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR": "/data/eplb"}
    setup = "over /tmp size=4g"
    proc = run_in([], setup, _sgdoctor_line(["--only", "expert_record.dir"], env))
    return shown("SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR=/data/eplb sgdoctor --only "
                 "expert_record.dir", proc)


@sample("env-set")
def env_set() -> str:
    proc = run_in([], "", _sgdoctor_line(["env", "--set"], {"NVSHMEM_SYMMETRIC_SIZE": "3 g"}))
    return shown('NVSHMEM_SYMMETRIC_SIZE="3 g" sgdoctor env --set', proc)


GPUS = "".join(f"GPU#{i}    MXC500      0000:{0x0e + i:02x}:00.0   "
               + ("Not Available(MetaX Sysfs File Unaccessible)" if i == 3 else "Available")
               + "\n" for i in range(8))
MACA_SETUP = """
cp -a {opt}/. /opt/
mount -t tmpfs -o mode=755 tmpfs /dev
mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5; mknod -m 666 /dev/urandom c 1 9
mknod -m 666 /dev/mxcd c 240 0
mkdir /dev/dri
for i in 0 1 2 3 4 5 6 7; do mknod -m 666 /dev/dri/renderD$((128 + i)) c 226 $((128 + i)); done
"""


def _executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


@contextmanager
def maca_node() -> Iterator[tuple[str, Path]]:
    """The setup of a MetaX node (and the fake SDK's traps): a gcc-built SDK at /opt/maca
    (-> /opt/maca-3.7.1.5) with mxcc and ld.lld, the driver at /opt/mxdriver with an mx-smi
    listing 8 GPUs (GPU#3 not available), /dev/mxcd and 8 render nodes."""
    from fakesdk import temporary_fake_sdk

    with temporary_fake_sdk(many=0) as sdk:
        for tool in ("mxcc", "ld.lld"):
            _executable(sdk.maca_real / "mxgpu_llvm" / "bin" / tool, "#!/bin/sh\n")
        _executable(sdk.driver_dir / "bin" / "mx-smi",
                    '#!/bin/sh\n[ "$1" = -L ] || exit 64\necho "mx-smi  version: 2.3.1"\n'
                    f"echo\ncat <<'EOF'\n{GPUS}EOF\n")
        yield MACA_SETUP.format(opt=sdk.root / "opt"), sdk.traps


IMAGE_LD_LIBRARY_PATH = ("/opt/mxdriver/lib:/opt/maca/lib:/opt/maca/mxgpu_llvm/lib:"
                         "/opt/maca/ompi/lib:/opt/maca/ucx/lib")
IMAGE_ENV = {"MACA_PATH": "/opt/maca", "LD_LIBRARY_PATH": IMAGE_LD_LIBRARY_PATH}


@sample("maca")
def maca() -> str:
    with maca_node() as (setup, _):
        proc = run_in([], setup, _sgdoctor_line(["--only", "maca.*"], IMAGE_ENV))
    return shown("sgdoctor --only 'maca.*'       # MACA_PATH and LD_LIBRARY_PATH as the "
                 "image sets them", proc)


@sample("maca-libs")
def maca_libs() -> str:
    with maca_node() as (setup, traps):
        setup += ("over /usr/local\nmkdir -p /usr/local/musa/lib\n"
                  f"cp -a {traps}/musa/. /usr/local/musa/lib/\n")
        env = {**IMAGE_ENV, "LD_LIBRARY_PATH": "/usr/local/musa/lib:" + IMAGE_LD_LIBRARY_PATH}
        proc = run_in([], setup, _sgdoctor_line(["--only", "maca.libs"], env))
    return shown("LD_LIBRARY_PATH=/usr/local/musa/lib:$LD_LIBRARY_PATH sgdoctor --only "
                 "maca.libs", proc)


@sample("lib-tree")
def lib_tree() -> str:
    with maca_node() as (setup, _):
        proc = run_in([], setup, _sgdoctor_line(["lib", "--tree", "libmccl.so"], IMAGE_ENV))
    return shown("sgdoctor lib --tree libmccl.so", proc)


@sample("host-shm")
def host_shm() -> str:
    setup = "mount -t tmpfs -o size=64m tmpfs /dev/shm"
    proc = run_in([], setup, _sgdoctor_line(["--only", "host.shm"],
                                            {"MACA_VISIBLE_DEVICES": "0,1"}))
    return shown("MACA_VISIBLE_DEVICES=0,1 sgdoctor --only host.shm       # a 64 MiB /dev/shm: "
                 "docker run without --shm-size", proc)


@sample("host-limits")
def host_limits() -> str:
    mib8 = str(8 << 20)
    # Lowered, never raised: a container may not raise a hard limit (nofile here is 20000).
    proc = run_in(["prlimit", f"--memlock={mib8}:{mib8}", "--nofile=1024:4096", "--"], "",
                  _sgdoctor_line(["--only", "host.limits"], {"NCCL_IB_HCA": "mlx5_0"}))
    return shown("NCCL_IB_HCA=mlx5_0 sgdoctor --only host.limits     # limits: memlock 8 MiB, "
                 "nofile 1024 (hard 4096)", proc)


@sample("host-ports")
def host_ports() -> str:
    with network() as node:
        node.sysctl("net.ipv4.ip_local_port_range", '"1024 65000"')
        sysctl = run_in(node.prefix, "", ["sysctl", "net.ipv4.ip_local_port_range"])
        proc = run_in(node.prefix, "", _sgdoctor_line(["--only", "host.ports"], {}))
    return shown("sysctl net.ipv4.ip_local_port_range", sysctl) + shown(
        "sgdoctor --only host.ports", proc)


TOP_ENV = {"NVSHMEM_SYMMETRIC_SIZE": "3g", "TRITON_DISABLE_MACA_OPT_MMA_PREFETCH": "0",
           "SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR": "/tmp/records",
           "GLOO_SOCKET_IFNAME": "bond0", "ETCD_ENDPOINTS": "http://localhost:2379"}
# A node with room (/dev/shm of 8 GiB, 100 GiB for the model cache under HOME), Yama's
# ptrace_scope 1 (Ubuntu's default), and a container's open-file limit of 4096 (lowered: a
# container may not raise it).
TOP_SETUP = """
mount -t tmpfs -o size=8g tmpfs /dev/shm
over /tmp size=100g
mkdir -p /tmp/home
mount -t tmpfs tmpfs /proc/sys/kernel
mkdir /proc/sys/kernel/yama
echo 1 >/proc/sys/kernel/yama/ptrace_scope
"""


def top_run(args: list[str]) -> subprocess.CompletedProcess[str]:
    with network() as node, etcd(node):
        return run_in([*node.prefix, "prlimit", "--nofile=4096:4096", "--"], TOP_SETUP,
                      _sgdoctor_line(args, {**TOP_ENV, "HOME": "/tmp/home"}))


@sample("top")
def top() -> str:
    return shown("sgdoctor", top_run([]))


_STARTED = re.compile(r'"started_at": "[^"]+"')
_DURATION_MS = re.compile(r'"duration_ms": [0-9.]+')
_PROM_TIMES = re.compile(r"^(sgdoctor_(?:check_duration|run_duration|run_timestamp)_seconds"
                         r"(?:\{[^}]*\})?) [0-9.]+$", re.M)


@sample("json")
def json_sample() -> str:
    proc = top_run(["--only", "gloo.interface", "--format", "json"])
    json.loads(proc.stdout)
    text = _STARTED.sub('"started_at": "2026-11-29T18:20:00Z"', proc.stdout)
    proc.stdout = _DURATION_MS.sub('"duration_ms": 0.4', text)
    return shown("sgdoctor --only gloo.interface --format json", proc)


@sample("prometheus")
def prometheus_sample() -> str:
    proc = top_run(["--only", "gloo.interface,etcd.endpoints", "--format", "prometheus"])
    proc.stdout = _PROM_TIMES.sub(
        lambda m: m.group(1) + (" 1795976400.000" if "timestamp" in m.group(1) else
                                " 0.000400"), proc.stdout)
    return shown("sgdoctor --only gloo.interface,etcd.endpoints --format prometheus", proc)


_MATRIX_RTT = re.compile(r"^\d+\.\d\d$")
_MS = re.compile(r"\b\d+\.\d+ ms\b")


def _normalised_matrix(text: str) -> str:
    """Round trips in the matrix as 0.20, laid out as report/matrix.py lays out cells (right
    aligned to the widest): a slow run may print 12.34 and widen every column."""
    lines = text.split("\n")
    head = next(i for i, line in enumerate(lines) if line.startswith("Gloo reachability"))
    end = next(i for i in range(head + 1, len(lines)) if not lines[i].strip())
    rows = [line.split() for line in lines[head + 2:end]]
    names = lines[head + 1].split()
    cells = [["0.20" if _MATRIX_RTT.match(c) else c for c in row[1:]] for row in rows]
    width = max(len(n) for n in names)
    col = max(width, *(len(c) for row in cells for c in row))
    table = [" " * width + "  " + "  ".join(n.rjust(col) for n in names)]
    table += [row[0].ljust(width) + "  " + "  ".join(c.rjust(col) for c in cs)
              for row, cs in zip(rows, cells, strict=True)]
    return "\n".join(lines[:head + 1] + table + lines[end:])


@sample("mesh")
def mesh() -> str:
    """Three nodes on one bridge, etcd beside them; n2 has no route to n3."""
    from servers import etcd_binary

    subnet = "10.77.0"
    with Namespaces() as nets:
        hub = nets.new("rhub")
        hub.ip("link", "add", "br0", "type", "bridge")
        hub.ip("addr", "add", f"{subnet}.1/24", "dev", "br0")
        nodes = []
        for index in range(3):
            node = nets.new(f"rmesh{index}")
            veth(node, "eth1", hub, f"p{index}")
            node.no_auto_link_local("eth1")
            node.add_address("eth1", f"{subnet}.{11 + index}/24")
            nodes.append(node)
        hub.up("br0")
        for index in range(3):
            hub.ip("link", "set", f"p{index}", "master", "br0")
            hub.up(f"p{index}")
        for node in nodes:
            node.up("eth1", wait=True)
        nodes[1].ip("route", "add", "prohibit", f"{subnet}.13/32")
        url, peer = f"http://{subnet}.1:2379", "http://127.0.0.1:2380"
        etcd_cmd = [str(etcd_binary()), "--name", "hub", "--data-dir", "data",
                    "--listen-client-urls", url, "--advertise-client-urls", url,
                    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                    "--initial-cluster", f"hub={peer}", "--log-level", "error",
                    "--logger", "zap"]
        env = {"GLOO_SOCKET_IFNAME": "eth1", "ETCD_ENDPOINTS": url}
        with server(hub, etcd_cmd, 2379, f"{subnet}.1"):
            runs = [subprocess.Popen(
                [*node.prefix, "unshare", "-m", "-u", "--propagation", "private", "--", "sh",
                 "-c", f"set -e\nhostname n{index + 1}\n{prelude()}exec \"$@\"", "sh",
                 *_sgdoctor_line(["mesh", "--group", "llama-prod", "--expect", "3",
                                  "--port", "29500", "--timeout", "20s"], env)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for index, node in enumerate(nodes)]
            outs = [run.communicate(timeout=120) for run in runs]
    proc = subprocess.CompletedProcess(runs[0].args, runs[0].returncode, *outs[0])
    proc.stdout = _MS.sub("0.21 ms", _normalised_matrix(proc.stdout))
    return shown("sgdoctor mesh --group llama-prod --expect 3 --port 29500 --timeout 20s\n"
                 "                                   # on n1, n2 and n3 at once; n2 has no route "
                 "to n3", proc)


FORMAT_CHECKS = "gloo.interface,etcd.endpoints,env.triton_disable_maca_opt_mma_prefetch"
_NAGIOS_DURATION = re.compile(r" duration=[0-9.]+s$", re.M)


@sample("nagios")
def nagios_sample() -> str:
    proc = top_run(["--only", FORMAT_CHECKS, "--format", "nagios"])
    proc.stdout = _NAGIOS_DURATION.sub(" duration=0.084s", proc.stdout)
    return shown(f"sgdoctor --only {FORMAT_CHECKS} --format nagios", proc)


# --- README ---------------------------------------------------------------------------------

def readme_block(name: str, text: str | None = None) -> tuple[int, int]:
    """Where the block after NAME's marker starts and ends (its text, fences excluded)."""
    text = README.read_text() if text is None else text
    marker = text.index(MARKER.format(name=name))
    start = text.index("```", marker)
    start = text.index("\n", start) + 1
    return start, text.index("```", start)


def write(names: list[str]) -> None:
    for name in names:
        produced = SAMPLES[name]()
        text = README.read_text()
        start, end = readme_block(name, text)
        README.write_text(text[:start] + produced + text[end:])
        print(f"{name}: {len(produced.splitlines())} lines")


if __name__ == "__main__":
    write(sys.argv[1:] or list(SAMPLES))
