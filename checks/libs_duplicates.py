"""libs.duplicates: one library name, several files — which one the loader takes, and which it
does not."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sgdoctor.api import Context, Findings, Result, check
from sgdoctor.parse.verdict import shown

if TYPE_CHECKING:
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
    from sgdoctor.parse.settings import int_setting
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
        return Result.error(f'[checks."libs.duplicates"] {exc}', env=env_read)
    try:
        resolver = Resolver(ctx.env, loader_facts(timeout=ctx.timeout(3.0)))
        resolver.python_namespace()
    except LoaderError as exc:
        return Result.error(f"cannot model the dynamic loader: {exc}", env=env_read)
    facts = find_duplicates(ctx.env, resolver, extra_dirs=extra, max_files=cap,
                            budget=max(0.0, ctx.remaining() - 1.0))
    found = Findings()
    dups = [d for d in facts.duplicates if d.name not in ignore]
    for dup in dups:
        _duplicate(found, dup)
    for variants in facts.variants:
        _variants(found, variants)
    if facts.truncated:
        found.ok(f"only the first {cap} library names of {', '.join(facts.truncated)} were "
                 "compared (setting max_files_per_dir)", code="truncated")
    if facts.unexamined:
        found.ok(f"time ran out before {facts.unexamined} library names were compared (the "
                 "check's timeout)", code="partial")
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
    return found.result(f"no library is provided twice ({len(facts.dirs)} directories "
                        "compared, with the ld.so cache and the system directories)",
                        details=details, env=env_read)


def _names_setting(ctx: Context, name: str) -> set[str]:
    value = ctx.setting(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"setting {name}={value!r} must be a list of non-empty strings")
    return set(value)


def _duplicate(found: Findings, dup: Duplicate) -> None:
    winner = dup.winner
    others = [p for p in dup.providers if p is not winner]
    listed = ", ".join(f"{shown(p.path)} ({p.where})" for p in others[:SHOWN_PROVIDERS])
    more = f" and {len(others) - SHOWN_PROVIDERS} more" if len(others) > SHOWN_PROVIDERS else ""
    if winner is not None:
        lead = (f"{dup.name}: {len(dup.providers)} copies; {shown(winner.path)} wins "
                f"({winner.where}), not {listed}{more}")
    else:
        lead = (f"{dup.name}: {len(dup.providers)} copies off the search path ({listed}{more}): "
                "the first one a package loads (through its DT_RPATH) serves the whole "
                "process")
    if len(dup.sonames) > 1:
        found.warn(f"{lead} — and they are different libraries (sonames "
                   f"{', '.join(dup.sonames)})",
                   f"Remove the foreign {dup.name} (e.g. Moore Threads' MUSA libmccl in a MACA "
                   "image) from the search path.", code="soname_conflict")
        return
    found.warn(lead, f"Keep one copy of {dup.name}, or put the directory of the one you want "
                     "first on LD_LIBRARY_PATH.", code="duplicate")


def _variants(found: Findings, variants: CudaVariants) -> None:
    names = [f"{n} {v}" for n, v in variants.distributions]
    shared = ""
    if variants.shared_paths:
        shared = (f"; they write the same files ({', '.join(variants.shared_paths[:3])}): the "
                  "last installed owns them, and uninstalling either removes them")
    found.warn(f"{' and '.join(names)} are installed together: two builds of "
               f"{variants.library} for different CUDA majors{shared}",
               f"Uninstall the one that does not match the installed torch "
               f"(`pip uninstall {variants.distributions[0][0]}` or "
               f"`pip uninstall {variants.distributions[-1][0]}`), then reinstall the other.",
               code="cuda_variants")
