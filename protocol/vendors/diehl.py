"""Diehl Metering and its brands (DME, HYD, SAP): IZAR water meters with the PRIOS scheme, Hydrus,
Sharky heat meters, Aerius gas meters and smaller OMS water meters.

IZAR radio telegrams (CI A1-A3) hide their values with Diehl's PRIOS scheme, published along
with its default keys (wmbusmeters, docs/meters.md): a 32-bit Fibonacci LFSR whose start state is
the XOR of the two halves of an 8-byte key and of frame bytes 2-5, 6-9 and 10-13 (M and A fields,
CI and three bytes, read most significant byte first). For each payload byte from frame byte 15
on, the register is clocked eight times (new bit = bits 1 ^ 2 ^ 11 ^ 31, shifted in at the
bottom) and its low byte is XORed on. The first plain byte must be 4B; then come the total
volume and the volume at the last billing date (litres, 32-bit LE) and that date. The three bytes
after the CI are clear: alarm flags, the transmit period (low nibble n: 2^(n+2) s) and the
battery lifetime (bits 8-12, half years).
"""

from __future__ import annotations

from fractions import Fraction

from protocol.types import DecodeFailure, FailureReason, RecordFunction
from protocol.vendors import oms
from protocol.vendors.spec import Decoded, Family, Rec, View, number

ERROR = RecordFunction.ERROR

# Diehl's published PRIOS default keys, tried in turn when the user gave no 8-byte key.
PRIOS_DEFAULT_KEYS = (bytes.fromhex("39BC8A10E66D83F8"), bytes.fromhex("51728910E66D83F8"))
PRIOS_KEY_LEN = 8
_PRIOS_CHECK = 0x4B
_PRIOS_START = 15  # first enciphered byte of the frame (L is byte 0)
_PRIOS_SEED_WORDS = (2, 6, 10)
_MASK32 = 0xFFFFFFFF
LITRE = Fraction(1, 1000)


def prios_decipher(frame: bytes, key: bytes) -> bytes:
    """The enciphered part of an IZAR frame (from byte 15 on), deciphered with an 8-byte key."""
    state = int.from_bytes(key[:4], "big") ^ int.from_bytes(key[4:8], "big")
    for offset in _PRIOS_SEED_WORDS:
        state ^= int.from_bytes(frame[offset : offset + 4], "big")
    out = bytearray()
    for byte in frame[_PRIOS_START:]:
        for _ in range(8):
            bit = (state >> 1 ^ state >> 2 ^ state >> 11 ^ state >> 31) & 1
            state = (state << 1 | bit) & _MASK32
        out.append(byte ^ (state & 0xFF))
    return bytes(out)


def _izar(view: View) -> Decoded:
    frame = view.telegram.frame.data
    if len(frame) < _PRIOS_START + 5:
        return DecodeFailure("vendor", FailureReason.TRUNCATED, "IZAR frame without its volume")
    given = (view.key,) if view.key is not None and len(view.key) == PRIOS_KEY_LEN else ()
    plain = next((p for k in (*given, *PRIOS_DEFAULT_KEYS)
                  if (p := prios_decipher(frame, k))[0] == _PRIOS_CHECK), None)
    if plain is None:  # one check byte: a wrong key passes once in 256
        return DecodeFailure("vendor", FailureReason.WRONG_KEY, "no PRIOS key gives the check byte")
    status = int.from_bytes(view.payload[:3], "little")
    out = {"total_m3": number(int.from_bytes(plain[1:5], "little") * LITRE)}
    if len(plain) >= 9:
        out["target_m3"] = number(int.from_bytes(plain[5:9], "little") * LITRE)
    out["battery_y"] = number(Fraction((status >> 8) & 0x1F, 2))
    out["transmit_period_s"] = 1 << ((status & 0x0F) + 2)
    return out


IZARV2 = Family(
    name="izarv2",
    meters="Diehl IZAR water meters (PRIOS, CI A1-A3), also sold by Sappel and Hydrometer",
    # wmbusmeters' older driver for the same detection list; its names (last_month_total_m3,
    # remaining_battery_life_y) were replaced by izarv2's (target_m3, battery_y), which is what
    # wmbusmeters now detects these meters as (docs/meters.md, "Names").
    aliases=("izar",),
    detect=(("HYD", 0x85, 0x07), ("SAP", None, 0x15), ("SAP", None, 0x04), ("SAP", 0x00, 0x07),
            ("DME", 0x78, 0x07), ("DME", 0x78, 0x06), ("HYD", 0x86, 0x07)),
    decode=_izar,
    proprietary=True,
)

