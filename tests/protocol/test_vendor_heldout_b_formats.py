"""Formats the second held-out set (tests/data/vendor_heldout_b.jsonl) exercised, built here from
the rules of wmbusmeters' drivers rather than from its telegrams:

- Diehl IZAR (izarv2 / izar): every (manufacturer, version, device type) the driver detects, sent
  with the A-field layout Diehl uses for PRIOS frames (CI A0-A7: version and type before the id,
  except SAP, whose version and type bytes belong to the id), enciphered with the PRIOS LFSR.
- Qundis walk-by records (0D FF 5F): the drivers' grammar is nine header bytes they do not read,
  the VIF of the values, then error date, current value, last year's date and value, last month's
  date and value, and any further bytes (the monthly differences). Nothing in the header is
  checked, so a header unlike every example telegram must still be read.
"""

from __future__ import annotations

import pytest

from protocol.decoder import Decoder
from protocol.manufacturers import manufacturer_code
from protocol.telegram import Telegram
from protocol.vendors.diehl import PRIOS_DEFAULT_KEYS, prios_decipher

METER_ID = bytes.fromhex("78563412")  # id 12345678 as the link layer sends it


def izar_frame(manufacturer: str, version: int, device_type: int, *, total_l: int,
               last_month_l: int, status: bytes, key: bytes = PRIOS_DEFAULT_KEYS[1],
               on_air: bool = True) -> bytes:
    """An IZAR frame (CI A2, no CRCs): three clear status bytes, one byte the driver skips, then
    the check byte 4B, the total and last month's volume (litres, 32-bit LE) and a date,
    enciphered. ``on_air`` False gives the A-field as wmbusmeters' analyze listing shows it."""
    if manufacturer == "SAP" or not on_air:
        a_field = METER_ID + bytes([version, device_type])
    else:
        a_field = bytes([version, device_type]) + METER_ID
    header = (bytes([0x44]) + manufacturer_code(manufacturer).to_bytes(2, "little") + a_field
              + bytes([0xA2]) + status + bytes([0x13]))
    plain = (bytes([0x4B]) + total_l.to_bytes(4, "little") + last_month_l.to_bytes(4, "little")
             + bytes.fromhex("3F2C"))
    frame = bytes([len(header) + len(plain)]) + header + plain
    # The LFSR's key stream depends on the key and bytes 2-13 only: enciphering is deciphering.
    return frame[:15] + prios_decipher(frame, key)


def readings(t: Telegram) -> dict[str, int | float]:
    return {r.name: r.value for r in t.readings}


# The izar/izarv2 driver's detection list; SAP frames report version 00 and type 07 (water).
IZAR_DETECTED = [("HYD", 0x85, 0x07), ("SAP", 0x00, 0x07), ("DME", 0x78, 0x07),
                 ("DME", 0x78, 0x06), ("HYD", 0x86, 0x07)]


@pytest.mark.parametrize(("manufacturer", "version", "device_type"), IZAR_DETECTED)
def test_izar_frames_are_read_by_the_prios_rule(manufacturer: str, version: int,
                                                device_type: int) -> None:
    # Byte 11: transmit period 2^(n+2) s in its low nibble; byte 12, bits 0-4: battery half years.
    status = bytes([0x03, 0x15, 0x00])
    data = izar_frame(manufacturer, version, device_type, total_l=123_456, last_month_l=120_001,
                      status=status)
    t = Decoder().decode_bytes(data)
    assert isinstance(t, Telegram) and t.error is None, t
    assert t.family == "izarv2" and t.meter_id == "12345678"
    assert readings(t) == {"total_m3": 123.456, "target_m3": 120.001, "battery_y": 10.5,
                           "transmit_period_s": 32}


def test_izar_reads_with_the_other_default_key_and_the_users_key() -> None:
    data = izar_frame("DME", 0x78, 0x07, total_l=5, last_month_l=4, status=bytes(3),
                      key=PRIOS_DEFAULT_KEYS[0])
    t = Decoder().decode_bytes(data)
    assert isinstance(t, Telegram) and readings(t)["total_m3"] == 0.005
    own = bytes.fromhex("0123456789ABCDEF")
    data = izar_frame("DME", 0x78, 0x07, total_l=7, last_month_l=6, status=bytes(3), key=own)
    t = Decoder({"12345678": own}).decode_bytes(data)
    assert isinstance(t, Telegram) and readings(t)["total_m3"] == 0.007


