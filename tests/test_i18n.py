"""The report in Chinese (issue 17): the catalogue is complete and agrees with the English
templates, the language comes from --lang, the config or the locale, the table is aligned
in display columns on a real pty, and the JSON is the same in every language but `lang`."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from conftest import BASE_ENV, unavailable
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
             "src/sgdoctor/report/junit.py", "checks/gloo.py", "checks/network.py",
             "checks/etcd.py", "checks/nats.py", "src/sgdoctor/report/envtable.py",
             "checks/maca_sdk.py", "checks/maca_libs.py", "checks/maca_devices.py",
             "checks/libs_duplicates.py", "src/sgdoctor/parse/maca.py",
             # Z1: host checks, engine, progress
             "checks/host_ptrace.py", "checks/host_disk.py", "checks/host_ip.py",
             "checks/host_limits.py", "checks/nccl_interface.py", "checks/host_shm.py",
             "checks/host_ports.py", "checks/host_rdma.py", "src/sgdoctor/parse/settings.py",
             "src/sgdoctor/parse/hca.py", "src/sgdoctor/engine.py", "src/sgdoctor/waiting.py",
             "src/sgdoctor/cli_exec.py", "src/sgdoctor/probe/hostip.py",
             "src/sgdoctor/parse/ports.py",
             # Z3: launch
             "checks/launch_command.py", "checks/launch_model.py", "checks/launch_rendezvous.py",
             "checks/launch_router.py", "checks/launch_topology.py",
             "src/sgdoctor/parse/launch.py",
             # Z3: usage errors
             "src/sgdoctor/cli.py", "src/sgdoctor/plan.py", "src/sgdoctor/settings.py",
             "src/sgdoctor/selection.py", "src/sgdoctor/durations.py", "src/sgdoctor/config.py",
             "src/sgdoctor/i18n.py", "src/sgdoctor/usage_text.py", "src/sgdoctor/registry.py",
             "src/sgdoctor/runner.py", "src/sgdoctor/report/output.py",
             "src/sgdoctor/cli_mesh.py", "src/sgdoctor/parse/mesh.py"]
# Calls whose string arguments are templates: Findings/Result constructors, and tr().
_TEXT_CALLS = {"ok", "warn", "fail", "skip", "error", "add", "result", "Finding"}
# Z2: env checks, the catalogue and the value parsers, `sgdoctor env`'s effects.
TEMPLATED += [
    "checks/env_names.py", "checks/env_paths.py", "checks/env_values.py",
    "src/sgdoctor/parse/catalogue.py", "src/sgdoctor/parse/flags.py",
    "src/sgdoctor/parse/dynamo.py", "src/sgdoctor/parse/dynlog.py",
    "src/sgdoctor/parse/nvshmem.py", "src/sgdoctor/parse/url.py",
    "src/sgdoctor/parse/pathlist.py", "src/sgdoctor/parse/names.py",
    "src/sgdoctor/cli_env.py", "checks/expert_record.py", "checks/mesh.py",
    "src/sgdoctor/parse/mesh_verdict.py"]


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
        elif name in ("N_", "Text") and node.args:
            found |= _constants(node.args[0])
        elif name == "check":
            found |= {k.value.value for k in node.keywords if k.arg == "title"
                      and isinstance(k.value, ast.Constant)}
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
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", getattr(node.func, "id", ""))
        if name in (*_TEXT_CALLS, "Text"):
            args = [*node.args[:2], *(k.value for k in node.keywords if k.arg == "remedy")]
            bad += [a.lineno for a in args if isinstance(a, ast.JoinedStr)]
    return bad


def test_every_template_has_a_translation_with_the_same_placeholders():
    zh = catalogue()
    wanted = {t for p in TEMPLATED for t in templates(ROOT / p) if i18n.needs_translation(t)}
    assert "status" in wanted and "{n} fail" in wanted
    missing = sorted(t for t in wanted if not zh.get(t))
    assert not missing, f"no zh translation in {PO.name}: {missing}"
    for msgid, msgstr in zh.items():
        assert msgstr, f"empty translation of {msgid!r}"
        assert i18n.placeholders(msgid) == i18n.placeholders(msgstr), msgid


def test_no_msgid_is_given_twice():
    ids = re.findall(r'^msgid (".*")$', PO.read_text(), re.M)
    assert sorted({i for i in ids if ids.count(i) > 1}) == []


def test_every_built_in_check_module_is_templated():
    """A new check module cannot ship English-only text unnoticed."""
    modules = {f"checks/{p.name}" for p in (ROOT / "checks").glob("*.py")}
    assert sorted(modules - set(TEMPLATED) - {"checks/__init__.py"}) == []


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
    existed or the .po changed; test_wheel_ships_the_compiled_catalogue holds the build
    itself to it."""
    mo = i18n.LOCALE_DIR / "zh/LC_MESSAGES/sgdoctor.mo"
    if not mo.is_file() or mo.stat().st_mtime < PO.stat().st_mtime:
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
    assert any(line.startswith("失败：1 项正常，1 项失败") for line in lines), text
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


