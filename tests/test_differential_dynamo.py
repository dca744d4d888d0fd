"""sgdoctor's Dynamo rules against Dynamo 1.6.1 itself (PyPI ai-dynamo-runtime), inside a
private network namespace with real etcd and nats-server (consumer_harness.dynamo_in_netns,
the same runner as tests/test_dynamo_network_differential.py; the whole corpus in one batch).

Planes and discovery backend: a real ``DistributedRuntime`` is created exactly as
dynamo.sglang's ``create_runtime`` does (the env values passed through, the response plane
checked in Python) and serves endpoints, with ETCD_/NATS_STARTUP_CONNECT_TIMEOUT_SECONDS
small. "starts" must meet ok/warn/skip from sgdoctor's env.* checks, "fails" a fail.
DYN_LOG and DYN_LOGGING_JSONL: the serving runtime logs one message per level for two
targets, and what it printed must be what sgdoctor said it logs.
"""

from __future__ import annotations

import pytest

from consumer_harness import dynamo_in_netns
from sgdoctor.parse import dynamo, dynlog

# The corpus runs in one namespace, in one batch: longer than one test's default timeout.
pytestmark = pytest.mark.timeout(900)
SERVED = {"ETCD_ENDPOINTS": "{etcd}", "NATS_SERVER": "{nats}"}
TARGETS = ("mymod", "other")
LEVELS = ("debug", "info", "warn", "error")

PLANE_CASES = [
    {}, {"DYN_REQUEST_PLANE": "tcp"}, {"DYN_REQUEST_PLANE": "nats"},
    {"DYN_REQUEST_PLANE": "NATS"}, {"DYN_REQUEST_PLANE": "Tcp"},
    {"DYN_REQUEST_PLANE": "http"}, {"DYN_REQUEST_PLANE": ""}, {"DYN_REQUEST_PLANE": " tcp"},
    {"DYN_REQUEST_PLANE": "garbage"}, {"DYN_EVENT_PLANE": "zmq"}, {"DYN_EVENT_PLANE": "nats"},
    {"DYN_EVENT_PLANE": "NATS"}, {"DYN_EVENT_PLANE": "Zmq"}, {"DYN_EVENT_PLANE": ""},
    {"DYN_EVENT_PLANE": "kafka"}, {"DYN_RESPONSE_PLANE": "tcp"},
    {"DYN_RESPONSE_PLANE": "quic"}, {"DYN_RESPONSE_PLANE": "QUIC"},
    {"DYN_RESPONSE_PLANE": "udp"}, {"DYN_RESPONSE_PLANE": ""},
    {"DYN_DISCOVERY_BACKEND": "etcd"}, {"DYN_DISCOVERY_BACKEND": "mem"},
    {"DYN_DISCOVERY_BACKEND": "ETCD"}, {"DYN_DISCOVERY_BACKEND": ""},
    {"DYN_DISCOVERY_BACKEND": "Etcd"}, {"DYN_DISCOVERY_BACKEND": "k8s"},
    {"ETCD_STARTUP_CONNECT_TIMEOUT_SECONDS": "0"}, {"ETCD_LEASE_TTL": "abc"},
    {"ETCD_LEASE_TTL": "0"}, {"DYN_REQUEST_PLANE": "nats", "DYN_EVENT_PLANE": "zmq"},
    {"ETCD_STARTUP_CONNECT_TIMEOUT_SECONDS": "5s"},
    {"NATS_STARTUP_CONNECT_TIMEOUT_SECONDS": "0"},
    {"NATS_STARTUP_CONNECT_TIMEOUT_SECONDS": " 5"},
    {"ETCD_KEEPALIVE_INTERVAL_SECONDS": "1"}, {"ETCD_KEEPALIVE_INTERVAL_SECONDS": "30"},
    {"ETCD_KEEPALIVE_INTERVAL_SECONDS": "abc"}, {"ETCD_KEEPALIVE_TIMEOUT_SECONDS": "0"},
    {"ETCD_KEEPALIVE_TIMEOUT_SECONDS": "5s"},
]

DYN_LOGS = [
    None, "", "info", "INFO", "Info", "debug", "warn", "WARN", "error", "off", "2", "4", "6",
    "-1", " info", "info ", "warning", "garbage", "=debug", "=", ",", ",,info", "foo=bar",
    "info,foo=bar", "foo=", "mymod=", "mymod", "mymod=debug", "mymod=DEBUG", "mymod=5",
    "mymod=6", "my=debug", "mymodx=debug", "error,mymod=debug", "info=debug",
    "dynamo.runtime=debug", "mymod=debug=info", "mymod=off,info", "info,mymod=off",
    "mymod=debug,error", "info,warn", "warn,info", "info, mymod=debug", "mymod[x]=debug,warn",
    "[x]=debug", "info,mymod=warning",
]


