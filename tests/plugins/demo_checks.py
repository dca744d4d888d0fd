"""Checks with known behaviour, loaded through --checks-dir by the core tests."""

import os
import time

from sgdoctor.api import Result, check


@check("demo.ok", title="Always fine", env=["DEMO_VALUE"])
def always_ok(ctx):
    """Says ok and echoes DEMO_VALUE."""
    return Result.ok(f"value is {ctx.env.get('DEMO_VALUE', '<unset>')}")


@check("demo.warn", title="Always warns")
def always_warns(ctx):
    return Result.warn("something is risky", remedy="look at it")


@check("demo.fail", title="Fails when DEMO_FAIL is set", env=["DEMO_FAIL"])
def fails_on_demand(ctx):
    if ctx.env.get("DEMO_FAIL"):
        return Result.fail(f"DEMO_FAIL={ctx.env['DEMO_FAIL']}", remedy="unset DEMO_FAIL",
                           details={"url": ctx.env.get("DEMO_URL", "")})
    return Result.ok("DEMO_FAIL is not set")


@check("demo.raise", title="Raises when DEMO_RAISE is set")
def raises(ctx):
    if ctx.env.get("DEMO_RAISE"):
        raise RuntimeError("boom from a plugin")
    return Result.ok("did not raise")


@check("demo.hang", title="Hangs when DEMO_HANG is set", timeout=60)
def hangs(ctx):
    if ctx.env.get("DEMO_HANG"):
        if ctx.env.get("DEMO_HANG_MARKER"):
            open(ctx.env["DEMO_HANG_MARKER"], "w").close()
        time.sleep(3600)
    return Result.ok("did not hang")


@check("demo.dependent", title="Depends on demo.fail", depends_on=["demo.fail"])
def dependent(ctx):
    return Result.ok("dependency was fine")


@check("demo.setting", title="Reads a per-check setting")
def reads_setting(ctx):
    return Result.ok(f"greeting={ctx.setting('greeting', 'none')} pid={os.getpid()}")


@check("demo.file", title="Passes once DEMO_WAIT_FILE exists", env=["DEMO_WAIT_FILE"])
def file_appears(ctx):
    path = ctx.env.get("DEMO_WAIT_FILE")
    if not path:
        return Result.skip("DEMO_WAIT_FILE is not set")
    with open(path + ".attempts", "a") as fh:
        fh.write("x")
    if os.path.exists(path):
        return Result.ok(f"{path} exists")
    return Result.fail(f"{path} does not exist yet", remedy="create it")


@check("demo.after_file", title="Depends on demo.file", depends_on=["demo.file"])
def after_file(ctx):
    return Result.ok("demo.file passed")
