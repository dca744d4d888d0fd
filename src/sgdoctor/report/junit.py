"""JUnit XML: one testcase per check, for CI dashboards that already read JUnit.

The document is pure ASCII (everything else as character references) so it is well formed
whatever stdout's encoding (a C locale, PYTHONIOENCODING=ascii); characters XML cannot
carry at all (control characters, lone surrogates from undecodable bytes, U+FFFE/U+FFFF)
become U+FFFD.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from sgdoctor.api import Status
from sgdoctor.i18n import tr, tr_parts
from sgdoctor.report import RenderOptions, Report, Reporter

_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def render(report: Report, options: RenderOptions | None = None) -> str:
    lang = (options or RenderOptions()).lang
    counts = report.counts
    suite = ET.Element("testsuite", {
        "name": "sgdoctor", "tests": str(len(report.checks)),
        "failures": str(counts["fail"]), "errors": str(counts["error"]),
        "skipped": str(counts["skip"]), "time": f"{report.duration_ms / 1000:.3f}",
        "hostname": _clean(report.hostname),
    })
    for c in report.checks:
        case = ET.SubElement(suite, "testcase", {
            "classname": "sgdoctor", "name": _clean(c.id), "time": f"{c.duration_ms / 1000:.3f}",
        })
        summary = tr_parts(lang, c.summary_parts, c.summary, "; ")
        message = _clean(summary)
        body = _clean(tr_parts(lang, c.remedy_parts, c.remedy, "\n") if c.remedy else "")
        if c.status is Status.FAIL:
            ET.SubElement(case, "failure", {"message": message}).text = body
        elif c.status is Status.ERROR:
            ET.SubElement(case, "error", {"message": message}).text = body
        elif c.status is Status.SKIP:
            ET.SubElement(case, "skipped", {"message": message})
        elif c.status is Status.WARN:
            ET.SubElement(case, "system-out").text = _clean(
                tr(lang, "warning: {summary}", {"summary": summary}) + f"\n{body}")
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="us-ascii", xml_declaration=True).decode("ascii") + "\n"


REPORTER = Reporter("junit", "application/xml; charset=utf-8", render)
