"""Boolean-ish flags, each parsed the way its own reader parses it.

The same text means different things to different readers: ``0`` ENABLES a flag that
mcTriton tests with Python truthiness, and ``0`` DISABLES prefetch when mcTriton only asks
whether the variable exists. These parsers say which, per reader.
"""

from __future__ import annotations

import re

from sgdoctor.parse.verdict import Verdict, fail, ok, shown, warn

__all__ = [
    "pytorch_bool", "presence_flag", "python_truthy_flag", "dynamo_bool", "metax_flag",
    "metax_int", "torch_compile_disable", "torchdynamo_disable", "FALSE_LOOKING",
]

# Values a person writes when they mean "off"; used to spot flags that read them as "on".
FALSE_LOOKING = frozenset({"0", "false", "no", "n", "f", "off", "disable", "disabled", "none"})

_PYTORCH_TRUE = frozenset({"y", "yes", "1", "t", "true"})
_PYTORCH_FALSE = frozenset({"n", "no", "0", "f", "false"})


def pytorch_bool(text: str) -> Verdict:
    """PyTorch's environment booleans: y|yes|1|t|true / n|no|0|f|false, case-insensitive;
    anything else raises when PyTorch reads it."""
    low = text.lower()
    if low in _PYTORCH_TRUE:
        return ok("enabled (PyTorch reads this as true)", True)
    if low in _PYTORCH_FALSE:
        return ok("disabled (PyTorch reads this as false)", False)
    return fail(f"'{shown(text)}' is not a PyTorch boolean: PyTorch raises ValueError when it "
                "reads it", "Use 1 or 0 (accepted: y, yes, 1, t, true, n, no, 0, f, false)")


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


_DYNAMO_TRUE = frozenset({"1", "true", "on", "yes"})


def dynamo_bool(text: str) -> Verdict:
    """Dynamo's boolean settings: true only for 1|true|on|yes (case-insensitive)."""
    low = text.lower()
    if low in _DYNAMO_TRUE:
        return ok("enabled (Dynamo reads this as true)", True)
    if low in FALSE_LOOKING or not text:
        return ok("disabled (Dynamo reads this as false)", False)
    return warn(f"Dynamo reads '{shown(text)}' as FALSE: only 1, true, on and yes are true",
                "Use 1 (true) or 0 (false)", False)


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


def torch_compile_disable(text: str) -> Verdict:
    """TORCH_COMPILE_DISABLE: newer PyTorch disables only for ``1``; older releases for
    any non-empty value (``0`` included). Values outside 1/empty differ by release."""
    if text == "1":
        return ok("torch.compile/TorchDynamo disabled (every PyTorch release)", True)
    if not text:
        return ok("not disabled (empty)", False)
    return warn(f"'{shown(text)}' means different things by release: newer PyTorch disables "
                "only for exactly 1, older releases for any non-empty value",
                "Set exactly 1 to disable, or unset the variable to keep torch.compile", None)


def torchdynamo_disable(text: str, *, torch_compile_disable_value: str | None) -> Verdict:
    """TORCHDYNAMO_DISABLE is not read by upstream PyTorch; TORCH_COMPILE_DISABLE is."""
    if text.strip().lower() in FALSE_LOOKING:
        return ok("no effect in upstream PyTorch; TorchDynamo stays enabled, as the value "
                  "suggests", None)
    if torch_compile_disable_value == "1":
        return ok("no effect in upstream PyTorch, but TORCH_COMPILE_DISABLE=1 disables "
                  "TorchDynamo anyway", None)
    return warn("upstream PyTorch does not read TORCHDYNAMO_DISABLE, so TorchDynamo stays "
                "enabled unless a MetaX build reads it (UNCONFIRMED)",
                "Set TORCH_COMPILE_DISABLE=1 to disable TorchDynamo in every PyTorch release",
                None)
