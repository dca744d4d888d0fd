"""click's own usage errors ("No such option: --x") as templates, so that they are said in
the run's language like sgdoctor's own; a message of another shape stays as click wrote it."""

from __future__ import annotations

import re

from sgdoctor.api import Text
from sgdoctor.i18n import N_, tr

# (click's message, its template); the groups are the template's fields, verbatim.
CLICK = (
    (re.compile(r"No such option: (?P<name>\S+)"), N_("No such option: {name}")),
    (re.compile(r"No such option '(?P<name>[^']*)'\."), N_("No such option: {name}")),
    (re.compile(r"No such command '(?P<name>[^']*)'\."), N_("No such command '{name}'.")),
    (re.compile(r"Option '(?P<name>[^']*)' requires an argument\."),
     N_("Option '{name}' requires an argument.")),
    (re.compile(r"Option '(?P<name>[^']*)' requires (?P<count>\d+) arguments\."),
     N_("Option '{name}' requires {count} arguments.")),
    (re.compile(r"Option '(?P<name>[^']*)' does not take a value\."),
     N_("Option '{name}' does not take a value.")),
    (re.compile(r"Got unexpected extra arguments? ?(?:\(s\))? \((?P<args>.*)\)"),
     N_("Got unexpected extra arguments ({args})")),
    (re.compile(r"Missing argument '(?P<name>[^']*)'\."), N_("Missing argument '{name}'.")),
    (re.compile(r"Missing option '(?P<name>[^']*)'\."), N_("Missing option '{name}'.")),
    (re.compile(r"Invalid value for '(?P<name>[^']*)': (?P<reason>.*)", re.S),
     N_("Invalid value for '{name}': {reason}")),
)
# What click may add after the message: close matches of a mistyped option or command.
HINTS = (
    (re.compile(r" \(Possible options: (?P<names>.*)\)"), N_("(possible options: {names})")),
    (re.compile(r" Did you mean (?P<names>.*)\?"), N_("(did you mean {names}?)")),
)


def click_text(message: str, lang: str) -> str:
    """click's `message` in `lang`: as click wrote it in English, or when it has none of the
    known shapes."""
    if lang == "en":
        return message
    text = _template(message)
    return message if text is None else tr(lang, text.msgid, text.fields)


def _template(message: str) -> Text | None:
    for pattern, msgid in CLICK:
        match = pattern.match(message)
        if match is None:
            continue
        rest = message[match.end():]
        if not rest:
            return Text(msgid, **match.groupdict())
        for hint, hint_id in HINTS:
            found = hint.fullmatch(rest)
            if found is not None:
                return Text("{click_message} {click_hint}",
                            click_message=Text(msgid, **match.groupdict()),
                            click_hint=Text(hint_id, **found.groupdict()))
        return None
    return None
