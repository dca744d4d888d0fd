"""The JSON report (design.md, schema_version 1); the schema ships beside this file."""

from __future__ import annotations

import json

from sgdoctor.report import RenderOptions, Report, Reporter


def render(report: Report, options: RenderOptions | None = None) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


REPORTER = Reporter("json", "application/json; charset=utf-8", render)
