"""`maca.sdk`: the MACA SDK that MACA_PATH names — layout, version, and a C compiler."""

from __future__ import annotations

import os

from sgdoctor.api import Context, FailureKind, Finding, Findings, Result, Status, Text, check
from sgdoctor.parse.maca import (
    DEFAULT_DRIVER_DIR,
    DEFAULT_MACA_DIR,
    MacaVersion,
    below_minimum,
    parse_version_text,
)
from sgdoctor.parse.verdict import PATH_LIMIT, shown

TYPE_CHECKING = False

DEFAULT_MIN_VERSION = "3.7.0"
ENV = ("MACA_PATH", "PATH", "CC")
# probe.maca's own words for a Version.txt it could not read (the OS's words stay verbatim).
VERSION_PROBLEMS = {"missing": Text("missing"), "not a regular file": Text("not a regular file")}
REINSTALL = Text("Reinstall the MACA SDK (Version.txt should start with Version:<x.y.z...>)")

if TYPE_CHECKING:
    from sgdoctor.probe.maca import Compiler, FileText


@check("maca.sdk", title="MACA SDK (MACA_PATH)", env=ENV, timeout=3.0, tags=("maca",),
       settings={"maca_dir": str, "driver_dir": str, "min_version": str})
def maca_sdk(ctx: Context) -> Result:
    """MetaX Triton asserts "Not found MACA_PATH" when MACA_PATH is unset, then runs
    $MACA_PATH/mxgpu_llvm/bin/mxcc and ld.lld and builds C launchers with the host compiler;
    mcoplib refuses a MACA older than its floor (Version.txt, default minimum 3.7.0).

    Settings: maca_dir (default /opt/maca), driver_dir (/opt/mxdriver), min_version (3.7.0).
    """
    from sgdoctor.probe.maca import find_c_compiler, path_entry, sdk_layout

    maca_dir = str(ctx.setting("maca_dir", DEFAULT_MACA_DIR))
    driver_dir = str(ctx.setting("driver_dir", DEFAULT_DRIVER_DIR))
    minimum = str(ctx.setting("min_version", DEFAULT_MIN_VERSION))
    if not minimum[:1].isdigit():
        return Result.error(Text('setting min_version={value} of [checks."maca.sdk"] is not a '
                                 'version like "3.7.0"', value=repr(minimum)), env=ENV)
    path = ctx.env.get("MACA_PATH")
    default = shown(maca_dir, PATH_LIMIT)
    found = Findings()

    if path is None:
        if path_entry(maca_dir).exists:
            found.fail(Text('MACA_PATH is not set, but a MACA SDK is at {path}: MetaX Triton '
                            'stops with "Not found MACA_PATH"', path=default),
                       Text("export MACA_PATH={path}", path=default), code="maca_path_unset")
            return found.result("", details={"maca_dir": default}, env=ENV)
        driver = shown(driver_dir, PATH_LIMIT)
        if path_entry(driver_dir).exists:
            found.warn(Text("MACA_PATH is not set and there is no SDK at {path}, though the "
                            "MetaX driver is at {driver}: MACA programs cannot run here",
                            path=default, driver=driver),
                       "Run inside the MACA image, or install the MACA SDK and export "
                       "MACA_PATH=<its directory>", code="sdk_missing_driver_present")
            return found.result("", env=ENV)
        return Result.skip(Text("no MetaX software here: MACA_PATH unset, no {path}, "
                                "no {driver}", path=default, driver=driver), env=ENV)

    if path == "":
        found.fail("MACA_PATH is set but empty",
                   Text("export MACA_PATH={path} (the SDK directory)", path=default),
                   code="maca_path_empty")
        return found.result("", env=ENV)

    layout = sdk_layout(path)
    name = shown(path, PATH_LIMIT)
    details: dict[str, object] = {"maca_path": name}
    if not layout.root.exists:
        broken = layout.root.broken_link
        found.fail(Text("MACA_PATH={path} is a broken symlink", path=name) if broken else
                   Text("MACA_PATH={path} does not exist", path=name),
                   Text("Point MACA_PATH at the installed SDK, e.g. export MACA_PATH={default}",
                        default=default),
                   code="maca_path_broken_symlink" if broken else "maca_path_missing")
        return found.result("", details=details, env=ENV)
    if not layout.root.is_dir:
        found.fail(Text("MACA_PATH={path} is not a directory", path=name),
                   "Set MACA_PATH to the SDK directory (the one holding lib/ and mxgpu_llvm/), "
                   "not to a file in it",
                   code="maca_path_not_directory")
        return found.result("", details=details, env=ENV)

    real = shown(layout.real_path or path, PATH_LIMIT)
    details["real_path"] = real
    where = f"{name} (-> {real})" if layout.via_symlink else name
    if not os.path.isabs(path):
        found.warn(Text("MACA_PATH={path} is relative: it depends on the working directory",
                        path=name),
                   Text("export MACA_PATH={path}", path=real), code="maca_path_relative")

    details["dirs"] = {sub: entry.is_dir for sub, entry in layout.dirs.items()}
    for sub, entry in layout.dirs.items():
        if not entry.is_dir:
            found.fail(Text("{path} has no {sub}/ directory", path=where, sub=sub),
                       "Reinstall the MACA SDK or point MACA_PATH at a complete one",
                       code=f"{sub}_dir_missing")
    tools = {}
    for rel, entry in layout.tools.items():
        tools[rel] = entry.executable
        tool = os.path.basename(rel).replace(".", "_")
        if not entry.exists:
            found.fail(Text("{tool} is missing under {path} (MetaX Triton needs it)",
                            tool=rel, path=where),
                       "Reinstall the MACA SDK (its mxgpu_llvm toolchain is incomplete)",
                       code=f"{tool}_missing")
        elif not entry.executable:
            found.fail(Text("{tool} under {path} is not an executable file", tool=rel,
                            path=where),
                       Text("chmod +x {path}", path=shown(os.path.join(path, rel), PATH_LIMIT)),
                       code=f"{tool}_not_executable")
    details["tools_executable"] = tools

    version, problem = _judge_version(layout.version, minimum)
    details["version"] = version.raw if version else None
    details["min_version"] = minimum
    if problem is not None:
        found.extend([problem])

    compiler = find_c_compiler(ctx.env)
    details["c_compiler"] = {"source": compiler.source, "command": compiler.command,
                             "path": compiler.path}
    if compiler.path is None:
        found.extend([_compiler_problem(compiler)])

    master = version is not None and version.master
    summary = (Text("MACA {version} (a date-based master build: mcoplib does not compare it) "
                    "at {path}; mxcc, ld.lld and {cc} found", version=details["version"],
                    path=where, cc=compiler.command) if master else
               Text("MACA {version} at {path}; mxcc, ld.lld and {cc} found",
                    version=details["version"], path=where, cc=compiler.command))
    return found.result(summary, details=details, env=ENV)


