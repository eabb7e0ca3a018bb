"""The whole decoder on the reference telegrams of docs/protocol.md §9 (R1-R10) and on bad input."""

from __future__ import annotations

import pytest

from protocol.decoder import Decoder
from protocol.framing import add_crcs
from protocol.modes import FrameFormat
from protocol.telegram import HeaderKind, Telegram
from protocol.types import DecodeFailure, FailureReason, Frame, Record, SecurityStatus
from protocol.vendors.registry import COMPACT_FORMATS
from tests.protocol.corpus import wireless_rows
from tests.protocol.spec_vectors import (
    ENGELMANN,
    ENGELMANN_KEY,
    R1,
    R1_KEY,
    R2,
    R3,
    R3_KEY,
    R4,
    R4_KEY,
    R5,
    R5_KEY,
    R6,
    R7,
    R8,
    R9,
    R10,
    R10_KEY,
)


def decode(text: str, keys: dict[str, bytes] | None = None) -> Telegram:
    t = Decoder(keys).decode_hex(text)
    assert isinstance(t, Telegram), t
    return t


def find(t: Telegram, dif_vif: str) -> Record:
    return next(r for r in t.records if (r.dif + r.vif).hex().upper() == dif_vif)


def test_r1_ell_ctr_decrypts_to_kamstrup_readings() -> None:
    t = decode(R1, {"76348799": R1_KEY})
    assert (t.link.address.manufacturer, t.meter_id, t.link.address.device_type_name) == (
        "KAM", "76348799", "cold_water")
    assert t.ell is not None and (t.ell.cc, t.ell.acc, t.ell.encryption) == (0x20, 0x91, 1)
    assert t.ell.session_counter == 3
    assert t.security is SecurityStatus.DECRYPTED and t.error is None
    assert find(t, "0413").value == pytest.approx(6.408) and find(t, "0413").unit == "m3"
    assert find(t, "4413").value == pytest.approx(6.408)
    assert find(t, "615B").value == 127 and find(t, "615B").unit == "C"
    assert find(t, "6167").value == 19


def test_r1_with_a_wrong_key_gives_no_readings() -> None:
    t = decode(R1, {"76348799": bytes(16)})
    assert t.security is SecurityStatus.WRONG_KEY
    assert t.error is not None and t.error.reason is FailureReason.WRONG_KEY
    assert t.records == ()


def test_r1_without_key_is_no_key_with_headers() -> None:
    t = decode(R1)
    assert t.security is SecurityStatus.NO_KEY and t.records == ()
    assert t.link.address.id == "76348799" and t.ell is not None


def test_r2_compact_frame_after_r1_full_frame() -> None:
    decoder = Decoder({"76348799": R1_KEY})
    decoder.decode_hex(R1)
    t = decoder.decode_hex(R2)
    assert isinstance(t, Telegram) and t.error is None
    assert "compact_frame" in t.flags and "plaintext_marked_encrypted" in t.flags
    assert t.security is SecurityStatus.NONE
    assert find(t, "0413").value == pytest.approx(6.408)
    assert find(t, "615B").value == 127


def test_r3_mode5_partial_encryption_and_clear_tail() -> None:
    t = decode(R3, {"20096221": R3_KEY})
    assert t.security is SecurityStatus.DECRYPTED and t.error is None
    assert t.tpl is not None and (t.tpl.acc, t.tpl.status, t.tpl.cw) == (0x36, 0, 0x2520)
    assert (t.tpl.security_mode, t.tpl.encrypted_blocks, t.tpl.synchronous) == (5, 2, True)
    assert find(t, "046D").value == "2020-07-30T10:40"
    assert find(t, "0413").value == pytest.approx(0.106)
    assert find(t, "03FD0C").data.hex() == "080000"  # from the unencrypted tail
    assert find(t, "02FD0B").data.hex() == "0011"
    assert t.tpl.status_flags == ()


