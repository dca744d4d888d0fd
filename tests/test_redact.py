"""Redaction rules, directly: what is masked, and that masking stays linear."""

from __future__ import annotations

import json
import time

import pytest

from sgdoctor.redact import MASK, MAX_TEXT, Redactor, mask_userinfo


@pytest.mark.parametrize("text, expected", [
    ("http://dyn:s3cret@etcd:2379", "http://dyn:***@etcd:2379"),
    ("a nats://u:pw@h:4222, b http://x:y@z", "a nats://u:***@h:4222, b http://x:***@z"),
    ("http://u:pa/ss@h:1/x", "http://u:***@h:1/x"),
    ("http://u:p@ss@h", "http://u:***@h"),
    ("nats://TOKEN123@h:4222", "nats://***@h:4222"),
    ("http://h:2379/health", "http://h:2379/health"),
    ("mail me: a@b, ratio 1:2", "mail me: a@b, ratio 1:2"),
])
def test_url_userinfo(text, expected):
    assert mask_userinfo(text) == expected


def test_secret_named_variables_pem_and_length_cap():
    redact = Redactor({"ETCD_AUTH_PASSWORD": "hunter22", "NATS_AUTH_NKEY": "SUAB",
                       "DYN_LOG": "info", "MY_TOKEN": "ab"})
    assert redact.text("pw hunter22 seed SUAB") == f"pw {MASK} seed {MASK}"
    assert redact.text("level info, ab") == "level info, ab"  # not secret / too short
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----"
    assert "MIIEvQ" not in redact.text(f"key: {pem} end")
    assert redact.any({"k": ["hunter22", 1, None]}) == {"k": [MASK, 1, None]}
    long = redact.text("z" * (MAX_TEXT * 3))
    assert len(long) < MAX_TEXT + 64 and long.endswith("more characters)")


def test_masking_is_linear_on_hostile_text():
    redact = Redactor({})
    for text in ("y" * 200_000, "://" * 70_000, "http://u:" + "p" * 200_000, "a:" * 100_000):
        began = time.perf_counter()
        redact.text(text)
        assert time.perf_counter() - began < 0.5


@pytest.mark.parametrize("text, expected", [
    ("root:Pw9secretX@127.0.0.1:2379", "root:***@127.0.0.1:2379"),
    ("Tok3nSecret@10.0.0.5:4222", "***@10.0.0.5:4222"),
    ("u:p@[::1]:2379", "u:***@[::1]:2379"),
    ("write to ops@example.com", "write to ops@example.com"),
])
def test_userinfo_without_a_scheme(text, expected):
    assert Redactor({}).text(text) == expected


def test_a_secret_cut_short_by_whoever_echoed_it_is_still_masked():
    password = "Hx7kZ9mQ2vL8pR4tY6wA1sD3fG5hJ0qW"
    redact = Redactor({"ETCD_AUTH_PASSWORD": password,
                       "NATS_SERVER": "nats://dyn:UrlPw-4431@h:4222"})
    assert redact.text(f'server said "{password[:20]}…"') == 'server said "***…"'
    assert redact.text("echo UrlPw-4431") == "echo ***"


def test_control_characters_are_escaped():
    assert Redactor({}).text("a\x1b[31mb\x07\tc\nd") == "a\\x1b[31mb\\x07\tc\nd"


def test_sgdoctor_env_masks_effects_and_remedies_too():
    from conftest import run_cli

    env = {"RUSTUP_DIST_SERVER": "http://user:hunter2pw@mirror.example",
           "NATS_AUTH_TOKEN": "Tok9Shared77", "DYN_LOG": "Tok9Shared77",
           "ETCD_ENDPOINTS": "root:Pw9secretX@127.0.0.1:2379"}
    for fmt in ("json", "table"):
        out = run_cli(["env", "--set", "--format", fmt], env).stdout
        assert "RUSTUP_DIST_SERVER" in out
        for secret in ("hunter2pw", "Tok9Shared77", "Pw9secretX"):
            assert secret not in out, (fmt, secret)


