"""Property-based hostile environments (hypothesis) through the real CLI, every format.

Each example sets some catalogue variables and some of sgdoctor's own settings to values
that once broke a run — FIFOs, /dev/zero, undecodable bytes, Unicode digits, overlong path
components, odd locales and encodings, secrets whose first character a format escapes —
and asserts the contracts: well-formed output (or a usage error in the format's own terms),
the exit-code contract, no traceback, no planted secret, nothing left in TMPDIR or the
record directory, no process left in the run's session, and the deadline held.

Derandomized with a bounded number of examples and no shrinking, so CI is reproducible and
stays within its budget (about two minutes on two cores); HOSTILE_EXAMPLES raises it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import BASE_ENV, validate_report
from sgdoctor.parse.catalogue import entries

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "30"))
TIMEOUT = 2.0
MARGIN = 8.0  # interpreter start-up and a loaded CI box: a bound, not a speed figure
FORMATS = ("table", "json", "junit", "prometheus", "nagios")
# The other commands that print machine-readable text.
COMMANDS = {"env-json": ["env", "--format", "json"], "list-json": ["list", "--format", "json"]}
NAMES = sorted(e.name for e in entries())
SECRET_NAMES = sorted(e.name for e in entries() if e.secret)
PLANTED = "planted-7f3a91c2"  # must never appear in any output, in any form
# Each property runs many CLI processes: more room than the suite's per-test default.
pytestmark = pytest.mark.timeout(600)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Hostile things on disk, outside the TMPDIR and record directory that are watched."""
    root = tmp_path_factory.mktemp("hostile-fixtures")
    os.mkfifo(root / "fifo")
    (root / "garbage").write_bytes(b"\x00\xff[not toml = \n" * 10)
    return {"fifo": str(root / "fifo"), "garbage": str(root / "garbage"), "dir": str(root)}


def _values(fx: dict[str, str]) -> st.SearchStrategy[bytes]:
    """Values that broke some consumer of some variable."""
    long_component = "/tmp/" + "n" * 300 + "/x"
    palette = [
        fx["fifo"], "/dev/zero", "/dev/urandom", fx["dir"], fx["garbage"], long_component,
        f"{fx['fifo']}:/dev/zero:{long_component}", "\u00b2", "\u0663\u0664", "",
        "\u00e9" * 50, "-1", "99999999999999999999999", "::,,;;", "http://[::1",
        f"http://user:\u00e9{PLANTED}@127.0.0.1:9", f"nats://u:\x01{PLANTED}@127.0.0.1:9",
    ]
    return st.one_of(st.sampled_from([v.encode("utf-8") for v in palette]),
                     st.sampled_from([b"\xff\xfe\xfd", b"eth\xff0", b"/tmp/\xe9\xff/x",
                                      b"\xc3(" * 40]))


def _secrets() -> st.SearchStrategy[str]:
    return st.sampled_from([f"\u00e9{PLANTED}", f"\x01{PLANTED}", f"\u2028{PLANTED}",
                            f'"{PLANTED}', f"\\{PLANTED}", f"<&{PLANTED}"])


def _own(fx: dict[str, str]) -> st.SearchStrategy[dict[str, bytes]]:
    """sgdoctor's own settings, each optional."""
    options = {
        "SGDOCTOR_CONFIG": [fx["fifo"], "/dev/zero", fx["dir"], fx["garbage"],
                            "/tmp/" + "c" * 300, ""],
        "SGDOCTOR_CHECKS_DIR": [fx["fifo"], "/dev/zero", "/tmp/" + "d" * 300,
                                str(Path(__file__).parent / "plugins"), "/nonexistent\udcff"],
        "COLUMNS": ["\u00b2", "0", "-5", "99999999999999999999", "x"],
        "NO_COLOR": ["", "1"],
        "LANG": ["C", "POSIX", "xx_YY.bogus", "tr_TR.UTF-8", "C.UTF-8"],
        "LC_ALL": ["C", "POSIX", "en_US.ISO-8859-1"],
        "PYTHONIOENCODING": ["ascii", "latin-1", "ascii:strict", "utf-8:strict"],
        "PYTHONUTF8": ["0", "1"],
        "PYTHONCOERCECLOCALE": ["0"],
    }
    return st.fixed_dictionaries({}, optional={
        name: st.sampled_from([v.encode("utf-8", "surrogateescape") for v in values])
        for name, values in options.items()})


