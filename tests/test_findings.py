"""The one fold policy (sgdoctor.api.Findings) that every check, built-in or plugin, uses:
worst status wins; that status's summaries in order; remedies of every problem, worst first,
de-duplicated, one per line; every finding in details["findings"] with its stable code."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from conftest import json_report, result_of, run_cli
from sgdoctor.api import SEVERITY, Finding, Findings, Result, Status
from sgdoctor.probe.writable import Obstacle


def test_no_finding_is_ok_with_the_ok_summary_and_an_empty_list():
    r = Findings().result("all fine", details={"x": 1}, env=["A"])
    assert (r.status, r.summary, r.remedy) == (Status.OK, "all fine", None)
    assert r.details == {"x": 1, "findings": []} and r.env == ("A",)


def test_ok_findings_are_listed_but_do_not_change_the_verdict():
    found = Findings()
    found.ok("eth0 is up", code="interface_up")
    r = found.result("fine", ok_remedy="nothing to do")
    assert (r.status, r.summary, r.remedy) == (Status.OK, "fine", "nothing to do")
    assert r.details["findings"] == [{"code": "interface_up", "status": "ok",
                                      "summary": "eth0 is up", "remedy": None}]


def test_the_worst_status_wins_and_only_its_summaries_are_shown_in_order():
    found = Findings()
    found.warn("w1", "rw1", code="w_one")
    found.fail("f1", "rf1", code="f_one")
    found.warn("w2", "rw2", code="w_two")
    found.fail("f2", "rf2", code="f_two")
    r = found.result("fine")
    assert r.status is Status.FAIL and r.summary == "f1; f2"
    assert r.remedy == "rf1\nrf2\nrw1\nrw2"        # worst first, then in order
    assert [f["code"] for f in r.details["findings"]] == ["w_one", "f_one", "w_two", "f_two"]


def test_remedies_are_said_once_and_missing_ones_are_skipped():
    found = Findings()
    found.fail("a", "same fix", code="a")
    found.fail("b", None, code="b")
    found.warn("c", "same fix", code="c")
    found.warn("d", "", code="d")
    r = found.result("fine")
    assert r.remedy == "same fix"
    assert [f["remedy"] for f in r.details["findings"]] == ["same fix", None, "same fix", None]


def test_warnings_alone_give_warn_and_no_remedy_gives_none():
    found = Findings([Finding(Status.WARN, "odd", None, "odd_value")])
    r = found.result("fine")
    assert (r.status, r.summary, r.remedy) == (Status.WARN, "odd", None)


def test_error_ranks_between_warn_and_fail():
    assert SEVERITY[Status.WARN] < SEVERITY[Status.ERROR] < SEVERITY[Status.FAIL]
    found = Findings()
    found.warn("w", "rw", code="w")
    found.add(Status.ERROR, "e", "re", code="e")
    assert found.result("fine").status is Status.ERROR
    found.fail("f", "rf", code="f")
    r = found.result("fine")
    assert r.status is Status.FAIL and r.remedy == "rf\nre\nrw"


def test_details_given_by_the_check_are_kept_and_findings_added():
    found = Findings()
    found.fail("broken", "fix", code="broken")
    r = found.result("fine", details={"path": "/x"})
    assert r.details["path"] == "/x" and len(r.details["findings"]) == 1
    assert isinstance(r, Result)


def test_extend_iter_len_worst_and_problems():
    found = Findings()
    found.extend([Finding(Status.OK, "o", None, "o"), Finding(Status.WARN, "w", "r", "w"),
                  Finding(Status.FAIL, "f", "r", "f")])
    assert len(found) == 3 and found.worst is Status.FAIL
    assert [f.code for f in found] == ["o", "w", "f"]
    assert [f.code for f in found.problems()] == ["f", "w"]


@pytest.mark.parametrize("code", ["Upper", "with space", "", "ünï"])
def test_codes_are_a_stable_alphabet(code):
    with pytest.raises(ValueError, match="invalid finding code"):
        Finding(Status.FAIL, "x", None, code)


def test_warn_and_fail_require_a_code():
    found = Findings()
    with pytest.raises(TypeError):
        found.fail("x", "y")    # type: ignore[call-arg]


PLUGIN = '''
from sgdoctor.api import Findings, check

@check("site.scratch", title="Scratch disk", env=["SCRATCH_DIR"])
def scratch(ctx):
    found = Findings()
    path = ctx.env.get("SCRATCH_DIR", "")
    if not path.startswith("/"):
        found.warn(f"SCRATCH_DIR={path!r} is not absolute", "export SCRATCH_DIR=/scratch",
                   code="relative_path")
    if not path.startswith("/scratch"):
        found.fail(f"{path!r} is not on the scratch volume", "mount the scratch volume",
                   code="not_on_scratch")
    return found.result(f"{path} is on the scratch volume", details={"path": path})
'''


def test_a_plugin_written_against_the_api_alone_reports_its_codes_in_json(tmp_path):
    (tmp_path / "scratch.py").write_text(PLUGIN)
    args = ["--checks-dir", str(tmp_path), "--only", "site.scratch", "--format", "json"]
    proc = run_cli(args, {"SCRATCH_DIR": "data"})
    assert proc.returncode == 1, proc.stderr
    item = result_of(json_report(proc), "site.scratch")
    assert item["status"] == "fail" and item["summary"] == "'data' is not on the scratch volume"
    assert item["remedy"] == "mount the scratch volume\nexport SCRATCH_DIR=/scratch"
    assert item["details"]["path"] == "data"
    assert item["details"]["findings"] == [
        {"code": "relative_path", "status": "warn",
         "summary": "SCRATCH_DIR='data' is not absolute", "remedy": "export SCRATCH_DIR=/scratch"},
        {"code": "not_on_scratch", "status": "fail",
         "summary": "'data' is not on the scratch volume", "remedy": "mount the scratch volume"}]
    ok = result_of(json_report(run_cli(args, {"SCRATCH_DIR": "/scratch/a"})), "site.scratch")
    assert ok["status"] == "ok" and ok["details"]["findings"] == []


def _readme_block(after: str, lang: str) -> str:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start = readme.index(f"```{lang}\n", readme.index(after)) + len(lang) + 4
    return readme[start:readme.index("```", start)]


def test_the_readme_plugin_runs_as_documented(tmp_path):
    """README's "Writing a check" example, through the real CLI, says what README shows."""
    code = _readme_block("## Writing a check", "python")
    assert code.startswith("# /etc/sgdoctor/checks.d/scratch.py")
    checks = tmp_path / "checks.d"
    checks.mkdir()
    (checks / "scratch.py").write_text(code)
    (tmp_path / "scratch").mkdir()
    config = tmp_path / "sgdoctor.toml"
    config.write_text('[checks."site.scratch"]\nmin_free_bytes = 1152921504606846976\n')
    proc = run_cli(["--checks-dir", str(checks), "--config", str(config), "--only",
                    "site.scratch", "--format", "json"], {"SCRATCH_DIR": "scratch"},
                   cwd=tmp_path)
    item = result_of(json_report(proc), "site.scratch")
    assert proc.returncode == 1
    shown = json.loads(_readme_block("With\n`SCRATCH_DIR=scratch`", "json"))
    free = item["details"]["free_bytes"] >> 30
    here = f"{tmp_path}/scratch"
    expected = json.loads(json.dumps(shown).replace("/srv/scratch", here)
                          .replace("3 GiB", f"{free} GiB"))
    assert item["status"] == expected["status"] == "fail"
    assert item["summary"] == expected["summary"]
    assert item["remedy"] == expected["remedy"]
    assert item["remedy"].splitlines() == [
        "free space in scratch, or point SCRATCH_DIR at a larger disk",
        f"export SCRATCH_DIR={here}"]
    assert item["details"]["findings"] == expected["details"]["findings"]


