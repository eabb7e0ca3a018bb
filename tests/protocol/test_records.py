"""Data records: worked examples (docs/protocol.md §7-§9), error handling, compact frames, JSON."""

from __future__ import annotations

import json

import pytest

from protocol.crc import crc16
from protocol.framing import strip_crcs
from protocol.modes import FrameFormat
from protocol.records import (
    encode_record,
    expand_compact,
    format_signature_bytes,
    make_dif,
    parse_records,
    record_to_dict,
)
from protocol.types import FailureReason, Record, RecordFunction


def records_of(hex_text: str) -> tuple[Record, ...]:
    result = parse_records(bytes.fromhex(hex_text.replace(" ", "")))
    assert result.failure is None, result.failure
    return result.records


def summary(r: Record) -> tuple:
    return (r.quantity, r.unit, r.value, r.storage, r.tariff, r.subunit, str(r.function))


# docs/protocol.md §7.10: plaintext records of R5 after mode-7 decryption.
R5_RECORDS = ("2F2F 046D3A2A283C 04067D240000 041317941400 01FD1700 426C1F3C 4406250B0000"
              " 840106 53230000 03FD0C050100")


def test_spec_7_10_worked_records_of_r5() -> None:
    got = [summary(r) for r in records_of(R5_RECORDS)]
    assert got == [
        ("date_time", "", "2025-12-08T10:58", 0, 0, 0, "instantaneous"),
        ("energy", "Wh", 9341 * 1000, 0, 0, 0, "instantaneous"),
        ("volume", "m3", 1348.631, 0, 0, 0, "instantaneous"),
        ("error_flags", "", 0, 0, 0, 0, "instantaneous"),
        ("date", "", "2024-12-31", 1, 0, 0, "instantaneous"),
        ("energy", "Wh", 2853 * 1000, 1, 0, 0, "instantaneous"),
        ("energy", "Wh", 9043 * 1000, 2, 0, 0, "instantaneous"),
        ("model_version", "", "000105", 0, 0, 0, "instantaneous"),
    ]


@pytest.mark.parametrize(
    ("hex_text", "quantity", "unit", "value", "extensions"),
    [
        ("0B5E4000F0", "return_temperature", "C", -4.0, ()),  # negative BCD (R9)
        ("05FF2D0000803F", "manufacturer_specific", "", 1.0, ()),  # real32 (docs/protocol.md §7.10)
        ("04933C00000000", "volume", "m3", 0.0, ("backward_flow",)),  # R3
        ("0B5A410200", "flow_temperature", "C", 24.1, ()),  # R9
        ("0C2222410100", "on_time", "h", 14122, ()),  # R9: BCD digits LE by byte
        ("04136A000000", "volume", "m3", 0.106, ()),  # R3: exact decimal scaling
        ("0413FFFFFFFF", "volume", "m3", -0.001, ()),  # R10: type B is signed
        ("02FF207100", "manufacturer_specific", "", 0x71, ()),  # R1
        ("03FD0C080000", "model_version", "", "000008", ()),  # R3 meter_version
        ("02FD0B0011", "parameter_set", "", "1100", ()),  # R3 parameter_set
    ],
)
def test_single_records_from_spec(hex_text: str, quantity: str, unit: str, value: object,
                                  extensions: tuple[str, ...]) -> None:
    (record,) = records_of(hex_text)
    assert (record.quantity, record.unit, record.value) == (quantity, unit, value)
    assert record.extensions == extensions
    assert repr(record.value) == repr(value)  # 0.106, not 0.10600000000000001


def test_lvar_text_is_sent_last_character_first() -> None:
    (record,) = records_of("0D 79 0E 31323334353637383839595345 31")
    assert (record.quantity, record.value) == ("enhanced_id", "1ESY9887654321")
    assert record.data[0] == 0x0E  # the LVAR byte stays in the raw data


