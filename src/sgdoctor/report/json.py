"""The JSON report (design.md, schema_version 1); the schema ships beside this file."""

from __future__ import annotations

import json
from json.encoder import encode_basestring, encode_basestring_ascii

from sgdoctor.report import RenderOptions, Report, Reporter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def render(report: Report, options: RenderOptions | None = None) -> str:
    """English whatever the language (`lang` says what the table would have used); UTF-8
    where the output takes it, else pure ASCII (\\u escapes): JSON either way."""
    opts = options or RenderOptions()
    doc = report.to_dict()
    doc["lang"] = opts.lang
    return dumps(doc, ascii_only=not opts.unicode) + "\n"


class _Unplain(Exception):
    """A value the plain writer leaves to json.dumps."""


def dumps(doc: Any, *, ascii_only: bool) -> str:
    """``json.dumps(doc, indent=2, ensure_ascii=ascii_only)``, the same text, about twice as
    fast: with an indent the standard library encodes in Python, one generator step a value
    (a report makes some 20,000). Anything but plain dicts with str keys, lists, str, int,
    finite floats, bool and None (a str subclass, a circular or very deep structure) is left
    to json.dumps itself."""
    out: list[str] = []
    try:
        _write(doc, "\n", out.append, encode_basestring_ascii if ascii_only else encode_basestring)
    except (_Unplain, RecursionError):
        return json.dumps(doc, indent=2, ensure_ascii=ascii_only)
    return "".join(out)


def _write(value: Any, newline: str, put: Callable[[str], object],
           string: Callable[[str], str]) -> None:
    kind = type(value)
    if kind is str:
        put(string(value))
    elif value is None:
        put("null")
    elif value is True:
        put("true")
    elif value is False:
        put("false")
    elif kind is int:
        put(int.__repr__(value))
    elif kind is float and value - value == 0.0:  # NaN and the infinities: json's spelling
        put(float.__repr__(value))
    elif kind is dict:
        if not value:
            put("{}")
            return
        inner = newline + "  "
        opening = "{" + inner
        for key, item in value.items():
            if type(key) is not str:
                raise _Unplain
            put(opening + string(key) + ": ")
            opening = "," + inner
            _write(item, inner, put, string)
        put(newline + "}")
    elif kind is list or kind is tuple:
        if not value:
            put("[]")
            return
        inner = newline + "  "
        opening = "[" + inner
        for item in value:
            put(opening)
            opening = "," + inner
            _write(item, inner, put, string)
        put(newline + "]")
    else:
        raise _Unplain


REPORTER = Reporter("json", "application/json; charset=utf-8", render)
