"""The MACA parsers: Version.txt as mcoplib reads it, MACA_VISIBLE_DEVICES, `mx-smi -L`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sgdoctor.parse.maca import (
    below_minimum,
    is_master_version,
    parse_smi_list,
    parse_version_text,
    parse_visible_devices,
    release_tuple,
)

# --- Version.txt -----------------------------------------------------------------------

@pytest.mark.parametrize("text, raw, release, master", [
    ("Version:3.7.1.5\n", "3.7.1.5", (3, 7, 1), False),
    ("Version:3.8.0.3-c600u\nBuild: 42\n", "3.8.0.3-c600u", (3, 8, 0), False),
    ("Version:20251011.746\n", "20251011.746", (20251011, 746, 0), True),
    ("Version: 3.6.9\r\nrest", "3.6.9", (3, 6, 9), False),
    ("3.7.0.38.dsv4", "3.7.0.38.dsv4", (3, 7, 0), False),
    ("Version:3.7", "3.7", (3, 7, 0), False),
    ("Version:3\x0b9.9.9\n", "3\x0b9.9.9", (3, 9, 9), False),   # \v does not end a line
])
def test_version_text_reads_like_mcoplib(text, raw, release, master):
    v = parse_version_text(text)
    assert v is not None
    assert (v.raw, v.release, v.master) == (raw, release, master)


def test_version_text_blank_first_line_is_no_version():
    assert parse_version_text("") is None
    assert parse_version_text("   \nVersion:3.7.1\n") is None


def test_version_text_garbage_reads_as_zero_and_is_flagged():
    v = parse_version_text("hello world\n")
    assert v is not None and not v.looks_valid
    assert v.release == (0, 0, 0)
    assert below_minimum(v, "3.7.0")


def test_version_after_last_colon_like_mcoplib():
    v = parse_version_text("MACA Version: 3.9.1.0\n")
    assert v is not None and v.raw == "3.9.1.0"


@pytest.mark.parametrize("text, minimum, below", [
    ("Version:3.7.0.1", "3.7.0", False),
    ("Version:3.6.99.1", "3.7.0", True),
    ("Version:3.10.0", "3.7.0", False),     # numeric, not string, comparison
    ("Version:3.7.0.38-c600u", "3.7.1", True),
    ("Version:2.33.1.4", "3.7.0", True),
    ("Version:20251011.746", "3.7.0", False),  # date-based master build: not compared
    ("Version:20251011.746", "99.0.0", False),
    ("Version:2025101.1", "3.7.0", False),  # 7 digits is not a date: a release 2025101.1.0
])
def test_below_minimum(text, minimum, below):
    v = parse_version_text(text)
    assert v is not None and below_minimum(v, minimum) is below


def test_master_version_shape():
    assert is_master_version("20251011") and is_master_version(" 20251011.746 ")
    assert not is_master_version("2025101.1") and not is_master_version("20251011.7a")


def test_release_tuple_huge_digit_runs_stay_cheap():
    assert release_tuple("9" * 10000 + ".1") [1] == 1


@given(st.text(max_size=300))
def test_version_text_never_raises(text):
    v = parse_version_text(text)
    if v is not None:
        assert len(v.release) == 3 and all(n >= 0 for n in v.release)
        below_minimum(v, text[:20])


# --- MACA_VISIBLE_DEVICES ---------------------------------------------------------------

def test_visible_devices_indices():
    p = parse_visible_devices("0,1,7")
    assert p.indices == (0, 1, 7) and not p.problems and not p.uuids and not p.empty


def test_visible_devices_empty_means_hidden():
    assert parse_visible_devices("").empty
    assert parse_visible_devices("  ").empty


def test_visible_devices_other_shapes_are_reported():
    p = parse_visible_devices("0, 1,gpu0,,GPU-0a1b-22,-1,1")
    assert p.indices == (0, 1, 1)
    assert p.uuids == ("GPU-0a1b-22",)
    assert p.duplicates == ("1",)
    text = " ".join(map(str, p.problems))
    assert "' 1' has spaces" in text and "'gpu0'" in text and "empty entry" in text
    assert "'-1'" in text


def test_visible_devices_huge_index_is_out_of_any_range():
    p = parse_visible_devices("1" + "0" * 40)
    assert p.indices and p.indices[0] >= 10**18


def test_visible_devices_non_ascii_digits_are_not_indices():
    p = parse_visible_devices("\u0663")   # ARABIC-INDIC DIGIT THREE: isdigit() but not ASCII
    assert p.indices == () and p.problems


@given(st.text(max_size=200))
def test_visible_devices_never_raises(text):
    p = parse_visible_devices(text)
    assert all(i >= 0 for i in p.indices)


# --- mx-smi -L --------------------------------------------------------------------------

HEALTHY = "mx-smi  version: 2.3.1\n\n" + "".join(
    f"GPU#{i}    MXC500      0000:{0x0e + i:02x}:00.0   Available\n" for i in range(8))


def test_smi_healthy_eight():
    listing = parse_smi_list(HEALTHY)
    assert [g.index for g in listing.gpus] == list(range(8))
    assert all(g.available and g.model == "MXC500" for g in listing.gpus)
    assert listing.gpus[0].bus_id == "0000:0e:00.0"
    assert not listing.unavailable and not listing.unparsed


def test_smi_not_available_with_reason():
    text = HEALTHY.replace(
        "GPU#3    MXC500      0000:11:00.0   Available",
        "GPU#3    MXC500      0000:11:00.0   Not Available(MetaX Sysfs File Unaccessible)")
    listing = parse_smi_list(text)
    (bad,) = listing.unavailable
    assert bad.index == 3 and bad.reason == "MetaX Sysfs File Unaccessible"
    assert bad.state == "Not Available(MetaX Sysfs File Unaccessible)"
    assert len(listing.gpus) == 8


def test_smi_uuid_suffix_and_hyphenated_model():
    listing = parse_smi_list("GPU#0    MXC600-AL    0000:06:00.0    Available (UUID: GPU-ab-12)")
    (gpu,) = listing.gpus
    assert (gpu.model, gpu.bus_id, gpu.uuid, gpu.available) == (
        "MXC600-AL", "0000:06:00.0", "GPU-ab-12", True)


def test_smi_line_without_state_is_unparsed_not_guessed():
    listing = parse_smi_list("GPU#0    MXC500      0000:0e:00.0   Initializing\n")
    assert listing.gpus == () and listing.unparsed


def test_smi_no_gpu_lines():
    assert parse_smi_list("No MetaX device found\n").gpus == ()


@given(st.text(max_size=400))
def test_smi_never_raises(text):
    listing = parse_smi_list(text)
    assert len(listing.gpus) + len(listing.unparsed) <= text.count("#") + 1


@given(st.lists(st.tuples(st.integers(0, 63), st.sampled_from(["MXC500", "MXC550", "C600"]),
                          st.booleans()), max_size=10))
def test_smi_roundtrip(rows):
    text = "".join(
        f"GPU#{i}    {model}      0000:{i:02x}:00.0   "
        f"{'Available' if ok else 'Not Available(MetaX Sysfs File Unaccessible)'}\n"
        for i, model, ok in rows)
    listing = parse_smi_list(text)
    assert [(g.index, g.model, g.available) for g in listing.gpus] == rows


def test_smi_unavailable_spelling_is_not_available():
    (gpu,) = parse_smi_list("GPU#2    MXC500      0000:10:00.0   Unavailable\n").gpus
    assert not gpu.available and gpu.state == "Unavailable"