def test_plain_text_unit_vif() -> None:
    (record,) = records_of("81 03 7C 03 4C 41 23 00")
    assert summary(record) == ("plain_text", "#AL", 0, 6, 0, 0, "instantaneous")
    assert record.vif == bytes.fromhex("7C034C4123")


def test_plain_text_vif_with_vifes_after_the_text() -> None:
    (record,) = records_of("01 FC 02 41 42 3C 05")
    assert (record.unit, record.value, record.extensions) == ("BA", 5, ("backward_flow",))


@pytest.mark.parametrize(
    ("hex_text", "value"),
    [
        ("046D282A9E27", "2020-07-30T10:40"),  # R3, HY = 1
        ("046D1912A62B", "2021-11-06T18:25"),  # R6, HY = 0
        ("426CE1F1", "XXXX-01-01"),  # R6: year 127 = every year
        ("426CBF2C", "2021-12-31"),  # R8
        ("046DB32E3438", "2025-08-20T14:51"),  # R10: IV bit set by the meter, time is valid
        ("426CFFFF", None),  # R10: set_date null
        ("066D1E2D0EB4210C", "2021-01-20T14:45:30"),  # type I
        ("036D1E2D0E", "14:45:30"),  # type J
        ("426C0000", None),  # month 0 is out of range
    ],
)
def test_dates(hex_text: str, value: str | None) -> None:
    (record,) = records_of(hex_text)
    assert record.value == value


def test_r6_record_area_from_a_frame_with_crcs() -> None:
    raw = bytes.fromhex(
        "3444EE4D813929271608811D7A51000000046D1912A62B036E0000005170426CE1F1436E00000002FF2C"
        "00000259D6D0D4090265FC0902FD66A00044C4"
    )
    deframed = strip_crcs(raw, FrameFormat.A)
    assert deframed.ok
    got = [summary(r) for r in records_of(deframed.data[15:].hex())]
    assert got == [
        ("date_time", "", "2021-11-06T18:25", 0, 0, 0, "instantaneous"),
        ("hca_units", "", 0, 0, 0, 0, "instantaneous"),
        ("date", "", "XXXX-01-01", 1, 0, 0, "instantaneous"),
        ("hca_units", "", 0, 1, 0, 0, "instantaneous"),
        ("manufacturer_specific", "", 0, 0, 0, 0, "instantaneous"),
        ("flow_temperature", "C", 25.16, 0, 0, 0, "instantaneous"),
        ("external_temperature", "C", 25.56, 0, 0, 0, "instantaneous"),
        ("parameter_activation_state", "", 0x00A0, 0, 0, 0, "instantaneous"),
    ]


def test_r8_storage_numbers() -> None:
    records = records_of("426CBF2C 441322E90000 01FD1700 8401133C340100 C40113AE2D0100")
    assert [(r.quantity, r.storage, r.value) for r in records] == [
        ("date", 1, "2021-12-31"),
        ("volume", 1, 59.682),
        ("error_flags", 0, 0),
        ("volume", 2, 78.908),
        ("volume", 3, 77.23),
    ]


def test_r7_subunits_and_12_digit_bcd() -> None:
    records = records_of("2f2f0efd3a1147000000008e40fd3a341200000000")
    assert [(r.quantity, r.value, r.subunit) for r in records] == [
        ("dimensionless", 4711, 0), ("dimensionless", 1234, 1)]


def test_storage_tariff_subunit_and_function_from_difes() -> None:
    (record,) = records_of("F4 A1 5F 13 01000000")  # error state, storage 3, 2 DIFEs
    assert record.function is RecordFunction.ERROR
    assert (record.storage, record.tariff, record.subunit) == (1 | 1 << 1 | 0xF << 5,
                                                               2 | 1 << 2, 1 << 1)
    assert make_dif(4, storage=2) == bytes.fromhex("8401")
    assert make_dif(0xE, subunit=1) == bytes.fromhex("8E40")
    assert make_dif(1, storage=6) == bytes.fromhex("8103")
    assert make_dif(4, storage=1 | 1 << 1 | 0xF << 5, tariff=2 | 1 << 2, subunit=1 << 1,
                    function=RecordFunction.ERROR) == bytes.fromhex("F4A15F")


