"""TLS material that would hang, prompt or leak (issue 14), through the real CLI: a FIFO or a
device given as a certificate fails at once naming the variable and what the path is; an
encrypted key never prompts on the terminal and fails naming the variable; no key material is
left on disk, whatever happens."""

from __future__ import annotations

import fcntl
import os
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from conftest import BASE_ENV, json_report, result_of, run_cli
from servers import free_port, make_pki
from sgdoctor.probe import tls_material
from sgdoctor.probe.tls_material import Pem, TlsMaterialError, TlsProblem, client_context

USES_NATS = {"DYN_REQUEST_PLANE": "nats"}


def encrypted_key(pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pem.encode(), password=None)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(b"secret-pass")).decode()


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path / "pki")


@pytest.fixture
def fifo(tmp_path) -> str:
    path = tmp_path / "ca.fifo"
    os.mkfifo(path)
    return str(path)


def etcd_env(ca: str, cert: str, key: str) -> dict[str, str]:
    return {"ETCD_ENDPOINTS": f"https://127.0.0.1:{free_port()}", "ETCD_AUTH_CA": ca,
            "ETCD_AUTH_CLIENT_CERT": cert, "ETCD_AUTH_CLIENT_KEY": key}


def check_json(check_id: str, env: dict[str, str], **kwargs) -> dict:
    proc = run_cli(["--only", check_id, "--format", "json", "--timeout", "8"], env,
                   timeout=30, **kwargs)
    return result_of(json_report(proc), check_id)


def test_etcd_fifo_as_ca_is_a_quick_fail_naming_it(pki, fifo):
    began = time.monotonic()
    item = check_json("etcd.endpoints", etcd_env(fifo, pki.client_cert_pem, pki.client_key_pem))
    assert time.monotonic() - began < 8
    assert item["status"] == "fail", item
    assert f"ETCD_AUTH_CA={fifo} is a named pipe (FIFO)" in item["summary"]
    assert item["remedy"] == "Point ETCD_AUTH_CA at a regular file, not a pipe, device or directory"
    assert item["details"]["endpoints"][0]["error_kind"] == "not_a_file"


def test_etcd_device_as_key_says_what_it_is(pki):
    item = check_json("etcd.endpoints", etcd_env(pki.ca_pem, pki.client_cert_pem, "/dev/zero"))
    assert item["status"] == "fail", item
    # the key's value is a secret, so the report masks it; what the path is stays said
    assert "ETCD_AUTH_CLIENT_KEY=" in item["summary"]
    assert "is a character device, not a regular file" in item["summary"]


def test_nats_fifo_as_ca_is_a_quick_fail_naming_it(fifo):
    began = time.monotonic()
    item = check_json("nats.server", {**USES_NATS, "NATS_SERVER": f"tls://127.0.0.1:{free_port()}",
                                      "NATS_TLS_CA_CERT_PATH": fifo})
    assert time.monotonic() - began < 8
    assert item["status"] == "fail", item
    assert f"NATS_TLS_CA_CERT_PATH={fifo} is a named pipe (FIFO)" in item["summary"]
    assert item["details"]["servers"][0]["error_kind"] == "not_a_file"


def test_nats_fifo_as_credentials_file_is_a_quick_fail(fifo):
    item = check_json("nats.server", {**USES_NATS, "NATS_SERVER": f"nats://127.0.0.1:{free_port()}",
                                      "NATS_AUTH_CREDENTIALS_FILE": fifo})
    assert item["status"] == "fail", item
    assert "NATS_AUTH_CREDENTIALS_FILE=" in item["summary"]  # its value is masked as a secret
    assert "is a named pipe (FIFO), not a regular file" in item["summary"]


def run_on_a_terminal(args: list[str], env: dict[str, str],
                      timeout: float = 30) -> tuple[subprocess.CompletedProcess, str]:
    """The CLI with a pty as its controlling terminal and stdin: a pass-phrase prompt would
    be written there and block on it until the deadline."""
    master, slave = os.openpty()

    def controlling_tty() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    full_env = {**BASE_ENV, **env}
    try:
        proc = subprocess.Popen([sys.executable, "-m", "sgdoctor", *args], stdin=slave,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=full_env, preexec_fn=controlling_tty)
        os.close(slave)
        stdout, stderr = proc.communicate(timeout=timeout)
        terminal = b""
        while select.select([master], [], [], 0)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            terminal += chunk
    finally:
        os.close(master)
    return (subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr),
            terminal.decode(errors="replace"))


def test_etcd_encrypted_key_never_prompts_and_leaves_nothing(pki, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {**etcd_env(pki.ca_pem, pki.client_cert_pem, encrypted_key(pki.client_key_pem)),
           "TMPDIR": str(scratch)}
    began = time.monotonic()
    proc, terminal = run_on_a_terminal(["--only", "etcd.endpoints", "--format", "json",
                                        "--timeout", "8"], env)
    assert time.monotonic() - began < 8, "a prompt held the run until the deadline"
    item = result_of(json_report(proc), "etcd.endpoints")
    assert item["status"] == "fail", item
    assert "ETCD_AUTH_CLIENT_KEY holds an encrypted private key" in item["summary"]
    assert "openssl pkey" in item["remedy"]
    assert "pass phrase:" not in terminal + proc.stdout + proc.stderr
    assert "BEGIN" not in proc.stdout + proc.stderr
    assert list(scratch.iterdir()) == []


def test_nats_encrypted_key_never_prompts_and_leaves_nothing(pki, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    key = tmp_path / "client-key.enc.pem"
    key.write_text(encrypted_key(pki.client_key_pem))
    env = {**USES_NATS, "NATS_SERVER": f"tls://127.0.0.1:{free_port()}",
           "NATS_TLS_CA_CERT_PATH": pki.path("ca.pem"),
           "NATS_TLS_CLIENT_CERT_PATH": pki.path("client.pem"),
           "NATS_TLS_CLIENT_KEY_PATH": str(key), "TMPDIR": str(scratch)}
    proc, terminal = run_on_a_terminal(["--only", "nats.server", "--format", "json",
                                        "--timeout", "8"], env)
    item = result_of(json_report(proc), "nats.server")
    assert item["status"] == "fail", item
    assert "NATS_TLS_CLIENT_KEY_PATH holds an encrypted private key" in item["summary"]
    assert "pass phrase:" not in terminal + proc.stdout + proc.stderr
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("encrypted", [False, True])
def test_without_memfd_the_private_directory_is_removed_on_every_path(pki, tmp_path,
                                                                      monkeypatch, encrypted):
    """Where memfds cannot be used, the fallback directory is 0700 and gone afterwards,
    whether loading worked or failed."""
    import tempfile

    def no_memfd(*_args):
        raise OSError(38, "Function not implemented")

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setattr(os, "memfd_create", no_memfd)
    seen: list[int] = []
    real_chmod = os.chmod

    def spy_chmod(path, mode, *args, **kwargs):
        if Path(path).parent == scratch:
            seen.append(mode)
        return real_chmod(path, mode, *args, **kwargs)

    monkeypatch.setattr(tls_material.os, "chmod", spy_chmod)
    key_text = encrypted_key(pki.client_key_pem) if encrypted else pki.client_key_pem
    cert, key = Pem("CERT", pki.client_cert_pem), Pem("KEY", key_text)
    if encrypted:
        with pytest.raises(TlsMaterialError) as caught:
            client_context(None, cert, key)
        assert caught.value.problem is TlsProblem.ENCRYPTED_KEY
        assert caught.value.variable == "KEY"
    else:
        client_context(None, cert, key)
    assert seen == [0o700]
    assert list(scratch.iterdir()) == []
