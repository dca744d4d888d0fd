"""Did-you-mean for environment variable names: a misspelt name is silently ignored by its
reader, so the node runs with the default while the operator believes it is configured.

Rules (documented in the README): a set name that is not known is suspicious when it
differs from a known name only in letter case; or by one edit (two for names of 10+
characters) that leaves the first word alone — vendor twins such as HCCL_/MUSA_ are
different variables, not typos; or when it is a known name with extra characters
appended (GLOO_SOCKET_IFNAMES); or when it starts with the prefix of a closed family of
known names (NATS_AUTH_…) but ends in no member of that family.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sgdoctor.api import Text

__all__ = ["Suggestion", "edit_distance", "suggest", "find_misspellings"]

Suggestion = tuple[str, str, Text]  # (set name, known name, why)

_MIN_EXTENSION_BASE = 8  # PATH + "S" is too common a shape to call a typo


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance, giving up (returning limit + 1) beyond ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _first_word(name: str) -> str:
    return name.split("_", 1)[0]


def suggest(name: str, known: Iterable[str], families: Iterable[str] = (),
            canonical: Mapping[str, str] | None = None) -> Suggestion | None:
    """The known name ``name`` was probably meant to be, with the reason; else None.
    ``canonical`` redirects a match on a known-but-deprecated spelling to the right one."""
    found = _suggest(name, tuple(known), families)
    if found and canonical and found[1] in canonical:
        return found[0], canonical[found[1]], found[2]
    return found


def _suggest(name: str, known: tuple[str, ...], families: Iterable[str]) -> Suggestion | None:
    if name in known:
        return None
    upper = name.upper()
    for k in known:
        if upper == k:
            return name, k, Text("differs only in letter case (variable names are "
                                 "case-sensitive)")
    best: tuple[int, str] | None = None
    for k in known:
        limit = 2 if len(k) >= 10 else 1
        if _first_word(upper) != _first_word(k):
            continue
        dist = edit_distance(upper, k, limit)
        if dist <= limit and (best is None or dist < best[0]):
            best = (dist, k)
    if best:
        return name, best[1], Text("one edit away from a known name" if best[0] == 1
                                   else "two edits away from a known name")
    for k in sorted(known, key=len, reverse=True):
        if len(k) >= _MIN_EXTENSION_BASE and upper.startswith(k) and upper != k:
            return name, k, Text("a known name with {tail} appended",
                                 tail=shown_tail(upper[len(k):]))
    for prefix in families:
        members = [k for k in known if k.startswith(prefix)]
        if upper.startswith(prefix) and members:
            tail = upper[len(prefix):]
            closest = _closest_member(tail, [k[len(prefix):] for k in members])
            closest = prefix + closest
            return name, closest, Text("{prefix}… has no member ending in {tail}",
                                       prefix=prefix, tail=shown_tail(tail))
    return None


def _closest_member(tail: str, tails: list[str]) -> str:
    """Prefer members that contain every word of the tail (KEY -> CLIENT_KEY, CA ->
    CA_CERT_PATH) over mere spelling neighbours, which can mean the opposite (CA ->
    INSECURE); among them, the one with the fewest extra words, then the nearest spelling."""
    words = {w for w in tail.split("_") if w}
    containing = [t for t in tails if words <= set(t.split("_"))]
    return min(containing or tails,
               key=lambda t: (len(set(t.split("_")) - words), edit_distance(tail, t, 64)))


def shown_tail(tail: str) -> str:
    return repr(tail if len(tail) <= 40 else tail[:40] + "…")


def find_misspellings(names: Iterable[str], known: Iterable[str], families: Iterable[str] = (),
                      canonical: Mapping[str, str] | None = None) -> list[Suggestion]:
    known, families = tuple(known), tuple(families)
    found = (suggest(n, known, families, canonical) for n in sorted(names))
    return [s for s in found if s is not None]