def test_vif_extension_tables_and_combinable_vifes() -> None:
    records = records_of(
        "02FB1A0700"  # relative humidity 0.1 %
        " 04FB0913000000"  # energy GJ
        " 02FD74 6200"  # remaining battery days
        " 04FD48 25090000"  # voltage 0.1 V
        " 02BB56 0300"  # volume flow, duration of lower-limit exceed (last) in hours
        " 04A9FF01 38AB0000"  # power with a manufacturer VIFE: value keeps its unit
        " 04 93 FC 01 10000000"  # volume, combinable extension 7C01: phase L1
        " 04 96 7D 05000000"  # volume 10^0 m3 with correction factor 10^3
    )
    got = [(r.quantity, r.unit, r.value, r.extensions) for r in records]
    assert got == [
        ("relative_humidity", "%", 0.7, ()),
        ("energy", "J", 19 * 10**9, ()),
        ("remaining_battery_days", "d", 98, ()),
        ("voltage", "V", 234.1, ()),
        ("volume_flow", "h", 3, ("duration_of_lower_limit_exceed_last",)),
        ("power", "W", 438.32, ("manufacturer_specific",)),
        ("volume", "m3", 0.016, ("phase_l1",)),
        ("volume", "m3", 5000, ("multiplicative_correction_factor_1e3",)),
    ]


def test_manufacturer_data_and_more_records_follow() -> None:
    result = parse_records(bytes.fromhex("2F 0413 01000000 0F AABB"))
    assert [r.quantity for r in result.records] == ["volume", "manufacturer_data"]
    assert result.manufacturer_data == bytes.fromhex("AABB")
    assert result.records[-1].value == bytes.fromhex("AABB")
    assert not result.more_records_follow and result.failure is None
    result = parse_records(bytes.fromhex("0413 01000000 1F"))
    assert result.more_records_follow and result.manufacturer_data == b""


@pytest.mark.parametrize(
    ("hex_text", "kept", "reason", "detail"),
    [
        ("0413 01000000 3F 0102", 1, FailureReason.MALFORMED, "reserved DIF 3F"),
        ("0413 01000000 0413 0100", 1, FailureReason.TRUNCATED, "data bytes"),
        ("0413 01000000 84", 1, FailureReason.TRUNCATED, "DIFE"),
        ("01FD", 0, FailureReason.TRUNCATED, "extension VIFE"),
        ("0D13 F7", 0, FailureReason.MALFORMED, "reserved LVAR"),
        ("84" + "80" * 10 + "0013", 0, FailureReason.MALFORMED, "over 10 DIFEs"),
        ("0193" + "BC" * 10 + "3C00", 0, FailureReason.MALFORMED, "over 10 VIFEs"),
        ("017C0541", 0, FailureReason.TRUNCATED, "plain-text unit"),
    ],
)
def test_bad_records_are_failures_that_keep_earlier_records(
    hex_text: str, kept: int, reason: FailureReason, detail: str
) -> None:
    result = parse_records(bytes.fromhex(hex_text.replace(" ", "")))
    assert len(result.records) == kept
    assert result.failure is not None
    assert (result.failure.stage, result.failure.reason) == ("records", reason)
    assert detail in result.failure.detail


# docs/protocol.md §8 and §9 (R1, R2): Kamstrup full frame and the compact frame that refers to it.
R1_RECORDS = bytes.fromhex("02FF207100 041308190000 441308190000 615B7F 616713".replace(" ", ""))
R2_COMPACT = bytes.fromhex(
    "23442D2C998734761B168D2087D19EAD217F1779EDA86AB6710008190000081900007F13")


