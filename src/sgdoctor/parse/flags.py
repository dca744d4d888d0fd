"""Boolean-ish flags, each parsed the way its own reader parses it.

The same text means different things to different readers: ``0`` ENABLES a flag that
mcTriton tests with Python truthiness, and ``0`` DISABLES prefetch when mcTriton only asks
whether the variable exists. These parsers say which, per reader.
"""

from __future__ import annotations

import re

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
        return ok("enabled (c10d reads this as true)", True)
    if low in _PYTORCH_FALSE:
        return ok("disabled (c10d reads this as false)", False)
    return fail(f"'{shown(text)}' is not a c10d boolean: PyTorch raises when it reads it",
                "Use 1 or 0 (accepted: y, yes, 1, t, true, n, no, 0, f, false)")


def c10_check_env(text: str) -> Verdict:
    """c10's ``check_env`` (c10/util/env.cpp): only 0 and 1; anything else is a warning in
    PyTorch's log and counts as unset."""
    if text in ("0", "1"):
        return ok(f"{'enabled' if text == '1' else 'disabled'} (c10 reads only 0 and 1)",
                  text == "1")
    return warn(f"'{shown(text)}' is neither 0 nor 1: c10 warns and uses the default",
                "Use exactly 1 or 0", None)


def presence_flag(text: str, *, what: str) -> Verdict:
    """``getenv(name) != nullptr``: ANY value, even 0 or empty, turns the switch on."""
    if text.strip().lower() in FALSE_LOOKING or not text.strip():
        return warn(f"{what} anyway: only the variable's presence is tested, so "
                    f"'{shown(text)}' counts as set", "Unset the variable (remove it from the "
                    "image or the launch script): no value turns this off", True)
    return ok(what, True)


def python_truthy_flag(text: str, *, what: str) -> Verdict:
    """``if os.getenv(name):``: every non-empty string is true, ``0`` and ``false`` too."""
    if not text:
        return ok("off: the empty string is false in Python", False)
    if text.strip().lower() in FALSE_LOOKING:
        return warn(f"{what}: Python treats every non-empty string as true, so "
                    f"'{shown(text)}' ENABLES it", "Unset the variable (or set it to the empty "
                    "string) to turn it off; set 1 to turn it on", True)
    return ok(what, True)


# Up to 9 digits: fits the C int a closed-source reader most likely converts to.
_INT = re.compile(r"[+-]?[0-9]{1,9}\Z")
# Exactly as seen in MetaX's configs: no other spelling is claimed to work.
_METAX_BOOL = {"1": True, "0": False, "True": True, "False": False}


def metax_flag(text: str, *, what: str) -> Verdict:
    """Closed-source MetaX switches: accept the shapes seen in MetaX's own configs (1, 0,
    True, False, integers) and claim nothing about semantics beyond that."""
    if text in _METAX_BOOL:
        state = "on" if _METAX_BOOL[text] else "off"
        return ok(f"{what}: {state} (the reader is closed source; UNCONFIRMED)", _METAX_BOOL[text])
    if _INT.match(text):
        return ok(f"{what}: {int(text)} (the reader is closed source; UNCONFIRMED)", int(text))
    return warn(f"'{shown(text)}' is not a shape seen in MetaX's configs (1, 0, True, False or "
                "an integer); how the closed-source reader takes it is unknown",
                "Use 1 to enable or 0 to disable", None)


def metax_int(text: str, *, what: str, seen: tuple[int, ...] = ()) -> Verdict:
    """Integer settings of closed-source MetaX code (queue policies)."""
    if not _INT.match(text):
        return warn(f"'{shown(text)}' is not an integer; the closed-source reader's handling "
                    "of it is unknown", f"Use an integer{_seen(seen)}", None)
    number = int(text)
    note = "" if not seen or number in seen else f"; only {_seen_list(seen)} seen in MetaX configs"
    return ok(f"{what} {number} (closed source; UNCONFIRMED{note})", number)


def _seen_list(seen: tuple[int, ...]) -> str:
    return ", ".join(str(s) for s in seen)


def _seen(seen: tuple[int, ...]) -> str:
    return f" ({_seen_list(seen)} is the value MetaX uses)" if seen else ""


def not_read(text: str, *, instead: str, reader: str) -> Verdict:
    """A name its supposed reader never reads: no value changes anything."""
    return warn(f"{reader} does not read this variable, so '{shown(text)}' has no effect",
                f"Remove it; {instead} is the switch {reader} reads", None)


def metax_presence_suspect(text: str) -> Verdict:
    """A PYTORCH_* flag of mcPytorch whose reader is not public; its siblings are read by
    presence (``getenv != nullptr``), so a false-looking value may turn it ON."""
    if text.strip().lower() in FALSE_LOOKING or not text.strip():
        return warn(f"'{shown(text)}' may ENABLE it: mcPytorch reads its other PYTORCH_* flags "
                    "by presence, so any value counts as set (UNCONFIRMED: the reader of this "
                    "one is not public)", "Unset the variable to keep it off; set 1 to turn it "
                    "on", None)
    if text == "1":
        return ok("enabled (reader not public; UNCONFIRMED)", True)
    return warn(f"'{shown(text)}' is not 1: whether the non-public reader takes it is unknown "
                "(UNCONFIRMED)", "Set 1 to turn it on, or unset it", None)


TORCH_VERIFIED = "2.13"  # the PyTorch release the rules below were verified against


def _torch_release(release: str | None) -> str:
    return (f"PyTorch {release}" if release
            else f"assumed PyTorch {TORCH_VERIFIED}: no installed torch was found")


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
    if text == "1":
        return ok(f"torch.compile disabled ({where}; every release)", True)
    if not text:
        return ok(f"not disabled: the value is empty ({where}; every release)", False)
    if _older_than_2_13(release):
        return warn(f"'{shown(text)}' may DISABLE torch.compile in {where}: releases before "
                    "2.13 (boundary UNCONFIRMED) disable it for any non-empty value",
                    "Set exactly 1 to disable, or unset the variable to keep torch.compile",
                    None)
    if text.strip().lower() in FALSE_LOOKING:
        if release:
            return ok(f"not disabled ({where}: only exactly 1 disables)", False)
        return warn(f"'{shown(text)}' does not disable torch.compile in 2.13 ({where}), but "
                    "releases before 2.13 disable it for any non-empty value",
                    "Unset the variable to keep torch.compile in every release", False)
    return warn(f"'{shown(text)}' has no effect ({where}): only exactly 1 disables "
                "torch.compile", "Set exactly 1 to disable, or unset the variable", False)


def torchdynamo_disable(text: str, *, torch_compile_disable_value: str | None) -> Verdict:
    """TORCHDYNAMO_DISABLE (``torch/_dynamo/eval_frame.py``, every 2.x): exactly ``1``
    disables torch.compile; any other value does nothing."""
    if text == "1":
        return ok("torch.compile disabled (PyTorch 2.x: exactly 1)", True)
    if torch_compile_disable_value == "1":
        return ok(f"'{shown(text)}' has no effect, but TORCH_COMPILE_DISABLE=1 disables "
                  "torch.compile anyway", False)
    if not text:
        return ok("no effect: only exactly 1 disables torch.compile", False)
    return warn(f"'{shown(text)}' has no effect: PyTorch disables torch.compile only for "
                "exactly 1, so torch.compile stays on",
                "Set TORCHDYNAMO_DISABLE=1 to disable torch.compile, or unset it", False)
