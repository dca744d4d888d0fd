"""The launch command sgdoctor guards, parsed as the server's own argparse parses it.

Which program: ``python[3] [-u …] -m sglang.launch_server``, the ``sglang serve`` console
script, ``python -m dynamo.sglang`` and ``python -m dynamo.frontend``. Commands behind
``torchrun``, ``bash -c``/``sh -c`` or another wrapper are not parsed (said so).

How: real ``argparse`` parsers are built from the mirrored option tables
(sgdoctor.parse.launch_tables) and fed the arguments in the server's own stages — SGLang's
``--config`` YAML merge, then its parser; Dynamo's worker parser, its router parser, then
SGLang's; Dynamo's frontend parser and its chat-processor leftovers — so abbreviations,
``--flag=value``, repeated flags, nargs and ``--x/--no-x`` resolve exactly as the server
resolves them (with this Python's argparse). Values are kept as strings in argparse and
converted here, so a bad value is reported rather than ending the parse; an argument the
server would refuse is reported and dropped, and parsing goes on. Nothing here blocks: the
server is the judge of its own command line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Mapping, Sequence

from sgdoctor.api import Text
from sgdoctor.parse import launch_tables as tables
from sgdoctor.parse.verdict import shown
from sgdoctor.records import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Launch", "parse_launch", "masked", "RELEASES", "INT_KEYS", "from_options",
           "numeric_reading", "flag_of"]

# The mirrored tables: consumer -> release mirrored (newest first).
RELEASES: Mapping[str, tuple[str, ...]] = {"sglang": ("0.5.23",), "dynamo": ("1.6.1",)}
UNKNOWN = "<expr>"
INT_KEYS = ("tp_size", "dp_size", "pp_size", "attn_dp_size", "nnodes", "node_rank", "port",
            "nccl_port", "base_gpu_id", "gpu_id_step", "http_port")
_PYTHON = re.compile(r"python(\d+(\.\d+)?)?\Z")
# CPython options that take a value (python -X dev -W error -m …)
_PY_VALUE_OPTS = {"-X", "-W", "--check-hash-based-pycs"}
SGLANG_MODULES = {"sglang.launch_server": "sglang.launch_server"}
DYNAMO_MODULES = {"dynamo.sglang": "dynamo.sglang", "dynamo.frontend": "dynamo.frontend"}
WRAPPERS = {"torchrun", "torch.distributed.run", "torch.distributed.launch", "bash", "sh",
            "dash", "zsh", "mpirun", "srun", "deepspeed", "accelerate", "ray"}


@dataclass
class Launch:
    """What the command line says, and what of it was not understood."""

    argv: tuple[str, ...]
    program: str | None              # sglang.launch_server, sglang serve, dynamo.sglang, …
    release: dict[str, str] = field(default_factory=dict)   # consumer -> mirrored release
    values: dict[str, Any] = field(default_factory=dict)    # dest -> value (defaults too)
    given: set[str] = field(default_factory=set)            # dests the command line set
    # What the server will refuse: its own words (verbatim), or sgdoctor's (templates).
    problems: list[str | Text] = field(default_factory=list)
    notes: list[Text] = field(default_factory=list)         # what was not judged, and why
    out_of_scope: Text | None = None  # why the command is not parsed at all

    @property
    def parsed(self) -> bool:
        return self.program is not None and self.out_of_scope is None

    def get(self, key: str, default: Any = None) -> Any:
        value = self.values.get(key, default)
        return default if value is None else value

    def options(self) -> dict[str, Any]:
        """The run plan's options for the host checks (and the mesh at launch)."""
        if not self.parsed:
            return {}
        out: dict[str, Any] = {}
        sglang = self.program != "dynamo.frontend"
        if sglang:
            for key in ("port", "nnodes", "node_rank", "nccl_port"):
                if isinstance(self.values.get(key), int):
                    out[key] = self.values[key]
            if isinstance(self.values.get("tp_size"), int):
                out["tp_size"] = self.values["tp_size"]
            for key in ("dist_init_addr", "model_path", "download_dir"):
                if isinstance(self.values.get(key), str) and self.values[key]:
                    out[key] = self.values[key]
            if self.values.get("enable_dp_attention") is True:
                out["enable_dp_attention"] = True
            device = self.values.get("disaggregation_ib_device")
            if isinstance(device, str) and device:
                out["ib_device"] = device
        return out

    def as_json(self) -> dict[str, Any]:
        keys = ("model_path", "tp_size", "dp_size", "pp_size", "attn_dp_size", "nnodes",
                "node_rank", "dist_init_addr", "host", "port", "nccl_port",
                "disaggregation_ib_device", "expert_distribution_recorder_mode",
                "base_gpu_id", "gpu_id_step", "router_mode", "http_port", "config")
        return {"program": self.program, "release": dict(self.release),
                "out_of_scope": None if self.out_of_scope is None else str(self.out_of_scope),
                "problems": [str(p) for p in self.problems],
                "notes": [str(n) for n in self.notes],
                "values": {k: self.values[k] for k in keys
                           if k in self.values and _plain(self.values[k])}}


