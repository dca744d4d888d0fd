"""A fake MetaX MACA SDK built with gcc: real shared objects, real names, real ELF.

Reusable by any test or bench: ``build_fake_sdk(directory)`` (or the context manager
``temporary_fake_sdk()``, which builds it in a private temporary directory — not pytest's
tmp_path, which concurrent pytest sessions on one host may prune) returns a FakeSdk with the
layout of facts.md (``/opt/maca`` a symlink to ``/opt/maca-<ver>``, ``lib``, ``ucx/lib``,
``mxgpu_llvm/lib``, ``ompi/lib``, ``/opt/mxdriver/lib``) under a private root, plus
trap directories a test can put on LD_LIBRARY_PATH:

- ``wrongarch``: libmcruntime.so with e_machine patched to aarch64 (ld.so skips it);
- ``old``: a libmxc-runtime64.so lacking the MXC_2.0 version libmcruntime.so needs;
- ``broken``: libmccl.so, a symbolic link to nothing;
- ``loop``: libmcruntime.so, a symbolic link loop (ld.so abandons that search list);
- ``garbage``: libmcruntime.so that is a text file (ld.so stops: "invalid ELF header");
- ``shadow``: a second, different libmcblas.so;
- ``musa``: Moore Threads' libmccl.so -> libmccl.so.2 (soname libmccl.so.2);
- ``many``: 10,000 unrelated files.

Dependencies: libmcruntime -> libmxc-runtime64 (versioned symbol MXC_2.0, DT_RUNPATH
$ORIGIN); libmcblas -> libmcblasLt, libmcruntime (DT_RUNPATH $ORIGIN); libmccl ->
libmcruntime, libucp.so.0 (DT_RPATH $ORIGIN:$ORIGIN/../ucx/lib, old-style tags).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

EM_AARCH64 = 183
DEFAULT_LIBRARIES = ("libmcruntime.so", "libmxc-runtime64.so", "libmccl.so", "libmcblas.so",
                     "libmxsml.so")


@dataclass
class FakeSdk:
    root: Path
    maca_real: Path  # /opt/maca-<version>
    maca_path: Path  # /opt/maca, a symlink to maca_real
    driver_dir: Path  # /opt/mxdriver
    traps: Path  # parent of the trap directories

    @property
    def lib(self) -> Path:
        return self.maca_path / "lib"

    def trap(self, name: str) -> Path:
        return self.traps / name

    def image_ld_library_path(self) -> str:
        """The MetaX image's LD_LIBRARY_PATH line (facts.md), pointed at this SDK."""
        maca = self.maca_path
        return ":".join([f"{self.driver_dir}/lib", f"{maca}/lib", f"{maca}/mxgpu_llvm/lib",
                         f"{maca}/ompi/lib", f"{maca}/ucx/lib"])

    def env(self, *before: str | Path, after: tuple[str | Path, ...] = ()) -> dict[str, str]:
        """MACA_PATH and LD_LIBRARY_PATH as in the image, ``before`` dirs first and
        ``after`` dirs last."""
        parts = [str(p) for p in before] + [self.image_ld_library_path()] + [
            str(p) for p in after]
        return {"MACA_PATH": str(self.maca_path), "LD_LIBRARY_PATH": ":".join(parts)}


def have_gcc() -> bool:
    return shutil.which("gcc") is not None


def _gcc(out: Path, source: str, *args: str) -> None:
    src = out.with_suffix(out.suffix + ".c")
    src.write_text(source)
    cmd = ["gcc", "-shared", "-fPIC", "-O0", "-o", str(out), str(src), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"gcc failed for {out.name}: {proc.stderr}")
    src.unlink()


def _versioned_runtime(out: Path, versions: list[str]) -> None:
    """libmxc-runtime64.so defining one function per version node (MXC_1.0, MXC_2.0...)."""
    script = out.parent / f"{out.name}.map"
    nodes = []
    body = []
    for index, version in enumerate(versions):
        body.append(f"int mxc_v{index}(void) {{ return {index}; }}")
        parent = f" {versions[index - 1]}" if index else ""
        nodes.append(f"{version} {{ global: mxc_v{index}; {'local: *;' if not index else ''} }}"
                     f"{parent};")
    script.write_text("\n".join(nodes) + "\n")
    _gcc(out, "\n".join(body) + "\n", "-Wl,-soname,libmxc-runtime64.so",
         f"-Wl,--version-script={script}")
    script.unlink()


def patch_machine(path: Path, machine: int = EM_AARCH64) -> None:
    """Rewrite e_machine (offset 18, little-endian) so the file is for another CPU."""
    data = bytearray(path.read_bytes())
    data[18:20] = machine.to_bytes(2, "little")
    path.write_bytes(bytes(data))


