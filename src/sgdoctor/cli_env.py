"""``sgdoctor env``: every catalogue variable on one screen — set or not, its value (secrets
masked), what its reader will do with it, and the verdict.

Verdicts come from the same ``env.*`` check functions ``sgdoctor check`` runs, so the two
never disagree; variables judged by probing checks (gloo, etcd, nats, maca.*, expert_record)
point to that check instead of probing here, which keeps this command instant.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import time
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from sgdoctor.api import SPEC_ATTR, CheckSpec, Context, Result
from sgdoctor.errors import ConfigError
from sgdoctor.parse.catalogue import Entry, entries
from sgdoctor.parse.verdict import shown
from sgdoctor.redact import MASK

__all__ = ["register", "rows", "render_table"]

FORMATS = ("table", "json")
LANGS = ("en", "zh")
HEADERS = {"en": ("variable", "value", "verdict", "effect", "meaning"),
           "zh": ("变量", "值", "结论", "实际效果", "含义")}
UNSET = {"en": "(unset)", "zh": "（未设置）"}


def _env_checks() -> dict[str, CheckSpec]:
    from sgdoctor.checks import env_paths, env_values

    funcs = [*env_values.CHECKS, *env_paths.CHECKS]
    return {getattr(f, SPEC_ATTR).id: getattr(f, SPEC_ATTR) for f in funcs}


def _value(entry: Entry, env: Mapping[str, str], redact: Any) -> str | None:
    """Masked first, then shortened: a cut could otherwise leave half a password behind."""
    if entry.name not in env:
        return None
    if entry.secret:
        return MASK
    return shown(redact.text(env[entry.name]), 200)


def _judge(entry: Entry, env: Mapping[str, str],
           checks: Mapping[str, CheckSpec]) -> Result | None:
    """The same verdict `sgdoctor check` gives (these checks are pure: no probing)."""
    from sgdoctor.runner import call_check

    spec = checks.get(entry.check)
    if spec is None:
        return None
    return call_check(spec, Context(env, deadline=time.monotonic() + 5))


def rows(env: Mapping[str, str], lang: str = "en") -> list[dict[str, Any]]:
    """One JSON-ready row per catalogue variable, redacted whole like every report."""
    from sgdoctor.redact import Redactor

    redact = Redactor(env)
    checks = _env_checks()
    out = []
    for entry in entries():
        result = _judge(entry, env, checks)
        is_set = entry.name in env
        if result is None:
            status = None
            effect = (f"checked by {entry.check}" if is_set
                      else f"default: {entry.default}; checked by {entry.check}")
            remedy = None
        else:
            status = result.status.value
            effect = result.summary if is_set else f"default: {entry.default}"
            remedy = result.remedy
        if entry.secret and is_set:
            effect = effect.replace(env[entry.name], MASK)
        out.append({
            "name": entry.name, "set": is_set, "value": _value(entry, env, redact),
            "secret": entry.secret, "status": status, "effect": effect, "remedy": remedy,
            "check": entry.check, "reader": entry.consumer, "default": entry.default,
            "meaning": entry.meaning(lang), "meaning_en": entry.meaning_en,
            "meaning_zh": entry.meaning_zh, "use_instead": entry.canonical,
        })
    return [redact.any(row) for row in out]


def render_table(data: list[dict[str, Any]], lang: str, width: int) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from sgdoctor.api import Status
    from sgdoctor.report.table import STYLE

    out = io.StringIO()
    console = Console(file=out, width=width, no_color=True, color_system=None, emoji=False,
                      highlight=False, legacy_windows=False)
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    head = HEADERS[lang]
    table.add_column(head[0], no_wrap=True, overflow="fold")
    table.add_column(head[1], overflow="fold", max_width=30)
    table.add_column(head[2], no_wrap=True)
    table.add_column(head[3], overflow="fold", ratio=3)
    table.add_column(head[4], overflow="fold", ratio=2)
    for row in data:
        status = row["status"]
        label = Text(status or "see", style=STYLE.get(Status(status), "") if status else "dim")
        effect = Text(row["effect"])
        if row["remedy"] and status in ("warn", "fail"):
            effect.append(f"\n→ {row['remedy']}")
        value = row["value"] if row["set"] else UNSET[lang]
        table.add_row(row["name"], value, label, effect, row["meaning"])
    console.print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().split("\n"))


def _write(text: str) -> None:
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode(encoding, errors="backslashreplace"))
    sys.stdout.buffer.flush()


def env_command(
    format: Annotated[str, typer.Option("--format", "-f", help="table|json")] = "table",
    lang: Annotated[str, typer.Option("--lang", help="en|zh: language of the meanings")] = "en",
    only_set: Annotated[bool, typer.Option("--set", help="Only variables that are set.")] = False,
) -> None:
    """Every known variable: set or not, value (secrets masked), effect, verdict."""
    if format not in FORMATS:
        raise ConfigError(f"--format {format!r}: choose table or json")
    if lang not in LANGS:
        raise ConfigError(f"--lang {lang!r}: choose en or zh")
    env = dict(os.environ)
    data = [r for r in rows(env, lang) if r["set"] or not only_set]
    if format == "json":
        _write(json.dumps({"lang": lang, "variables": data}, indent=2, ensure_ascii=False) + "\n")
        return
    width = max(100, shutil.get_terminal_size((160, 24)).columns)
    _write(render_table(data, lang, width))


def register(app: typer.Typer) -> None:
    app.command("env")(env_command)
