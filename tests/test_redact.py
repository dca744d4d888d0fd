"""Redaction rules, directly: what is masked, and that masking stays linear."""

from __future__ import annotations

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
