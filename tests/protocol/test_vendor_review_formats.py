"""Vendor families checked against the format descriptions of wmbusmeters' drivers (issue 14,
second review): each test builds a telegram by the format's rule, with a value, version or
layout that no example telegram of the corpus has, and checks the readings."""

from __future__ import annotations

import pytest

from protocol.decoder import Decoder
from protocol.manufacturers import manufacturer_code
from protocol.telegram import Telegram
from protocol.vendors import registry

METER_ID = "78563412"  # id 12345678, as the link layer sends it
SHORT_TPL = bytes(4)  # CI 7A header: access number, status, configuration word (no security)


def frame(manufacturer: str, version: int, device_type: int, ci: int, body: bytes) -> bytes:
    """A link frame (without CRCs) from the meter address, CI and what follows it."""
    rest = (bytes([0x44]) + manufacturer_code(manufacturer).to_bytes(2, "little")
            + bytes.fromhex(METER_ID) + bytes([version, device_type, ci]) + body)
    return bytes([len(rest)]) + rest


def readings_of(data: bytes, family: str) -> dict[str, int | float]:
    t = Decoder().decode_bytes(data)
    assert isinstance(t, Telegram) and t.error is None, t
    assert t.family == family
    return {r.name: r.value for r in t.readings}


def records(manufacturer: str, version: int, device_type: int, hex_records: str,
            family: str) -> dict[str, int | float]:
    """Readings of an unencrypted CI 7A telegram with these records."""
    body = SHORT_TPL + bytes.fromhex(hex_records.replace(" ", ""))
    return readings_of(frame(manufacturer, version, device_type, 0x7A, body), family)


@pytest.mark.parametrize(("mvt", "family"), [
    (("KAW", 0x3C, 0x06), "kamwater"),  # flowIQ 2200 warm water
    (("EFE", 0x03, 0x07), "waterstarm"),
    (("TCH", 0x22, 0x43), "compact5"),
    (("TCH", 0x45, 0x04), "compact5"),
    (("TCH", 0x45, 0xC3), "compact5"),
    (("TCH", 0x69, 0x08), "fhkvdataiv"),
    (("LAS", 0x1B, 0x00), "lansenpu"),
    (("ESY", 0x11, 0x02), "esyswm"),  # an EasyMeter meter, not the radio module
    (("EBZ", 0x01, 0x02), "ebzwmbe"),  # the eBZ meter behind the wMB-E01 module
    (("APA", 0x42, 0x04), "elf2"),  # heat-only version
    *((("ELV", version, 0x1B), "elvsense") for version in range(0x51, 0x55)),
    (("HYD", 0x20, 0x04), "sharky"),
])
def test_detection_lists_name_every_meter_of_the_driver(mvt: tuple[str, int, int],
                                                        family: str) -> None:
    manufacturer, version, device_type = mvt
    found = {f.name for f in registry.FAMILIES if mvt in f.detect}
    assert found == {family}
    t = Decoder().decode_bytes(frame(manufacturer, version, device_type, 0x7A, SHORT_TPL))
    assert isinstance(t, Telegram) and registry.family_of(t) is not None
    assert registry.family_of(t).name == family  # type: ignore[union-attr]


def test_kamheat_reads_on_time_at_error_and_temperature_difference() -> None:
    # Multical 403 cooling version: 34 22 is on-time in hours with function "value during
    # error" (DIF bits 4-5 = 3), 02 61 the flow-return temperature difference in 1/100 K.
    got = records("KAM", 0x34, 0x0A, "0406D2040000 3422A0000000 0261E803", "kamheat")
    assert got["total_energy_consumption_kwh"] == 1234
    assert got["on_time_at_error_h"] == 160
    assert got["flow_return_temperature_difference_c"] == 10


def test_kamwater_warm_water_flowiq_reads_its_records() -> None:
    got = records("KAW", 0x3C, 0x06, "0413B80B0000 4413A00F0000 023B0A00", "kamwater")
    assert got == {"total_m3": 3, "target_m3": 4, "flow_m3h": 0.01}


def test_qwater_flow_with_low_flow_vife_follows_the_flow_vif_and_data_size() -> None:
    # VIF BA (flow, 10^-4 m3/h) with VIFE 56, 32-bit: the driver reads any flow VIF with that
    # extension, scaled by its exponent; the corpus only has 16-bit VIF BB records.
    got = records("QDS", 0x18, 0x07, "0C1391190000 04BA56D2040000", "qwaterv2")
    assert got["volume_flow_m3h"] == 0.1234


def _walk_by(vif: int, current: str, last_year: str, last_month: str, tail: bytes) -> str:
    """A Q walk-by record (DIF/VIF 0D FF 5F): header with 07 at byte 7, the VIF of the block,
    error date, BCD values and their dates, then ``tail``."""
    block = (bytes.fromhex("008200000000 00 07 C1") + bytes([vif]) + bytes.fromhex("FFFF")
             + bytes.fromhex(current) + bytes.fromhex("BF2C") + bytes.fromhex(last_year)
             + bytes.fromhex("DF2C") + bytes.fromhex(last_month) + tail)
    return "0DFF5F" + bytes([len(block)]).hex() + block.hex()


