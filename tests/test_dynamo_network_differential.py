"""etcd.endpoints and nats.server against Dynamo 1.6.1 itself (PyPI ai-dynamo-runtime).

Inside a private network namespace (so localhost:2379 and localhost:4222 are reliably dead and
every server is private), real etcd members and nats-servers run; for every configuration of
the corpus, Dynamo's own DistributedRuntime starts and serves endpoints as dynamo.sglang's
worker does (tests/dynamo_network_cases.py), with ETCD_/NATS_STARTUP_CONNECT_TIMEOUT_SECONDS=2,
and sgdoctor's two checks judge the same environment. Dynamo "starts" must meet ok/warn/skip
from both checks, "fails" a fail from at least one. A disagreement fails the test; the counts
are printed for the record.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer_harness import dynamo_in_netns

README = Path(__file__).resolve().parent.parent / "README.md"

# The corpus runs in one namespace, in one batch: longer than one test's default timeout.
pytestmark = pytest.mark.timeout(900)

E = "ETCD_ENDPOINTS"
TLS_PEM = {"ETCD_ENDPOINTS": "{etcd_tls}", "ETCD_AUTH_CA": "{ca_pem}",
           "ETCD_AUTH_CLIENT_CERT": "{cert_pem}", "ETCD_AUTH_CLIENT_KEY": "{key_pem}"}


def _cases() -> list[dict]:
    cases: list[dict] = []

    def case(name: str, repeat: int = 1, /, **env: str) -> None:
        env.setdefault(E, "{etcd}")
        cases.append({"name": name, "env": env, "repeat": repeat})

    # whether NATS is used: planes x NATS_SERVER set/unset x server up/down
    for server, state in (("{nats}", "up"), ("{nats_dead}", "down"), (None, "unset")):
        for planes in ({}, {"DYN_REQUEST_PLANE": "tcp"}, {"DYN_REQUEST_PLANE": "nats"},
                       {"DYN_REQUEST_PLANE": "NATS"}, {"DYN_EVENT_PLANE": "zmq"},
                       {"DYN_EVENT_PLANE": "nats"}, {"DYN_EVENT_PLANE": ""},
                       {"DYN_REQUEST_PLANE": "nats", "DYN_EVENT_PLANE": "zmq"},
                       {"DYN_REQUEST_PLANE": "tcp", "DYN_EVENT_PLANE": "zmq"}):
            env = dict(planes)
            if server is not None:
                env["NATS_SERVER"] = server
            case(f"NATS {state} {planes}", **env)
    # start-up errors of the planes
    for planes in ({"DYN_REQUEST_PLANE": "http"}, {"DYN_REQUEST_PLANE": ""},
                   {"DYN_REQUEST_PLANE": " tcp"}, {"DYN_EVENT_PLANE": "NATS"},
                   {"DYN_EVENT_PLANE": "kafka"}):
        case(f"invalid plane {planes}", NATS_SERVER="{nats}", **planes)
    # auth, TLS, JetStream, the value itself (NATS used: NATS_SERVER set)
    case("NATS refuses the default user", NATS_SERVER="{nats_auth}")
    case("NATS refuses a wrong token", NATS_SERVER="{nats_auth}", NATS_AUTH_TOKEN="wrong")
    case("NATS accepts the token", NATS_SERVER="{nats_auth}", NATS_AUTH_TOKEN="s3cret-token")
    case("JetStream off", NATS_SERVER="{nats_nojs}")
    case("JetStream off, NATS request plane", NATS_SERVER="{nats_nojs}",
         DYN_REQUEST_PLANE="nats")
    case("nats:// to a TLS-only server", NATS_SERVER="{nats_tls}")
    case("tls:// with the CA", NATS_SERVER="{nats_tls_tls}", NATS_TLS_CA_CERT_PATH="{ca_path}")
    case("TLS:// in capitals", NATS_SERVER="{nats_tls_caps}",
         NATS_TLS_CA_CERT_PATH="{ca_path}")
    case("tls:// without the CA", NATS_SERVER="{nats_tls_tls}")
    case("tls:// insecure", NATS_SERVER="{nats_tls_tls}", NATS_TLS_INSECURE="true")
    case("tls:// with client cert", NATS_SERVER="{nats_tls_tls}",
         NATS_TLS_CA_CERT_PATH="{ca_path}", NATS_TLS_CLIENT_CERT_PATH="{cert_path}",
         NATS_TLS_CLIENT_KEY_PATH="{key_path}")
    case("nats:// with NATS_TLS_CA_CERT_PATH", NATS_SERVER="{nats}",
         NATS_TLS_CA_CERT_PATH="{ca_path}")
    case("nats:// with NATS_TLS_CA_CERT_PATH empty", NATS_SERVER="{nats}",
         NATS_TLS_CA_CERT_PATH="")
    case("nats:// with NATS_TLS_INSECURE=true", NATS_SERVER="{nats}", NATS_TLS_INSECURE="true")
    case("nats:// with NATS_TLS_INSECURE=false", NATS_SERVER="{nats}",
         NATS_TLS_INSECURE="false")
    case("client cert without key", NATS_SERVER="{nats_tls_tls}",
         NATS_TLS_CA_CERT_PATH="{ca_path}", NATS_TLS_CLIENT_CERT_PATH="{cert_path}")
    case("NATS_SERVER a list", NATS_SERVER="{nats},{nats_nojs}")
    case("NATS_SERVER empty", NATS_SERVER="")
    case("NATS_SERVER http://", NATS_SERVER="{etcd}")
    # etcd: endpoints, members down, peer port, clusters, TLS material, backends
    cases.append({"name": "etcd unset (default localhost:2379 dead)", "env": {},
                  "unset": [E]})
    case("etcd down", **{E: "{dead}"})
    case("etcd one of two down (second)", 3, **{E: "{etcd},{dead}"})
    case("etcd one of two down (first)", 3, **{E: "{dead},{etcd}"})
    case("etcd two clusters", 3, **{E: "{etcd},{etcd2}"})
    case("etcd client and peer port of one member", **{E: "{etcd},{etcd_peer}"})
    case("etcd peer port only", **{E: "{etcd_peer}"})
    case("etcd without scheme", **{E: "{etcd}".replace("http://", "")})
    case("etcd with a space", **{E: "{etcd}, {etcd}"})
    case("etcd TLS, PEM text", **TLS_PEM)
    for name, field in (("ETCD_AUTH_CA", "{ca_path}"), ("ETCD_AUTH_CLIENT_CERT", "{cert_path}"),
                        ("ETCD_AUTH_CLIENT_KEY", "{key_path}")):
        case(f"etcd TLS, {name} a path", **{**TLS_PEM, name: field})
    case("etcd TLS, all paths", ETCD_ENDPOINTS="{etcd_tls}", ETCD_AUTH_CA="{ca_path}",
         ETCD_AUTH_CLIENT_CERT="{cert_path}", ETCD_AUTH_CLIENT_KEY="{key_path}")
    case("etcd TLS port over http://", **{E: "{etcd_tls}".replace("https", "http")})
    for backend in ("etcd", "mem", "file", "", "ETCD", "Etcd", "k8s"):
        case(f"DYN_DISCOVERY_BACKEND={backend!r}", DYN_DISCOVERY_BACKEND=backend)
    case("mem backend, etcd dead", DYN_DISCOVERY_BACKEND="mem", **{E: "{dead}"})
    case("mem backend, NATS set and down", DYN_DISCOVERY_BACKEND="mem",
         NATS_SERVER="{nats_dead}")
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def outcomes() -> list[dict]:
    return dynamo_in_netns(CASES)


def test_etcd_and_nats_verdicts_agree_with_dynamo(outcomes) -> None:
    disagreements = []
    for r in outcomes:
        statuses = (r["etcd"]["status"], r["nats"]["status"])
        said = "fails" if "fail" in statuses else "starts"
        if said != r["dynamo"] or "error" in statuses:
            disagreements.append(
                f"{r['name']}: Dynamo {r['dynamo']} ({r['why']}); sgdoctor etcd.endpoints "
                f"{r['etcd']['status']} {r['etcd']['codes']} {r['etcd']['summary']!r}, "
                f"nats.server {r['nats']['status']} {r['nats']['codes']} "
                f"{r['nats']['summary']!r}")
    agreed = len(outcomes) - len(disagreements)
    print(f"\nDynamo 1.6.1 etcd/NATS differential: {len(outcomes)} configurations tried, "
          f"{agreed} agreed, {len(disagreements)} disagreed "
          f"({sum(r['dynamo'] == 'starts' for r in outcomes)} start, "
          f"{sum(r['dynamo'] == 'fails' for r in outcomes)} fail)")
    assert not disagreements, "\n".join(disagreements)
    starts = sum(r["dynamo"] == "starts" for r in outcomes)
    stated = (f"Every run: {len(outcomes)} tried, {len(outcomes)} agreed ({starts} start, "
              f"{len(outcomes) - starts} fail;")
    assert stated in " ".join(README.read_text().split()), f"README should say: {stated}"


def _by_name(outcomes: list[dict], name: str) -> dict:
    return next(r for r in outcomes if r["name"] == name)


@pytest.mark.parametrize(("name", "check", "status", "code"), [
    ("NATS down {'DYN_REQUEST_PLANE': 'tcp'}", "nats", "fail", "refused"),
    ("NATS down {'DYN_EVENT_PLANE': 'zmq'}", "nats", "skip", None),
    ("NATS unset {}", "nats", "skip", None),
    ("invalid plane {'DYN_REQUEST_PLANE': 'http'}", "nats", "fail", "invalid_plane"),
    ("JetStream off", "nats", "warn", "jetstream_disabled"),
    ("JetStream off, NATS request plane", "nats", "warn", "max_payload_default"),
    ("nats:// to a TLS-only server", "nats", "fail", "tls_required"),
    ("nats:// with NATS_TLS_CA_CERT_PATH", "nats", "fail", "tls_scheme"),
    ("NATS_SERVER a list", "nats", "fail", "server_list"),
    ("NATS refuses the default user", "nats", "fail", "auth"),
    ("etcd one of two down (second)", "etcd", "fail", "endpoint_unusable.refused"),
    ("etcd two clusters", "etcd", "fail", "different_clusters"),
    ("etcd peer port only", "etcd", "warn", "peer_port"),
    ("etcd TLS, ETCD_AUTH_CA a path", "etcd", "fail", "tls_material_path"),
    ("DYN_DISCOVERY_BACKEND=''", "etcd", "fail", "invalid_backend"),
    ("DYN_DISCOVERY_BACKEND='mem'", "etcd", "skip", None),
])
def test_the_verdict_is_the_specific_one(outcomes, name: str, check: str, status: str,
                                         code: str | None) -> None:
    result = _by_name(outcomes, name)[check]
    assert result["status"] == status, result
    if code is not None:
        assert code in result["codes"], result
