"""The launch parser on real command lines: entry points, argparse's rules, SGLang's
--config YAML, Dynamo's parser stages and environment defaults; never an exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgdoctor.parse.launch import numeric_reading, parse_launch

SERVER = ["python3", "-m", "sglang.launch_server"]


def test_entry_points():
    assert parse_launch(SERVER).program == "sglang.launch_server"
    assert parse_launch(["/usr/bin/python3.11", "-u", "-X", "dev", "-m",
                         "sglang.launch_server"]).program == "sglang.launch_server"
    assert parse_launch(["env", "A=1", "python", "-m", "dynamo.sglang"]).program == \
        "dynamo.sglang"
    assert parse_launch(["python", "/opt/venv/lib/python3.11/site-packages/sglang/"
                         "launch_server.py"]).program == "sglang.launch_server"
    serve = parse_launch(["sglang", "serve", "Qwen/Qwen3-8B", "--model-type", "llm",
                          "--tp", "2"])
    assert serve.program == "sglang serve" and serve.values["model_path"] == "Qwen/Qwen3-8B"
    assert serve.values["tp_size"] == 2 and not serve.problems
    for argv, word in ((["torchrun", "--nproc-per-node", "8", "-m", "sglang.launch_server"],
                        "torchrun"), (["bash", "-c", "python -m sglang.launch_server"], "bash"),
                       (["python", "-m", "torch.distributed.run", "x"], "torch.distributed"),
                       (["python", "-c", "print(1)"], "-c"), (["nginx"], "nginx")):
        launch = parse_launch(argv)
        assert not launch.parsed and word in str(launch.out_of_scope or ""), argv
        assert launch.options() == {}


def test_argparse_forms():
    v = parse_launch([*SERVER, "--model-path=/m", "--tp", "2", "--tp-size", "4",
                      "--nnodes=2", "--node-rank", "1", "--nccl-init-addr", "10.0.0.1:5000",
                      "--enable-dp-attention", "--port", "31000"]).values
    assert v["model_path"] == "/m" and v["tp_size"] == 4          # the last repeat wins
    assert v["nnodes"] == 2 and v["node_rank"] == 1
    assert v["dist_init_addr"] == "10.0.0.1:5000"                 # the alias's dest
    assert v["enable_dp_attention"] is True and v["port"] == 31000
    assert parse_launch([*SERVER, "--tensor-parallel-size", "8"]).values["tp_size"] == 8


def test_what_the_server_refuses_is_reported_and_parsing_goes_on():
    launch = parse_launch([*SERVER, "--tp-size", "--nnodes", "2", "--bogus", "x", "--h",
                           "--port", "abc", "--enable-dp-attention=yes", "--model", "/m"])
    problems = "\n".join(launch.problems)
    assert "argument --tp-size/--tensor-parallel-size: expected one argument" in problems
    assert "ambiguous option: --h could match --help" in problems
    assert "ignored explicit argument 'yes'" in problems
    assert "argument --port: invalid int value: 'abc'" in problems
    assert "unrecognized arguments: --bogus x" in problems
    assert launch.values["nnodes"] == 2 and launch.values["model_path"] == "/m"
    assert launch.values["port"] is None and "port" not in launch.options()


def test_secrets_on_the_command_line_are_never_echoed():
    launch = parse_launch([*SERVER, "--api-keyy", "s3cr3t-value", "--hf-token=tok-123",
                           "--dyn-secret", "x9y8", "--enable-dp-attention", "--tp", "2"])
    text = repr(launch.problems) + repr(launch.as_json())
    assert "unrecognized arguments: --api-keyy *** --hf-token=*** --dyn-secret ***" in text
    for secret in ("s3cr3t-value", "tok-123", "x9y8"):
        assert secret not in text
    front = parse_launch(["python", "-m", "dynamo.frontend", "--nats-token", "pw-42"])
    assert "pw-42" not in repr(front.problems) and "'***'" in repr(front.problems)


def test_help_is_said_not_run():
    launch = parse_launch([*SERVER, "--help"])
    assert any("prints and exits" in p for p in map(str, launch.problems))


def test_config_yaml_merges_under_the_command_line(tmp_path):
    config = tmp_path / "server.yaml"
    config.write_text("model-path: /from/yaml\ntp_size: 4\nnnodes: 2\n"
                      "trust_remote_code: false\n")
    v = parse_launch([*SERVER, "--config", str(config), "--tp", "8"]).values
    assert v["model_path"] == "/from/yaml" and v["nnodes"] == 2
    assert v["tp_size"] == 8                     # the command line beats the file
    assert v["trust_remote_code"] is False
    ignored = parse_launch([*SERVER, f"--config={config}"])
    assert ignored.values["model_path"] is None
    assert any("--config=FILE is not read" in n for n in map(str, ignored.notes))
    bad = tmp_path / "server.json"
    bad.write_text("{}")
    assert "Config file must be YAML format, got: .json" in \
        parse_launch([*SERVER, "--config", str(bad)]).problems
    assert any("Config file not found" in p for p in
               parse_launch([*SERVER, "--config", str(tmp_path / "no.yaml")]).problems)
    # a deprecated flag's action takes no value and is not store_true: SGLang refuses it
    deprecated = tmp_path / "dp.yaml"
    deprecated.write_text("enable-dp-attention: true\n")
    refused = parse_launch([*SERVER, "--config", str(deprecated)]).problems
    assert any("Unsupported config option 'enable_dp_attention'" in p for p in refused)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    assert "Config file must contain a dictionary at root level" in \
        parse_launch([*SERVER, "--config", str(listed)]).problems


def test_dynamo_worker_stages_and_environment_defaults():
    launch = parse_launch(["python", "-m", "dynamo.sglang", "--model-path", "/m", "--tp", "4",
                           "--router-mode", "kv", "--disaggregation-ib-device", "mlx5_0",
                           "--namespace", "prod"], {"DYN_EVENT_PLANE": "nats"})
    assert launch.values["router.router_mode"] == "kv"          # the router parser's
    assert launch.values["dynamo.namespace"] == "prod"
    assert launch.values["dynamo.event_plane"] == "nats"        # DYN_EVENT_PLANE default
    assert launch.values["tp_size"] == 4 and not launch.problems
    assert launch.options()["ib_device"] == "mlx5_0"
    assert launch.release == {"dynamo": "1.6.1", "sglang": "0.5.23"}


def test_dynamo_frontend():
    launch = parse_launch(["python", "-m", "dynamo.frontend", "--http-port", "8080"],
                          {"DYN_ROUTER_MODE": "kv"})
    assert launch.values["router_mode"] == "kv" and launch.values["http_port"] == 8080
    flag = parse_launch(["python", "-m", "dynamo.frontend", "--router-mode", "random"],
                        {"DYN_ROUTER_MODE": "kv"})
    assert flag.values["router_mode"] == "random"                # the flag beats the env
    extra = parse_launch(["python", "-m", "dynamo.frontend", "--tp", "2"])
    assert "Unknown arguments specified: ['--tp', '2']" in extra.problems
    sg = parse_launch(["python", "-m", "dynamo.frontend", "--dyn-chat-processor", "sglang",
                       "--chat-template", "t.jinja"])
    assert not sg.problems and sg.values["chat_template"] == "t.jinja"


def test_release_found_or_assumed_is_said():
    assert any("no sglang release found" in n for n in map(str, parse_launch(SERVER).notes))
    newer = parse_launch(SERVER, releases={"sglang": "0.6.0"})
    assert any("sglang 0.6.0 is installed" in n for n in map(str, newer.notes))
    assert not parse_launch(SERVER, releases={"sglang": "0.5.23"}).notes


@pytest.mark.parametrize("host,reading", [("12345", "0.0.48.57"), ("10.1", "10.0.0.1"),
                                          ("0x7f.1", "127.0.0.1"), ("10.0.0.1", None),
                                          ("node-0", None), ("::1", None)])
def test_numeric_hostnames(host, reading):
    assert numeric_reading(host) == reading


WORDS = st.sampled_from(["--tp", "--tp-size", "2", "--", "-", "--nnodes=", "--h", "=", "-x",
                         "--config", "--node-rank", "--no-", "\0", "é", "--dist-init-addr",
                         "--model", "-m", "--enable-dp-attention=1", "--port", "99999"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(WORDS, st.text(max_size=12)), max_size=12))
def test_any_command_line_parses_without_an_exception(words):
    for head in (SERVER, ["python", "-m", "dynamo.sglang"], ["python", "-m", "dynamo.frontend"],
                 ["sglang", "serve"]):
        launch = parse_launch([*head, *words])
        assert launch.parsed
        launch.options()
        launch.as_json()
