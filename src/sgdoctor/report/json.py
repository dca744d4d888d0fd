"""The JSON report (design.md, schema_version 1); the schema ships beside this file."""

from __future__ import annotations

import json

from sgdoctor.report import RenderOptions, Report, Reporter


def render(report: Report, options: RenderOptions | None = None) -> str:
    """UTF-8 where the output takes it, else pure ASCII (\\u escapes): JSON either way."""
    unicode = (options or RenderOptions()).unicode
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=not unicode) + "\n"


REPORTER = Reporter("json", "application/json; charset=utf-8", render)