def test_r3_status_power_low() -> None:
    t = decode(R3.replace("7A3600", "7A3604"), {"20096221": R3_KEY})
    assert t.tpl is not None and t.tpl.status_flags == ("power_low",)
    assert t.security is SecurityStatus.DECRYPTED


def test_r4_long_header_mode5() -> None:
    t = decode(R4, {"61070071": R4_KEY})
    assert t.tpl is not None and t.tpl.kind is HeaderKind.LONG and t.meter_id == "61070071"
    assert t.security is SecurityStatus.DECRYPTED
    assert find(t, "0413").value == pytest.approx(466.472)
    assert find(t, "4314").value == pytest.approx(465.96)


def test_r5_mode7_format_b_with_crcs() -> None:
    t = decode(R5, {"43054304": R5_KEY})
    assert t.frame_format is FrameFormat.B and len(t.frame.data) == 195 - 4
    assert t.afl is not None and (t.afl.mcl, t.afl.mcr, t.afl.auth_type) == (0x25, 155273, 5)
    assert t.tpl is not None and (t.tpl.cw, t.tpl.cwe) == (0x0790, 0x10)
    assert t.security is SecurityStatus.DECRYPTED
    energy = find(t, "0406")
    assert energy.value * {"Wh": 1e-3, "kWh": 1}[energy.unit] == pytest.approx(9341)
    assert find(t, "0413").value == pytest.approx(1348.631)


def test_r5_tampered_ciphertext_fails_mac_without_records() -> None:
    decoder = Decoder({"43054304": R5_KEY})
    good = decoder.decode_bytes(bytes.fromhex(R5))
    assert isinstance(good, Telegram)
    tampered = bytearray(good.frame.data)
    tampered[40] ^= 0x01  # a ciphertext byte; as a receiver frame its CRCs were fine
    t = decoder.decode_frame(Frame(bytes(tampered), FrameFormat.B))
    assert isinstance(t, Telegram)
    assert t.security is SecurityStatus.BAD_MAC and t.records == ()
    assert t.error is not None and t.error.reason is FailureReason.BAD_MAC
    wrong = Decoder({"43054304": bytes(16)}).decode_bytes(add_crcs(good.frame.data,
                                                                   FrameFormat.B))
    assert isinstance(wrong, Telegram) and wrong.security is SecurityStatus.BAD_MAC
    assert wrong.frame_format is FrameFormat.B


def test_r6_format_a_with_crcs_unencrypted() -> None:
    t = decode(R6)
    assert t.frame_format is FrameFormat.A
    a = t.link.address
    assert (a.manufacturer, a.id, a.device_type, a.version) == ("SON", "27293981", 0x08, 0x16)
    assert t.security is SecurityStatus.NONE and t.error is None
    assert find(t, "046D").value == "2021-11-06T18:25"
    assert find(t, "0259").value == pytest.approx(25.16)


def test_r6_with_a_corrupted_block_is_a_crc_failure() -> None:
    raw = bytearray(bytes.fromhex(R6))
    raw[20] ^= 0x40
    failure = Decoder().decode_bytes(bytes(raw))
    assert isinstance(failure, DecodeFailure) and failure.reason is FailureReason.CRC


def test_r7_subunits() -> None:
    t = decode(R7)
    assert (t.link.address.manufacturer, t.meter_id) == ("LAS", "00010206")
    assert [(r.value, r.subunit) for r in t.records] == [(4711, 0), (1234, 1)]


def test_r8_long_header_address_is_the_meter() -> None:
    t = decode(R8)
    assert t.link.address.id == "43000255" and t.meter_id == "20254060"
    assert find(t, "426C").value == "2021-12-31"
    assert find(t, "4413").value == pytest.approx(59.682)
    assert find(t, "840113").value == pytest.approx(78.908)