# Option names whose values are never echoed (as sgdoctor.redact's variable names).
_SECRET = re.compile(r"PASSWORD|TOKEN|SECRET|KEY|CREDENTIAL", re.I)


def masked(tokens: Sequence[str]) -> list[str]:
    """Command-line tokens fit to print: the value of an option named like a secret
    (``--api-key X``, ``--hf-token=X``) is shown as ***."""
    out: list[str] = []
    hide_next = False
    for token in tokens:
        if hide_next and not token.startswith("-"):
            out.append("***")
            hide_next = False
            continue
        hide_next = False
        head, eq, _ = token.partition("=")
        if token.startswith("-") and _SECRET.search(head):
            out.append(f"{head}=***" if eq else token)
            hide_next = not eq
        else:
            out.append(token)
    return out


def _plain(value: Any) -> bool:
    return value is not None and value is not False and value != UNKNOWN


# --- argparse built from a table, that reports instead of exiting ------------------------

class _Refused(Exception):
    def __init__(self, message: str, argument: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.argument = argument


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # type: ignore[override]
        raise _Refused(message)

    def exit(self, status: int = 0, message: str | None = None) -> Any:  # type: ignore[override]
        raise _Refused(message or f"exit {status}")


_BUILT: dict[tuple[int, bool, int], _Parser] = {}


def _build(rows: Sequence[tuple[Any, ...]], *, add_help: bool,
           extra: Sequence[tuple[Any, ...]] = ()) -> _Parser:
    """One parser per table, built once (parsing never changes it)."""
    key = (id(rows), add_help, id(extra))
    if key not in _BUILT:
        _BUILT[key] = _make(rows, add_help=add_help, extra=extra)
    return _BUILT[key]


def _make(rows: Sequence[tuple[Any, ...]], *, add_help: bool,
          extra: Sequence[tuple[Any, ...]]) -> _Parser:
    parser = _Parser(add_help=False, allow_abbrev=True, exit_on_error=False)
    if add_help:
        parser.add_argument("-h", "--help", action="store_true", dest="help", default=False)
    for flags, dest, kind, nargs, const, default, _env in (*rows, *extra):
        strings = [f for f in flags if isinstance(f, str) and f != UNKNOWN]
        if not strings or dest == UNKNOWN:
            continue
        value = None if default == UNKNOWN else default
        kwargs: dict[str, Any] = {"dest": dest, "default": value}
        if kind == "store":
            kwargs["nargs"] = nargs
        elif kind == "append":
            kwargs.update(action="append", nargs=nargs)
        elif kind == "store_true":
            kwargs.update(action="store_true")
        elif kind == "store_false":
            kwargs.update(action="store_false")
        elif kind == "const":
            kwargs.update(action="store_const", const=const)
        elif kind == "append_const":
            kwargs.update(action="append_const", const=const)
        elif kind == "count":
            kwargs.update(action="count")
        elif kind == "bool_optional":
            kwargs.update(action=argparse.BooleanOptionalAction)
        elif kind == "help":
            kwargs.update(action="store_true", default=False)
        try:
            parser.add_argument(*strings, **kwargs)
        except (argparse.ArgumentError, ValueError, TypeError):
            continue
    return parser


def _resolves_to(parser: _Parser, token: str, argument: str) -> bool:
    """Whether ``token`` names the option whose display name is ``argument``."""
    names = set(argument.split("/"))
    head = token.split("=", 1)[0] if token.startswith("--") else token
    if head in names:
        return True
    if token.startswith("--"):
        matches = [s for s in parser._option_string_actions if s.startswith(head)]
        actions = {id(parser._option_string_actions[m]) for m in matches}
        return len(actions) == 1 and bool(names & set(matches))
    return False


def _culprit(parser: _Parser, tokens: list[str], refused: _Refused) -> int | None:
    """The token the parser refused: the ambiguous one, or one occurrence of the option it
    names whose removal makes that refusal go away."""
    found = re.match(r"ambiguous option: (\S+?)(=\S*)? could match", refused.message)
    if found:
        return next((i for i, t in enumerate(tokens)
                     if t == found.group(1) or t.startswith(found.group(1) + "=")), None)
    if not refused.argument:
        return None
    for i, token in enumerate(tokens):
        if not token.startswith("-") or not _resolves_to(parser, token, refused.argument):
            continue
        try:
            parser.parse_known_args(tokens[:i] + tokens[i + 1:])
            return i
        except argparse.ArgumentError as exc:
            if str(exc) != refused.message:
                return i
        except _Refused as exc:
            if exc.message != refused.message:
                return i
    return None


def _tolerant(parser: _Parser, argv: Sequence[str],
              problems: list[str | Text]) -> tuple[dict[str, Any], list[str], set[str]]:
    """parse_known_args that drops what it refuses (reporting it) and goes on."""
    tokens = list(argv)
    for _ in range(len(tokens) + 1):
        try:
            namespace, extras = parser.parse_known_args(tokens)
            given = _given(parser, tokens)
            return vars(namespace), extras, given
        except argparse.ArgumentError as exc:
            refused = _Refused(str(exc), exc.argument_name)
        except _Refused as exc:
            refused = exc
        index = _culprit(parser, tokens, refused)
        secret = index is not None and _SECRET.search(tokens[index].split("=", 1)[0])
        problems.append(re.sub(r"explicit argument .*", "explicit argument '***'",
                               refused.message) if secret else refused.message)
        if index is None:
            break
        del tokens[index]
    namespace, _ = parser.parse_known_args([])
    return vars(namespace), [], set()


def _given(parser: _Parser, tokens: Sequence[str]) -> set[str]:
    """Dests the tokens set (for 'was this said, or is it the default')."""
    given = set()
    strings = parser._option_string_actions
    for token in tokens:
        if token == "--":
            break
        if not token.startswith("-"):
            continue
        head = token.split("=", 1)[0]
        action = strings.get(head)
        if action is None and head.startswith("--"):
            hits = {id(strings[s]): strings[s] for s in strings if s.startswith(head)}
            action = next(iter(hits.values())) if len(hits) == 1 else None
        if action is not None:
            given.add(action.dest)
    return given


# --- SGLang's --config YAML (srt/utils/server_args_config_parser.py) ---------------------

def _config_keys(action: argparse.Action) -> set[str]:
    return {action.dest} | {o[2:].replace("-", "_") for o in action.option_strings
                            if o.startswith("--")}


def _merge_config(parser: _Parser, argv: list[str], problems: list[str | Text],
                  notes: list[Text], read_file: Any) -> list[str]:
    """ConfigArgumentMerger.merge_config_with_args, as SGLang 0.5.23 runs it: only an exact
    ``--config`` token (``--config=FILE`` is stored and ignored), one of them, a .yaml/.yml
    file holding a mapping; its options go before the command line's (the command wins)."""
    if "--config" not in argv:
        if any(t.startswith("--config=") for t in argv):
            notes.append(Text("--config=FILE is not read by SGLang (only `--config FILE` is): "
                              "its options are ignored"))
        return argv
    indices = [i for i, t in enumerate(argv) if t == "--config"]
    if len(indices) > 1:
        problems.append("Multiple config files specified! Only one allowed.")
        return argv
    index = indices[0]
    if index == len(argv) - 1:
        problems.append("No config file specified after --config flag!")
        return argv
    path = argv[index + 1]
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".yaml", ".yml"):
        problems.append(f"Config file must be YAML format, got: {suffix}")
        return argv
    try:
        data = read_file(path)
    except FileNotFoundError:
        problems.append(f"Config file not found: {path}")
        return argv
    except ImportError:
        notes.append(Text("--config {path}: PyYAML is not installed beside sgdoctor, so the "
                          "file's options were not read", path=shown(path, 200)))
        return argv
    except (OSError, ValueError) as exc:
        problems.append(Text("cannot read the config file {path}: {error}",
                             path=shown(path, 200), error=str(exc)))
        return argv
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append("Config file must contain a dictionary at root level")
        return argv
    store_true = {k for a in parser._actions if isinstance(a, argparse._StoreTrueAction)
                  for k in _config_keys(a)}
    supported = [a for a in parser._actions
                 if isinstance(a, (argparse._StoreTrueAction, argparse._StoreAction))
                 or a.nargs is None]
    supported_keys = {k for a in supported for k in _config_keys(a)}
    unsupported = {k: a for a in parser._actions if a.option_strings and a not in supported
                   and "--config" not in a.option_strings and "--help" not in a.option_strings
                   for k in _config_keys(a) if k not in supported_keys}
    extra: list[str] = []
    for key, value in data.items():
        key = str(key)
        norm = key.replace("-", "_")
        if norm in unsupported:
            problems.append(f"Unsupported config option '{norm}' with action "
                            f"'{type(unsupported[norm]).__name__}'")
            return argv
        if isinstance(value, bool):
            if norm in store_true:
                extra += [f"--{key}"] if value else []
            else:
                extra += [f"--{key}", str(value).lower()]
        elif isinstance(value, list):
            if value:
                extra += [f"--{key}", *(str(v) for v in value)]
        elif isinstance(value, dict):
            extra += [f"--{key}", json.dumps(value)]
        else:
            extra += [f"--{key}", str(value)]
    return extra + argv[:index] + argv[index + 2:]


