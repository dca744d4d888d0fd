"""The JSON report (design.md, schema_version 1); the schema ships beside this file."""

from __future__ import annotations

import json

from sgdoctor.report import Report


def render(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