def build_fake_sdk(base: Path, *, version: str = "3.7.1.5", many: int = 10_000) -> FakeSdk:
    """Build the fake SDK under ``base`` (a fresh directory); needs gcc."""
    root = base / "root"
    opt = root / "opt"
    maca = opt / f"maca-{version}"
    lib = maca / "lib"
    ucx = maca / "ucx" / "lib"
    for directory in (lib, ucx, maca / "mxgpu_llvm" / "lib", maca / "ompi" / "lib",
                      maca / "include", opt / "mxdriver" / "lib"):
        directory.mkdir(parents=True, exist_ok=True)
    (maca / "Version.txt").write_text(f"Version:{version}\n")
    (opt / "maca").symlink_to(maca.name)
    driver = opt / "mxdriver"

    _versioned_runtime(lib / "libmxc-runtime64.so", ["MXC_1.0", "MXC_2.0"])
    _gcc(ucx / "libucp.so.0", "int ucp_init(void) { return 0; }\n", "-Wl,-soname,libucp.so.0")
    (ucx / "libucp.so").symlink_to("libucp.so.0")
    _gcc(lib / "libmcruntime.so",
         "#include <stdlib.h>\nextern int mxc_v1(void);\n"
         "int mcInit(void) { return getenv(\"MACA_X\") ? 0 : mxc_v1(); }\n",
         "-Wl,-soname,libmcruntime.so", f"-L{lib}", "-l:libmxc-runtime64.so",
         "-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN")
    _gcc(lib / "libmcblasLt.so",
         "extern int mcInit(void);\nint mcblasLtCreate(void) { return mcInit(); }\n",
         "-Wl,-soname,libmcblasLt.so", f"-L{lib}", "-l:libmcruntime.so",
         "-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN")
    _gcc(lib / "libmcblas.so",
         "extern int mcblasLtCreate(void);\nint mcblasCreate(void) { return mcblasLtCreate(); }\n",
         "-Wl,-soname,libmcblas.so", f"-L{lib}", "-l:libmcblasLt.so", "-l:libmcruntime.so",
         "-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN")
    _gcc(lib / "libmccl.so",
         "extern int mcInit(void);\nextern int ucp_init(void);\n"
         "int mcclInit(void) { return mcInit() + ucp_init(); }\n",
         "-Wl,-soname,libmccl.so", f"-L{lib}", f"-L{ucx}", "-l:libmcruntime.so", "-l:libucp.so.0",
         "-Wl,--disable-new-dtags", "-Wl,-rpath,$ORIGIN:$ORIGIN/../ucx/lib")
    _gcc(driver / "lib" / "libmxsml.so", "int mxSmlInit(void) { return 0; }\n",
         "-Wl,-soname,libmxsml.so")

    traps = base / "traps"
    for name in ("wrongarch", "old", "broken", "loop", "garbage", "shadow", "musa", "many"):
        (traps / name).mkdir(parents=True)
    shutil.copy2(lib / "libmcruntime.so", traps / "wrongarch" / "libmcruntime.so")
    patch_machine(traps / "wrongarch" / "libmcruntime.so")
    _versioned_runtime(traps / "old" / "libmxc-runtime64.so", ["MXC_1.0"])
    (traps / "broken" / "libmccl.so").symlink_to("libmccl.so.9-removed")
    (traps / "loop" / "libmcruntime.so").symlink_to("libmcruntime.so")
    (traps / "garbage" / "libmcruntime.so").write_text(
        "/* GNU ld script: the loader reads this as an ELF header and stops. */\n"
        "OUTPUT_FORMAT(elf64-x86-64)\nGROUP ( /opt/maca/lib/libmcruntime.so.1 )\n")
    _gcc(traps / "shadow" / "libmcblas.so", "int mcblasCreate(void) { return 42; }\n",
         "-Wl,-soname,libmcblas.so")
    _gcc(traps / "musa" / "libmccl.so.2", "int mcclInit(void) { return 2; }\n",
         "-Wl,-soname,libmccl.so.2")
    (traps / "musa" / "libmccl.so").symlink_to("libmccl.so.2")
    many_dir = traps / "many"
    for index in range(many):
        (many_dir / f"unrelated-{index:05d}.dat").touch()
    return FakeSdk(root=root, maca_real=maca, maca_path=opt / "maca", driver_dir=driver,
                   traps=traps)


@contextmanager
def temporary_fake_sdk(*, many: int = 10_000) -> Iterator[FakeSdk]:
    """A fake SDK in a temporary directory, removed afterwards; needs gcc (see have_gcc)."""
    with tempfile.TemporaryDirectory(prefix="sgdoctor-fakesdk-") as name:
        yield build_fake_sdk(Path(name), many=many)