def _read_yaml(path: str) -> Any:
    import yaml

    with open(path, encoding="utf-8") as fh:
        try:
            return yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise ValueError(str(exc).replace("\n", " ")) from None


# --- which program --------------------------------------------------------------------

def _program(argv: Sequence[str]) -> tuple[str | None, list[str], Text | None]:
    """(program, its own arguments, why it is out of scope)."""
    words = list(argv)
    while words and os.path.basename(words[0]) == "env":
        words = words[1:]
        while words and ("=" in words[0] and not words[0].startswith("-")
                         or words[0] in ("-i", "-")):
            words = words[1:]
    if not words:
        return None, [], Text("no command")
    name = os.path.basename(words[0])
    if name in WRAPPERS:
        return None, [], Text("the command runs through {name}: sgdoctor parses SGLang and "
                              "Dynamo launch commands given directly, not behind torchrun or "
                              "a shell", name=name)
    if name == "sglang":
        rest = words[1:]
        if rest and rest[0] == "serve":
            return "sglang serve", rest[1:], None
        return None, [], Text("`sglang` without `serve` starts no server")
    if _PYTHON.match(name):
        rest = words[1:]
        while rest:
            word = rest[0]
            if word == "-m" or (word.startswith("-m") and len(word) > 2):
                module = rest[1] if word == "-m" and len(rest) > 1 else word[2:]
                args = rest[2:] if word == "-m" else rest[1:]
                if module in SGLANG_MODULES or module in DYNAMO_MODULES:
                    return module, args, None
                if module in WRAPPERS:
                    return None, [], Text("the command runs through {name}: sgdoctor parses "
                                          "SGLang and Dynamo launch commands given directly",
                                          name=module)
                return None, [], Text("python -m {module} is not a launch sgdoctor knows",
                                      module=module)
            if word == "-c" or word.startswith("-c"):
                return None, [], Text("python -c runs inline code: not a launch sgdoctor "
                                      "parses")
            if word in _PY_VALUE_OPTS:
                rest = rest[2:]
                continue
            if word.startswith("-"):
                rest = rest[1:]
                continue
            script = word.replace("\\", "/")
            for module in (*SGLANG_MODULES, *DYNAMO_MODULES):
                tail = module.replace(".", "/")
                if script.endswith(tail + ".py") or script.endswith(tail + "/__main__.py"):
                    return module, rest[1:], None
            return None, [], Text("{script} is not a launch sgdoctor knows",
                                  script=os.path.basename(script))
        return None, [], Text("python without a module starts no server")
    return None, [], Text("{name} is not a launch sgdoctor knows (SGLang or Dynamo)", name=name)


