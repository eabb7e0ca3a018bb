"""The vendor layer (protocol/vendors): registry, unit conversion, generic OMS readings, shipped
compact-frame layouts, vendor ciphers, and robustness on any payload a family may see."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.crc import crc16
from protocol.decoder import Decoder
from protocol.encoder import TelegramSpec, TplSpec, encode_telegram
from protocol.manufacturers import manufacturer_code
from protocol.records import make_dif
from protocol.report import telegram_summary, telegram_to_dict
from protocol.telegram import Address, Telegram
from protocol.types import FailureReason, Record, RecordFunction
from protocol.vendors import registry
from protocol.vendors.diehl import PRIOS_DEFAULT_KEYS, prios_decipher
from protocol.vendors.spec import ANY_STORAGE, Family, Rec, convert, unit_of
from tests.conftest import REPO
from tests.protocol.corpus import decode_row, keys_of, wireless_rows

IZAR = "1944304C72242421D401A2013D4013DD8B46A4999C1293E582CC"  # wmbusmeters' izarv2 test
APATOR_NA1 = "1C440106813591041407A0B000266A705474DDB80D9A0EB9AE2EF29D96"


def readings(t: Telegram) -> dict[str, int | float]:
    return {r.name: r.value for r in t.readings}


def record(quantity: str, unit: str, value: int | float) -> Record:
    return Record(b"\x04", b"\x13", b"", 0, 0, 0, RecordFunction.INSTANTANEOUS, quantity, unit,
                  value)


def test_units_convert_exactly_and_refuse_mismatches() -> None:
    assert convert(record("energy", "J", 56_976_000_000), "total_kwh") == pytest.approx(
        15826.666666666666)
    assert convert(record("energy", "Wh", 1111600), "total_energy_consumption_kwh") == 1111.6
    assert convert(record("volume", "m3", 0.106), "total_l") == 106
    assert convert(record("actuality_duration", "s", 4), "actuality_duration_h") == pytest.approx(
        0.001111, abs=1e-6)
    assert convert(record("volume", "m3", 1.0), "total_kwh") is None  # wrong quantity for the unit
    assert convert(record("hca_units", "", 304), "current_consumption_hca") == 304
    assert unit_of("current_power_consumption_phase1_kw") == "kw"
    assert unit_of("alarm_counter") == ""


def test_no_meter_is_declared_by_two_families() -> None:
    twice = Family("b", "", (("KAM", 0x30, 0x04),))
    with pytest.raises(ValueError, match="declared by"):
        registry._detections((*registry.FAMILIES, twice))


def test_every_family_has_a_unique_name_and_valid_layouts() -> None:
    names = [n for f in registry.FAMILIES for n in (f.name, *f.aliases)]
    assert len(names) == len(set(names)) and "oms" not in names
    assert len({crc16(f) for f in registry.COMPACT_FORMATS}) == len(registry.COMPACT_FORMATS)


def test_storage_ranges_match_any_storage() -> None:
    rec = Rec("flow_temperature_c", "flow_temperature", storage=ANY_STORAGE,
              function=RecordFunction.MINIMUM)
    r = Record(b"\xa1\x01", b"\x5b", b"\x02", 2, 0, 0, RecordFunction.MINIMUM,
               "flow_temperature", "C", 2)
    assert rec.matches(r)


def _oms_meter(manufacturer: str, device_type: int, records: bytes) -> Telegram:
    address = Address(manufacturer_code(manufacturer), bytes.fromhex("78563412"), 0x99,
                      device_type)
    t = Decoder().decode_bytes(encode_telegram(TelegramSpec(address, tpl=TplSpec(ci=0x7A),
                                                            payload=records)))
    assert isinstance(t, Telegram) and t.error is None, t
    return t


def test_generic_oms_readings_follow_storage_and_device_type() -> None:
    # volume (VIF 13, litres): 12.345 m3 now, 10.000 m3 at the set date (storage 1)
    volumes = (make_dif(4) + b"\x13" + (12345).to_bytes(4, "little")
               + make_dif(4, storage=1) + b"\x13" + (10000).to_bytes(4, "little"))
    water = _oms_meter("ZZZ", 0x07, volumes)
    assert water.family == "oms"
    assert readings(water) == {"total_m3": 12.345, "target_m3": 10}
    heat = _oms_meter("ZZZ", 0x04, volumes + make_dif(4) + b"\x06" + (3781).to_bytes(4, "little"))
    assert readings(heat) == {"total_volume_m3": 12.345, "target_volume_m3": 10,
                              "total_energy_consumption_kwh": 3781}


def test_readings_in_json_and_text() -> None:
    t = Decoder().decode_hex(IZAR)
    assert isinstance(t, Telegram)
    out = telegram_to_dict(t)
    assert out["family"] == "izarv2" and out["readings"]["total_m3"] == 3.488
    json.dumps(out)
    assert "readings (izarv2):" in telegram_summary(t) and "total_m3: 3.488" in telegram_summary(t)


def test_prios_default_key_and_check_byte() -> None:
    frame = bytes.fromhex(IZAR)
    plain = prios_decipher(frame, PRIOS_DEFAULT_KEYS[0])
    assert plain[0] == 0x4B and int.from_bytes(plain[1:5], "little") == 3488
    assert prios_decipher(frame, bytes(8))[0] != 0x4B
    t = Decoder().decode_hex(IZAR)
    assert isinstance(t, Telegram)
    assert readings(t) == {"total_m3": 3.488, "target_m3": 3.486, "battery_y": 14.5,
                           "transmit_period_s": 8}


def test_prios_user_key_is_tried_first() -> None:
    """A user's 8-byte key for the meter is used before the published defaults: a key that also
    passes the one-byte check gives its own (here meaningless) values."""
    frame = bytes.fromhex(IZAR)
    key = next(k for k in (i.to_bytes(8, "big") for i in range(1, 5000))
               if prios_decipher(frame, k)[0] == 0x4B)
    volume = int.from_bytes(prios_decipher(frame, key)[1:5], "little")
    t = Decoder({"21242472": key}).decode_hex(IZAR)
    assert isinstance(t, Telegram) and readings(t)["total_m3"] == volume / 1000 != 3.488


def test_prios_frame_cut_before_its_volume() -> None:
    short = bytes.fromhex(IZAR)[:18]
    t = Decoder().decode_bytes(bytes((len(short) - 1,)) + short[1:])
    assert isinstance(t, Telegram) and t.error is not None
    assert t.error.reason is FailureReason.TRUNCATED and t.readings == ()


def test_apator_na1_needs_the_meter_key() -> None:
    without = Decoder().decode_hex(APATOR_NA1)
    assert isinstance(without, Telegram) and without.error is not None
    assert without.error.reason is FailureReason.NO_KEY and without.readings == ()
    wrong = Decoder({"04913581": bytes(range(16))}).decode_hex(APATOR_NA1)
    assert isinstance(wrong, Telegram) and wrong.error is not None
    assert wrong.error.reason is FailureReason.WRONG_KEY
    right = Decoder({"04913581": bytes(16)}).decode_hex(APATOR_NA1)
    assert isinstance(right, Telegram)
    assert readings(right) == {"total_m3": 345.312, "historic_m3": 300.619, "historic_age_h": 545}


COMPACT_ROWS = [r for r in wireless_rows() if r["compact_format_signature"]]


@pytest.mark.parametrize("row", COMPACT_ROWS, ids=[r["id"] for r in COMPACT_ROWS])
def test_first_compact_frame_of_a_shipped_layout_decodes(row: dict) -> None:
    """Every compact frame of the corpus whose layout ships decodes with a fresh decoder, to the
    same records and readings as after the full frames wmbusmeters saw first."""
    alone = Decoder(keys_of(row)).decode_hex(row["hex"])
    with_context = decode_row(row)
    assert isinstance(alone, Telegram) and isinstance(with_context, Telegram)
    signature = int(row["compact_format_signature"], 16)
    if not any(crc16(f) == signature for f in registry.COMPACT_FORMATS):
        pytest.skip("layout not shipped")
    if with_context.error is not None:
        pytest.skip(f"does not decode even with its full frame: {with_context.error.reason}")
    assert alone.error is None and alone.records == with_context.records
    assert alone.readings == with_context.readings and alone.readings


# Payload prefixes that lead into the vendor decoders' own parsing: walk-by, compact profile,
# manufacturer data, or nothing (the proprietary CIs).
PREFIXES = [b"", b"\x0d\xff\x5f\x35", b"\x0f", b"\x8d\x04\xee\x13\x20", b"\x2f\x2f\x0f"]
CIS = [0x7A, 0x78, 0x72, 0x79, 0xA0, 0xA1, 0xA2, 0xA3]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(registry.FAMILIES), st.sampled_from(CIS), st.sampled_from(PREFIXES),
       st.binary(max_size=80), st.sampled_from([None, bytes(8), bytes(16)]))
def test_any_payload_for_any_family_decodes_to_finite_readings(
        family: Family, ci: int, prefix: bytes, body: bytes, key: bytes | None) -> None:
    manufacturer, version, device_type = family.detect[0]
    address = bytes.fromhex("78563412") + bytes((version or 0, device_type))
    header = bytes((0x44,)) + manufacturer_code(manufacturer).to_bytes(2, "little") + address
    frame = header + bytes((ci,)) + prefix + body
    decoder = Decoder({"12345678": key} if key else None)
    t = decoder.decode_bytes(bytes((len(frame),)) + frame)
    assert isinstance(t, Telegram)
    json.dumps(telegram_to_dict(t))
    assert all(isinstance(v, int | float) and math.isfinite(v) for v in readings(t).values())


def test_every_family_is_documented() -> None:
    text = (REPO / "docs" / "meters.md").read_text()
    assert [f.name for f in registry.FAMILIES if f"| `{f.name}`" not in text] == []