def _module_codes(path: Path) -> tuple[set[str], list[re.Pattern[str]], set[str]]:
    """A check module's finding codes: the literals given as a code (``code=`` or Finding's
    fourth argument), the f-string templates given as one (as patterns), and every string
    literal of the module (a code may reach Finding through a helper)."""
    tree = ast.parse(path.read_text())
    given: list[ast.expr] = []
    literals = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            literals.add(node.value)
        if isinstance(node, ast.Call):
            given += [k.value for k in node.keywords if k.arg == "code"]
            if getattr(node.func, "id", None) == "Finding" and len(node.args) == 4:
                given.append(node.args[3])
    codes, templates = set(), []
    for expr in given:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            codes.add(expr.value)
        elif isinstance(expr, ast.JoinedStr):
            parts = [re.escape(v.value) if isinstance(v, ast.Constant) else "[a-z_]+"
                     for v in expr.values]
            templates.append(re.compile("".join(parts)))
    return codes, templates, literals


OBSTACLES = {o.value for o in Obstacle}     # expert_record.dir's code is the obstacle's value


@pytest.mark.parametrize(("module", "marker", "extra"), [
    ("maca_sdk", "- `maca.sdk`: ", set()), ("maca_devices", "- `maca.devices`: ", set()),
    ("expert_record", "- **Codes** in `details.findings`: ", OBSTACLES)])
def test_readme_lists_the_codes_each_check_can_give(module, marker, extra):
    """Monitoring is written from README's lists: they must match the code, both ways."""
    root = Path(__file__).resolve().parent.parent
    readme = root / "README.md"
    text = readme.read_text()
    start = text.index(marker)
    item = text[start:text.index(".\n", start)]
    listed = set(re.findall(r"`([a-z][a-z0-9_]*)`", item)) - {"seed_", "seed_dir_"}
    codes, templates, literals = _module_codes(root / "checks" / f"{module}.py")
    codes, literals = codes | extra, literals | extra
    assert codes <= listed, f"codes missing from README: {sorted(codes - listed)}"
    for template in templates:
        assert any(template.fullmatch(c) for c in listed), f"no code listed for {template}"
    unknown = {c for c in listed if c not in literals
               and not any(t.fullmatch(c) for t in templates)}
    assert not unknown, f"README lists codes the check never gives: {sorted(unknown)}"
