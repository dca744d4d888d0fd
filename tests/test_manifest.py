"""sgdoctor.manifest: the built-in checks planned without importing a check module."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import sgdoctor
from sgdoctor.api import Context
from sgdoctor.registry import builtin_specs, imported_builtin_specs, manifest_source

MANIFEST = Path(sgdoctor.__file__).with_name("manifest.py")
FIELDS = ("id", "title", "env", "timeout", "depends_on", "tags", "explain", "source",
          "settings")


def test_the_manifest_is_what_the_check_modules_declare():
    assert MANIFEST.read_text(encoding="utf-8") == manifest_source(), \
        "regenerate: python -m sgdoctor.registry"


def test_every_built_in_spec_matches_its_module_and_runs_its_function():
    planned = builtin_specs()
    declared = [spec for _, spec in imported_builtin_specs()]
    assert [s.id for s in planned] == [s.id for s in declared]
    for lazy, real in zip(planned, declared, strict=True):
        assert {f: getattr(lazy, f) for f in FIELDS} == {f: getattr(real, f) for f in FIELDS}
    env = {"NVSHMEM_SYMMETRIC_SIZE": "3g", "PATH": "/usr/bin:/bin"}
    for check_id in ("env.path", "env.nvshmem_disable_cuda_vmm", "env.names"):
        lazy = next(s for s in planned if s.id == check_id)
        real = next(s for s in declared if s.id == check_id)
        results = [spec.run(Context(env, deadline=time.monotonic() + 5, options={}))
                   for spec in (lazy, real)]
        assert results[0] == results[1]


def test_planning_imports_no_check_module():
    probe = ("import sys\nfrom sgdoctor.registry import discover\nspecs = discover(())\n"
             "print(len(specs), sorted(m for m in sys.modules "
             "if m.startswith('sgdoctor.checks.')))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split(" ", 1)[1].strip() == "[]", proc.stdout
