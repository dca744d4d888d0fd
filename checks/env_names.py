"""``env.names``: set variables that look like misspellings of known ones.

A misspelt variable is silently ignored by its reader. The seed's own spelling
SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR is a catalogue entry, so it is never reported here:
``expert_record.dir`` owns that warning. Suggestions that land on such a deprecated
spelling point to the name the reader really uses.
"""

from __future__ import annotations

from sgdoctor.api import Context, Result, Text, check
from sgdoctor.parse.catalogue import CATALOGUE, FAMILIES
from sgdoctor.parse.names import find_misspellings
from sgdoctor.parse.verdict import shown


@check("env.names", title="Misspelt variable names", timeout=2.0, tags=("env",),
       settings={"ignore": (str, list[str])})
def names(ctx: Context) -> Result:
    """Finds set variables one or two edits away from a known name, a known name with extra
    characters appended, or an unknown member of a closed family such as NATS_AUTH_*.
    Setting ``ignore`` (a list of names) silences deliberate ones."""
    ignore = ctx.setting("ignore", ()) or ()
    ignore = {ignore} if isinstance(ignore, str) else {str(n) for n in ignore}
    canonical = {e.name: e.canonical for e in CATALOGUE.values() if e.canonical}
    candidates = [n for n in ctx.env if n not in ignore]
    found = find_misspellings(candidates, CATALOGUE, FAMILIES, canonical)
    if not found:
        return Result.ok(Text("no misspelt names among {count} set variables",
                              count=len(ctx.env)))
    listed = Text.join("; ", [Text("{name}: did you mean {known}? ({why})", name=shown(name, 60),
                                   known=known, why=why) for name, known, why in found])
    renames = ", ".join(f"{shown(name, 60)} → {known}" for name, known, _ in found)
    return Result.warn(
        Text("{count} set variable(s) look misspelt and are ignored by their readers: {listed}",
             count=len(found), listed=listed),
        remedy=Text("Rename {renames} (or list deliberate names under [checks.\"env.names\"] "
                    "ignore)", renames=renames),
        details={"suspects": [{"name": shown(n, 200), "did_you_mean": k, "why": str(w)}
                              for n, k, w in found]},
        env=sorted({k for _, k, _ in found} | {shown(n, 200) for n, _, _ in found}))
