"""Boolean-ish flags, each parsed the way its own reader parses it.

The same text means different things to different readers: ``0`` ENABLES a flag that
mcTriton tests with Python truthiness, and ``0`` DISABLES prefetch when mcTriton only asks
whether the variable exists. These parsers say which, per reader.
"""

from __future__ import annotations

import re

from sgdoctor.api import Text
from sgdoctor.parse.verdict import Verdict, fail, ok, shown, warn

__all__ = [
    "c10d_bool", "c10_check_env", "presence_flag", "python_truthy_flag", "metax_flag",
    "metax_int", "not_read", "metax_presence_suspect", "torch_compile_disable",
    "torchdynamo_disable", "FALSE_LOOKING", "TORCH_VERIFIED",
]

# Values a person writes when they mean "off"; used to spot flags that read them as "on".
FALSE_LOOKING = frozenset({"0", "false", "no", "n", "f", "off", "disable", "disabled", "none"})

_PYTORCH_TRUE = frozenset({"y", "yes", "1", "t", "true"})
_PYTORCH_FALSE = frozenset({"n", "no", "0", "f", "false"})


def c10d_bool(text: str) -> Verdict:
    """c10d's ``getCvarBool`` (TORCH_NCCL_* and friends): y|yes|1|t|true / n|no|0|f|false,
    case-insensitive; anything else raises when PyTorch reads it."""
    low = text.lower()
    if low in _PYTORCH_TRUE:
        return ok(Text("enabled (c10d reads this as true)"), True)
    if low in _PYTORCH_FALSE:
        return ok(Text("disabled (c10d reads this as false)"), False)
    return fail(Text("'{value}' is not a c10d boolean: PyTorch raises when it reads it",
                     value=shown(text)),
                Text("Use 1 or 0 (accepted: y, yes, 1, t, true, n, no, 0, f, false)"))


def c10_check_env(text: str) -> Verdict:
    """c10's ``check_env`` (c10/util/env.cpp): only 0 and 1; anything else is a warning in
    PyTorch's log and counts as unset."""
    if text in ("0", "1"):
        return ok(Text("enabled (c10 reads only 0 and 1)") if text == "1"
                  else Text("disabled (c10 reads only 0 and 1)"), text == "1")
    return warn(Text("'{value}' is neither 0 nor 1: c10 warns and uses the default",
                     value=shown(text)), Text("Use exactly 1 or 0"), None)


def presence_flag(text: str, *, what: Text) -> Verdict:
    """``getenv(name) != nullptr``: ANY value, even 0 or empty, turns the switch on."""
    if text.strip().lower() in FALSE_LOOKING or not text.strip():
        return warn(Text("{what} anyway: only the variable's presence is tested, so '{value}' "
                         "counts as set", what=what, value=shown(text)),
                    Text("Unset the variable (remove it from the image or the launch script): "
                         "no value turns this off"), True)
    return ok(what, True)


def python_truthy_flag(text: str, *, what: Text) -> Verdict:
    """``if os.getenv(name):``: every non-empty string is true, ``0`` and ``false`` too."""
    if not text:
        return ok(Text("off: the empty string is false in Python"), False)
    if text.strip().lower() in FALSE_LOOKING:
        return warn(Text("{what}: Python treats every non-empty string as true, so '{value}' "
                         "ENABLES it", what=what, value=shown(text)),
                    Text("Unset the variable (or set it to the empty string) to turn it off; "
                         "set 1 to turn it on"), True)
    return ok(what, True)


# Up to 9 digits: fits the C int a closed-source reader most likely converts to.
_INT = re.compile(r"[+-]?[0-9]{1,9}\Z")
# Exactly as seen in MetaX's configs: no other spelling is claimed to work.
_METAX_BOOL = {"1": True, "0": False, "True": True, "False": False}


def metax_flag(text: str, *, what: Text) -> Verdict:
    """Closed-source MetaX switches: accept the shapes seen in MetaX's own configs (1, 0,
    True, False, integers) and claim nothing about semantics beyond that."""
    if text in _METAX_BOOL:
        return ok(Text("{what}: on (the reader is closed source; UNCONFIRMED)"
                       if _METAX_BOOL[text] else
                       "{what}: off (the reader is closed source; UNCONFIRMED)", what=what),
                  _METAX_BOOL[text])
    if _INT.match(text):
        return ok(Text("{what}: {number} (the reader is closed source; UNCONFIRMED)", what=what,
                       number=int(text)), int(text))
    return warn(Text("'{value}' is not a shape seen in MetaX's configs (1, 0, True, False or an "
                     "integer); how the closed-source reader takes it is unknown",
                     value=shown(text)), Text("Use 1 to enable or 0 to disable"), None)