# --- the stages of each program --------------------------------------------------------

_COMPAT = ((("--disable-piecewise-cuda-graph",), "cuda_graph_backend_prefill", "const", None,
            "disabled", UNKNOWN, None),)


def _env_defaults(rows: Sequence[tuple[Any, ...]], values: dict[str, Any], given: set[str],
                  env: Mapping[str, str]) -> None:
    """Dynamo's options default to their environment variables (env_or_default)."""
    for _flags, dest, kind, _nargs, _const, _default, var in rows:
        if not isinstance(var, str) or var == UNKNOWN or dest in given or var not in env:
            continue
        raw = env[var]
        if kind == "bool_optional":
            values[dest] = raw.strip().lower() in ("true", "1", "yes", "on")
        else:
            values[dest] = raw


def _sglang_stage(launch: Launch, argv: list[str], read_file: Any) -> None:
    parser = _build(tables.SGLANG_0_5_23, add_help=launch.program != "dynamo.sglang",
                    extra=_COMPAT if launch.program == "dynamo.sglang" else ())
    argv = _merge_config(parser, argv, launch.problems, launch.notes, read_file)
    values, extras, given = _tolerant(parser, argv, launch.problems)
    if extras:
        launch.problems.append("unrecognized arguments: " + " ".join(masked(extras)))
    launch.values.update(values)
    launch.given |= given


