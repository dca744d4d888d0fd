"""The shipped JSON Schema keeps design.md's promise: a v1 report may gain fields (consumers
ignore them), so the schema accepts them; it still rejects a report that lost one."""

from __future__ import annotations

import copy

import jsonschema
import pytest

from conftest import json_report, run_cli, schema

PLUGIN = '''
from sgdoctor.api import Findings, check

@check("site.pair", title="Two findings")
def pair(ctx):
    found = Findings()
    found.warn("first thing", "fix the first", code="first_thing")
    found.fail("second thing", "fix the second", code="second_thing")
    return found.result("all fine")
'''


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    """A real report from the real CLI, with details.findings in it."""
    checks = tmp_path_factory.mktemp("checks")
    (checks / "pair.py").write_text(PLUGIN)
    proc = run_cli(["--checks-dir", str(checks), "--only", "site.pair", "--format", "json"])
    assert proc.returncode == 1, proc.stderr
    return json_report(proc)


def valid(doc: dict) -> bool:
    try:
        jsonschema.validate(doc, schema())
    except jsonschema.ValidationError:
        return False
    return True


def test_the_real_report_lists_its_findings(report):
    (item,) = report["checks"]
    assert [f["code"] for f in item["details"]["findings"]] == ["first_thing", "second_thing"]
    assert valid(report)


def test_fields_a_later_v1_may_add_still_validate(report):
    doc = copy.deepcopy(report)
    doc["node_labels"] = {"zone": "a"}
    doc["tool"]["commit"] = "abc"
    doc["host"]["kernel"] = "6.1"
    doc["counts"]["unknown"] = 0
    item = doc["checks"][0]
    item["severity_rank"] = 4
    item["details"]["findings"][0]["since"] = "2026-12-01T00:00:00Z"
    item["ignored"] = {"reason": "known", "status": "fail", "until": "tomorrow"}
    assert valid(doc)


@pytest.mark.parametrize("path", [("schema_version",), ("checks",), ("counts", "warn"),
                                  ("checks", 0, "summary"), ("checks", 0, "remedy"),
                                  ("checks", 0, "details", "findings", 0, "code"),
                                  ("checks", 0, "details", "findings", 1, "remedy")])
def test_a_report_missing_a_required_field_does_not_validate(report, path):
    doc = copy.deepcopy(report)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    assert not valid(doc)


@pytest.mark.parametrize("code", ["Has Space", "UPPER", ""])
def test_a_finding_code_outside_the_stable_alphabet_does_not_validate(report, code):
    doc = copy.deepcopy(report)
    doc["checks"][0]["details"]["findings"][0]["code"] = code
    assert not valid(doc)


def test_findings_must_be_a_list_of_objects(report):
    doc = copy.deepcopy(report)
    doc["checks"][0]["details"]["findings"] = {"first_thing": "warn"}
    assert not valid(doc)
