"""libs.duplicates with REAL shared objects: gcc-built copies of one soname in several places,
the fake MACA SDK's MUSA trap, vendored wheels with real dist-info, and an ld.so cache built by
the real ldconfig, bind-mounted over /etc/ld.so.cache in a private mount namespace."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import json_report, result_of, run_cli
from fakesdk import _gcc, build_fake_sdk, have_gcc, patch_machine

pytestmark = pytest.mark.skipif(not have_gcc(), reason="needs gcc")


@pytest.fixture
def base() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sgd-dups-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def lib(directory: Path, name: str, value: int, soname: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / name
    _gcc(out, f"int dup_value(void) {{ return {value}; }}\n", f"-Wl,-soname,{soname or name}")
    return out


def dups(env: dict[str, str], *, config: str | None = None, base: Path | None = None,
         prefix: list[str] | None = None) -> dict:
    full = {"MACA_PATH": "/nonexistent-maca", **env}
    if config is not None and base is not None:
        path = base / "sgdoctor.toml"
        path.write_text(config)
        full["SGDOCTOR_CONFIG"] = str(path)
    proc = run_cli(["--only", "libs.duplicates", "--format", "json"], full, prefix=prefix,
                   timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    result = result_of(json_report(proc), "libs.duplicates")
    expected = {"fail": 1, "error": 3}.get(result["status"], 0)
    assert proc.returncode == expected, (proc.returncode, result)
    return result


def codes(result: dict) -> list[str]:
    return [f["code"] for f in result["details"]["findings"] if f["status"] != "ok"]


def test_one_copy_is_ok(base):
    lib(base / "a", "libdup.so.1", 1)
    result = dups({"LD_LIBRARY_PATH": str(base / "a")})
    assert result["status"] == "ok", result
    assert result["details"]["directories"][str(base / "a")] == "LD_LIBRARY_PATH"
    assert result["details"]["duplicates"] == []


def test_two_copies_on_the_search_path_name_the_winner(base):
    first, second = lib(base / "a", "libdup.so.1", 1), lib(base / "b", "libdup.so.1", 2)
    result = dups({"LD_LIBRARY_PATH": f"{base / 'a'}:{base / 'b'}"})
    assert result["status"] == "warn", result
    assert codes(result) == ["duplicate"]
    assert f"libdup.so.1: 2 copies; {first} wins (LD_LIBRARY_PATH), not {second}" \
        in result["summary"]
    entry = result["details"]["duplicates"][0]
    assert entry["winner"] == str(first) and entry["sonames"] == ["libdup.so.1"]
    assert [p["path"] for p in entry["providers"]] == [str(first), str(second)]
    # The order of LD_LIBRARY_PATH decides.
    swapped = dups({"LD_LIBRARY_PATH": f"{base / 'b'}:{base / 'a'}"})
    assert swapped["details"]["duplicates"][0]["winner"] == str(second), swapped


def test_the_same_file_twice_is_not_a_duplicate(base):
    lib(base / "a", "libdup.so.1", 1)
    (base / "b").mkdir()
    (base / "b" / "libdup.so.1").hardlink_to(base / "a" / "libdup.so.1")
    (base / "c").symlink_to(base / "a")
    result = dups({"LD_LIBRARY_PATH": f"{base / 'a'}:{base / 'b'}:{base / 'c'}"})
    assert result["status"] == "ok", result


def test_glibc_hwcaps_variants_are_not_duplicates(base):
    """A build for newer CPUs in glibc-hwcaps/ beside the plain one is on purpose."""
    help_text = subprocess.run(["/lib64/ld-linux-x86-64.so.2", "--help"], capture_output=True,
                               text=True).stdout
    if "x86-64-v2 (supported, searched)" not in help_text:
        pytest.skip("this CPU/loader does not search glibc-hwcaps/x86-64-v2")
    variant = lib(base / "a" / "glibc-hwcaps" / "x86-64-v2", "libdup.so.1", 2)
    lib(base / "a", "libdup.so.1", 1)
    result = dups({"LD_LIBRARY_PATH": str(base / "a")})
    assert result["status"] == "ok", result
    # Another directory's copy still counts, and the hwcaps variant is the winner named.
    other = lib(base / "b", "libdup.so.1", 3)
    two = dups({"LD_LIBRARY_PATH": f"{base / 'a'}:{base / 'b'}"})
    assert two["status"] == "warn", two
    entry = two["details"]["duplicates"][0]
    assert entry["winner"] == str(variant)
    assert [p["path"] for p in entry["providers"]] == [str(variant), str(other)]


def test_files_the_loader_would_not_take_are_not_providers(base):
    lib(base / "a", "libdup.so.1", 1)
    (base / "fifo").mkdir()
    subprocess.run(["mkfifo", str(base / "fifo" / "libdup.so.1")], check=True)
    (base / "text").mkdir()
    (base / "text" / "libdup.so.1").write_text("INPUT(-lother)\n")
    arm = lib(base / "arm", "libdup.so.1", 3)
    patch_machine(arm)
    result = dups({"LD_LIBRARY_PATH": ":".join(str(base / d) for d in
                                               ("fifo", "text", "arm", "a"))})
    assert result["status"] == "ok", result


def test_musa_libmccl_before_macas_is_a_soname_conflict(base):
    sdk = build_fake_sdk(base / "sdk", many=0)
    musa = sdk.trap("musa")
    result = dups(sdk.env(musa))
    assert result["status"] == "warn", result
    assert "soname_conflict" in codes(result)
    entry = next(d for d in result["details"]["duplicates"] if d["name"] == "libmccl.so")
    assert entry["winner"] == str(musa / "libmccl.so")
    assert entry["sonames"] == ["libmccl.so.2", "libmccl.so"]
    assert "different libraries (sonames libmccl.so.2, libmccl.so)" in result["summary"]


def test_shadow_of_a_maca_library_off_the_path(base):
    """MACA_PATH/lib not on LD_LIBRARY_PATH: its copy is still a provider (DT_RPATH reaches it)."""
    sdk = build_fake_sdk(base / "sdk", many=0)
    shadow = sdk.trap("shadow")
    result = dups({"MACA_PATH": str(sdk.maca_path), "LD_LIBRARY_PATH": str(shadow)})
    assert result["status"] == "warn", result
    entry = next(d for d in result["details"]["duplicates"] if d["name"] == "libmcblas.so")
    assert entry["winner"] == str(shadow / "libmcblas.so")
    assert [p["where"] for p in entry["providers"]] == ["LD_LIBRARY_PATH", "MACA"]


def _dist(site: Path, name: str, version: str, files: list[str]) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in files))


def test_nccl_for_two_cuda_majors_in_site_packages(base):
    site = base / "site-packages"
    cu12 = lib(site / "nvidia" / "nccl" / "lib", "libnccl.so.2", 12)
    cu13 = lib(site / "nvidia" / "cu13" / "lib", "libnccl.so.2", 13)
    _dist(site, "nvidia-nccl-cu12", "2.27.3", ["nvidia/nccl/lib/libnccl.so.2"])
    _dist(site, "nvidia-nccl-cu13", "2.28.3", ["nvidia/cu13/lib/libnccl.so.2"])
    result = dups({"PYTHONPATH": str(site)})
    assert result["status"] == "warn", result
    assert sorted(codes(result)) == ["cuda_variants", "duplicate"]
    entry = result["details"]["duplicates"][0]
    assert entry["name"] == "libnccl.so.2" and entry["winner"] is None
    assert {p["path"] for p in entry["providers"]} == {str(cu12), str(cu13)}
    assert "serves the whole process" in result["summary"]
    assert result["details"]["cuda_variants"][0]["distributions"] == [
        "nvidia-nccl-cu12==2.27.3", "nvidia-nccl-cu13==2.28.3"]
    assert "pip uninstall nvidia-nccl-cu12" in result["remedy"]


def test_two_cuda_majors_writing_the_same_file(base):
    site = base / "site-packages"
    lib(site / "nvidia" / "nccl" / "lib", "libnccl.so.2", 13)
    for name, version in (("nvidia-nccl-cu12", "2.27.3"), ("nvidia-nccl-cu13", "2.28.3")):
        _dist(site, name, version, ["nvidia/nccl/lib/libnccl.so.2"])
    result = dups({"PYTHONPATH": str(site)})
    assert result["status"] == "warn" and codes(result) == ["cuda_variants"], result
    assert "write the same files (nvidia/nccl/lib/libnccl.so.2)" in result["summary"]


def test_ld_so_cache_listing_one_soname_twice(base, needs_root):
    if not shutil.which("ldconfig") or not shutil.which("unshare"):
        pytest.skip("needs ldconfig and unshare")
    first, second = lib(base / "a", "libdupcache.so.1", 1), lib(base / "b", "libdupcache.so.1", 2)
    conf = base / "ld.so.conf"
    conf.write_text(f"{base / 'a'}\n{base / 'b'}\n")
    cache = base / "ld.so.cache"
    subprocess.run(["ldconfig", "-X", "-f", str(conf), "-C", str(cache)], check=True,
                   timeout=120)
    listing = subprocess.run(["ldconfig", "-p", "-C", str(cache)], capture_output=True,
                             text=True, check=True).stdout
    assert listing.count("libdupcache.so.1 ") == 2, listing
    prefix = ["unshare", "-m", "sh", "-c",
              f'mount --bind "{cache}" /etc/ld.so.cache && exec "$0" "$@"']
    result = dups({}, prefix=prefix)
    assert result["status"] == "warn", result
    entry = next(d for d in result["details"]["duplicates"] if d["name"] == "libdupcache.so.1")
    assert {p["path"] for p in entry["providers"]} == {str(first), str(second)}
    assert entry["winner"] in (str(first), str(second))
    assert [p["where"] for p in entry["providers"]] == ["ld.so.cache",
                                                        "ld.so.cache (never chosen)"]


def test_settings_ignore_cap_and_bad_values(base):
    lib(base / "a", "libdup.so.1", 1)
    lib(base / "a", "libother.so.1", 3)
    lib(base / "b", "libdup.so.1", 2)
    env = {"LD_LIBRARY_PATH": f"{base / 'a'}:{base / 'b'}"}
    ignored = dups(env, base=base, config='[checks."libs.duplicates"]\nignore = ["libdup.so.1"]\n')
    assert ignored["status"] == "ok", ignored
    assert ignored["details"]["ignored"] == ["libdup.so.1"]
    capped = dups(env, base=base, config='[checks."libs.duplicates"]\nmax_files_per_dir = 1\n')
    assert str(base / "a") in capped["details"]["truncated"], capped
    hurried = dups(env, base=base, config='[checks."libs.duplicates"]\ntimeout = 1\n')
    assert hurried["status"] in ("ok", "warn") and hurried["details"]["unexamined"] > 0, hurried
    assert "partial" in [f["code"] for f in hurried["details"]["findings"]]
    bad = dups(env, base=base, config='[checks."libs.duplicates"]\nignore = [""]\n')
    assert bad["status"] == "error" and "ignore" in bad["summary"], bad
    # A wrong type is caught before anything runs: a usage error naming check and key.
    (base / "typed.toml").write_text('[checks."libs.duplicates"]\nignore = "libdup.so.1"\n')
    proc = run_cli(["--only", "libs.duplicates"],
                   {**env, "SGDOCTOR_CONFIG": str(base / "typed.toml")})
    assert proc.returncode == 2 and '[checks."libs.duplicates"] ignore' in proc.stderr


def test_hostile_search_path_gets_a_verdict(base):
    lib(base / "a", "libdup.so.1", 1)
    value = f"::{base / 'a'}:/nonexistent:\udcff:{'x' * 3000}:;;"
    result = dups({"LD_LIBRARY_PATH": value})
    assert result["status"] == "ok", result