def test_two_secrets_sharing_a_prefix_leave_no_tail() -> None:
    redact = Redactor({"A_SECRET": "commonprefix-AAAA", "B_SECRET": "commonprefix-BBBBBBBB"})
    out = redact.text("x commonprefix-BBBBBBBB y commonprefix-AAAA z commonprefix-BBB")
    assert "AAAA" not in out and "BBB" not in out and "commonpr" not in out


def test_url_password_holding_a_comma_or_at_sign() -> None:
    redact = Redactor({"ETCD_ENDPOINTS": "http://user:pa,ss@w0rd@h:2379,http://b:2379"})
    assert "pa,ss" not in redact.text("auth pa,ss@w0rd refused")
    assert "w0rd" not in redact.text("auth pa,ss@w0rd refused")


@pytest.mark.parametrize("label", ["CERTIFICATE", "certificate", "Private Key"])
def test_pem_in_a_non_secret_variable_is_never_echoed(label: str) -> None:
    body = "MIIBszCCAVmgAwIBAgIUQ0hwZXJzb25hbA0123456789abcdef"
    pem = f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"
    redact = Redactor({"ETCD_AUTH_CA": pem})
    for text in (f"read config file {pem}", f"read config file -----BEGIN {label}-----",
                 f"bad base64 {body[:30]} here", f"cut -----BEGIN {label}"):
        out = redact.text(text)
        assert body[:16] not in out and "BEGIN" not in out.upper().replace("<PEM REDACTED>", "")


def test_escaped_copies_of_a_secret_are_masked() -> None:
    secret = "\u00e9\x01secret-value-77"
    redact = Redactor({"NATS_AUTH_PASSWORD": secret})
    for echoed in (json.dumps(secret)[1:-1], repr(secret)[1:-1], ".." + "secret-value-77",
                   secret.encode("unicode_escape").decode()):
        assert "secret-value" not in redact.text(f"peer said {echoed}")


def _reference_text(redact: Redactor, value: str) -> str:
    """Redactor.text before its fast paths: every step on every string."""
    from sgdoctor import redact as module

    value = module._PEM.sub("<PEM redacted>", value)
    value = module.mask_bare_userinfo(module.mask_userinfo(value))
    for secret in redact._whole:
        if secret in value:
            value = value.replace(secret, MASK)
    for secret in redact._heads:
        value = module._mask_prefixes(value, secret)
    if len(value) > MAX_TEXT:
        value = f"{value[:MAX_TEXT]}… ({len(value) - MAX_TEXT} more characters)"
    return module.printable(value).translate(module._CONTROL)


PIECES = ["-----BEGIN KEY-----", "-----", "://", "u:pw@h:1", "@", "\t", "\n", "\x00", "\x7f",
          "é", "\udcff", "hunter2secret", "hunter2s", "plain text", " ", "nats://tok@h:4222"]


def test_the_fast_paths_mask_exactly_what_every_step_masks() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    texts = st.lists(st.sampled_from(PIECES) | st.text(max_size=6), max_size=8).map("".join)

    @settings(max_examples=400, deadline=None)
    @given(texts, st.sampled_from([{}, {"ETCD_AUTH_PASSWORD": "hunter2secret"},
                                   {"NATS_SERVER": "nats://u:pw@h:1"}]))
    def same(text: str, env: dict[str, str]) -> None:
        redact = Redactor(env)
        assert redact.text(text) == _reference_text(redact, text)
        nested = {"k": [text, (text, 3, None, True, 1.5)], text: {"x": text}}
        assert redact.any(nested) == {
            _reference_text(redact, "k"): [_reference_text(redact, text),
                                           [_reference_text(redact, text), 3, None, True, 1.5]],
            _reference_text(redact, text): {"x": _reference_text(redact, text)}}

    same()
