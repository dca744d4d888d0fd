"""libs.duplicates: one library name, several files — which one the loader takes, and which it
does not."""

from __future__ import annotations

from sgdoctor.api import Context, Findings, Result, Text, check
from sgdoctor.parse.verdict import shown

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from sgdoctor.probe.duplicates import CudaVariants, Duplicate

ENV = ("LD_LIBRARY_PATH", "MACA_PATH", "PYTHONPATH")
SHOWN_PROVIDERS = 6


@check("libs.duplicates", title="Libraries provided twice", env=ENV, timeout=15.0,
       tags=("libs",), settings={"max_files_per_dir": int, "ignore": list[str],
                                 "extra_dirs": list[str]})
def libs_duplicates(ctx: Context) -> Result:
    """Two files providing one library name on the loader's search path (LD_LIBRARY_PATH, the
    ld.so cache, the system directories), in MACA's directories, or vendored in site-packages
    (nvidia/*/lib, <package>/lib, <package>.libs): the loader takes the first along its
    search order — named as the winner — and a library already loaded under a soname serves
    every later request for it, so which copy runs depends on order, not intent (a MUSA
    libmccl before MACA's, nvidia-nccl-cu12 beside nvidia-nccl-cu13). Each is a warn; copies
    with different sonames under one name are a different library ('soname_conflict').
    Resolution uses the ld.so model of maca.libs; nothing is loaded. Settings: ignore (names
    to leave out), extra_dirs (more directories to compare), max_files_per_dir (20000)."""
    from sgdoctor.parse.settings import int_setting, setting_error
    from sgdoctor.probe.duplicates import MAX_FILES_PER_DIR, find_duplicates
    from sgdoctor.probe.ldso import LoaderError
    from sgdoctor.probe.ldso.loader import loader_facts
    from sgdoctor.probe.ldso.resolver import Resolver

    env_read = [n for n in ENV if n in ctx.env]
    try:
        cap = int_setting(ctx, "max_files_per_dir", MAX_FILES_PER_DIR, minimum=1)
        ignore = _names_setting(ctx, "ignore")
        extra = _names_setting(ctx, "extra_dirs")
    except ValueError as exc:
        return Result.error(setting_error("libs.duplicates", exc), env=env_read)
    try:
        resolver = Resolver(ctx.env, loader_facts(timeout=ctx.timeout(3.0)))
        resolver.python_namespace()
    except LoaderError as exc:
        return Result.error(Text("cannot model the dynamic loader: {error}", error=str(exc)),
                            env=env_read)
    facts = find_duplicates(ctx.env, resolver, extra_dirs=extra, max_files=cap,
                            budget=max(0.0, ctx.remaining() - 1.0))
    found = Findings()
    dups = [d for d in facts.duplicates if d.name not in ignore]
    for dup in dups:
        _duplicate(found, dup)
    for variants in facts.variants:
        _variants(found, variants)
    if facts.truncated:
        found.ok(Text("only the first {cap} library names of {dirs} were compared (setting "
                      "max_files_per_dir)", cap=cap, dirs=", ".join(facts.truncated)),
                 code="truncated")
    if facts.unexamined:
        found.ok(Text("time ran out before {count} library names were compared (the check's "
                      "timeout)", count=facts.unexamined), code="partial")
    details: dict[str, Any] = {
        "duplicates": [{"name": d.name, "winner": d.winner.path if d.winner else None,
                        "sonames": list(d.sonames),
                        "providers": [{"path": p.path, "where": p.where, "soname": p.soname,
                                       "realpath": p.realpath} for p in d.providers]}
                       for d in dups],
        "cuda_variants": [{"library": v.library,
                           "distributions": [f"{n}=={ver}" for n, ver in v.distributions],
                           "shared_files": list(v.shared_paths)} for v in facts.variants],
        "directories": facts.dirs, "truncated": facts.truncated,
        "unexamined": facts.unexamined,
        "ignored": sorted(ignore), "loader": resolver.facts.interpreter,
    }
    if facts.cache_problem:
        details["ld_so_cache"] = facts.cache_problem
    return found.result(Text("no library is provided twice ({count} directories compared, "
                             "with the ld.so cache and the system directories)",
                             count=len(facts.dirs)), details=details, env=env_read)


def _names_setting(ctx: Context, name: str) -> set[str]:
    from sgdoctor.parse.settings import SettingError

    value = ctx.setting(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SettingError(Text("setting {name}={value} must be a list of non-empty strings",
                                name=name, value=repr(value)))
    return set(value)


def _duplicate(found: Findings, dup: Duplicate) -> None:
    winner = dup.winner
    others = [p for p in dup.providers if p is not winner]
    listed: str | Text = ", ".join(f"{shown(p.path)} ({p.where})"
                                   for p in others[:SHOWN_PROVIDERS])
    if len(others) > SHOWN_PROVIDERS:
        listed = Text("{listed} and {more} more", listed=listed,
                      more=len(others) - SHOWN_PROVIDERS)
    if winner is not None:
        lead = Text("{name}: {count} copies; {path} wins ({where}), not {listed}",
                    name=dup.name, count=len(dup.providers), path=shown(winner.path),
                    where=winner.where, listed=listed)
    else:
        lead = Text("{name}: {count} copies off the search path ({listed}): the first one a "
                    "package loads (through its DT_RPATH) serves the whole process",
                    name=dup.name, count=len(dup.providers), listed=listed)
    if len(dup.sonames) > 1:
        found.warn(Text("{lead} — and they are different libraries (sonames {sonames})",
                        lead=lead, sonames=", ".join(dup.sonames)),
                   Text("Remove the foreign {name} (e.g. Moore Threads' MUSA libmccl in a MACA "
                        "image) from the search path.", name=dup.name), code="soname_conflict")
        return
    found.warn(lead, Text("Keep one copy of {name}, or put the directory of the one you want "
                          "first on LD_LIBRARY_PATH.", name=dup.name), code="duplicate")


def _variants(found: Findings, variants: CudaVariants) -> None:
    names = Text("{first} and {second}", first=" and ".join(
        f"{n} {v}" for n, v in variants.distributions[:-1]),
        second="{} {}".format(*variants.distributions[-1]))
    fields = {"names": names, "library": variants.library}
    summary = (Text("{names} are installed together: two builds of {library} for different "
                    "CUDA majors; they write the same files ({files}): the last installed "
                    "owns them, and uninstalling either removes them",
                    files=", ".join(variants.shared_paths[:3]), **fields)
               if variants.shared_paths else
               Text("{names} are installed together: two builds of {library} for different "
                    "CUDA majors", **fields))
    found.warn(summary,
               Text("Uninstall the one that does not match the installed torch ({first} or "
                    "{second}), then reinstall the other.",
                    first=f"`pip uninstall {variants.distributions[0][0]}`",
                    second=f"`pip uninstall {variants.distributions[-1][0]}`"),
               code="cuda_variants")