def test_compact_frame_worked_example() -> None:
    fmt = format_signature_bytes(R1_RECORDS)
    assert fmt == bytes.fromhex("02FF20 0413 4413 615B 6167".replace(" ", ""))
    assert crc16(fmt) == 0xA8ED
    signature, full_crc, data = R2_COMPACT[20:22], R2_COMPACT[22:24], R2_COMPACT[24:]
    assert int.from_bytes(signature, "little") == crc16(fmt)
    area = expand_compact(fmt, data)
    assert area == R1_RECORDS
    assert crc16(area) == 0xB66A == int.from_bytes(full_crc, "little")


def test_format_signature_skips_fillers_and_manufacturer_data() -> None:
    assert format_signature_bytes(bytes.fromhex("2F2F 0413 01000000 2F 0D79 0141 0F 99")) == \
        bytes.fromhex("04130D79")


def test_expand_compact_lvar_padding_and_size_errors() -> None:
    fmt = bytes.fromhex("0D79 0413")
    assert expand_compact(fmt, bytes.fromhex("024241 05000000 2F2F")) == \
        bytes.fromhex("0D79024241 041305000000")
    with pytest.raises(ValueError, match="ends inside"):
        expand_compact(fmt, bytes.fromhex("024241 050000"))
    with pytest.raises(ValueError, match="left over"):
        expand_compact(fmt, bytes.fromhex("024241 05000000 00"))
    with pytest.raises(ValueError, match="format bytes"):
        expand_compact(bytes.fromhex("0484"), b"")


def test_record_to_dict_is_json_ready() -> None:
    records = records_of("0D FD11 06313233343536 04933C 01000000 046D3A2A283C 0DFB7F E2 AA55")
    dicts = [record_to_dict(r) for r in records]
    assert json.loads(json.dumps(dicts)) == dicts
    assert dicts[0] == {
        "quantity": "customer", "unit": "", "value": "654321", "storage": 0, "tariff": 0,
        "subunit": 0, "function": "instantaneous", "dif": "0D", "vif": "FD11",
        "data": "06313233343536",
    }
    assert dicts[1]["extensions"] == ["backward_flow"] and dicts[1]["value"] == 0.001
    assert dicts[2]["value"] == "2025-12-08T10:58"
    assert dicts[3]["value"] == "AA55"  # LVAR binary


def test_encode_record_builds_what_parse_reads() -> None:
    data = encode_record(make_dif(4, storage=2), bytes.fromhex("06"), 9043000)
    assert data == bytes.fromhex("840106 53230000".replace(" ", ""))
    assert encode_record(b"\x0b", b"\x5e", -4.0) == bytes.fromhex("0B5E4000F0")
    assert encode_record(b"\x04", b"\x6d", "2025-12-08T10:58") == bytes.fromhex("046D3A0A283C")
    assert encode_record(b"\x0d", b"\x79", "1ESY9887654321") == \
        bytes.fromhex("0D790E3132333435363738383959534531")
    assert encode_record(b"\x0f", b"", b"\x01\x02") == bytes.fromhex("0F0102")


@pytest.mark.parametrize(
    ("dif", "vif", "value", "match"),
    [
        ("04", "13", 0.0005, "whole multiple"),
        ("01", "13", 1.0, "range"),
        ("09", "13", 0.1, "BCD digits"),
        ("04", "6D", "2025-13-01T00:00", "out of range"),
        ("04", "6D", "yesterday", "date/time"),
        ("00", "13", 5, "no data"),
        ("0484", "13", 5, "one DIF chain"),
        ("04", "FD", 5, "bad record header"),
        ("0D", "13", "€", "ISO-8859-1"),
    ],
)
def test_encode_record_rejects_what_cannot_be_represented(dif: str, vif: str, value: object,
                                                          match: str) -> None:
    with pytest.raises(ValueError, match=match):
        encode_record(bytes.fromhex(dif), bytes.fromhex(vif), value)
