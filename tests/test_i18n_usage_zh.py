"""Usage errors (exit 2, one `sgdoctor: …` line on stderr) in the run's language: what --lang
names, else the locale's — also when --lang itself or the config is what is wrong."""

from __future__ import annotations

from conftest import run_cli

ZH = {"LANG": "zh_CN.UTF-8"}


def usage(args: list[str], env: dict[str, str] | None = None, code: int = 2) -> str:
    proc = run_cli(args, env)
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    return proc.stderr


def test_lang_flag_makes_the_usage_error_chinese():
    err = usage(["--lang", "zh", "--format", "bogus"])
    assert err == ("sgdoctor: 错误：--format 'bogus'：请从 table, json, prometheus, junit, "
                   "nagios 中选择\n")


def test_the_locale_speaks_when_lang_is_not_given_or_unknown():
    assert usage(["--timeout", "0"], ZH) == "sgdoctor: 错误：--timeout 必须大于零\n"
    assert usage(["--lang", "fr"], ZH) == "sgdoctor: 错误：--lang 'fr'：请选择 en 或 zh\n"
    assert usage(["--lang", "fr"]) == "sgdoctor: error: --lang 'fr': choose en or zh\n"


def test_lang_en_beats_a_chinese_locale():
    err = usage(["--lang", "en", "--only", "gloo.interfac"], ZH)
    assert err == ("sgdoctor: error: --only 'gloo.interfac' matches no check (did you mean "
                   "gloo.interface?) (see `sgdoctor list`)\n")


def test_did_you_mean_and_the_check_id_stay_verbatim_in_chinese():
    err = usage(["--only", "gloo.interfac"], ZH)
    assert err == ("sgdoctor: 错误：--only 'gloo.interfac' 没有匹配任何检查项（是不是想输入 "
                   "gloo.interface？）（参见 `sgdoctor list`）\n")


def test_config_errors_in_chinese(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("format = \n")
    err = usage(["--config", str(bad)], ZH)
    assert err.startswith(f"sgdoctor: 错误：配置文件 {bad} 不是有效的 TOML："), err
    setting = tmp_path / "setting.toml"
    setting.write_text('[checks."gloo.interface"]\ntimeout = "soon"\n')
    err = usage(["--config", str(setting), "--lang", "zh"])
    assert err == ('sgdoctor: 错误：[checks."gloo.interface"] timeout = \'soon\'：应为数字\n'), err
    (tmp_path / "dir.toml").mkdir()
    err = usage(["--config", str(tmp_path / "dir.toml")], ZH)
    assert err == f"sgdoctor: 错误：配置文件 {tmp_path}/dir.toml 是目录，不是普通文件\n"


def test_nagios_usage_error_in_chinese_is_unknown_with_a_status_line():
    proc = run_cli(["--format", "nagios", "--lang", "zh", "--only", "nosuch.check"])
    assert proc.returncode == 3
    assert proc.stdout == ("SGDOCTOR UNKNOWN - 用法错误：--only 'nosuch.check' 没有匹配任何检查项"
                           "（参见 `sgdoctor list`）\n")
    assert proc.stderr.startswith("sgdoctor: 错误：--only 'nosuch.check'")


def test_hoisted_option_error_in_chinese():
    err = usage(["--deep", "list"], ZH)
    assert err == ("sgdoctor: 错误：--deep 不是 `sgdoctor list` 的选项（参见 `sgdoctor list "
                   "--help`）；检查相关的选项应放在 `sgdoctor` 或 `sgdoctor check` 之后\n")


def test_clicks_own_usage_errors_in_chinese_and_unchanged_in_english():
    assert usage(["--formt", "json"], ZH) == \
        "sgdoctor: 错误：没有选项 --formt（可用的选项：--format）\n"
    assert usage(["--format"], ZH) == "sgdoctor: 错误：选项 '--format' 需要一个参数。\n"
    assert usage(["explain"], ZH) == "sgdoctor: 错误：缺少参数 'name'。\n"
    assert usage(["list", "extra"], ZH) == "sgdoctor: 错误：有多余的参数（extra）\n"
    assert usage(["--formt", "json"]) == \
        "sgdoctor: error: No such option: --formt (Possible options: --format)\n"


def test_plugin_and_output_errors_in_chinese(tmp_path):
    not_a_dir = tmp_path / "checks.txt"
    not_a_dir.write_text("")
    assert usage(["--checks-dir", str(not_a_dir)], ZH) == \
        f"sgdoctor: 错误：检查目录 {not_a_dir} 不是目录\n"
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "broken.py").write_text("raise RuntimeError('boom')\n")
    err = usage(["--checks-dir", str(tmp_path / "plugins")], ZH)
    assert err.startswith("sgdoctor: 错误：检查模块 ") and \
        err.endswith("broken.py 导入失败：RuntimeError: boom\n"), err
    out = tmp_path / "missing-dir" / "report.json"
    err = usage(["--only", "launch.command", "--output", str(out)], ZH)
    assert err.startswith(f"sgdoctor: 错误：无法写入 {out}："), err


def test_mesh_usage_errors_follow_lang_and_locale():
    args = ["mesh", "--group", "g", "--expect", "0"]
    assert usage([*args, "--lang", "zh"]) == \
        "sgdoctor: 错误：--expect 0：请给出节点数（1 到 4096）\n"
    assert usage(["mesh", "--group", "bad group!", "--expect", "2"], ZH).startswith(
        "sgdoctor: 错误：--group 'bad group!' 必须是 1-128 个字符")
    assert usage(args) == "sgdoctor: error: --expect 0: give the number of nodes (1 to 4096)\n"


def test_exec_mesh_without_a_group_is_chinese():
    err = usage(["exec", "--lang", "zh", "--mesh", "--", "python3", "-m",
                 "sglang.launch_server", "--model-path", "/m", "--nnodes", "2",
                 "--node-rank", "1"])
    assert err == ("sgdoctor: 错误：--mesh 需要 --mesh-group NAME（启动命令没有 "
                   "--dist-init-addr）\n")


def test_list_titles_in_chinese():
    proc = run_cli(["list", "--lang", "zh"])
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.startswith("etcd.endpoints "))
    assert "(内置)" in row and "ETCD_ENDPOINTS" in row
    assert any("\u4e00" <= ch <= "\u9fff" for ch in row.split("[")[0]), row
    english = run_cli(["list"]).stdout
    assert "(built-in)" in english