HYDRUS = Family(
    name="hydrus",
    meters="Diehl Hydrus ultrasonic water meters",
    detect=(("DME", 0x70, 0x07), ("DME", 0x76, 0x07), ("HYD", 0x24, 0x07), ("HYD", 0x8B, 0x07),
            ("HYD", 0x8B, 0x06), ("DME", 0x70, 0x06), ("DME", 0x70, 0x16)),
    fields=(
        oms.TOTAL_M3,
        Rec("total_tariff1_m3", "volume", tariff=1),
        Rec("total_tariff2_m3", "volume", tariff=2),
        Rec("total_tariff1_at_date_m3", "volume", storage=1, tariff=1),
        Rec("total_tariff2_at_date_m3", "volume", storage=1, tariff=2),
        Rec("flow_m3h", "volume_flow"),
        Rec("total_at_date_m3", "volume", storage=1),
        Rec("target_m3", "volume", storage=3),  # the end of last month
        Rec("remaining_battery_life_y", "remaining_battery_days"),
        oms.OPERATING_TIME_H,
        Rec("actuality_duration_s", "actuality_duration"),
        oms.FLOW_TEMPERATURE_C, oms.EXTERNAL_TEMPERATURE_C,
    ),
)

SHARKY = Family(
    name="sharky",
    meters="Diehl Sharky 775 heat meters",
    detect=(("DME", 0x40, 0x04), ("HYD", 0x20, 0x04)),
    fields=(
        oms.TOTAL_ENERGY_KWH,
        Rec("total_energy_consumption_tariff1_kwh", "energy", tariff=1),
        oms.TOTAL_VOLUME_M3,
        Rec("total_volume_tariff2_m3", "volume", tariff=2),
        Rec("target_energy_consumption_kwh", "energy", storage=5),
        Rec("target_volume_m3", "volume", storage=5),
        oms.VOLUME_FLOW_M3H, oms.POWER_KW, oms.FLOW_TEMPERATURE_C, oms.RETURN_TEMPERATURE_C,
        oms.TEMPERATURE_DIFFERENCE_C, oms.OPERATING_TIME_H,
    ),
)

SHARKY774 = Family(
    name="sharky774",
    meters="Diehl Sharky 774 heat and cooling meters",
    detect=(("DME", 0x41, 0x04), ("DME", 0x41, 0x0C), ("DME", 0x41, 0x0D)),
    fields=(
        oms.TOTAL_ENERGY_KWH,
        Rec("total_cooling_consumption_kwh", "energy", tariff=1),
        oms.TOTAL_VOLUME_M3,
        Rec("total_cooling_volume_m3", "volume", tariff=2),
        oms.VOLUME_FLOW_M3H, oms.POWER_KW, oms.FLOW_TEMPERATURE_C, oms.RETURN_TEMPERATURE_C,
        oms.OPERATING_TIME_H,
        Rec("operating_time_in_error_h", "operating_time", extensions=("error_data_error",)),
        Rec("energy_at_set_date_kwh", "energy", storage=1),
        Rec("cooling_at_set_date_kwh", "energy", storage=1, tariff=1),
    ),
)

DME173 = Family(
    name="dme173",
    meters="Diehl water meters (DME version 63)",
    detect=(("DME", 0x63, 0x07),),
    fields=(
        oms.TOTAL_M3,
        Rec("total_at_set_date_m3", "volume", storage=1),
        Rec("target_m3", "volume", storage=8),
        oms.TOTAL_BACKWARD_M3,
        oms.FLOW_TEMPERATURE_C,
    ),
)

DME_07 = Family(
    name="dme_07",
    meters="Diehl OMS water meters (version 7B)",
    detect=(("DME", 0x7B, 0x07),),
    fields=(oms.TOTAL_M3,),
)

_BASE = ("value_at_base_conditions",)
AERIUS = Family(
    name="aerius",
    meters="Diehl Aerius gas meters",
    detect=(("DME", 0x30, 0x03),),
    fields=(
        Rec("total_m3", "volume", extensions=_BASE),
        Rec("target_m3", "volume", storage=3, extensions=_BASE),
        Rec("flow_m3h", "volume_flow"),
        Rec("temperature_c", "flow_temperature"),
    ),
)

ELSTER = Family(
    name="elster",
    meters="Elster gas meters (seen behind a Diehl radio module)",
    # The meter itself (the TPL long header's address), whatever radio module sends it.
    detect=(("ELS", 0x81, 0x03),),
    fields=(oms.TOTAL_M3, Rec("actuality_duration_s", "actuality_duration")),
)

FAMILIES = (IZARV2, HYDRUS, SHARKY, SHARKY774, DME173, DME_07, AERIUS, ELSTER)
