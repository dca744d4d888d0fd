"""The static ld.so model: cache formats, search-path strings, ELF verdicts, hwcaps,
RPATH chains — each checked against the real loader (ldd) or real ldconfig output."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import unavailable
from fakesdk import have_gcc, temporary_fake_sdk
from sgdoctor.probe.ldso import LoadError, LoadKind
from sgdoctor.probe.ldso.cache import CacheError, parse_ld_so_cache
from sgdoctor.probe.ldso.loader import legacy_subdirs, loader_facts, parse_ldso_help
from sgdoctor.probe.ldso.paths import expand_tokens, split_search_path
from sgdoctor.probe.ldso.resolver import Resolver
from test_ldso_differential import compare

HELP_236 = """\
Shared library search path:
  (libraries located via /etc/ld.so.cache)
  /lib/x86_64-linux-gnu (system search path)
  /usr/lib/x86_64-linux-gnu (system search path)
  /lib (system search path)
  /usr/lib (system search path)

Subdirectories of glibc-hwcaps directories, in priority order:
  x86-64-v4
  x86-64-v3 (supported, searched)
  x86-64-v2 (supported, searched)

Legacy HWCAP subdirectories under library search path directories:
  x86_64 (AT_PLATFORM; supported, searched)
  tls (supported, searched)
  avx512_1
  x86_64 (supported, searched)
