"""sgdoctor's Dynamo rules against Dynamo 1.6.1 itself (PyPI ai-dynamo-runtime).

Planes and discovery backend: a real ``DistributedRuntime`` is created exactly as
dynamo.sglang's ``create_runtime`` does (the env values passed through, the response plane
checked in Python) and serves one endpoint, against a real etcd and nats-server on loopback
with ETCD_/NATS_STARTUP_CONNECT_TIMEOUT_SECONDS small. "starts" must meet ok/warn/skip from
sgdoctor's env.* checks, "fails" a fail. DYN_LOG and DYN_LOGGING_JSONL: the runtime logs one
message per level for two targets, and what it printed must be what sgdoctor said it logs.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from sgdoctor.checks import env_values

from consumer_harness import consumer_python, require, site_packages
from sgdoctor.api import SPEC_ATTR, Context, Status
from sgdoctor.parse import dynamo, dynlog

CORE = site_packages() / "dynamo" / "_core.abi3.so"

RUNTIME = r"""
import asyncio, json, os
from dynamo._core import DistributedRuntime

async def handler(request):
    yield {"ok": True}

async def main():
    env = os.environ
    response_plane = env.get("DYN_RESPONSE_PLANE", "tcp")
    if response_plane not in {"tcp", "quic"}:  # dynamo.common.utils.runtime.create_runtime
        raise ValueError("response_plane must be 'tcp' or 'quic'")
    runtime = DistributedRuntime(asyncio.get_running_loop(),
                                 env.get("DYN_DISCOVERY_BACKEND", "etcd"),
                                 env.get("DYN_REQUEST_PLANE", "tcp"),
                                 event_plane=env.get("DYN_EVENT_PLANE"),
                                 response_plane=response_plane)
    serving = asyncio.ensure_future(runtime.endpoint("sgd.worker.generate")
                                    .serve_endpoint(handler))
    await asyncio.sleep(0.5)
    if serving.done():
        serving.result()
    runtime.shutdown()

try:
    asyncio.run(main())
    print(json.dumps(["starts", ""]))
except BaseException as exc:
    print(json.dumps(["fails", f"{type(exc).__name__}: {exc}"[:400]]))
"""

LOGGER = r"""
from dynamo._core import log_message
for target in ("mymod", "other"):
    for level in ("debug", "info", "warn", "error"):
        log_message(level, f"MSG {target} {level}", target, "/x.py", 1)
"""

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


@pytest.fixture(scope="module")
def core():
    return require(CORE, "ai-dynamo-runtime==1.6.1")


@pytest.fixture(scope="module")
def servers(core):
    from servers import EtcdServer, NatsServer

    with EtcdServer() as etcd, NatsServer() as nats:
        yield etcd, nats


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("DYN_", "NATS_", "ETCD_"))}


def _sgdoctor(env: dict[str, str]) -> tuple[Status, list[str]]:
    """The worst status of the env.* checks over the variables of this case."""
    context = Context(env, deadline=time.monotonic() + 30)
    results = [(getattr(func, SPEC_ATTR).id, func(context)) for func in env_values.CHECKS
               if getattr(func, SPEC_ATTR).env[0] in env]
    worst = Status.OK
    for _, result in results:
        if result.status is Status.FAIL:
            worst = Status.FAIL
    return worst, [f"{cid}: {r.status.value} {r.summary}" for cid, r in results]


def test_planes_and_backends_agree_with_dynamo(servers) -> None:
    etcd, nats = servers
    disagreements = []
    for case in PLANE_CASES:
        env = {**_base_env(), "ETCD_ENDPOINTS": etcd.url, "NATS_SERVER": nats.url,
               "ETCD_STARTUP_CONNECT_TIMEOUT_SECONDS": "5",
               "NATS_STARTUP_CONNECT_TIMEOUT_SECONDS": "5", "DYN_LOG": "error", **case}
        proc = subprocess.run([str(consumer_python()), "-c", RUNTIME], env=env,
                              capture_output=True, timeout=90)
        outcome, why = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        status, said = _sgdoctor({k: env[k] for k in env if k in case} | case)
        if (outcome == "fails") is not (status is Status.FAIL):
            disagreements.append(f"{case}: Dynamo {outcome} {why}; sgdoctor {said}")
    print(f"Dynamo planes/backends: {len(PLANE_CASES)} tried, "
          f"{len(PLANE_CASES) - len(disagreements)} agreed")
    assert not disagreements, "\n".join(disagreements)


def _expected_lines(value: str | None) -> set[str]:
    text = "" if value is None else value
    return {f"{target} {level}" for target in ("mymod", "other")
            for level in ("debug", "info", "warn", "error")
            if dynlog.enabled(text, target, level)}


def _logged(value: str | bytes | None, extra: dict[bytes, bytes] | None = None
            ) -> tuple[set[str], set[str], str]:
    env = {k.encode(): v.encode() for k, v in _base_env().items()}
    env.update(extra or {})
    if value is not None:
        env[b"DYN_LOG"] = value.encode("utf-8", "surrogateescape") if isinstance(
            value, str) else value
    proc = subprocess.run([str(consumer_python()), "-c", LOGGER], env=env,
                          capture_output=True, timeout=60)
    text = (proc.stdout + proc.stderr).decode(errors="replace")
    lines = {" ".join(line.split("MSG ", 1)[1].split()[:2]).strip('"}')
             for line in text.splitlines() if "MSG " in line}
    ignored = {line.split("`")[1] for line in text.splitlines()
               if line.startswith("ignoring `")}
    return lines, ignored, text


def test_dyn_log_agrees_with_what_dynamo_logs(core) -> None:
    disagreements = []
    for value in DYN_LOGS:
        lines, ignored, text = _logged(value)
        expected = _expected_lines(value)
        dropped = {d.text for d in dynlog.parse_directives(value or "") if not d.valid}
        if lines != expected or ignored != dropped:
            disagreements.append(f"DYN_LOG={value!r}: Dynamo logged {sorted(lines)}, ignored "
                                 f"{sorted(ignored)}; sgdoctor: {sorted(expected)}, drops "
                                 f"{sorted(dropped)}")
        verdict = dynlog.parse_dyn_log(value or "")
        silent = not expected
        if silent and verdict.status is Status.OK and value not in ("off",):
            disagreements.append(f"DYN_LOG={value!r}: Dynamo logs nothing, sgdoctor says ok")
    print(f"Dynamo DYN_LOG: {len(DYN_LOGS)} tried, {len(DYN_LOGS) - len(disagreements)} agreed")
    assert not disagreements, "\n".join(disagreements)


def test_non_utf8_dyn_log_is_ignored_like_sgdoctor_says(core) -> None:
    lines, _, _ = _logged(b"debug\xff")
    verdict = dynlog.parse_dyn_log("debug\udcff")
    assert verdict.value == "info"
    assert lines == _expected_lines("info")


@pytest.mark.parametrize("value", ["1", "true", " true ", "TRUE", "on", "yes", "0", "false",
                                   "y", "t", "2", ""])
def test_dyn_logging_jsonl_agrees(core, value: str) -> None:
    _, _, text = _logged("info", {b"DYN_LOGGING_JSONL": value.encode()})
    line = next(line for line in text.splitlines() if "MSG mymod info" in line)
    assert line.lstrip().startswith("{") is dynamo.dynamo_bool(value).value, (value, line)
