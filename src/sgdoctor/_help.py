"""`sgdoctor --help` exactly as typer prints it where the terminal is 80 columns or wider
(click wraps at 78 then): _entry answers a bare --help with it before typer is imported.
tests/test_startup.py holds it to typer's output; regenerate it with
`python -m sgdoctor._help` after changing the CLI's options or commands."""

TEXT = """\
Usage: sgdoctor [OPTIONS] COMMAND [ARGS]...

  Preflight doctor for SGLang on MetaX (MACA) nodes: probes the live host and
  says what is wrong and how to fix it.

Options:
  -f, --format FORMAT  Output format: table|json|prometheus|junit|nagios
                       (default table).
  -o, --output FILE    Write the report to FILE atomically instead of stdout
                       ('-': stdout).
  --only ID            Run only these check ids or globs (repeatable, or
                       comma-separated).
  --skip ID            Do not run these check ids or globs (repeatable, or
                       comma-separated).
  --ignore ID=REASON   ID=REASON: report that check's fail/warn as skip,
                       keeping the reason (repeatable; ID may be a glob).
  --fail-on warn|fail  warn|fail: the lowest status that makes the exit code
                       1.
  --timeout DURATION   Deadline for the whole run, e.g. 10, 10s, 1500ms
                       (default 10 s).
  --checks-dir DIR     Extra checks: .py modules and Nagios-protocol
                       executables.
  --config FILE        TOML config (default $SGDOCTOR_CONFIG, then
                       /etc/sgdoctor/config.toml).
  -v, --verbose        Tracebacks of crashed checks.
  --no-color           No colour (NO_COLOR is honoured).
  --deep               Slower, deeper probes where a check offers them (e.g.
                       dlopen libraries).
  --wait DURATION      Retry failed checks until they pass or DURATION runs
                       out (e.g. 120s).
  --interval DURATION  Pause between retries while waiting (default 2s, ±20%
                       jitter).
  --host-root DIR      The node's / is mounted at DIR (a DaemonSet's /host):
                       host checks read it there.
  --lang en|zh         Language of the table, Nagios and JUnit text (default:
                       the config's lang, then the locale); JSON and
                       Prometheus stay English.
  --python PATH        The server's Python: its packages tell which consumer
                       releases will run (default: exec's COMMAND, else the
                       first python3 on PATH).
  --version            Print the version and exit.
  -h, --help           Show this message and exit.

Commands:
  check    Run the checks and print the report; `check -- COMMAND…` adds...
  list     Every check sgdoctor knows: id, title, variables read, where...
  explain  What a check verifies, why it matters, and how to fix what it...
  help     The help of sgdoctor or of one command (the same as --help / -h).
  env      Every known variable: set or not, value (secrets masked),...
  exec     Run the checks; unless one fails, replace sgdoctor with...
  serve    Serve /healthz, /metrics and /report from checks run every...
  lib      Where each library resolves for a dlopen from this Python, and...
  mesh     Every node reaches every other over its Gloo interface...
"""


def regenerate() -> None:
    """Rewrite this file from typer's own --help (80 columns)."""
    import os
    import subprocess
    import sys

    code = "import sys; sys.argv = ['sgdoctor', '--help']\nfrom sgdoctor.cli import main\nmain()"
    text = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "80"}, check=True).stdout
    with open(__file__, encoding="utf-8") as fh:
        source = fh.read()
    head, _, rest = source.partition('TEXT = """\\\n')
    _, _, tail = rest.partition('"""\n')
    with open(__file__, "w", encoding="utf-8") as fh:
        fh.write(head + 'TEXT = """\\\n' + text + '"""\n' + tail)


if __name__ == "__main__":
    regenerate()