"""


def gcc(out: Path, source: str, *args: str) -> Path:
    src = out.parent / (out.name + ".c")
    src.write_text(source)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(out), str(src), *args], check=True,
                   capture_output=True, timeout=60)
    src.unlink()
    return out


@pytest.fixture(scope="module")
def needs_gcc() -> None:
    if not have_gcc() or not shutil.which("ldd"):
        unavailable("gcc and ldd are needed to build and check real shared objects")


@pytest.fixture
def tmp():
    # Not tmp_path: other pytest sessions on this machine may prune pytest-of-<user>.
    with tempfile.TemporaryDirectory(prefix="sgdoctor-ldso-") as name:
        yield Path(name)


# -- ld.so --help --------------------------------------------------------------------------

def test_help_parsing_keeps_only_what_is_searched() -> None:
    facts = parse_ldso_help(HELP_236)
    assert facts is not None
    assert facts.system_dirs == ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib",
                                 "/usr/lib")
    assert facts.hwcaps == ("x86-64-v3", "x86-64-v2")  # v4 listed but not supported
    assert (facts.platform, facts.legacy_hwcaps, facts.legacy_tls) == ("x86_64", ("x86_64",), True)
    assert parse_ldso_help("Usage: ld.so [OPTION]... EXECUTABLE-FILE\n") is None


def test_legacy_subdirectories_follow_glibc_order() -> None:
    assert legacy_subdirs(("x86_64",), "haswell", True) == (
        "tls/haswell/x86_64", "tls/haswell", "tls/x86_64", "tls", "haswell/x86_64", "haswell",
        "x86_64")
    assert legacy_subdirs((), None, False) == ()


def test_loader_facts_come_from_this_machines_ld_so() -> None:
    facts = loader_facts()
    assert facts.interpreter and os.path.exists(facts.interpreter)
    proc = subprocess.run([facts.interpreter, "--help"], capture_output=True, text=True,
                          timeout=10)
    if "system search path" in proc.stdout:
        for directory in facts.system_dirs:
            assert f"{directory} (system search path)" in proc.stdout


# -- ld.so.cache ---------------------------------------------------------------------------

def _ldconfig_p(cache: str | None = None) -> dict[str, str]:
    args = ["ldconfig", "-p"] + (["-C", cache] if cache else [])
    out = subprocess.run(args, capture_output=True, text=True, timeout=30).stdout
    pairs = {}
    for line in out.splitlines()[1:]:
        match = re.match(r"\s+(\S+) \(libc6,x86-64[^)]*\) => (\S+)$", line)
        if match and "hwcap" not in line:
            pairs.setdefault(match[1], match[2])
    return pairs


def test_system_cache_agrees_with_ldconfig() -> None:
    if not shutil.which("ldconfig") or loader_facts().abi.machine != "EM_X86_64":
        unavailable("ldconfig on x86-64 is needed for this comparison")
    cache = parse_ld_so_cache(Path("/etc/ld.so.cache").read_bytes())
    expected = _ldconfig_p()
    assert len(expected) > 50
    flags = loader_facts().cache_flags
    ours = {name: cache.lookup(name, flags, ()) for name in expected}
    assert {n: e.path for n, e in ours.items() if e} == expected


@pytest.mark.parametrize("fmt", ["new", "old", "compat"])
def test_all_cache_formats_with_real_ldconfig(needs_gcc, tmp, fmt) -> None:
    libdir = tmp / "lib"
    hw = libdir / "glibc-hwcaps" / "x86-64-v2"
    hw.mkdir(parents=True)
    gcc(libdir / "libcachetest.so.1", "int f(void){return 1;}\n", "-Wl,-soname,libcachetest.so.1")
    gcc(hw / "libcachetest.so.1", "int f(void){return 2;}\n", "-Wl,-soname,libcachetest.so.1")
    conf = tmp / "ld.so.conf"
    conf.write_text(f"{libdir}\n")
    proc = subprocess.run(["ldconfig", "-c", fmt, "-C", str(tmp / "cache"), "-f", str(conf),
                           "-X"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        unavailable(f"ldconfig -c {fmt} failed here: {proc.stderr.strip()}")
    cache = parse_ld_so_cache((tmp / "cache").read_bytes())
    assert cache.format == fmt
    facts = loader_facts()
    both = {str(libdir / "libcachetest.so.1"), str(hw / "libcachetest.so.1")}
    assert {e.path for e in cache.entries["libcachetest.so.1"]} == both
    if fmt == "old":
        # No hwcaps extension: the loader takes the first entry ldconfig wrote.
        assert cache.lookup("libcachetest.so.1", facts.cache_flags, ("x86-64-v2",)) == (
            cache.entries["libcachetest.so.1"][0])
        return
    plain = cache.lookup("libcachetest.so.1", facts.cache_flags, ())
    assert plain is not None and plain.path == str(libdir / "libcachetest.so.1")
    best = cache.lookup("libcachetest.so.1", facts.cache_flags, ("x86-64-v3", "x86-64-v2"))
    assert best is not None and best.path == str(hw / "libcachetest.so.1")
    assert best.hwcaps == "x86-64-v2"
    # The resolver uses the cache it is given, with this machine's hwcaps.
    resolver = Resolver({}, dataclasses.replace(facts, cache_path=str(tmp / "cache")))
    result = resolver.dlopen("libcachetest.so.1")
    assert result.how == "ld.so.cache"
    supported = "x86-64-v2" in facts.hwcaps
    assert result.root.path == str((hw if supported else libdir) / "libcachetest.so.1")


@pytest.mark.parametrize("data, message", [
    (b"", "unknown format"),
    (b"garbage" * 20, "unknown format"),
    (b"glibc-ld.so.cache1.1" + b"\0" * 10, "truncated"),
    (b"glibc-ld.so.cache1.1" + (10**6).to_bytes(4, "little") + b"\0" * 40, "do not fit"),
    (b"ld.so-1.7.0\0" + (5).to_bytes(4, "little"), "do not fit"),
])
def test_broken_caches_are_rejected_with_a_reason(data, message) -> None:
    with pytest.raises(CacheError, match=message):
        parse_ld_so_cache(data)


def test_a_broken_cache_is_reported_and_ignored(tmp) -> None:
    (tmp / "cache").write_bytes(b"glibc-ld.so.cache1.1" + b"\xff" * 40)
    resolver = Resolver({}, dataclasses.replace(loader_facts(), cache_path=str(tmp / "cache")))
    result = resolver.dlopen("libc.so.6")
    assert result.ok and result.how == "already loaded"
    assert resolver.dlopen("libz.so.1").how == "system directory"
    assert "ignores it" in resolver.cache_problem


# -- search path strings -----------------------------------------------------------------

def test_search_path_splitting_mirrors_fillin_rpath() -> None:
    kw = {"origin": "/o", "lib": "lib/x86_64-linux-gnu", "platform": "x86_64"}
    assert split_search_path("/a:/b/;/c//:", separators=":;", **kw) == ["/a", "/b", "/c", ""]
    assert split_search_path("/a::/a:/", separators=":", **kw) == ["/a", "", "/"]
    assert split_search_path("$ORIGIN/../x:${ORIGIN}:/p/$PLATFORM:/$LIB", separators=":",
                             **kw) == ["/o/../x", "/o", "/p/x86_64", "/lib/x86_64-linux-gnu"]
    assert split_search_path("/a;b", separators=":", **kw) == ["/a;b"]  # ';' only in LLP
    assert expand_tokens("$ORIGINAL/$FOO", **kw) == "$ORIGINAL/$FOO"  # not tokens: literal
    assert expand_tokens("$ORIGIN/x", origin=None, lib="l", platform="p") is None


# -- ELF verdicts ------------------------------------------------------------------------

def test_bad_files_stop_the_loader_with_its_own_words(needs_gcc, tmp) -> None:
    good = gcc(tmp / "good.so", "int f(void){return 1;}\n")
    cases = {
        "empty": b"",
        "short": b"\x7fELF\x02\x01\x01",
        "text": b"INPUT(-lfoo) /* a linker script, long enough to be read as a header */\n",
        "truncated": good.read_bytes()[:200],
    }
    resolver = Resolver({})
    for name, data in cases.items():
        path = tmp / f"lib{name}.so"
        path.write_bytes(data)
        result = resolver.dlopen(str(path))
        assert not result.ok and result.errors, name
        trace = subprocess.run(["ldd", str(path)], capture_output=True, text=True, timeout=30)
        assert trace.returncode != 0, name
    def error(path: str) -> LoadError:
        [first] = resolver.dlopen(path).errors
        assert (first.kind, first.path) == (LoadKind.INVALID, path)
        return first

    assert "file too short" in error(str(tmp / "libempty.so")).words
    assert "invalid ELF header" in error(str(tmp / "libtext.so")).words
    assert "malformed ELF file" in error(str(tmp / "libtruncated.so")).words
    (tmp / "libdir.so").mkdir()
    assert "Is a directory" in error(str(tmp / "libdir.so")).words
    os.mkfifo(tmp / "libfifo.so")
    result = Resolver({"LD_LIBRARY_PATH": str(tmp)}).dlopen("libfifo.so")
    assert result.errors == [LoadError(
        LoadKind.INVALID, f"{tmp}/libfifo.so",
        f"{tmp}/libfifo.so: a named pipe, not a library (the loader would block reading it)")]
    absent = Resolver({}).dlopen("libsgdoctor-nothere.so.9").errors
    assert [(e.kind, e.path) for e in absent] == [(LoadKind.NOT_FOUND,
                                                   "libsgdoctor-nothere.so.9")]


def test_executables_cannot_be_dlopened(needs_gcc, tmp) -> None:
    import sys

    src = tmp / "main.c"
    src.write_text("int main(void){return 0;}\n")
    for flags, message in ((["-pie", "-fPIE"], "cannot dynamically load position-independent "
                            "executable"), (["-no-pie"], "cannot dynamically load executable")):
        exe = tmp / f"prog{len(flags)}"
        subprocess.run(["gcc", *flags, "-o", str(exe), str(src)], check=True, timeout=60)
        result = Resolver({}).dlopen(str(exe))
        assert result.errors == [LoadError(LoadKind.NOT_A_LIBRARY, str(exe), f"{exe}: {message}")]
        real = subprocess.run([sys.executable, "-c", "import ctypes,sys; ctypes.CDLL(sys.argv[1])",
                               str(exe)], capture_output=True, text=True, timeout=30)
        assert f"{exe}: {message}" in real.stderr


def test_wrong_class_and_machine_are_skipped_not_fatal(needs_gcc, tmp) -> None:
    first, second = tmp / "first", tmp / "second"
    first.mkdir()
    second.mkdir()
    gcc(second / "libarch.so", "int f(void){return 1;}\n")
    arm = first / "libarch.so"
    shutil.copy(second / "libarch.so", arm)
    data = bytearray(arm.read_bytes())
    data[18:20] = (183).to_bytes(2, "little")
    arm.write_bytes(bytes(data))
    thirty_two = tmp / "third"
    thirty_two.mkdir()
    m32 = subprocess.run(["gcc", "-m32", "-shared", "-fPIC", "-o", str(thirty_two / "libarch.so"),
                          "-x", "c", "-"], input="int f(void){return 3;}\n", text=True,
                         capture_output=True, timeout=60)
    dirs = [str(first)] + ([str(thirty_two)] if m32.returncode == 0 else []) + [str(second)]
    result = Resolver({"LD_LIBRARY_PATH": ":".join(dirs)}).dlopen("libarch.so")
    assert result.ok and result.root.path == str(second / "libarch.so")
    reasons = [s.reason for s in result.skipped]
    assert reasons[0].startswith("wrong architecture (64-bit AARCH64")
    if m32.returncode == 0:
        assert reasons[1].startswith("wrong architecture (32-bit")


# -- search order, against ldd -------------------------------------------------------------

def test_hwcaps_legacy_dirs_rpath_chain_nodeflib_and_tokens_match_ldd(needs_gcc, tmp) -> None:
    facts = loader_facts()
    top, sub, hw = tmp / "top", tmp / "top" / "sub", tmp / "hw"
    for d in (top, sub, hw):
        d.mkdir(parents=True, exist_ok=True)
    # An RPATH chain: A (RPATH $ORIGIN/sub) -> B (no paths) -> C, found only through A's RPATH.
    gcc(sub / "libchainC.so", "int c(void){return 3;}\n", "-Wl,-soname,libchainC.so")
    gcc(sub / "libchainB.so", "extern int c(void);\nint b(void){return c();}\n",
        f"-L{sub}", "-l:libchainC.so", "-Wl,-soname,libchainB.so")
    gcc(top / "libchainA.so", "extern int b(void);\nint a(void){return b();}\n", f"-L{sub}",
        "-l:libchainB.so", "-Wl,--disable-new-dtags", "-Wl,-rpath,$ORIGIN/sub")
    # The same chain with RUNPATH: C is not found (RUNPATH is not inherited).
    gcc(top / "libchainR.so", "extern int b(void);\nint r(void){return b();}\n", f"-L{sub}",
        "-l:libchainB.so", "-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN/sub")
    # DF_1_NODEFLIB: no cache, no system directories for its dependencies.
    gcc(top / "libnodef.so", "extern int zlibVersion(void);\nint n(void){return zlibVersion();}\n",
        "-lz", "-Wl,-z,nodefaultlib")
    # $PLATFORM and $LIB in a runpath.
    (top / facts.platform).mkdir()
    gcc(top / facts.platform / "libplat.so", "int p(void){return 1;}\n", "-Wl,-soname,libplat.so")
    gcc(top / "libtok.so", "extern int p(void);\nint t(void){return p();}\n",
        f"-L{top / facts.platform}", "-l:libplat.so", "-Wl,-rpath,$ORIGIN/$PLATFORM:/$LIB")
    # glibc-hwcaps and legacy subdirectories of an LD_LIBRARY_PATH directory.
    gcc(hw / "libhw.so", "int h(void){return 0;}\n", "-Wl,-soname,libhw.so")
    for name in [*(f"glibc-hwcaps/{h}" for h in facts.hwcaps[-1:]), *facts.legacy_subdirs[-1:]]:
        (hw / name).mkdir(parents=True)
        gcc(hw / name / "libhw.so", "int h(void){return 1;}\n", "-Wl,-soname,libhw.so")
    gcc(top / "libusehw.so", "extern int h(void);\nint u(void){return h();}\n", f"-L{hw}",
        "-l:libhw.so")
    env = {"LD_LIBRARY_PATH": str(hw)}
    targets = [str(top / n) for n in ("libchainA.so", "libchainR.so", "libnodef.so",
                                      "libtok.so", "libusehw.so")]
    assert compare(targets, env) == []
    resolver = Resolver(env)
    chain = resolver.trace(str(top / "libchainA.so"))
    assert [n.how for n in chain.objects if n.requested == "libchainC.so"] == [
        f"DT_RPATH of {top}/libchainA.so"]
    assert resolver.trace(str(top / "libchainR.so")).missing == [
        ("libchainC.so", f"{sub}/libchainB.so")]
    assert resolver.trace(str(top / "libnodef.so")).missing[0][0] == "libz.so.1"
    if facts.hwcaps:
        used = resolver.trace(str(top / "libusehw.so")).objects[0].path
        assert f"glibc-hwcaps/{facts.hwcaps[-1]}/" in used


def test_empty_ld_library_path_entry_is_the_current_directory(needs_gcc, tmp) -> None:
    gcc(tmp / "libcwd.so", "int f(void){return 1;}\n")
    gcc(tmp / "libusecwd.so", "extern int f(void);\nint g(void){return f();}\n", f"-L{tmp}",
        "-l:libcwd.so")
    here = os.getcwd()
    os.chdir(tmp)
    try:
        assert compare([str(tmp / "libusecwd.so")], {"LD_LIBRARY_PATH": "/nonexistent::"}) == []
        result = Resolver({"LD_LIBRARY_PATH": "/nonexistent::"}).dlopen("libcwd.so")
        assert result.ok and result.root.path == "libcwd.so" and result.how == "LD_LIBRARY_PATH"
    finally:
        os.chdir(here)


# -- cost ----------------------------------------------------------------------------------

def test_cost_does_not_depend_on_directory_size(needs_gcc, monkeypatch) -> None:
    with temporary_fake_sdk(many=10_000) as sdk:
        many = sdk.trap("many")

        def forbidden(*_a, **_k):
            raise AssertionError("the resolver listed a directory")

        def timed(env) -> float:
            runs = []
            for _ in range(5):
                start = time.perf_counter()
                resolver = Resolver(env)
                for lib in ("libmcruntime.so", "libmccl.so", "libmcblas.so", "libmxsml.so"):
                    assert resolver.dlopen(lib).ok
                runs.append(time.perf_counter() - start)
            return sorted(runs)[2]

        with monkeypatch.context() as patch:
            patch.setattr(os, "listdir", forbidden)
            patch.setattr(os, "scandir", forbidden)
            timed(sdk.env())  # warm the process-wide loader facts
            plain = timed(sdk.env())
            crowded = timed(sdk.env(many, after=(many,)))
        assert crowded < plain * 2 + 0.005, (plain, crowded)


def test_unreadable_copy_is_skipped_like_ld_so(needs_gcc, needs_root, tmp) -> None:
    """Root reads everything, so drop CAP_DAC_* for a child that dlopens for real and
    resolves with our model: both must pass over the unreadable copy."""
    import json
    import sys

    if not shutil.which("setpriv"):
        unavailable("setpriv (util-linux) is needed to drop capabilities")
    locked, good = tmp / "locked", tmp / "good"
    locked.mkdir()
    good.mkdir()
    gcc(good / "libperm.so", "int f(void){return 1;}\n", "-Wl,-soname,libperm.so")
    shutil.copy(good / "libperm.so", locked / "libperm.so")
    os.chmod(locked / "libperm.so", 0)
    os.chown(locked / "libperm.so", 65534, 65534)
    script = (
        "import ctypes, json, os, sys\n"
        "from sgdoctor.probe.ldso.resolver import Resolver\n"
        "ctypes.CDLL('libperm.so')\n"
        "maps = {l.split()[-1] for l in open('/proc/self/maps') if 'libperm' in l}\n"
        "r = Resolver(dict(os.environ)).dlopen('libperm.so')\n"
        "print(json.dumps({'maps': sorted(maps), 'ours': r.root.path,\n"
        "                  'skipped': [[s.path, s.reason] for s in r.skipped]}))\n")
    drop = "-dac_override,-dac_read_search"
    proc = subprocess.run(["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}",
                           sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env={**os.environ,
                                           "LD_LIBRARY_PATH": f"{locked}:{good}"})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["maps"] == [str(good / "libperm.so")] and doc["ours"] == str(good / "libperm.so")
    assert doc["skipped"] == [[str(locked / "libperm.so"), "cannot open: Permission denied"]]


def test_the_same_cache_bytes_are_parsed_once_and_shared() -> None:
    data = Path("/etc/ld.so.cache").read_bytes()
    first = parse_ld_so_cache(data)
    assert parse_ld_so_cache(bytes(data)) is first
    changed = parse_ld_so_cache(data.replace(b"libc.so.6", b"libX.so.6", 1))
    assert changed is not first and "libX.so.6" in changed.entries
    assert parse_ld_so_cache(data) is not changed and "libc.so.6" in parse_ld_so_cache(data).entries


def test_checks_asking_at_once_share_one_ld_so_help(monkeypatch) -> None:
    """maca.libs and libs.duplicates start together: one `ld.so --help`, not one each."""
    import threading

    from sgdoctor.probe import process
    from sgdoctor.probe.ldso import loader

    calls = []
    real = process.run_bounded

    def counted(cmd, **kwargs):
        calls.append(cmd)
        return real(cmd, **kwargs)

    monkeypatch.setattr(process, "run_bounded", counted)
    monkeypatch.setattr(loader, "_FACTS", {})
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(loader.loader_facts(timeout=30)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(seen) == 4 and all(facts is seen[0] for facts in seen)
    assert len(calls) == 1, calls
