"""etcd's JSON gateway carries keys and values as base64: probe.etcd_client encodes and
decodes them with binascii alone, exactly as the base64 module does."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sgdoctor.probe.etcd_client import b64, unb64


@given(st.binary() | st.text())
def test_a_key_is_encoded_as_base64_encodes_it_and_decodes_back(data):
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    assert b64(data) == base64.b64encode(raw).decode("ascii")
    assert unb64(b64(data)) == raw


@given(st.text(alphabet=st.sampled_from("AZaz09+/=-_ \n\x00é"), max_size=24))
def test_a_reply_decodes_as_base64_decodes_it_or_fails_as_it_does(text):
    try:
        expected = base64.b64decode(text)
    except ValueError:
        with pytest.raises(ValueError):
            unb64(text)
    else:
        assert unb64(text) == expected


def test_a_field_etcd_left_out_is_empty():
    assert unb64(None) == unb64("") == b""