# README's Chinese sample: a node whose gloo, etcd and NATS settings are wrong, in a network
# namespace of its own (eth1 10.20.30.5/24; nothing listens on the peer 10.20.30.9), whose
# server venv /opt/venv (bind-mounted in a private mount namespace: the footer names its path)
# holds Dynamo 1.6.1, SGLang 0.5.23 and PyTorch 2.13.0.
SAMPLE_CHECKS = "gloo.interface,etcd.endpoints,nats.server"
SAMPLE_ENV = {"GLOO_SOCKET_IFNAME": "bond0", "ETCD_ENDPOINTS": "http://10.20.30.9:2379",
              "NATS_SERVER": "nats://10.20.30.9:4222", "DYN_REQUEST_PLANE": "nats",
              "LANG": "zh_CN.UTF-8", "COLUMNS": "80", "PATH": "/opt/venv/bin:/usr/bin:/bin"}
SAMPLE_RELEASES = {"ai_dynamo_runtime": "1.6.1", "sglang": "0.5.23", "torch": "2.13.0"}
_FOOTER = re.compile(r"用时 \d+ ms，主机 \S+$", re.M)


def sample_venv(root: Path) -> Path:
    """A venv as scripts/bootstrap leaves one (its packages' METADATA is all sgdoctor reads)."""
    venv = root / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python3").symlink_to(sys.executable)
    (venv / "pyvenv.cfg").write_text("include-system-site-packages = false\n")
    site = venv / "lib" / "python3.11" / "site-packages"
    for dist, version in SAMPLE_RELEASES.items():
        meta = site / f"{dist}-{version}.dist-info"
        meta.mkdir(parents=True)
        (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\n"
                                       f"Version: {version}\n")
    return root


def zh_sample(tmp: Path) -> str:
    from netns import Namespaces, veth

    opt = sample_venv(tmp)
    with Namespaces() as nets:
        node, peer = nets.new("zhnode"), nets.new("zhpeer")
        veth(node, "eth1", peer, "eth1p")
        node.no_auto_link_local("eth1")
        node.add_address("eth1", "10.20.30.5/24")
        peer.add_address("eth1p", "10.20.30.9/24")
        peer.up("eth1p")
        node.up("eth1", wait=True)
        env = {**BASE_ENV, **SAMPLE_ENV}
        proc = subprocess.run(
            [*node.prefix, "unshare", "-m", "--propagation", "private", "--", "sh", "-ec",
             'mount --bind "$0" /opt && exec "$@"', str(opt),
             "env", "-i", *(f"{k}={v}" for k, v in env.items()),
             sys.executable, "-m", "sgdoctor", "--only", SAMPLE_CHECKS, "--no-color"],
            capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "/opt/venv/bin/python3" in proc.stdout, proc.stdout   # the footer read the venv
    return _FOOTER.sub("用时 9 ms，主机 node-7", proc.stdout)


def readme_sample() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- zh-sample: tests/test_i18n.py -->")
    block = text[start:].split("```text\n", 1)[1]
    return block.split("```", 1)[0]


def test_readme_chinese_sample_is_what_the_cli_prints(tmp_path):
    if os.geteuid() != 0:
        unavailable("network namespaces need root")
    sample = zh_sample(tmp_path)
    assert sample == readme_sample(), "README's Chinese sample drifted; it is now:\n" + sample
    assert max(width_of(line) for line in sample.splitlines()) <= 80, sample


def test_env_in_zh_says_its_verdicts_in_chinese():
    env = {**BASE_ENV, "GLOO_SOCKET_IFNAME": "bond0", "NVSHMEM_SYMMETRIC_SIZE": "3g"}
    lines = on_pty(["env", "--set", "--lang", "zh"], cols=80, env=env)
    verdicts = {line.split()[0] for line in lines[1:] if line and not line.startswith(" ")}
    assert lines[0].split()[0] == "结论"
    assert verdicts and verdicts <= {"正常", "警告", "失败", "跳过", "出错", "参见"}, lines
    assert "参见" in verdicts                       # GLOO_SOCKET_IFNAME: gloo.interface judges it
    assert max(width_of(line) for line in lines) <= 80


def test_explain_in_zh_titles_and_labels():
    out = subprocess.run([sys.executable, "-m", "sgdoctor", "explain", "gloo.interface"],
                         env={**BASE_ENV, "LANG": "zh_CN.UTF-8"}, capture_output=True,
                         text=True, timeout=60).stdout
    assert out.startswith("gloo.interface — Gloo 网络接口\n读取：GLOO_SOCKET_IFNAME"), out
    english = subprocess.run([sys.executable, "-m", "sgdoctor", "explain", "gloo.interface",
                              "--lang", "en"], env={**BASE_ENV, "LANG": "zh_CN.UTF-8"},
                             capture_output=True, text=True, timeout=60).stdout
    assert english.startswith("gloo.interface — Gloo network interface\nreads: "), english
