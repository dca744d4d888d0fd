"""The answers _entry gives before typer is imported are typer's own, byte for byte."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from sgdoctor import __version__
from sgdoctor._help import TEXT

ARGV = "import sys; sys.argv = ['sgdoctor', *sys.argv[1:]]\n"
TYPER = ARGV + "from sgdoctor.cli import main\nmain()"
ENTRY = ARGV + "from sgdoctor._entry import main\nmain()"


def _run(code: str, args: list[str], columns: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_stored_help_is_typers_help_at_80_columns_and_wider():
    for columns in ("80", "200", None):
        typer = _run(TYPER, ["--help"], columns)
        assert typer.returncode == 0
        assert typer.stdout == TEXT, "regenerate: python -m sgdoctor._help"
        for flag in ("--help", "-h"):
            fast = _run(ENTRY, [flag], columns)
            assert (fast.returncode, fast.stdout) == (0, TEXT)


def test_narrow_terminals_and_other_arguments_go_through_typer():
    narrow = _run(ENTRY, ["--help"], "60")
    assert narrow.returncode == 0 and narrow.stdout == _run(TYPER, ["--help"], "60").stdout
    assert narrow.stdout != TEXT
    sub = _run(ENTRY, ["list", "--help"], "100")
    assert sub.returncode == 0 and "Every check sgdoctor knows" in sub.stdout


def test_fast_answers_import_neither_typer_nor_a_check():
    probe = ("import sys; sys.argv = ['sgdoctor', sys.argv[1]]\nimport atexit, os\n"
             "real = os._exit\n"
             "def leave(code):\n"
             "    bad = [m for m in sys.modules if m.startswith(('typer', 'click',"
             " 'sgdoctor.checks', 'sgdoctor.cli'))]\n"
             "    sys.stdout.write(repr(bad)); sys.stdout.flush(); real(code)\n"
             "os._exit = leave\nfrom sgdoctor._entry import main\nmain()")
    for flag, text in (("--version", f"sgdoctor {__version__}\n"), ("--help", TEXT)):
        proc = _run(probe, [flag], "80")
        assert proc.returncode == 0 and proc.stdout == text + "[]", proc.stdout[-300:]


PLUGINS = os.path.join(os.path.dirname(__file__), "plugins")
_VALUE_OPTIONS = ("--format", "-f", "--output", "-o", "--only", "--skip", "--ignore",
                  "--fail-on", "--timeout", "--checks-dir", "--config", "--wait", "--interval",
                  "--host-root", "--lang", "--python")
_FLAGS = ("--verbose", "-v", "--no-color", "--deep")


def _typer_params(argv: list[str]) -> dict | None:
    """What typer hands the default command for ``argv``; None when it does something else
    (a usage error, a subcommand, --help, --version)."""
    import contextlib
    import io

    import typer

    from sgdoctor import cli

    seen: list[dict] = []
    real = cli._check
    cli._check = lambda command, **flags: seen.append({"command": command, **flags})
    try:
        with contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            typer.main.get_command(cli.app).main(args=list(argv), prog_name="sgdoctor",
                                                 standalone_mode=False)
    except BaseException:  # click's usage errors, Exit for --help/--version
        return None
    finally:
        cli._check = real
    if not seen or seen[0].pop("command") is not None:
        return None
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in seen[0].items()}


def _plain(argv: list[str]) -> dict | None:
    from sgdoctor.cli_plain import plain_check_flags

    flags = plain_check_flags(argv, {})
    if flags is None:
        return None
    defaults = {"format": None, "output": None, "only": None, "skip": None, "ignore": None,
                "fail_on": None, "timeout": None, "checks_dir": None, "config": None,
                "verbose": False, "no_color": False, "deep": False, "wait": None,
                "interval": None, "host_root": None, "lang": None, "python": None}
    return {**defaults, **flags}


def test_the_plain_default_command_is_read_as_typer_reads_it():
    cases = [[], ["--format", "json", "--skip", "maca.devices"], ["--format=json"],
             ["-f", "table", "-o", "out.txt", "-v"], ["--only", "a", "--only=b,c", "--deep"],
             ["--timeout", "2", "--no-color", "--ignore", "x=why not"], ["--format", ""],
             ["--python", "/usr/bin/python3", "--lang", "zh", "--checks-dir", "d"]]
    for argv in cases:
        assert _plain(argv) is not None, argv
        assert _plain(argv) == _typer_params(argv), argv
    # everything else is typer's to read (or to refuse)
    for argv in (["list"], ["check"], ["--help"], ["--version"], ["--format"], ["-vf", "json"],
                 ["--format", "json", "--format", "table"], ["--verbose=1"], ["--"],
                 ["--skip", "-x"], ["--formt", "json"], ["-fjson"], ["--format", "json", "x"],
                 ["-v", "-v"]):
        assert _plain(argv) is None, argv
    from sgdoctor.cli_plain import plain_check_flags

    assert plain_check_flags([], {"_SGDOCTOR_COMPLETE": "bash_complete"}) is None


def test_any_argv_read_plainly_means_what_typer_makes_of_it():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    token = st.one_of(st.sampled_from([*_VALUE_OPTIONS, *_FLAGS, "--", "-", "list", "x",
                                       "--help", "-vd", "json", "=", "-x"]),
                      st.builds(lambda o, v: f"{o}={v}", st.sampled_from(
                          [*_VALUE_OPTIONS, *_FLAGS]), st.text(max_size=4)),
                      st.text(max_size=6))

    @settings(max_examples=300, deadline=None)
    @given(st.lists(token, max_size=6))
    def agree(argv: list[str]) -> None:
        plain = _plain(argv)
        if plain is not None:
            assert plain == _typer_params(argv), argv

    agree()


def test_the_plain_default_command_imports_no_typer_and_exits_as_typer_does(tmp_path):
    probe = ("import sys; sys.argv = ['sgdoctor', *sys.argv[1:]]\nimport os\n"
             "real = os._exit\n"
             "def leave(code):\n"
             "    bad = [m for m in sys.modules if m.startswith(('typer', 'click'))]\n"
             "    sys.stderr.write(f'imported {bad}'); sys.stderr.flush(); real(code)\n"
             "os._exit = leave\nfrom sgdoctor._entry import main\nmain()")
    env_over = {"SGDOCTOR_CONFIG": "", "NO_COLOR": "1", "DEMO_FAIL": "yes", "DEMO_RAISE": "1"}
    for argv, code in ((["--only", "demo.ok"], 0), (["--only", "demo.ok,demo.fail"], 1),
                       (["--only", "no.such"], 2), (["--format", "nagios", "--only", "x"], 3),
                       (["--only", "demo.raise"], 3), (["--timeout", "0", "--only", "x"], 2)):
        args = ["--checks-dir", PLUGINS, *argv]
        env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | env_over
        fast = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                              text=True, env=env, timeout=120)
        slow = subprocess.run([sys.executable, "-c", TYPER, *args], capture_output=True,
                              text=True, env=env, timeout=120)
        assert fast.returncode == slow.returncode == code, (argv, fast.stderr, slow.stderr)
        assert fast.stderr.endswith("imported []"), fast.stderr
        assert fast.stderr.removesuffix("imported []") == slow.stderr
        assert bool(fast.stdout) == bool(slow.stdout)


def test_a_healthy_run_imports_neither_difflib_nor_random():
    """What only a mistyped name (difflib) or --wait's retries (random) need is not imported
    by a run that has neither."""
    probe = ("import sys; sys.argv = ['sgdoctor', *sys.argv[1:]]\nimport os\n"
             "real = os._exit\n"
             "def leave(code):\n"
             "    bad = [m for m in ('difflib', 'random') if m in sys.modules]\n"
             "    sys.stderr.write(f'imported {bad}'); sys.stderr.flush(); real(code)\n"
             "os._exit = leave\nfrom sgdoctor._entry import main\nmain()")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"SGDOCTOR_CONFIG": ""}
    proc = subprocess.run([sys.executable, "-c", probe, "--checks-dir", PLUGINS, "--format",
                           "json", "--only", "demo.ok"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.endswith("imported []"), proc.stderr


SLOW_IMPORTS = ("dataclasses", "inspect", "shutil", "pkgutil", "textwrap", "traceback",
                "datetime", "gettext", "difflib", "random", "typing", "pathlib",
                "urllib.parse", "base64")
# An editable install's import hook brings these two in before sgdoctor starts: the probe
# forgets them, and a run that needs them imports them again.
FORGOTTEN = ("pathlib", "urllib.parse")


def test_a_full_english_run_imports_none_of_the_modules_start_up_does_without():
    """Every built-in check, in English: what the standard library's dataclasses (inspect,
    ast, dis), pkgutil (inspect), shutil (bz2, lzma), textwrap, traceback, datetime and
    gettext cost a start is not paid (sgdoctor.records, registry, probe.files.which), nor
    typing (~3 ms: modules name their types under TYPE_CHECKING = False), nor pathlib and
    urllib.parse (~1.5 ms each: probes take paths as str, URLs are split where one is read),
    nor base64 (etcd's keys and NATS's nonce signatures go through binascii)."""
    probe = ("import sys; sys.argv = ['sgdoctor', *sys.argv[1:]]\nimport os\n"
             "real = os._exit\n"
             "def leave(code):\n"
             f"    bad = [m for m in {SLOW_IMPORTS!r} if m in sys.modules]\n"
             "    sys.stderr.write(f'imported {bad}'); sys.stderr.flush(); real(code)\n"
             f"os._exit = leave\nfor m in {FORGOTTEN!r}: sys.modules.pop(m, None)\n"
             "from sgdoctor._entry import main\nmain()")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {
        "SGDOCTOR_CONFIG": "", "LANG": "C.UTF-8", "LANGUAGE": "", "LC_ALL": ""}
    proc = subprocess.run([sys.executable, "-c", probe, "--format", "json", "--timeout", "20"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    assert len(json.loads(proc.stdout)["checks"]) >= 50
    # the run may share its checks with a forked child (sgdoctor.split): each process says
    said = re.findall(r"imported \[[^]]*\]", proc.stderr)
    assert said and proc.stderr.endswith(said[-1]), proc.stderr
    assert set(said) == {"imported []"}, proc.stderr


def test_the_cyclic_collector_is_off_for_a_one_shot_run_and_on_for_a_wait():
    probe = ("import sys; sys.argv = ['sgdoctor', *sys.argv[1:]]\nimport gc, os\n"
             "real = os._exit\nme = os.getpid()\n"
             "def leave(code):\n"
             "    if os.getpid() == me: sys.stderr.write(f'gc {gc.isenabled()}')\n"
             "    sys.stderr.flush(); real(code)\n"
             "os._exit = leave\nfrom sgdoctor._entry import main\nmain()")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"SGDOCTOR_CONFIG": ""}
    for args, enabled in ((["--only", "env.path"], False),
                          (["--only", "env.path", "--wait", "1s"], True),
                          (["check", "--only", "env.path"], True)):
        proc = subprocess.run([sys.executable, "-c", probe, "--format", "json", *args],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.stderr.endswith(f"gc {enabled}"), (args, proc.stderr[-300:])
