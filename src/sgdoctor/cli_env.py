"""``sgdoctor env``: every catalogue variable on one screen — set or not, its value (secrets
masked), what its reader will do with it, and the verdict.

Verdicts come from the same ``env.*`` check functions ``sgdoctor check`` runs, so the two
never disagree; variables judged by probing checks (gloo, etcd, nats, maca.*, expert_record)
point to that check instead of probing here, which keeps this command instant.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer

from sgdoctor.api import SPEC_ATTR, CheckSpec, Message, Result, Text
from sgdoctor.environ import snapshot
from sgdoctor.errors import ConfigError
from sgdoctor.i18n import tr, tr_parts
from sgdoctor.parse.catalogue import Entry, default_text, entries
from sgdoctor.parse.verdict import shown
from sgdoctor.redact import MASK

__all__ = ["register", "rows"]

FORMATS = ("table", "json")
LANGS = ("en", "zh")
TIMEOUT = 5.0   # these checks are pure; the limit only guards against a bug in one


def _env_checks() -> list[CheckSpec]:
    from sgdoctor.checks import env_paths, env_values

    return [getattr(f, SPEC_ATTR) for f in [*env_values.CHECKS, *env_paths.CHECKS]]


def _value(entry: Entry, env: Mapping[str, str], redact: Any) -> str | None:
    """Masked first, then shortened: a cut could otherwise leave half a password behind."""
    if entry.name not in env:
        return None
    if entry.secret:
        return MASK
    return shown(redact.text(env[entry.name]), 200)


def _judge(env: Mapping[str, str]) -> dict[str, Result]:
    """The same verdicts `sgdoctor check` gives, through the same runner."""
    from sgdoctor.runner import RunPlan, run_plan

    plan = RunPlan(specs=tuple(_env_checks()), timeout=TIMEOUT)
    return {o.spec.id: o.result for o in run_plan(plan, env)}


def _texts(entry: Entry, result: Result | None, is_set: bool
           ) -> tuple[str | None, str | Text | Sequence[Message], str | Sequence[Message] | None]:
    """The status, the effect and the remedy of one row: an English text, a Text or a check's
    folded parts (translated by `_local`)."""
    if result is None:
        return None, (Text("checked by {check}", check=entry.check) if is_set
                      else Text("default: {default}; checked by {check}",
                                default=default_text(entry), check=entry.check)), None
    if not is_set:
        return result.status.value, Text("default: {default}", default=default_text(entry)), \
            result.remedy_parts or result.remedy
    return (result.status.value, result.summary_parts or result.summary,
            result.remedy_parts or result.remedy)


def _local(lang: str, text: str | Text | Sequence[Message] | None, sep: str) -> str | None:
    if text is None or isinstance(text, str):
        return tr(lang, text) if text else text
    if isinstance(text, Text):
        return tr(lang, text.msgid, text.fields)
    return tr_parts(lang, text, sep.join(tr("en", msgid, fields) for msgid, fields in text), sep)


def rows(env: Mapping[str, str], lang: str = "en", *, local: bool = False
         ) -> list[dict[str, Any]]:
    """One JSON-ready row per catalogue variable, redacted whole like every report. The
    effect and remedy are English (JSON stays English); with ``local`` they are in ``lang``
    (the table)."""
    from sgdoctor.redact import Redactor

    redact = Redactor(env)
    verdicts = _judge(env)
    out = []
    for entry in entries():
        result = verdicts.get(entry.check)
        is_set = entry.name in env
        status, effect_text, remedy_text = _texts(entry, result, is_set)
        effect = _local(lang if local else "en", effect_text, "; ") or ""
        remedy = _local(lang if local else "en", remedy_text, "\n")
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
    from sgdoctor.report import envtable
    from sgdoctor.report.output import terminal_width, utf8_stream

    env = snapshot()
    data = [r for r in rows(env, lang, local=format == "table") if r["set"] or not only_set]
    if format == "json":
        ascii_only = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "") \
            != "utf8"  # JSON escapes (\u00e9) where stdout cannot take UTF-8
        _write(json.dumps({"lang": lang, "variables": data}, indent=2,
                          ensure_ascii=ascii_only) + "\n")
        return
    _write(envtable.render(data, lang, terminal_width(sys.stdout),
                           unicode=utf8_stream(sys.stdout)))


def register(app: typer.Typer) -> None:
    app.command("env")(env_command)
