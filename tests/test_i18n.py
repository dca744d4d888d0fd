"""The report in Chinese (issue 17): the catalogue is complete and agrees with the English
templates, the language comes from --lang, the config or the locale, the table is aligned
in display columns on a real pty, and the JSON is the same in every language but `lang`."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from conftest import BASE_ENV
from sgdoctor import i18n
from sgdoctor.api import Findings, Result, Status
from sgdoctor.report import RenderOptions, build_report, render
from sgdoctor.report.layout import width_of
from sgdoctor.runner import Outcome
from test_table_pty import on_pty

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "src/sgdoctor/locale/zh/LC_MESSAGES/sgdoctor.po"
# Modules whose every user-facing string is a template (no f-string summaries/remedies).
TEMPLATED = ["src/sgdoctor/report/table.py", "src/sgdoctor/report/nagios.py",
             "src/sgdoctor/report/junit.py"]
# Calls whose string arguments are templates: Findings/Result constructors, and tr().
_TEXT_CALLS = {"ok", "warn", "fail", "skip", "error", "add", "result"}


def catalogue() -> dict[str, str]:
    with PO.open("rb") as fh:
        return {str(m.id): str(m.string) for m in read_po(fh) if m.id}


def templates(path: Path) -> set[str]:
    """Every msgid a module renders: the string constants given to tr() or marked N_(), and
    the summary and
    remedy templates given to a Findings/Result call with fields= (or without any field)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", getattr(node.func, "id", ""))
        if name == "tr" and len(node.args) >= 2:
            found |= _constants(node.args[1])
        elif name == "N_" and node.args:
            found |= _constants(node.args[0])
        elif name in _TEXT_CALLS:
            texts = [a for a in node.args if not isinstance(a, ast.Attribute)][:2]
            texts += [k.value for k in node.keywords if k.arg in ("remedy", "ok_remedy")]
            for text in texts:
                found |= _constants(text)
    return found


def _constants(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.BinOp):  # "{n} " + s.value: the table's counts
        return {"{n} " + s.value for s in Status}
    if isinstance(node, ast.IfExp):
        return _constants(node.body) | _constants(node.orelse)
    return set()


def _f_strings(path: Path) -> list[int]:
    """Lines where a Findings/Result call is given an f-string: untranslatable text."""
    bad = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in _TEXT_CALLS:
            args = [*node.args[:2], *(k.value for k in node.keywords if k.arg == "remedy")]
            bad += [a.lineno for a in args if isinstance(a, ast.JoinedStr)]
    return bad


def test_every_template_has_a_translation_with_the_same_placeholders():
    zh = catalogue()
    wanted = set().union(*(templates(ROOT / p) for p in TEMPLATED))
    assert "status" in wanted and "{n} fail" in wanted
    missing = sorted(t for t in wanted if not zh.get(t))
    assert not missing, f"no zh translation in {PO.name}: {missing}"
    for msgid, msgstr in zh.items():
        assert msgstr, f"empty translation of {msgid!r}"
        assert i18n.placeholders(msgid) == i18n.placeholders(msgstr), msgid


@pytest.mark.parametrize("path", TEMPLATED)
def test_templated_modules_give_no_f_string_text(path):
    assert _f_strings(ROOT / path) == []


def test_a_message_without_translation_is_caught(tmp_path):
    module = tmp_path / "new_check.py"
    module.write_text('found.fail("a brand new problem with {name}", "fix {name}", '
                      'code="new", fields={"name": "x"})\n')
    assert templates(module) - set(catalogue()) == {"a brand new problem with {name}",
                                                    "fix {name}"}