JSONL_VALUES = ["1", "true", " true ", "TRUE", "on", "yes", "0", "false", "y", "t", "2", ""]
NON_UTF8 = "debug\udcff"   # the bytes b"debug\xff" in the environment (surrogateescape)


def _literal(value: str) -> str:
    """A value the runner formats with the servers' fields, kept as it is."""
    return value.replace("{", "{{").replace("}", "}}")


def _cases() -> list[dict]:
    cases = [{"name": f"planes {case}", "kind": "values", "judge": list(case),
              "env": {**SERVED, **{k: _literal(v) for k, v in case.items()}}}
             for case in PLANE_CASES]
    for value in [*DYN_LOGS, NON_UTF8]:
        cases.append({"name": f"DYN_LOG={value!r}", "kind": "log",
                      "env": {**SERVED, **({} if value is None else {"DYN_LOG": _literal(value)})},
                      "unset": ["DYN_LOG"] if value is None else []})
    cases += [{"name": f"DYN_LOGGING_JSONL={value!r}", "kind": "log",
               "env": {**SERVED, "DYN_LOG": "info", "DYN_LOGGING_JSONL": value}}
              for value in JSONL_VALUES]
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def runs() -> dict[str, dict]:
    return {r["name"]: r for r in dynamo_in_netns(CASES, label="dynvals")}


def test_planes_and_backends_agree_with_dynamo(runs) -> None:
    disagreements = []
    for case in PLANE_CASES:
        run = runs[f"planes {case}"]
        said = "fails" if any(r["status"] == "fail" for r in run["env"]) else "starts"
        if said != run["dynamo"] or any(r["status"] == "error" for r in run["env"]):
            disagreements.append(f"{case}: Dynamo {run['dynamo']} {run['why']}; sgdoctor "
                                 f"{[(r['id'], r['status'], r['summary']) for r in run['env']]}")
    print(f"Dynamo planes/backends: {len(PLANE_CASES)} tried, "
          f"{len(PLANE_CASES) - len(disagreements)} agreed")
    assert not disagreements, "\n".join(disagreements)


def _expected_lines(value: str | None) -> list[str]:
    text = "" if value is None else value
    return sorted(f"{target} {level}" for target in TARGETS for level in LEVELS
                  if dynlog.enabled(text, target, level))


def _served(run: dict) -> dict:
    assert run["dynamo"] == "starts", run   # the worker's runtime served before it logged
    return run


def test_dyn_log_agrees_with_what_dynamo_logs(runs) -> None:
    disagreements = []
    for value in DYN_LOGS:
        run = _served(runs[f"DYN_LOG={value!r}"])
        expected = _expected_lines(value)
        dropped = sorted({d.text for d in dynlog.parse_directives(value or "") if not d.valid})
        if run["lines"] != expected or run["ignored"] != dropped:
            disagreements.append(f"DYN_LOG={value!r}: Dynamo logged {run['lines']}, ignored "
                                 f"{run['ignored']}; sgdoctor: {expected}, drops {dropped}")
        verdict = dynlog.parse_dyn_log(value or "")
        if not expected and verdict.status.value == "ok" and value != "off":
            disagreements.append(f"DYN_LOG={value!r}: Dynamo logs nothing, sgdoctor says ok")
    print(f"Dynamo DYN_LOG: {len(DYN_LOGS)} tried, {len(DYN_LOGS) - len(disagreements)} agreed")
    assert not disagreements, "\n".join(disagreements)


def test_non_utf8_dyn_log_is_ignored_like_sgdoctor_says(runs) -> None:
    run = _served(runs[f"DYN_LOG={NON_UTF8!r}"])
    verdict = dynlog.parse_dyn_log(NON_UTF8)
    assert verdict.value == "info"
    assert run["lines"] == _expected_lines("info"), run


@pytest.mark.parametrize("value", JSONL_VALUES)
def test_dyn_logging_jsonl_agrees(runs, value: str) -> None:
    run = _served(runs[f"DYN_LOGGING_JSONL={value!r}"])
    assert run["jsonl"] is dynamo.dynamo_bool(value).value, (value, run)
