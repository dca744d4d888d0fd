"""The JSON report (design.md, schema_version 1); the schema ships beside this file."""

from __future__ import annotations

import json

from sgdoctor.report import RenderOptions, Report, Reporter


def render(report: Report, options: RenderOptions | None = None) -> str:
    """English whatever the language (`lang` says what the table would have used); UTF-8
    where the output takes it, else pure ASCII (\\u escapes): JSON either way."""
    opts = options or RenderOptions()
    doc = report.to_dict()
    doc["lang"] = opts.lang
    return json.dumps(doc, indent=2, ensure_ascii=not opts.unicode) + "\n"


REPORTER = Reporter("json", "application/json; charset=utf-8", render)