@pytest.mark.parametrize(("env", "lang"), [
    ({"LANG": "zh_CN.UTF-8"}, "zh"), ({"LANG": "zh_TW.UTF-8"}, "zh"),
    ({"LC_ALL": "zh_SG.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
    ({"LANGUAGE": "en:zh", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"LANGUAGE": ":zh_CN", "LANG": "C"}, "zh"),
    ({"LC_MESSAGES": "zh_HK", "LANG": "C"}, "zh"),
    ({"LANG": "C.UTF-8"}, "en"), ({}, "en"),
])
def test_locale_chooses_the_language(env, lang):
    assert i18n.choose(None, None, env) == lang


def test_flag_over_config_over_locale():
    zh = {"LANG": "zh_CN.UTF-8"}
    assert i18n.choose("en", "zh", zh) == "en"
    assert i18n.choose(None, "en", zh) == "en"
    assert i18n.choose(None, "zh", {}) == "zh"
    with pytest.raises(i18n.ConfigError, match="--lang 'fr': choose en or zh"):
        i18n.choose("fr", None, {})


def _report():
    from sgdoctor.api import CheckSpec

    found = Findings()
    found.fail("Unknown interface {name}", "Set {var} to one of: {names}",
               code="missing_interface", fields={"name": "bond0", "var": "GLOO_SOCKET_IFNAME",
                                                 "names": "eth0"})
    spec = CheckSpec(id="demo.check", title="demo", func=lambda ctx: Result.ok("x"))
    outcome = Outcome(spec, found.result("fine"), 1.0)
    return build_report([outcome], {}, started_at=0.0, duration_ms=1.0)


def test_english_text_is_the_formatted_template_and_json_stays_english():
    report = _report()
    check = report.checks[0]
    assert check.summary == "Unknown interface bond0"
    assert check.remedy == "Set GLOO_SOCKET_IFNAME to one of: eth0"
    en = json.loads(render(report, "json", RenderOptions(lang="en")))
    zh = json.loads(render(report, "json", RenderOptions(lang="zh")))
    assert (en.pop("lang"), zh.pop("lang")) == ("en", "zh")
    assert en == zh


def test_untranslated_text_falls_back_to_english_and_is_recorded():
    i18n.MISSING.clear()
    assert i18n.tr("zh", "Unknown interface {name}", {"name": "bond0"}) == \
        "Unknown interface bond0"
    assert {"Unknown interface {name}"} == i18n.MISSING
    assert i18n.tr("zh", "status") == "状态"


def test_wheel_ships_the_compiled_catalogue(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path), str(ROOT)], check=True,
                   capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("sgdoctor-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "sgdoctor/locale/zh/LC_MESSAGES/sgdoctor.mo" in names
    assert "sgdoctor/locale/zh/LC_MESSAGES/sgdoctor.po" in names


@pytest.fixture(scope="module", autouse=True)
def compiled():
    """What `pip install -e .` does (setup.py), for a venv installed before the catalogues
    existed; test_wheel_ships_the_compiled_catalogue holds the build itself to it."""
    if not (i18n.LOCALE_DIR / "zh/LC_MESSAGES/sgdoctor.mo").is_file():
        sys.path.insert(0, str(ROOT))
        try:
            from setup import compile_catalogues
        finally:
            sys.path.remove(str(ROOT))
        compile_catalogues(i18n.LOCALE_DIR)
        i18n.catalogue.cache_clear()


def test_the_package_finds_the_catalogue():
    assert i18n.catalogue("zh").gettext("finding") == "结果"


PLUGIN = '''
from sgdoctor.api import Findings, Result, check

@check("zh.demo", title="demo")
def demo(ctx):
    found = Findings()
    found.fail("Unknown interface {name}", "Set {var} to one of: {names}",
               code="missing_interface",
               fields={"name": "bond0", "var": "GLOO_SOCKET_IFNAME", "names": "eth0, eth1"})
    return found.result("fine")

@check("zh.ok", title="ok")
def fine(ctx):
    return Result.ok("status")
'''


@pytest.fixture(scope="module")
def plugins(tmp_path_factory) -> str:
    directory = tmp_path_factory.mktemp("zhchecks")
    (directory / "zh_demo.py").write_text(PLUGIN)
    return str(directory)


def _columns(lines: list[str]) -> set[int]:
    """The display column where each row's check id starts."""
    return {width_of(line[:line.index("zh.")]) for line in lines if "zh." in line}


def test_zh_table_on_an_80_column_pty_is_aligned(plugins):
    lines = on_pty(["--checks-dir", plugins, "--only", "zh.*", "--no-color"], cols=80,
                   env={"LANG": "zh_CN.UTF-8"})
    text = "\n".join(lines)
    assert lines[0].split() == ["状态", "检查项", "结果"]
    assert max(width_of(line) for line in lines) <= 80, text
    assert len(_columns(lines)) == 1, text          # ids start in one display column
    assert "✓ 正常" in text and "✗ 失败" in text
    assert "失败：" in lines[-1], text
    assert "GLOO_SOCKET_IFNAME" in text and "bond0" in text   # fields verbatim
    header = width_of(lines[0][:lines[0].index("检查项")])
    assert _columns(lines) == {header}, text        # ... under the header, in columns
    english = on_pty(["--checks-dir", plugins, "--only", "zh.*", "--no-color", "--lang", "en"],
                     cols=80, env={"LANG": "zh_CN.UTF-8"})
    assert english[0].split() == ["status", "check", "finding"]


def test_zh_json_is_the_english_json_but_lang(plugins):
    base = [sys.executable, "-m", "sgdoctor", "--checks-dir", plugins, "--only", "zh.*",
            "-f", "json"]
    docs = []
    for lang in ("en", "zh"):
        out = subprocess.run([*base, "--lang", lang], env=BASE_ENV, capture_output=True,
                             text=True, timeout=60).stdout
        doc = json.loads(out)
        assert doc.pop("lang") == lang
        for key in ("started_at", "duration_ms"):
            doc.pop(key)
        for c in doc["checks"]:
            c.pop("duration_ms")
        docs.append(doc)
    assert docs[0] == docs[1]
