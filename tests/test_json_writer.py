"""The JSON reporter writes exactly what ``json.dumps(doc, indent=2, ensure_ascii=...)``
writes: monitoring diffs and parses it, so its writer may be faster, never different."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import BASE_ENV
from sgdoctor.report.json import dumps


class Tag(str):
    """A str subclass (an Enum with a str mixin is one): json.dumps encodes it as its text."""


SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text()
           | st.text().map(Tag) | st.integers(min_value=-2**70, max_value=2**70))
KEYS = st.text() | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
DOCS = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5)
                    | st.lists(inner, max_size=5).map(tuple)
                    | st.dictionaries(KEYS, inner, max_size=5), max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(DOCS, st.booleans())
def test_any_document_is_written_as_json_dumps_writes_it(doc, ascii_only):
    assert dumps(doc, ascii_only=ascii_only) == json.dumps(doc, indent=2,
                                                           ensure_ascii=ascii_only)


def test_what_json_dumps_spells_its_own_way_is_left_to_it():
    doc = {"nan": math.nan, "inf": [math.inf, -math.inf], "tag": Tag("ok"), 1: "int key",
           "lone": "\udc80", "deep": [[[[[]]]]], "empty": {}}
    for ascii_only in (True, False):
        assert dumps(doc, ascii_only=ascii_only) == json.dumps(doc, indent=2,
                                                               ensure_ascii=ascii_only)


def test_a_circular_document_fails_as_json_dumps_fails():
    doc: dict = {}
    doc["self"] = doc
    try:
        dumps(doc, ascii_only=True)
    except ValueError as exc:
        assert "Circular reference" in str(exc)
    else:
        raise AssertionError("a circular document was written")


def test_a_real_report_is_written_as_json_dumps_writes_it():
    proc = subprocess.run([sys.executable, "-m", "sgdoctor", "--format", "json", "--skip",
                           "maca.devices"], env=BASE_ENV, capture_output=True, text=True,
                          timeout=120)
    doc = json.loads(proc.stdout)
    assert len(doc["checks"]) > 50
    assert proc.stdout == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    for ascii_only in (True, False):
        assert dumps(doc, ascii_only=ascii_only) == json.dumps(doc, indent=2,
                                                               ensure_ascii=ascii_only)