def parse_launch(argv: Sequence[str], env: Mapping[str, str] | None = None, *,
                 releases: Mapping[str, str | None] | None = None,
                 read_file: Any = _read_yaml) -> Launch:
    """Parse ``argv`` (exec's COMMAND). ``releases``: consumer -> version found (or None)."""
    env = env or {}
    program, args, why = _program(argv)
    launch = Launch(tuple(argv), program, out_of_scope=why)
    if program is None:
        return launch
    found = releases or {}
    for consumer in (("sglang",) if program.startswith("sglang") else
                     ("dynamo",) if program == "dynamo.frontend" else ("dynamo", "sglang")):
        mirrored = RELEASES[consumer][0]
        version = found.get(consumer)
        launch.release[consumer] = mirrored
        if version is None:
            launch.notes.append(Text("no {consumer} release found in the server's environment: "
                                     "parsed with {consumer} {mirrored}'s options (the newest "
                                     "mirrored)", consumer=consumer, mirrored=mirrored))
        elif version != mirrored:
            launch.notes.append(Text("{consumer} {version} is installed; its options are "
                                     "parsed with {consumer} {mirrored}'s (the newest "
                                     "mirrored)", consumer=consumer, version=shown(version, 40),
                                     mirrored=mirrored))
    args = list(args)
    if program == "sglang serve":
        _serve(launch, args, read_file)
    elif program == "sglang.launch_server":
        _sglang_stage(launch, args, read_file)
    elif program == "dynamo.sglang":
        _worker(launch, args, env, read_file)
    else:
        _frontend(launch, args, env)
    _convert(launch)
    if launch.values.get("help") or launch.values.get("version"):
        launch.problems.append(Text("--help/--version: the server prints and exits, it does "
                                    "not serve"))
    return launch


def _serve(launch: Launch, args: list[str], read_file: Any) -> None:
    """sglang.cli.serve: --model-type is taken out, a leading positional is the model."""
    kept: list[str] = []
    i = 0
    while i < len(args):
        if args[i] == "--model-type":
            if i + 1 >= len(args):
                launch.problems.append("Error: --model-type requires a value.")
                i += 1
                continue
            i += 2
            continue
        if args[i].startswith("--model-type="):
            i += 1
            continue
        kept.append(args[i])
        i += 1
    if kept and not kept[0].startswith("-"):
        kept = ["--model-path", kept[0], *kept[1:]]
    _sglang_stage(launch, kept, read_file)


