"""Link layer: M-field letters, ids, C-field names, device types, frame location.

docs/protocol.md §2.
"""

from __future__ import annotations

import pytest

from protocol.device_types import device_type_name
from protocol.framing import add_crcs
from protocol.link import locate_frame, parse_address, parse_link_header
from protocol.manufacturers import DiehlLayout, manufacturer_code, manufacturer_letters
from protocol.modes import FrameFormat
from protocol.telegram import c_field_name
from protocol.types import DecodeFailure, FailureReason
from tests.protocol.spec_vectors import R5, R6, R7, R9


@pytest.mark.parametrize(
    ("code", "m", "on_air"),
    [("KAM", 0x2C2D, "2D2C"), ("EFE", 0x14C5, "C514"), ("DWZ", 0x12FA, "FA12"),
     ("SEN", 0x4CAE, "AE4C"), ("QDS", 0x4493, "9344"), ("SON", 0x4DEE, "EE4D"),
     ("TCH", 0x5068, "6850"), ("LAS", 0x3033, "3330"), ("APT", 0x0614, "1406"),
     ("ZRI", 0x6A49, "496A")],
)
def test_manufacturer_table_of_spec(code: str, m: int, on_air: str) -> None:
    assert manufacturer_code(code) == m
    assert manufacturer_letters(m) == code
    assert parse_address(bytes.fromhex(on_air) + bytes(6)).manufacturer == code


def test_manufacturer_bit15_ignored_and_odd_codes_still_shown() -> None:
    assert manufacturer_letters(0x2C2D | 0x8000) == "KAM"
    assert manufacturer_letters(0) == "@@@"
    with pytest.raises(ValueError, match="three letters"):
        manufacturer_code("K1M")


def test_id_bcd_and_non_bcd() -> None:
    bcd = parse_address(bytes.fromhex("2D2C" "99873476" "1B16"))
    assert (bcd.id, bcd.id_is_bcd) == ("76348799", True)
    hexid = parse_address(bytes.fromhex("2D2C" "9A8734F6" "1B16"))
    assert (hexid.id, hexid.id_is_bcd) == ("F634879A", False)


@pytest.mark.parametrize(
    ("c", "name"),
    [(0x44, "SND_NR"), (0x46, "SND_IR"), (0x47, "ACC_NR"), (0x48, "ACC_DMD"), (0x08, "RSP_UD"),
     (0x28, "RSP_UD"), (0x00, "ACK"), (0x01, "NACK"), (0x40, "SND_NKE"), (0x53, "SND_UD"),
     (0x73, "SND_UD"), (0x43, "SND_UD2"), (0x5A, "REQ_UD1"), (0x7B, "REQ_UD2"), (0x06, "CNF_IR"),
     (0x45, "SND_UD3"), (0x0F, "C_0x0F")],
)
def test_c_field_names(c: int, name: str) -> None:
    assert c_field_name(c) == name


def test_device_types_with_techem_extras_and_unknown() -> None:
    assert device_type_name(0x07) == "water"
    assert device_type_name(0x80, "TCH") == "heat_cost_allocator"
    assert device_type_name(0x80, "KAM") == "unknown_0x80"
    assert device_type_name(0x62, "TCH") == "warm_water"


def test_locate_crc_less_with_trailing_byte() -> None:
    frame, fmt = locate_frame(bytes.fromhex(R9))  # type: ignore[misc]
    assert fmt is None and frame.data == bytes.fromhex(R9)[:-1]


def test_locate_format_a_and_b_with_crcs() -> None:
    frame, fmt = locate_frame(bytes.fromhex(R6))  # type: ignore[misc]
    assert fmt is FrameFormat.A and len(frame.data) == 0x34 + 1
    frame_b, fmt_b = locate_frame(bytes.fromhex(R5))  # type: ignore[misc]
    assert fmt_b is FrameFormat.B and frame_b.data[0] == len(frame_b.data) - 1
    data = bytes.fromhex(R7)
    for f in FrameFormat:
        found, got = locate_frame(add_crcs(data, f) + b"\x99")  # type: ignore[misc]
        assert (found.data, got) == (data, f)


def test_l_field_too_large_is_truncated_with_detail() -> None:
    failure = locate_frame(bytes.fromhex(R7)[:-3])
    assert isinstance(failure, DecodeFailure) and failure.reason is FailureReason.TRUNCATED
    assert "L field 35" in failure.detail


def test_damaged_later_block_of_format_a_is_a_crc_failure() -> None:
    raw = bytearray(add_crcs(bytes.fromhex(R7), FrameFormat.A))
    raw[-3] ^= 0x10
    found = locate_frame(bytes(raw))
    assert isinstance(found, DecodeFailure) and found.reason is FailureReason.CRC
    assert "block(s) 3 of 3" in found.detail


def test_diehl_real_data_address_is_swapped() -> None:
    data = bytes.fromhex("1E4424238B06204790607A2A0010D80413DDC00000426CBF23441382BB0000")
    link = parse_link_header(data)
    assert link.layout is DiehlLayout.SWAPPED
    assert (link.address.id, link.address.version, link.address.device_type) == (
        "60904720", 0x8B, 0x06)