def test_izar_address_as_the_analyze_listing_prints_it_is_not_an_on_air_frame() -> None:
    # wmbusmeters' --analyze shows the A-field after its Diehl address transformation; a frame
    # rebuilt from that listing puts the id first, which a DME PRIOS frame never does: the
    # address it gives belongs to no family, and the PRIOS seed (bytes 2-9) is not the meter's.
    data = izar_frame("DME", 0x78, 0x07, total_l=448_798, last_month_l=438_675,
                      status=bytes([0x41, 0x15, 0x00]), on_air=False)
    t = Decoder().decode_bytes(data)
    assert isinstance(t, Telegram) and t.family is None and not t.readings


def bcd8(value: int) -> bytes:
    return bytes.fromhex(f"{value:08d}")[::-1]


def walk_by_frame(version: int, device_type: int, vif: int, header: bytes, total: int,
                  last_year: int, last_month: int, differences: list[int]) -> bytes:
    """A Qundis CI 78 telegram with one walk-by record (0D FF 5F, LVAR) built by the grammar."""
    block = (header + bytes([vif]) + bytes.fromhex("FFFF") + bcd8(total) + bytes.fromhex("FF2C")
             + bcd8(last_year) + bytes.fromhex("1E34") + bcd8(last_month)
             + b"".join(d.to_bytes(2, "little", signed=True) for d in differences))
    body = bytes.fromhex("0DFF5F") + bytes([len(block)]) + block
    rest = (bytes([0x44]) + manufacturer_code("QDS").to_bytes(2, "little") + METER_ID
            + bytes([version, device_type, 0x78]) + body)
    return bytes([len(rest)]) + rest


# Headers the drivers skip: the one every example telegram has (byte 7 is 07), and others.
HEADERS = [bytes.fromhex("0082DA0000600107C1"), bytes.fromhex("0082720000800000C1"),
           bytes(9), bytes.fromhex("FFFFFFFFFFFFFFFFFF")]
DIFFERENCES = [0, 71, 177, -1, 134, 168, 0, 0, 2, 3, 5, 8]


# Per family: (version, device type, VIF, total, target year, target, its family, reading
# names of total, target, target year and the deltas, delta scale).
WALK_BY_CASES = {
    "qwaterv2": (0x1A, 0x07, 0x13, 9002, 2519, 7300, ("total_m3", "target_m3", "target_year_m3",
                                                       "volume_delta_{}_m3"), 1000),
    "qheatv2": (0x23, 0x04, 0x06, 1153, 1080, 1100, ("total_kwh", "target_kwh", "target_year_kwh",
                                                      "energy_delta_{}_kwh"), 1),
}


@pytest.mark.parametrize("family", WALK_BY_CASES)
@pytest.mark.parametrize("header", HEADERS)
def test_q_walk_by_is_read_whatever_its_header(family: str, header: bytes) -> None:
    version, device, vif, total, year, target, names, scale = WALK_BY_CASES[family]
    t = Decoder().decode_bytes(walk_by_frame(version, device, vif, header, total, year, target,
                                             DIFFERENCES))
    assert isinstance(t, Telegram) and t.error is None, t
    got = readings(t)
    assert t.family == family
    total_name, target_name, year_name, delta_name = names
    assert (got[total_name], got[target_name], got[year_name]) == (
        total / scale, target / scale, year / scale)
    assert [got[delta_name.format(n)] for n in range(2, 14)] == [d / scale for d in DIFFERENCES]


@pytest.mark.parametrize("vif", [0x2B, 0x06, 0x6E])
def test_a_walk_by_block_is_read_only_with_its_drivers_vif(vif: int) -> None:
    # A water meter's block whose byte 9 is not 13 (litres): not a walk-by block of Q water.
    data = walk_by_frame(0x1A, 0x07, vif, HEADERS[0], 9002, 2519, 7300, DIFFERENCES)
    t = Decoder().decode_bytes(data)
    assert isinstance(t, Telegram) and t.family is None and not t.readings


def test_a_walk_by_block_cut_short_gives_no_readings() -> None:
    # The values end at byte 28: a shorter block is not read.
    whole = walk_by_frame(0x1A, 0x07, 0x13, HEADERS[0], 9002, 2519, 7300, [])
    lvar = 14  # L C M(2) A(6) CI, then 0D FF 5F and the record's length byte
    assert whole[lvar] == 28
    cut = bytes([whole[0] - 1]) + whole[1:lvar] + bytes([27]) + whole[lvar + 1 : -1]
    t = Decoder().decode_bytes(cut)
    assert isinstance(t, Telegram) and t.error is None and not t.readings
    t = Decoder().decode_bytes(whole)
    assert isinstance(t, Telegram) and readings(t)["target_m3"] == 7.3