def _session_members(sid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 3 and int(fields[3]) == sid:  # state ppid pgrp session
            found.append(int(entry))
    return found


def _well_formed(fmt: str, code: int, out: bytes, err: bytes) -> None:
    if code == 2 and fmt != "nagios":  # a usage error: one line on stderr, no report
        assert err.startswith(b"sgdoctor: error: ") or b"\nsgdoctor: error: " in err, err
        return
    if fmt == "json":
        validate_report(json.loads(out))
    elif fmt in COMMANDS:
        assert set(json.loads(out)) & {"variables", "checks"}
    elif fmt == "junit":
        assert ET.fromstring(out).tag == "testsuites"
    elif fmt == "prometheus":
        from prometheus_client.parser import text_string_to_metric_families

        names = {f.name for f in text_string_to_metric_families(out.decode("utf-8"))}
        assert "sgdoctor_up" in names
    elif fmt == "nagios":
        first = out.split(b"\n", 1)[0]
        assert first.startswith(b"SGDOCTOR ") and len(first) > len(b"SGDOCTOR "), out[:200]
    else:
        assert out.strip(), err[-500:]


def _run_and_check(fmt: str, extra: dict[str, bytes], tmp: Path) -> None:
    tmpdir, record = tmp / "tmp", tmp / "record"
    tmpdir.mkdir()
    record.mkdir()
    env = {k.encode(): v.encode() for k, v in BASE_ENV.items()}
    env.update({b"TMPDIR": str(tmpdir).encode(),
                b"SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR": str(record).encode()})
    env.update({k.encode(): v for k, v in extra.items()})
    began = time.monotonic()
    args = COMMANDS.get(fmt) or ["--format", fmt, "--timeout", str(TIMEOUT)]
    proc = subprocess.Popen([sys.executable, "-m", "sgdoctor", *args], env=env,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT + MARGIN)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.communicate()
        raise AssertionError(f"the run overran --timeout {TIMEOUT} by {MARGIN} s") from None
    elapsed = time.monotonic() - began
    left = _session_members(proc.pid)
    for pid in left:
        os.kill(pid, 9)
    assert not left, f"processes left in the run's session: {left}"
    assert elapsed < TIMEOUT + MARGIN
    assert b"Traceback" not in err, err[-3000:]
    allowed = (0, 1, 2, 3)
    assert proc.returncode in allowed, (proc.returncode, err[-2000:])
    _well_formed(fmt, proc.returncode, out, err)
    for stream in (out, err):
        assert PLANTED.encode() not in stream, stream[-2000:]
    assert not list(tmpdir.iterdir()), list(tmpdir.iterdir())
    if extra.get("SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR") is None:
        assert not list(record.iterdir()), list(record.iterdir())


@pytest.fixture
def fresh(tmp_path_factory: pytest.TempPathFactory):
    return lambda: tmp_path_factory.mktemp("hostile-run")


@SETTINGS
@given(data=st.data())
def test_catalogue_variables_hostile(data, fixtures, fresh):
    fmt = data.draw(st.sampled_from(FORMATS), label="format")
    chosen = data.draw(st.dictionaries(st.sampled_from(NAMES), _values(fixtures),
                                       min_size=3, max_size=20), label="variables")
    secrets = data.draw(st.dictionaries(st.sampled_from(SECRET_NAMES), _secrets(),
                                        max_size=3), label="secrets")
    extra = {**chosen, **{k: v.encode("utf-8") for k, v in secrets.items()}}
    _run_and_check(fmt, extra, fresh())


@SETTINGS
@given(data=st.data())
def test_own_settings_hostile(data, fixtures, fresh):
    fmt = data.draw(st.sampled_from(FORMATS + tuple(COMMANDS)), label="format")
    own = data.draw(_own(fixtures), label="settings")
    chosen = data.draw(st.dictionaries(st.sampled_from(NAMES), _values(fixtures),
                                       max_size=4), label="variables")
    secret = data.draw(_secrets(), label="secret")
    _run_and_check(fmt, {**chosen, **own, "NATS_AUTH_PASSWORD": secret.encode()}, fresh())
