"""Per-check settings are declared on @check and validated once, through the real CLI:
a config typo is a usage error (exit 2) naming the check and the key, never a silent pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import json_report, result_of, run_cli

PLUGINS = str(Path(__file__).parent / "plugins")


def run_with_config(tmp_path: Path, text: str, *args: str):
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    return run_cli(["--config", str(cfg), *args])


def one_line_error(proc) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(("text", "expected"), [
    ('[checks."maca.lib"]\nlibraries = ["libmcruntime.so"]\n',
     ["[checks.\"maca.lib\"]", "no check has the id 'maca.lib'", "did you mean maca.libs?"]),
    ('[checks."maca.libs"]\ntimeot = 5\n',
     ["[checks.\"maca.libs\"] timeot", "unknown setting of maca.libs",
      "did you mean timeout?", "libraries"]),
    ('[checks."maca.libs"]\nlibrarys = ["libmcruntime.so"]\n',
     ["librarys", "did you mean libraries?"]),
    ('[checks."maca.libs"]\nlibraries = "libmcruntime.so"\n',
     ["[checks.\"maca.libs\"] libraries = 'libmcruntime.so'", "expected a list of strings"]),
    ('[checks."maca.libs"]\nlibraries = ["libmcruntime.so", 3]\n', ["expected a list of"]),
    ('[checks."expert_record.dir"]\nmin_free_bytes = true\n',
     ["min_free_bytes = True", "expected a whole number"]),
    ('[checks."etcd.endpoints"]\ntimeout = "5s"\n', ["timeout = '5s'", "expected a number"]),
])
def test_a_bad_setting_is_a_usage_error_naming_check_and_key(tmp_path, text, expected):
    # --only env.path: a typo in the section of a check that is not run still stops the run.
    line = one_line_error(run_with_config(tmp_path, text, "--only", "env.path"))
    for part in expected:
        assert part in line, line


def test_valid_settings_pass_and_reach_the_check(tmp_path):
    text = ('[checks."maca.libs"]\ntimeout = 5\nlibraries = ["libmcruntime.so"]\n'
            '[checks."env.names"]\nignore = "NATS_SERVERS"\n'
            '[checks."mesh.gloo"]\nlease_ttl = 10\n'       # only `sgdoctor mesh` runs it
            '[checks."demo.setting"]\ngreeting = "hi"\n')   # a plugin that declares nothing
    proc = run_with_config(tmp_path, text, "--checks-dir", PLUGINS,
                           "--only", "demo.setting,env.path", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert result_of(json_report(proc), "demo.setting")["summary"].startswith("greeting=hi ")


def test_a_plugin_declaring_settings_is_validated_too(tmp_path):
    plugins = tmp_path / "checks"
    plugins.mkdir()
    (plugins / "typed.py").write_text(
        "from sgdoctor.api import Result, check\n\n"
        "@check('site.typed', title='typed', settings={'limit': int, 'names': list[str]})\n"
        "def typed(ctx):\n"
        "    return Result.ok(f\"limit={ctx.setting('limit', 0)}\")\n")
    ok = run_with_config(tmp_path, '[checks."site.typed"]\nlimit = 3\nnames = ["a"]\n',
                         "--checks-dir", str(plugins), "--only", "site.typed", "-f", "json")
    assert ok.returncode == 0 and result_of(json_report(ok), "site.typed")["summary"] == "limit=3"
    bad = run_with_config(tmp_path, '[checks."site.typed"]\nlimit = 2.5\n',
                          "--checks-dir", str(plugins), "--only", "site.typed")
    assert "[checks.\"site.typed\"] limit = 2.5: expected a whole number" in one_line_error(bad)


def test_an_unsupported_declaration_fails_at_import_with_one_line(tmp_path):
    plugins = tmp_path / "checks"
    plugins.mkdir()
    (plugins / "bad.py").write_text(
        "from sgdoctor.api import Result, check\n\n"
        "@check('site.bad', title='bad', settings={'when': object})\n"
        "def bad(ctx):\n    return Result.ok('x')\n")
    line = one_line_error(run_cli(["--checks-dir", str(plugins)]))
    assert "bad.py failed to import" in line and "'when'" in line


@pytest.mark.parametrize(("args", "expected"), [
    (["--only", "maca.lib"], "did you mean maca.libs?"),
    (["--skip", "etcd.endpoint"], "did you mean etcd.endpoints?"),
    (["--ignore", "gloo.interfac=lab"], "did you mean gloo.interface?"),
    (["--only", "env.path", "--skip", "env.path"], "selects no check"),
])
def test_selection_mistakes_are_usage_errors(args, expected):
    assert expected in one_line_error(run_cli(args))


def test_every_built_in_check_declares_its_settings():
    """Without a declaration any key passes: a built-in check must never rely on that."""
    from sgdoctor.registry import builtin_specs

    undeclared = [s.id for s in builtin_specs() if s.settings is None]
    assert undeclared == []


def test_the_readme_config_example_is_valid_on_a_fresh_host(tmp_path):
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("### The config file"):]
    example = section[section.index("```toml\n") + 8:section.index("\n```")]
    proc = run_with_config(tmp_path, example, "--only", "env.path", "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    assert result_of(json_report(proc), "env.path")["status"] in ("ok", "warn", "fail")