def test_qwater_walk_by_block_without_the_monthly_differences() -> None:
    # The drivers' grammar reads the values and then "any further bytes": a block that stops
    # after the last-month value still gives them (storage 1 and 17 as in a full telegram).
    record = _walk_by(0x13, "45230100", "00100100", "00200100", b"")
    got = records("QDS", 0x16, 0x07, record, "qwaterv2")
    assert got["total_m3"] == 12.345 and got["target_year_m3"] == 11 and got["target_m3"] == 12
    assert not any(name.startswith("volume_delta") for name in got)


def test_qwater_walk_by_differences_are_read_as_far_as_they_go() -> None:
    record = _walk_by(0x13, "45230100", "00100100", "00200100", bytes.fromhex("0A001400"))
    got = records("QDS", 0x16, 0x07, record, "qwaterv2")
    assert got["volume_delta_2_m3"] == 0.01 and got["volume_delta_3_m3"] == 0.02
    assert "volume_delta_4_m3" not in got


def _fhkv(version: int, lead: int, extra: bytes, room: int, radiator: int) -> bytes:
    """An FHKV data III payload: lead byte, previous date and HCA, current date and HCA,
    ``extra`` (one byte in the 0F layout), room and radiator temperature (1/100 C, signed)."""
    body = (bytes([lead]) + bytes.fromhex("9F27") + (1026).to_bytes(2, "little")
            + bytes.fromhex("0204") + (131).to_bytes(2, "little") + extra
            + room.to_bytes(2, "little", signed=True)
            + radiator.to_bytes(2, "little", signed=True) + bytes(8))
    return frame("TCH", version, 0x80, 0xA0, body)


def test_fhkvdataiii_layout_follows_the_first_payload_byte_not_the_version() -> None:
    # Layout 0F (an extra byte before the temperatures) sent by a version 69 allocator.
    got = readings_of(_fhkv(0x69, 0x0F, b"\x00", 2244, 2551), "fhkvdataiii")
    assert got == {"current_hca": 131, "previous_hca": 1026, "temp_room_c": 22.44,
                   "temp_radiator_c": 25.51}
    # Layout 01 sent by a version 94 allocator: temperatures right after the values, signed.
    got = readings_of(_fhkv(0x94, 0x01, b"", -150, 2000), "fhkvdataiii")
    assert got["temp_room_c"] == -1.5 and got["temp_radiator_c"] == 20


def test_fhkvdataiii_unknown_layout_gives_no_readings() -> None:
    t = Decoder().decode_bytes(_fhkv(0x69, 0x22, b"", 2244, 2551))
    assert isinstance(t, Telegram) and t.readings == ()
    assert t.error is not None and t.error.reason.value == "vendor_format_unknown"


def test_elf2_reads_on_time_and_on_time_at_error() -> None:
    # Heat-only ELF 2 (type 04): 0C 22 on-time hours (BCD), 3C 22 the same in an error state.
    got = records("APA", 0x42, 0x04, "0C0645230100 0C2276210100 3C2215000000", "elf2")
    assert got["total_energy_kwh"] == 12345
    assert got["on_time_h"] == 12176 and got["on_time_at_error_h"] == 15


def test_aventieshca_numbers_set_dates_from_storage_2() -> None:
    got = records("AAA", 0x55, 0x08, "0B6E660100 426EA600 82016E9E00", "aventieshca")
    assert got["consumption_at_set_date_hca"] == 166
    assert got["consumption_at_set_date_2_hca"] == 158
    assert "consumption_at_set_date_1_hca" not in got


def test_sharky_reads_the_tariff_2_volume() -> None:
    got = records("DME", 0x40, 0x04, "0C0E82931100 0C1401493800 8C201318000000", "sharky")
    assert got["total_volume_m3"] == 3849.01 and got["total_volume_tariff2_m3"] == 0.018


def test_aquastream_tariff_1_volume_carries_both_driver_names() -> None:
    got = records("IMT", 0x01, 0x07, "04130342000084101339300000", "aquastream")
    assert got["total_m3"] == 16.899
    assert got["total_tariff1_m3"] == got["total_backwards_m3"] == 12.345


@pytest.mark.parametrize("version", [0x95, 0x70])
def test_mkradio4_reads_the_mkradio3_layout(version: int) -> None:
    # Status byte, last billing date, the volume then (0.1 m3), current date, volume since then.
    body = bytes.fromhex("06 9F25") + (123).to_bytes(2, "little") + bytes.fromhex("B029") \
        + (45).to_bytes(2, "little") + bytes(20)
    got = readings_of(frame("TCH", version, 0x72, 0xA2, body), "mkradio4")
    assert got == {"total_m3": 16.8, "target_m3": 12.3}
