"""`maca.sdk`: the MACA SDK that MACA_PATH names — layout, version, and a C compiler."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from sgdoctor.api import Context, Result, Status, check
from sgdoctor.parse.maca import (
    DEFAULT_DRIVER_DIR,
    DEFAULT_MACA_DIR,
    MacaVersion,
    below_minimum,
    fold_findings,
    parse_version_text,
)

DEFAULT_MIN_VERSION = "3.7.0"
ENV = ("MACA_PATH", "PATH", "CC")

if TYPE_CHECKING:
    from sgdoctor.probe.maca import Compiler, FileText


@check("maca.sdk", title="MACA SDK (MACA_PATH)", env=ENV, timeout=3.0, tags=("maca",))
def maca_sdk(ctx: Context) -> Result:
    """MetaX Triton asserts "Not found MACA_PATH" when MACA_PATH is unset, then runs
    $MACA_PATH/mxgpu_llvm/bin/mxcc and ld.lld and builds C launchers with the host compiler;
    mcoplib refuses a MACA older than its floor (Version.txt, default minimum 3.7.0).

    Settings: maca_dir (default /opt/maca), driver_dir (/opt/mxdriver), min_version (3.7.0).
    """
    from sgdoctor.probe.maca import find_c_compiler, path_entry, sdk_layout, shown

    maca_dir = str(ctx.setting("maca_dir", DEFAULT_MACA_DIR))
    driver_dir = str(ctx.setting("driver_dir", DEFAULT_DRIVER_DIR))
    minimum = str(ctx.setting("min_version", DEFAULT_MIN_VERSION))
    if not minimum[:1].isdigit():
        return Result.error(f'setting min_version={minimum!r} of [checks."maca.sdk"] is not a '
                            'version like "3.7.0"', env=ENV)
    path = ctx.env.get("MACA_PATH")

    if path is None:
        if path_entry(maca_dir).exists:
            return Result.fail(
                f"MACA_PATH is not set, but a MACA SDK is at {shown(maca_dir)}: MetaX Triton "
                'stops with "Not found MACA_PATH"',
                remedy=f"export MACA_PATH={shown(maca_dir)}", env=ENV,
                details={"maca_dir": shown(maca_dir)})
        if path_entry(driver_dir).exists:
            return Result.warn(
                f"MACA_PATH is not set and there is no SDK at {shown(maca_dir)}, though the "
                f"MetaX driver is at {shown(driver_dir)}: MACA programs cannot run here",
                remedy="Run inside the MACA image, or install the MACA SDK and export "
                       "MACA_PATH=<its directory>", env=ENV)
        return Result.skip(f"no MetaX software here: MACA_PATH unset, no {shown(maca_dir)}, "
                           f"no {shown(driver_dir)}", env=ENV)

    if path == "":
        return Result.fail("MACA_PATH is set but empty", env=ENV,
                           remedy=f"export MACA_PATH={shown(maca_dir)} (the SDK directory)")

    layout = sdk_layout(path)
    name = shown(path)
    details: dict[str, object] = {"maca_path": name}
    if not layout.root.exists:
        why = "a broken symlink" if layout.root.broken_link else "does not exist"
        return Result.fail(f"MACA_PATH={name} {why}", env=ENV, details=details,
                           remedy=f"Point MACA_PATH at the installed SDK, e.g. "
                                  f"export MACA_PATH={shown(maca_dir)}")
    if not layout.root.is_dir:
        return Result.fail(f"MACA_PATH={name} is not a directory", env=ENV, details=details,
                           remedy="Set MACA_PATH to the SDK directory (the one holding lib/ "
                                  "and mxgpu_llvm/), not to a file in it")

    real = shown(layout.real_path or path)
    details["real_path"] = real
    where = f"{name} (-> {real})" if layout.via_symlink else name
    fails: list[tuple[str, str]] = []
    warns: list[tuple[str, str]] = []
    if not os.path.isabs(path):
        warns.append((f"MACA_PATH={name} is relative: it depends on the working directory",
                      f"export MACA_PATH={real}"))

    details["dirs"] = {sub: entry.is_dir for sub, entry in layout.dirs.items()}
    for sub, entry in layout.dirs.items():
        if not entry.is_dir:
            fails.append((f"{where} has no {sub}/ directory",
                          "Reinstall the MACA SDK or point MACA_PATH at a complete one"))
    tools = {}
    for rel, entry in layout.tools.items():
        tools[rel] = entry.executable
        if not entry.exists:
            fails.append((f"{rel} is missing under {where} (MetaX Triton needs it)",
                          "Reinstall the MACA SDK (its mxgpu_llvm toolchain is incomplete)"))
        elif not entry.executable:
            fails.append((f"{rel} under {where} is not an executable file",
                          f"chmod +x {shown(os.path.join(path, rel))}"))
    details["tools_executable"] = tools

    version, verdict = _judge_version(layout.version, minimum)
    details["version"] = version.raw if version else None
    details["min_version"] = minimum
    if verdict is not None:
        (fails if verdict[0] == "fail" else warns).append(verdict[1:])

    compiler = find_c_compiler(ctx.env)
    details["c_compiler"] = {"source": compiler.source, "command": compiler.command,
                             "path": compiler.path}
    if compiler.path is None:
        warns.append(_compiler_problem(compiler))

    verdict = fold_findings(fails, warns)
    if verdict:
        status, summary, remedy = verdict
        return Result(Status(status), summary, remedy, details, ENV)
    master = version is not None and version.master
    note = " (a date-based master build: mcoplib does not compare it)" if master else ""
    return Result.ok(f"MACA {details['version']}{note} at {where}; mxcc, ld.lld and "
                     f"{compiler.command} found", details=details, env=ENV)


Verdict = tuple[str, str, str]     # (status, summary, remedy)


def _judge_version(head: FileText, minimum: str) -> tuple[MacaVersion | None, Verdict | None]:
    """Version.txt against the floor: the parsed version, and a verdict unless all is well."""
    reinstall = "Reinstall the MACA SDK (Version.txt should start with Version:<x.y.z...>)"
    if head.problem is not None:
        return None, ("warn", f"Version.txt: {head.problem}; the MACA version is unknown "
                              "(mcoplib's build refuses an SDK without it)", reinstall)
    text = head.text or ""
    if head.truncated and "\n" not in text and "\r" not in text:
        return None, ("warn", "Version.txt's first line is longer than 64 KiB: not a "
                              "MACA version file", reinstall)
    version = parse_version_text(text)
    if version is None:
        return None, ("warn", "Version.txt is empty: the MACA version is unknown", reinstall)
    line = version.first_line[:80]
    if head.undecodable:
        return version, ("warn", f"Version.txt is not UTF-8 text ({line!r}): mcoplib "
                                 "fails reading it", reinstall)
    if not version.looks_valid:
        return version, ("warn", f"Version.txt's first line {line!r} holds no MACA version "
                                 f"(mcoplib would read it as {_dotted(version.release)})",
                         reinstall)
    if below_minimum(version, minimum):
        return version, ("fail", f"MACA {version.raw} is older than the minimum {minimum} "
                                 f"(mcoplib refuses it)",
                         f"Use a MACA SDK >= {minimum} (or lower min_version in the config)")
    return version, None


def _dotted(release: tuple[int, int, int]) -> str:
    return ".".join(map(str, release))


def _compiler_problem(compiler: Compiler) -> tuple[str, str]:
    if compiler.source == "CC":
        return (f"CC={compiler.command!r} does not name a program on PATH: Triton builds its "
                "launchers at run time and will fail",
                "Set CC to an installed C compiler (e.g. CC=gcc) or unset it")
    from sgdoctor.probe.maca import shown

    summary = ("no C compiler (gcc or clang) on PATH: Triton builds its launchers at run time "
               "and fails with \"Failed to find C compiler\"")
    if compiler.plain_cc:
        return (summary + f" (there is {shown(compiler.plain_cc)}, but Triton does not "
                "try `cc`)", f"export CC={shown(compiler.plain_cc)}")
    return summary, "Install one (apt-get install -y gcc) or set CC=/path/to/compiler"
