"""NVSHMEM size and boolean parsing, including a differential test against glibc's sscanf."""

from __future__ import annotations

import math
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import unavailable
from sgdoctor.api import Status
from sgdoctor.parse.nvshmem import parse_bool, parse_size, scan_double_char

GIB = 1 << 30


@pytest.mark.parametrize(("text", "size"), [
    ("3g", 3 * GIB), ("3G", 3 * GIB), ("2GB", 2 * GIB), (" 3g", 3 * GIB), ("1.5g", 3 * GIB // 2),
    ("512m", 512 << 20), ("1t", 1 << 40), ("1048576", 1 << 20), ("2048k", 2 << 20),
    ("0x10m", 16 << 20), ("1e3m", 1000 << 20), ("1.0000001m", math.ceil(1.0000001 * (1 << 20))),
])
def test_valid_sizes(text: str, size: int) -> None:
    verdict = parse_size(text)
    assert verdict.status is Status.OK, verdict
    assert verdict.value == size


def test_meaning_is_human() -> None:
    assert parse_size("3g").meaning == "3 GiB per PE"
    assert "ignores 'B'" in parse_size("2GB").meaning


@pytest.mark.parametrize("text", ["3 g", "3\tg", "", "   ", "g", "-3g", "-1", "3x", "1ex",
                                  "inf", "nan", "1e30t", "0x", "+", "3 ", "infinit"])
def test_invalid_sizes_fail(text: str) -> None:
    verdict = parse_size(text)
    assert verdict.status is Status.FAIL, verdict
    assert verdict.remedy


def test_space_before_suffix_is_named() -> None:
    assert "space between the number and the suffix" in parse_size("3 g").meaning


@pytest.mark.parametrize("text", ["3", "0", "1e", "1023k"])
def test_tiny_or_zero_sizes_warn(text: str) -> None:
    verdict = parse_size(text)
    assert verdict.status is Status.WARN
    assert verdict.remedy


def test_forgotten_suffix_remedy_suggests_unit() -> None:
    assert "3g" in (parse_size("3").remedy or "")


@pytest.mark.parametrize(("text", "value"), [
    ("1", True), ("0", False), ("y", True), ("n", False), ("True", True), ("false", False),
    ("F", False), ("no", False),
])
def test_bool_plain_values(text: str, value: bool) -> None:
    verdict = parse_bool(text)
    assert verdict.status is Status.OK
    assert verdict.value is value


@pytest.mark.parametrize(("text", "value"), [
    ("off", True), ("", True), ("2", True), ("disable", True), ("0x1", False), ("nope", False),
    ("Off", True),
])
def test_bool_first_character_traps_warn(text: str, value: bool) -> None:
    verdict = parse_bool(text)
    assert verdict.status is Status.WARN
    assert verdict.value is value
    assert ("reads this as TRUE" if value else "reads this as FALSE") in verdict.meaning


# --- differential test: our scanner against the real glibc sscanf("%lf%c") -----------------

HARNESS = r"""
#include <stdio.h>
#include <string.h>
int main(void) {
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        double p = -1.0; char f = 0;
        int n = sscanf(line, "%lf%c", &p, &f);
        printf("%d %a %d\n", n, p, (int)(unsigned char)f);
        fflush(stdout);
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def glibc_scanf(tmp_path_factory):
    gcc = shutil.which("gcc") or shutil.which("cc")
    if not gcc:
        unavailable("a C compiler (gcc) is needed to compare with glibc's sscanf")
    workdir = tmp_path_factory.mktemp("scanf")
    (workdir / "scan.c").write_text(HARNESS)
    subprocess.run([gcc, "-O0", "-o", str(workdir / "scan"), str(workdir / "scan.c")],
                   check=True, timeout=60)
    proc = subprocess.Popen([str(workdir / "scan")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env={"LC_ALL": "C"})

    def ask(text: str) -> tuple[int, float, str | None]:
        assert proc.stdin and proc.stdout
        proc.stdin.write(text + "\n")
        proc.stdin.flush()
        count, number, char = proc.stdout.readline().split()
        return int(count), float.fromhex(number), chr(int(char)) if int(count) == 2 else None

    yield ask
    proc.kill()
    proc.wait(timeout=10)


def _same(ours, theirs) -> None:
    count, number, char = theirs
    assert ours.count == max(count, -1), (ours, theirs)
    if count >= 1:
        assert ours.number is not None
        if math.isnan(number):
            assert math.isnan(ours.number)
        else:
            assert ours.number == number, (ours, theirs)
    if count == 2:
        assert ours.char == char


TRICKY = ["3g", "3 g", " 3g", "1e", "1ex", "1e+", "1e+g", "0x", "0xg", "0x1p", "0x1pg", ".",
          ".g", "+", "-", "inf", "infinity", "infg", "in", "nan", "nan(12)g", "nan(", "1.",
          "1.g", ".5", "", "  ", "-3g", "1e5", "0x10", "0x1.8p1", "1,5", "INFINITYx",
          "infinit", "1e-", "+.5k", "+-3", "1.5.3", "1ee5", "0X1P", "0e", "00x1", "0x.8k",
          "\t\v\f 7m", "1e400", "-0", "0x1p-2000", "9" * 400]


@pytest.mark.parametrize("text", TRICKY)
def test_scanner_matches_glibc_on_known_corners(glibc_scanf, text: str) -> None:
    _same(scan_double_char(text), glibc_scanf(text))


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789.+-eExXpPaAfFiInNtTyYkKmMgG( )\t", max_size=14))
def test_scanner_matches_glibc_on_random_text(glibc_scanf, text: str) -> None:
    _same(scan_double_char(text), glibc_scanf(text))
