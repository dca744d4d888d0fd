"""JUnit XML: one testcase per check, for CI dashboards that already read JUnit."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sgdoctor.api import Status
from sgdoctor.report import RenderOptions, Report, Reporter

_XML_SAFE = {i: None for i in range(32) if i not in (9, 10, 13)}


def _clean(text: str) -> str:
    return text.translate(_XML_SAFE)


def render(report: Report, options: RenderOptions | None = None) -> str:
    counts = report.counts
    suite = ET.Element("testsuite", {
        "name": "sgdoctor", "tests": str(len(report.checks)),
        "failures": str(counts["fail"]), "errors": str(counts["error"]),
        "skipped": str(counts["skip"]), "time": f"{report.duration_ms / 1000:.3f}",
        "hostname": _clean(report.hostname),
    })
    for c in report.checks:
        case = ET.SubElement(suite, "testcase", {
            "classname": "sgdoctor", "name": c.id, "time": f"{c.duration_ms / 1000:.3f}",
        })
        message = _clean(c.summary)
        body = _clean(c.remedy or "")
        if c.status is Status.FAIL:
            ET.SubElement(case, "failure", {"message": message}).text = body
        elif c.status is Status.ERROR:
            ET.SubElement(case, "error", {"message": message}).text = body
        elif c.status is Status.SKIP:
            ET.SubElement(case, "skipped", {"message": message})
        elif c.status is Status.WARN:
            ET.SubElement(case, "system-out").text = _clean(f"warning: {c.summary}\n{body}")
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


REPORTER = Reporter("junit", "application/xml; charset=utf-8", render)