def metax_int(text: str, *, what: Text, seen: tuple[int, ...] = ()) -> Verdict:
    """Integer settings of closed-source MetaX code (queue policies)."""
    listed = ", ".join(str(s) for s in seen)
    if not _INT.match(text):
        return warn(Text("'{value}' is not an integer; the closed-source reader's handling of "
                         "it is unknown", value=shown(text)),
                    Text("Use an integer ({seen} is the value MetaX uses)", seen=listed) if seen
                    else Text("Use an integer"), None)
    number = int(text)
    if seen and number not in seen:
        return ok(Text("{what} {number} (closed source; UNCONFIRMED; only {seen} seen in MetaX "
                       "configs)", what=what, number=number, seen=listed), number)
    return ok(Text("{what} {number} (closed source; UNCONFIRMED)", what=what, number=number),
              number)


def not_read(text: str, *, instead: str, reader: str) -> Verdict:
    """A name its supposed reader never reads: no value changes anything."""
    return warn(Text("{reader} does not read this variable, so '{value}' has no effect",
                     reader=reader, value=shown(text)),
                Text("Remove it; {instead} is the switch {reader} reads", instead=instead,
                     reader=reader), None)


def metax_presence_suspect(text: str) -> Verdict:
    """A PYTORCH_* flag of mcPytorch whose reader is not public; its siblings are read by
    presence (``getenv != nullptr``), so a false-looking value may turn it ON."""
    if text.strip().lower() in FALSE_LOOKING or not text.strip():
        return warn(Text("'{value}' may ENABLE it: mcPytorch reads its other PYTORCH_* flags "
                         "by presence, so any value counts as set (UNCONFIRMED: the reader of "
                         "this one is not public)", value=shown(text)),
                    Text("Unset the variable to keep it off; set 1 to turn it on"), None)
    if text == "1":
        return ok(Text("enabled (reader not public; UNCONFIRMED)"), True)
    return warn(Text("'{value}' is not 1: whether the non-public reader takes it is unknown "
                     "(UNCONFIRMED)", value=shown(text)),
                Text("Set 1 to turn it on, or unset it"), None)


TORCH_VERIFIED = "2.13"  # the PyTorch release the rules below were verified against


def _torch_release(release: str | None) -> str | Text:
    return (f"PyTorch {release}" if release
            else Text("assumed PyTorch {release}: no installed torch was found",
                      release=TORCH_VERIFIED))


def _older_than_2_13(release: str | None) -> bool:
    if not release:
        return False
    match = re.match(r"(\d+)\.(\d+)", release)
    if match is None:
        return False
    return (int(match[1]), int(match[2])) < (2, 13)


def torch_compile_disable(text: str, release: str | None = None) -> Verdict:
    """TORCH_COMPILE_DISABLE (``torch/_dynamo/config.py``): 2.13 disables for exactly ``1``;
    older releases (the boundary is UNCONFIRMED) for any non-empty value, ``0`` included."""
    where = _torch_release(release)
    value = shown(text)
    if text == "1":
        return ok(Text("torch.compile disabled ({where}; every release)", where=where), True)
    if not text:
        return ok(Text("not disabled: the value is empty ({where}; every release)", where=where),
                  False)
    if _older_than_2_13(release):
        return warn(Text("'{value}' may DISABLE torch.compile in {where}: releases before 2.13 "
                         "(boundary UNCONFIRMED) disable it for any non-empty value",
                         value=value, where=where),
                    Text("Set exactly 1 to disable, or unset the variable to keep "
                         "torch.compile"), None)
    if text.strip().lower() in FALSE_LOOKING:
        if release:
            return ok(Text("not disabled ({where}: only exactly 1 disables)", where=where), False)
        return warn(Text("'{value}' does not disable torch.compile in 2.13 ({where}), but "
                         "releases before 2.13 disable it for any non-empty value",
                         value=value, where=where),
                    Text("Unset the variable to keep torch.compile in every release"), False)
    return warn(Text("'{value}' has no effect ({where}): only exactly 1 disables torch.compile",
                     value=value, where=where),
                Text("Set exactly 1 to disable, or unset the variable"), False)


def torchdynamo_disable(text: str, *, torch_compile_disable_value: str | None) -> Verdict:
    """TORCHDYNAMO_DISABLE (``torch/_dynamo/eval_frame.py``, every 2.x): exactly ``1``
    disables torch.compile; any other value does nothing."""
    if text == "1":
        return ok(Text("torch.compile disabled (PyTorch 2.x: exactly 1)"), True)
    if torch_compile_disable_value == "1":
        return ok(Text("'{value}' has no effect, but TORCH_COMPILE_DISABLE=1 disables "
                       "torch.compile anyway", value=shown(text)), False)
    if not text:
        return ok(Text("no effect: only exactly 1 disables torch.compile"), False)
    return warn(Text("'{value}' has no effect: PyTorch disables torch.compile only for exactly "
                     "1, so torch.compile stays on", value=shown(text)),
                Text("Set TORCHDYNAMO_DISABLE=1 to disable torch.compile, or unset it"), False)
