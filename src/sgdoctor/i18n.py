"""The language of what people read: the table, explain, env, Nagios and JUnit text.

Text is translated when it is RENDERED, never when a check runs: a check's finding carries
its English template (the gettext msgid) and named fields, the JSON keeps the English, and
a reporter looks the template up in the catalogue (stdlib gettext; sources in
locale/<lang>/LC_MESSAGES/sgdoctor.po, compiled to .mo by the build). Fields (values,
paths, variable names, commands, a consumer's own message) are never translated.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import cache

from sgdoctor.api import Text
from sgdoctor.errors import ConfigError

TYPE_CHECKING = False

if TYPE_CHECKING:  # an English run needs neither gettext nor string (imported on first use)
    import gettext
    from typing import Any

LANGS = ("en", "zh")
DOMAIN = "sgdoctor"
_LOCALE_DIR = os.path.join(os.path.dirname(__file__), "locale")
# Locale variables in the order gettext consults them.
LOCALE_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
# Templates a zh render asked for and the catalogue did not have (the tests read it).
MISSING: set[str] = set()


def N_(msgid: str) -> str:
    """Marks a msgid that is translated later (gettext's convention; the tests collect it)."""
    return msgid


def from_locale(env: Mapping[str, str]) -> str:
    """zh for any Chinese locale (zh_CN, zh_TW, zh_SG, zh_HK …), else en."""
    for name in LOCALE_VARS:
        value = env.get(name, "")
        first = next((part for part in value.split(":") if part), "") if name == "LANGUAGE" \
            else value
        if first:
            return "zh" if first.lower().startswith("zh") else "en"
    return "en"


def choose(flag: str | None, configured: Any, env: Mapping[str, str]) -> str:
    """--lang over the config's `lang` over the locale."""
    where: str | Text
    for where, value in (("--lang", flag), (Text("config option 'lang'"), configured)):
        if value is None:
            continue
        if value not in LANGS:
            raise ConfigError(Text("{where} {value}: choose en or zh", where=where,
                                   value=repr(value)))
        return str(value)
    return from_locale(env)


@cache
def catalogue(lang: str) -> gettext.NullTranslations:
    import gettext

    if lang == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, _LOCALE_DIR, [lang], fallback=True)


def placeholders(template: str) -> set[str]:
    """The {names} a template formats (the same in every language)."""
    import string

    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def needs_translation(msgid: str) -> bool:
    """False for a template of only fields and punctuation ("{lead} {hostname}", Text.join)."""
    import string

    return any(text.strip(" ;:,.\n—→()") for text, *_ in string.Formatter().parse(msgid))


def _format(template: str, fields: Mapping[str, Any]) -> str:
    return template.format(**fields) if fields else template


def tr(lang: str, msgid: str, fields: Mapping[str, Any] | None = None) -> str:
    """`msgid` in `lang`, formatted with `fields` (a field that is a Text translated too);
    the English when there is no translation."""
    fields = fields or {}
    if lang == "en" or not msgid:
        return _format(msgid, fields)
    fields = {k: tr(lang, v.msgid, v.fields) if isinstance(v, Text) else v
              for k, v in fields.items()}
    translated = catalogue(lang).gettext(msgid)
    if translated == msgid:
        if not needs_translation(msgid):  # fields and punctuation: the catalogue may adapt it
            return _format(msgid.replace("; ", "；") if lang == "zh" else msgid, fields)
        MISSING.add(msgid)
        return _format(msgid, fields)
    try:
        return _format(translated, fields)
    except (KeyError, IndexError, ValueError):
        MISSING.add(msgid)
        return _format(msgid, fields)


def tr_parts(lang: str, parts: Sequence[tuple[str, Mapping[str, Any]]], english: str,
             sep: str) -> str:
    """A folded summary or remedy: each part translated, joined by `sep` (in zh the
    full-width '；' between summaries); with no parts, `english` is itself the msgid."""
    if lang == "en":
        return english
    if not parts:
        return tr(lang, english)
    if sep == "; " and lang == "zh":
        sep = "；"
    return sep.join(tr(lang, msgid, fields) for msgid, fields in parts)


def lang_of_argv(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """The language of a usage error: what --lang names when it names one, else the
    locale's (the error may be the config file, or --lang itself)."""
    for i, token in enumerate(argv):
        if token == "--":
            break
        value = (argv[i + 1] if token == "--lang" and i + 1 < len(argv) else
                 token.partition("=")[2] if token.startswith("--lang=") else None)
        if value in LANGS:
            return str(value)
    return from_locale(env)


def localized(lang: str, text: str | Text) -> str:
    """A Text in `lang`; plain text (click's own messages, say) as it is."""
    return tr(lang, text.msgid, text.fields) if isinstance(text, Text) else str(text)


def __getattr__(name: str) -> Any:
    """LOCALE_DIR, the catalogues' directory as a Path (pathlib is not imported to start)."""
    if name == "LOCALE_DIR":
        from pathlib import Path

        return Path(_LOCALE_DIR)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
