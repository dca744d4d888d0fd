"""probe.host_arg: the bytes the idna codec would give getaddrinfo, without the codec."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgdoctor.probe import host_arg


def _codec(host: str) -> bytes | None:
    try:
        return host.encode("idna")
    except UnicodeError:
        return None


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "etcd-0.etcd.svc", "node-7.", "",
                                  "a" * 63 + ".com", "a" * 64 + ".com", "a..b", ".x",
                                  "bücher.example", "x" * 64])
def test_the_bytes_are_the_codecs(host):
    arg = host_arg(host)
    if isinstance(arg, bytes):
        assert arg == _codec(host)
    else:
        assert arg == host  # left to the codec: the same outcome as before


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab.-:1é"), max_size=70))
def test_any_name_gets_the_codecs_bytes_or_the_codec(host):
    arg = host_arg(host)
    assert arg == host or arg == _codec(host)
