"""ETCD_ENDPOINTS / NATS_SERVER parsing mirrors Dynamo; hostile input never raises."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sgdoctor.parse.endpoints import (
    ETCD_DEFAULT,
    NATS_DEFAULT,
    NATS_PREFIX_ERROR,
    TLS_HTTP_ERROR,
    etcd_config,
    etcd_endpoints,
    etcd_usage,
    nats_config,
    nats_servers,
    nats_usage,
)

TLS = {"ETCD_AUTH_CA": "ca", "ETCD_AUTH_CLIENT_CERT": "cert", "ETCD_AUTH_CLIENT_KEY": "key"}


def test_etcd_default_is_flagged():
    [ep] = etcd_endpoints({})
    assert (ep.raw, ep.host, ep.port, ep.defaulted, ep.error) == (
        ETCD_DEFAULT, "localhost", 2379, True, None)


def test_etcd_split_without_trimming_names_the_space():
    first, second = etcd_endpoints({"ETCD_ENDPOINTS": "http://a:2379, http://b:2379"})
    assert first.ok and first.host == "a"
    assert second.raw == " http://b:2379" and second.host is None
    assert "space (character 1)" in second.error


def test_etcd_scheme_added_http_or_https():
    [plain] = etcd_endpoints({"ETCD_ENDPOINTS": "10.0.0.1:2379"})
    assert plain.url == "http://10.0.0.1:2379" and plain.scheme_added
    [tls] = etcd_endpoints({"ETCD_ENDPOINTS": "10.0.0.1:2379", **TLS})
    assert tls.url == "https://10.0.0.1:2379" and tls.ok


def test_etcd_tls_with_http_is_an_error_but_keeps_the_address():
    [ep] = etcd_endpoints({"ETCD_ENDPOINTS": "http://e:2379", **TLS})
    assert TLS_HTTP_ERROR in ep.error and (ep.host, ep.port) == ("e", 2379)
    [default] = etcd_endpoints(TLS)
    assert default.defaulted and TLS_HTTP_ERROR in default.error


def test_etcd_password_wins_over_tls_like_dynamo():
    cfg = etcd_config({"ETCD_AUTH_USERNAME": "u", "ETCD_AUTH_PASSWORD": "p", **TLS,
                       "ETCD_ENDPOINTS": "http://e:2379"})
    assert cfg.auth == "password" and not cfg.tls and cfg.endpoints[0].ok
    assert any("ignored" in note for note in cfg.ignored)


def test_etcd_partial_credentials_are_reported():
    cfg = etcd_config({"ETCD_AUTH_USERNAME": "u", "ETCD_AUTH_CA": "x"})
    assert cfg.auth == "none" and len(cfg.ignored) == 2


def test_etcd_bad_entries():
    cases = {
        "HTTP://e:2379": "case-sensitive",
        "http://e:99999": "out of range",
        "http://e:": "empty port",
        "http://::1:2379": "brackets",
        "a,,b": "empty entry",
        "http://e:23x9": "not a number",
        "http://é:2379": "non-ASCII",
    }
    for value, needle in cases.items():
        errors = [ep.error for ep in etcd_endpoints({"ETCD_ENDPOINTS": value}) if ep.error]
        assert errors and needle in errors[0], (value, errors)


def test_etcd_missing_port_dials_80():
    [ep] = etcd_endpoints({"ETCD_ENDPOINTS": "etcd0"})
    assert ep.port == 80 and ep.port_defaulted and "2379" in ep.notes[0]


def test_etcd_ipv6_and_userinfo_redacted():
    [ep] = etcd_endpoints({"ETCD_ENDPOINTS": "http://root:s3cret@[fd00::1]:2379"})
    assert (ep.host, ep.port) == ("fd00::1", 2379)
    assert "s3cret" not in ep.display and "root:***@" in ep.display


def test_non_utf8_value_falls_back_to_default_like_rust():
    bad = b"http://\xff:2379".decode("utf-8", "surrogateescape")
    [ep] = etcd_endpoints({"ETCD_ENDPOINTS": bad})
    assert ep.defaulted and ep.raw == ETCD_DEFAULT and "UTF-8" in ep.notes[-1]


def test_nats_default_and_prefix_rule():
    [ep] = nats_servers({})
    assert (ep.host, ep.port, ep.defaulted) == ("localhost", 4222, True)
    assert ep.raw == NATS_DEFAULT
    tls = nats_config({"NATS_SERVER": "tls://n:4222"})
    assert tls.error is None and (tls.servers[0].scheme, tls.servers[0].port) == ("tls", 4222)
    for value in ("TLS://n:4222", "NATS://n:4222", "http://n:4222", "n:4222"):
        cfg = nats_config({"NATS_SERVER": value})
        assert NATS_PREFIX_ERROR in cfg.error and NATS_PREFIX_ERROR in cfg.servers[0].error
        assert cfg.error_code == "invalid_scheme"


def test_nats_tls_settings_need_the_tls_scheme():
    for tls in ({"NATS_TLS_CA_CERT_PATH": "/ca.pem"}, {"NATS_TLS_CA_CERT_PATH": ""},
                {"NATS_TLS_INSECURE": "yes"}):
        assert nats_config({"NATS_SERVER": "nats://n:4222", **tls}).error_code == "tls_scheme"
        assert nats_config({"NATS_SERVER": "tls://n:4222", **tls}).error is None
    assert nats_config({**{"NATS_TLS_INSECURE": "1"}}).error_code == "tls_scheme"
    assert nats_config({"NATS_SERVER": "nats://n:4222", "NATS_TLS_INSECURE": "off"}).error is None
    half = nats_config({"NATS_SERVER": "tls://n:4222", "NATS_TLS_CLIENT_KEY_PATH": "/k.pem"})
    assert half.error_code == "client_cert_without_key"


def test_nats_comma_list_is_one_address_for_dynamo():
    cfg = nats_config({"NATS_SERVER": "nats://a:4222,nats://b:4222"})
    assert [s.host for s in cfg.servers] == ["a", "b"]
    assert "ONE address" in cfg.error


def test_nats_auth_precedence():
    assert nats_config({"NATS_AUTH_TOKEN": "t", "NATS_AUTH_NKEY": "n"}).auth == "token"
    assert nats_config({"NATS_AUTH_USERNAME": "u", "NATS_AUTH_TOKEN": "t"}).auth == "token"
    both = {"NATS_AUTH_USERNAME": "u", "NATS_AUTH_PASSWORD": "p", "NATS_AUTH_TOKEN": "t"}
    assert nats_config(both).auth == "user/password"
    assert "default" in nats_config({}).auth


def test_usage_rules():
    assert etcd_usage({}).used is True
    assert etcd_usage({"DYN_DISCOVERY_BACKEND": "etcd"}).used is True
    assert etcd_usage({"DYN_DISCOVERY_BACKEND": "kubernetes"}).used is False
    assert nats_usage({"DYN_REQUEST_PLANE": "NATS"}).used is True
    assert nats_usage({"DYN_EVENT_PLANE": "nats"}).used is True
    assert nats_usage({"DYN_REQUEST_PLANE": "tcp", "DYN_EVENT_PLANE": "zmq"}).used is False
    assert nats_usage({}).used is False
    assert nats_usage({"NATS_SERVER": "nats://n:4222"}).used is True
    assert nats_usage({"NATS_SERVER": "", "DYN_REQUEST_PLANE": "TCP"}).used is True
    assert nats_usage({"NATS_SERVER": "nats://n:4222", "DYN_EVENT_PLANE": ""}).used is True
    assert nats_usage({"NATS_SERVER": "nats://n:4222", "DYN_EVENT_PLANE": "zmq"}).used is False
    assert nats_usage({"DYN_REQUEST_PLANE": "nats", "DYN_EVENT_PLANE": "zmq"}).used is True
    for planes in ({"DYN_REQUEST_PLANE": "http"}, {"DYN_REQUEST_PLANE": " tcp"},
                   {"DYN_EVENT_PLANE": "Zmq"}, {"DYN_REQUEST_PLANE": ""}):
        assert nats_usage(planes).error
    for backend in ("", "ETCD", "Etcd", "k8s", " etcd"):
        usage = etcd_usage({"DYN_DISCOVERY_BACKEND": backend})
        assert usage.error and "Unknown key-value store type" in usage.error
    for backend in ("file", "mem", "kubernetes"):
        assert etcd_usage({"DYN_DISCOVERY_BACKEND": backend}).used is False


def test_display_masks_userinfo_even_with_odd_passwords():
    for raw, shown in (("nats://u:p@h:4222", "nats://u:***@h:4222"),
                       ("nats://tok@h:4222", "nats://***@h:4222"),
                       ("http://u:pa/ss@h:2379", "http://u:***@h:2379"),
                       ("nats://u:p#w@h:4222", "nats://u:***@h:4222")):
        (endpoint,) = nats_servers({"NATS_SERVER": raw}) if raw.startswith("nats") else \
            etcd_endpoints({"ETCD_ENDPOINTS": raw})
        assert endpoint.display == shown, (raw, endpoint.display)


text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF,
                                      blacklist_categories=("Cs",)) | st.sampled_from(
    list(":/@[],% \t\udcff")), max_size=60)


@given(value=text, tls=st.booleans(), user=st.booleans())
def test_etcd_never_raises(value, tls, user):
    env = {"ETCD_ENDPOINTS": value, **(TLS if tls else {})}
    if user:
        env.update(ETCD_AUTH_USERNAME="u", ETCD_AUTH_PASSWORD="p")
    for ep in etcd_endpoints(env):
        if ep.error is None:
            assert ep.host and ep.port
        assert isinstance(ep.display, str)


@given(value=text, plane=text)
def test_nats_never_raises(value, plane):
    cfg = nats_config({"NATS_SERVER": value, "DYN_EVENT_PLANE": plane})
    assert cfg.servers
    for ep in cfg.servers:
        if ep.error is None:
            assert ep.host and ep.port
    assert nats_usage({"DYN_REQUEST_PLANE": plane}).reason