def _judge_version(head: FileText, minimum: str) -> tuple[MacaVersion | None, Finding | None]:
    """Version.txt against the floor: the parsed version, and a finding unless all is well."""
    if head.problem is not None:
        code = ("version_file_missing" if head.kind is FailureKind.NOT_FOUND else
                "version_not_a_file" if head.kind is FailureKind.NOT_A_FILE else
                "version_unreadable")
        problem = VERSION_PROBLEMS.get(head.problem, head.problem)
        return None, _finding(Status.WARN, Text("Version.txt: {problem}; the MACA version is "
                                               "unknown (mcoplib's build refuses an SDK "
                                               "without it)", problem=problem),
                             REINSTALL, code)
    text = head.text or ""
    if head.truncated and "\n" not in text and "\r" not in text:
        return None, _finding(Status.WARN, Text("Version.txt's first line is longer than 64 "
                                               "KiB: not a MACA version file"), REINSTALL,
                             "version_too_long")
    version = parse_version_text(text)
    if version is None:
        return None, _finding(Status.WARN,
                             Text("Version.txt is empty: the MACA version is unknown"),
                             REINSTALL, "version_empty")
    line = version.first_line[:80]
    if head.undecodable:
        return version, _finding(Status.WARN, Text("Version.txt is not UTF-8 text ({line}): "
                                                  "mcoplib fails reading it", line=repr(line)),
                                REINSTALL, "version_not_utf8")
    if not version.looks_valid:
        return version, _finding(Status.WARN, Text("Version.txt's first line {line} holds no "
                                                  "MACA version (mcoplib would read it as "
                                                  "{read})", line=repr(line),
                                                  read=_dotted(version.release)),
                                REINSTALL, "version_invalid")
    if below_minimum(version, minimum):
        return version, _finding(Status.FAIL, Text("MACA {version} is older than the minimum "
                                                  "{minimum} (mcoplib refuses it)",
                                                  version=version.raw, minimum=minimum),
                                Text("Use a MACA SDK >= {minimum} (or lower min_version in the "
                                     "config)", minimum=minimum), "version_below_minimum")
    return version, None


def _dotted(release: tuple[int, int, int]) -> str:
    return ".".join(map(str, release))


def _compiler_problem(compiler: Compiler) -> Finding:
    if compiler.source == "CC":
        return _finding(Status.WARN, Text("CC={command} does not name a program on PATH: "
                                         "Triton builds its launchers at run time and will "
                                         "fail", command=repr(compiler.command)),
                       Text("Set CC to an installed C compiler (e.g. CC=gcc) or unset it"),
                       "cc_not_found")
    if compiler.plain_cc:
        cc = shown(compiler.plain_cc, PATH_LIMIT)
        return _finding(Status.WARN, Text("no C compiler (gcc or clang) on PATH: Triton builds "
                                         "its launchers at run time and fails with \"Failed to "
                                         "find C compiler\" (there is {cc}, but Triton does "
                                         "not try `cc`)", cc=cc),
                       Text("export CC={cc}", cc=cc), "only_plain_cc")
    return _finding(Status.WARN, Text("no C compiler (gcc or clang) on PATH: Triton builds its "
                                     "launchers at run time and fails with \"Failed to find C "
                                     "compiler\""),
                   Text("Install one (apt-get install -y gcc) or set CC=/path/to/compiler"),
                   "no_c_compiler")


def _finding(status: Status, summary: Text, remedy: Text, code: str) -> Finding:
    """A Finding from templates (Findings.add turns Text into text and message)."""
    return Findings().add(status, summary, remedy, code=code)