def _worker(launch: Launch, args: list[str], env: Mapping[str, str], read_file: Any) -> None:
    """dynamo.sglang.args.parse_args: Dynamo's parser (known args), the router parser (known
    args), then SGLang's parser (all the rest, strict)."""
    first = _build(tables.DYNAMO_1_6_1_WORKER, add_help=True)
    values, rest, given = _tolerant(first, args, launch.problems)
    _env_defaults(tables.DYNAMO_1_6_1_WORKER, values, given, env)
    router = _build(tables.DYNAMO_1_6_1_WORKER_ROUTER, add_help=False)
    router_values, rest, router_given = _tolerant(router, rest, launch.problems)
    _env_defaults(tables.DYNAMO_1_6_1_WORKER_ROUTER, router_values, router_given, env)
    launch.values.update({f"dynamo.{k}": v for k, v in values.items()})
    launch.values.update({f"router.{k}": v for k, v in router_values.items()})
    if values.get("disagg_config") and values.get("disagg_config_key"):
        launch.notes.append(Text("--disagg-config sections are not read: their SGLang "
                                 "options are not judged"))
    _sglang_stage(launch, rest, read_file)
    launch.given |= {f"dynamo.{k}" for k in given}


def _frontend(launch: Launch, args: list[str], env: Mapping[str, str]) -> None:
    """dynamo.frontend.main.parse_args: its parser (known args); the leftovers must be the
    chat processor's (sglang: three flags; vllm: vLLM's parser, not mirrored)."""
    parser = _build(tables.DYNAMO_1_6_1_FRONTEND, add_help=True)
    values, rest, given = _tolerant(parser, args, launch.problems)
    _env_defaults(tables.DYNAMO_1_6_1_FRONTEND, values, given, env)
    launch.values.update(values)
    launch.given |= given
    processor = values.get("chat_processor")
    if processor == "vllm":
        if rest:
            launch.notes.append(Text("--chat-processor vllm: the leftover arguments go to "
                                     "vLLM's parser, which sgdoctor does not mirror"))
        return
    if processor == "sglang":
        extra = _Parser(add_help=False, exit_on_error=False)
        for flag in ("--tool-call-parser", "--reasoning-parser", "--chat-template"):
            extra.add_argument(flag, default=None)
        more, rest, _ = _tolerant(extra, rest, launch.problems)
        launch.values.update({k: v for k, v in more.items() if v is not None})
    if rest:
        launch.problems.append(f"Unknown arguments specified: {masked(rest)}")


def _convert(launch: Launch) -> None:
    """int options as the server's ``type=int`` converts them (a refusal is a problem)."""
    for key in INT_KEYS:
        value = launch.values.get(key)
        if value is None or isinstance(value, int):
            continue
        text = str(value)
        try:
            launch.values[key] = int(text)
        except ValueError:
            launch.problems.append(f"argument {flag_of(key)}: invalid int value: {text!r}")
            launch.values[key] = None


def from_options(options: Mapping[str, Any]) -> Launch | None:
    """The parsed launch the CLI put into the run's options (``launch``), if any."""
    launch = options.get("launch")
    return launch if isinstance(launch, Launch) else None


def numeric_reading(host: str) -> str | None:
    """The IPv4 address getaddrinfo reads a non-dotted-quad numeric name as (``12345`` is
    0.0.48.57, ``10.1`` is 10.0.0.1, ``0x7f.1`` is 127.0.0.1); None for a dotted quad or a
    real name. inet_aton is a pure conversion: no lookup."""
    import ipaddress
    import socket

    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def flag_of(dest: str) -> str:
    """The option string SGLang's help shows for ``dest`` (``tp_size`` -> ``--tp-size``)."""
    for flags, row_dest, *_ in tables.SGLANG_0_5_23:
        if row_dest == dest:
            return str(flags[0])
    return "--" + dest.replace("_", "-")
