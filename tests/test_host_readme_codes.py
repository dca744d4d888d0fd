"""README's code tables for nccl.interface, host.ip, host.rdma and libs.duplicates match the
codes the checks can give, both ways (monitoring is written from those tables)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from test_findings import _module_codes

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("module", "heading"), [
    ("nccl_interface", "## `nccl.interface`"), ("host_ip", "## `host.ip`"),
    ("host_rdma", "## `host.rdma`"), ("libs_duplicates", "## `libs.duplicates`")])
def test_readme_table_lists_every_code(module, heading):
    text = (ROOT / "README.md").read_text()
    start = text.index(heading)
    section = text[start:text.index("\n## ", start + len(heading))]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    listed = {m for row in rows for m in re.findall(r"\| `([a-z][a-z0-9_]*)`", row)}
    codes, templates, literals = _module_codes(ROOT / "checks" / f"{module}.py")
    assert not templates
    assert codes <= listed, f"codes missing from README: {sorted(codes - listed)}"
    unknown = listed - literals
    assert not unknown, f"README lists codes the check never gives: {sorted(unknown)}"