def test_r9_trailing_byte_ignored_and_negative_bcd() -> None:
    t = decode(R9)
    assert len(t.frame.data) == 0x2C + 1 and t.error is None
    assert t.tpl is not None and t.tpl.status_flags == ("temporary_error",)
    assert find(t, "0B5E").value == pytest.approx(-4.0)


def test_r10_mode5_after_ell_uses_tpl_acc() -> None:
    t = decode(R10, {"50496629": R10_KEY})
    assert t.ell is not None and t.ell.acc == 0xD0 and t.tpl is not None and t.tpl.acc == 0x0D
    assert t.security is SecurityStatus.DECRYPTED
    assert find(t, "046D").value == "2025-08-20T14:51"
    assert find(t, "0413").value == pytest.approx(0.003)


def test_key_lookup_by_link_id_and_repr_hides_keys() -> None:
    decoder = Decoder({"76348799": R1_KEY})
    assert R1_KEY.hex() not in repr(decoder).lower() and "28F6" not in repr(decoder)
    t = decoder.decode_hex(R1.lower())
    assert isinstance(t, Telegram) and t.security is SecurityStatus.DECRYPTED


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2A44 2D2C 9987 3476 1B16 8", FailureReason.BAD_HEX),
        ("zz", FailureReason.BAD_HEX),
        ("2A442D2C998734761B", FailureReason.TRUNCATED),
        ("2A442D2C998734761B168D2091D37CAC21E1D6", FailureReason.TRUNCATED),
        ("05442D2C998734761B168D20", FailureReason.LENGTH),
    ],
)
def test_bad_input_is_a_failure_value(text: str, reason: FailureReason) -> None:
    result = Decoder().decode_hex(text)
    assert isinstance(result, DecodeFailure) and result.reason is reason
    assert result.detail


def test_hex_with_separators() -> None:
    spaced = " | ".join(R7[i : i + 8] for i in range(0, len(R7), 8))
    assert decode(spaced).records == decode(R7).records


def test_unknown_ci_keeps_headers_and_payload() -> None:
    t = decode("0F442D2C998734761B16" + "4F" + "0102030405")
    assert t.error is not None and t.error.reason is FailureReason.UNKNOWN_CI
    assert t.payload == bytes.fromhex("4F0102030405") and t.link.address.id == "76348799"


def test_manufacturer_ci_payload_kept() -> None:
    """A proprietary payload no meter family reads keeps its bytes and says so."""
    t = decode("0F442D2C998734761B16" + "A1" + "0102030405")
    assert t.tpl is not None and t.tpl.ci == 0xA1 and t.readings == ()
    assert t.error is not None and t.error.reason is FailureReason.VENDOR_FORMAT_UNKNOWN
    assert t.payload == bytes.fromhex("0102030405") and t.records == ()


def test_decode_frame_rejects_inconsistent_l_field() -> None:
    frame = Frame(bytes.fromhex(R7)[:-1], FrameFormat.A)
    result = Decoder().decode_frame(frame)
    assert isinstance(result, DecodeFailure) and result.reason is FailureReason.LENGTH


def test_encrypted_compact_frame_with_a_shipped_layout() -> None:
    """The engelmann CI 73 mode-5 compact frame decodes without any full frame before it: the
    Engelmann FAW layout ships with the vendor layer, and it is the one wmbusmeters lists for this
    telegram; the frame's own full-frame CRC confirms the rebuilt records."""
    row = next(r for r in wireless_rows() if r["hex"] == ENGELMANN)
    layout = bytes.fromhex("".join(r["difvif"] for r in row["records"]))
    assert layout in COMPACT_FORMATS
    compact = Decoder({"22862420": ENGELMANN_KEY}).decode_hex(ENGELMANN)
    assert isinstance(compact, Telegram) and compact.error is None, compact.error
    assert "compact_frame" in compact.flags and len(compact.records) == len(row["records"])
    assert find(compact, "4413").value == pytest.approx(228.854)
