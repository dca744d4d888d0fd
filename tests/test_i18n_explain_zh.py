"""`sgdoctor explain ID` in Chinese for every built-in check: its title, its headings and its
explanation are translated; what is left in Latin letters is verbatim (variables, paths,
options, quoted messages, product names and the technical terms operators use as they are)."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from conftest import BASE_ENV, run_cli
from sgdoctor.registry import discover

BUILT_IN = [s.id for s in discover(()) if s.source == "built-in"]
CJK = re.compile(r"[\u4e00-\u9fff]")
QUOTED = re.compile(r"`[^`]*`|'[^']*'|\"[^\"]*\"")
TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_./$=<>*:+\-#@\[\]{}%|^~]*")
# Words that stay as they are in the Chinese text: names of products, programs, files and
# values, and terms of the trade (rank, worker, socket …) a MetaX operator reads in English.
_WORDS = """
Docker Dynamo False GPUDirect GiB Gloo JetStream Lines MetaX MiB Path ProcessGroup PyTorch
Python RMSNorm RoCE Rust SGLang TorchDynamo Triton True Ubuntu Yama argparse attention cache
containerd crio dlopen docker dockerd dot down error etcd fail false file fsync gRPC
getaddrinfo gguf glibc gloo graph health http hub id ignore inode kernel kubernetes launcher
leader libibverbs libmccl lo mcTriton mcoplib mem memlock mkdir mountinfo nargs nats nnodes
node nofile nonce off packed peer pid ping pod port ports ptrace quic raft rank render root
rustup seccomp sgdoctor shell socket soname sscanf stderr store sysfs target tcp term tmp
torch torchrun true uverbs vendored veth video worker yes zmq
"""
VERBATIM = set(_WORDS.split())


def english_words(text: str) -> set[str]:
    """Latin words that are not verbatim tokens (no digits, paths, options or ALL-CAPS)."""
    words = set()
    for token in TOKEN.findall(QUOTED.sub(" ", text)):
        token = token.rstrip(".:-")
        if len(token) < 2 or token.isupper() or re.search(r"[0-9_./$=<>*:+\-#@\[\]{}%|^~]",
                                                         token):
            continue
        words.add(token)
    return words


def explain(check_id: str, *args: str) -> str:
    from sgdoctor.cli import _dispatch

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert _dispatch(["explain", check_id, *args]) == 0
    return out.getvalue()


def test_every_built_in_check_is_listed():
    assert len(BUILT_IN) >= 50 and {"maca.sdk", "launch.router", "env.dyn_log"} <= set(BUILT_IN)


@pytest.mark.parametrize("check_id", BUILT_IN)
def test_explain_in_chinese_leaves_only_verbatim_words(check_id):
    text = explain(check_id, "--lang", "zh")
    head, reads, blank, *body = text.splitlines()
    assert head.startswith(f"{check_id} — "), head
    assert reads.startswith("读取：") and "来源：内置" in reads, reads
    assert blank == "" and body and CJK.search("\n".join(body)), text
    left = english_words(text.replace(check_id, " ")) - VERBATIM
    assert not left, f"English left in `explain {check_id}` (zh): {sorted(left)}\n{text}"
    english = explain(check_id, "--lang", "en")
    assert not CJK.search(english), english
    assert english.splitlines()[0] != head, head     # the title is translated too


def test_the_check_finds_untranslated_english():
    assert english_words("MACA_PATH 未设置 when the SDK is at /opt/maca") - VERBATIM == \
        {"when", "the", "is", "at"}


def test_explain_follows_the_locale_through_the_cli():
    proc = run_cli(["explain", "launch.topology"], {**BASE_ENV, "LANG": "zh_CN.UTF-8"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("launch.topology — 启动拓扑与 GPU\n读取：MACA_VISIBLE_DEVICES"
                                  "   来源：内置\n\nSGLang 0.5.23（srt/arg_groups/"), proc.stdout
    assert "`--tp-size × --pp-size` 必须能被" in proc.stdout


def test_a_variable_read_by_checks_lists_them_in_chinese():
    proc = run_cli(["explain", "MASTER_ADDR", "--lang", "zh"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("读取 MASTER_ADDR 的检查项：launch.rendezvous\n"), proc.stdout
    assert "地址取自 --dist-init-addr HOST:PORT" in proc.stdout
