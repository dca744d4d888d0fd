"""README's sample outputs are what the real CLI prints in the world each describes
(tests/readme_samples.py builds the worlds; `python tests/readme_samples.py NAME` rewrites a
block): a sample cannot drift, as the etcd one did when it showed warn for one of two
members down while sgdoctor said fail."""

from __future__ import annotations

import difflib
import os
import re
import shutil

import pytest

import readme_samples
from conftest import have_netns, unavailable
from fakesdk import have_gcc
from servers import etcd_binary, nats_server_binary


def _needs_world() -> None:
    if os.geteuid() != 0 or not have_netns() or not shutil.which("unshare"):
        unavailable("README's samples run in network, mount and UTS namespaces: root needed")
    if not have_gcc() or etcd_binary() is None or nats_server_binary() is None:
        unavailable("the samples' worlds need gcc, etcd-server and nats-server")


def _block(name: str) -> str:
    text = readme_samples.README.read_text()
    start, end = readme_samples.readme_block(name, text)
    return text[start:end]


@pytest.mark.parametrize("name", sorted(readme_samples.SAMPLES))
def test_readme_sample_is_what_the_cli_prints(name):
    _needs_world()
    produced = readme_samples.SAMPLES[name]()
    shown = _block(name)
    diff = "".join(difflib.unified_diff(shown.splitlines(True), produced.splitlines(True),
                                        "README.md", "the real CLI"))
    assert produced == shown, (f"README's sample {name!r} drifted; regenerate it with "
                               f"`python tests/readme_samples.py {name}`:\n{diff}")


def test_every_output_block_of_the_readme_is_a_tested_sample():
    """A `$ command` block without a marker would be an untested sample."""
    text = readme_samples.README.read_text()
    markers = re.findall(r"<!-- sample: (\S+) \(tests/readme_samples\.py\) -->", text)
    assert sorted(markers) == sorted(readme_samples.SAMPLES)
    untested = []
    for match in re.finditer(r"^```[a-z]*\n(\$ [^\n]*)", text, re.M):
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if not re.fullmatch(r"<!-- (zh-)?sample: .* -->", before):
            untested.append(match.group(1))
    assert not untested, f"README output blocks no test generates: {untested}"

