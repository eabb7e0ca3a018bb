"""Readings of standard OMS records, named as wmbusmeters' drivers name them.

The rules follow EN 13757-3 meanings, not any one meter: storage 0 is the current value,
storage 1 the value at the last set (billing) date; maxima carry the function bits. Families
reuse these fields where their driver uses the same names, and a meter no family covers gets
the generic set (``generic_family``) when it sends standard records.
"""

from __future__ import annotations

from protocol.records import FIXED_SIZES, make_dif, parse_records
from protocol.types import Record, RecordFunction
from protocol.vendors.spec import Family, Field, Rec, View

MAX = RecordFunction.MAXIMUM
BACKWARD = ("backward_flow",)

TOTAL_M3 = Rec("total_m3", "volume")
TARGET_M3 = Rec("target_m3", "volume", storage=1)
TOTAL_BACKWARD_M3 = Rec("total_backward_m3", "volume", extensions=BACKWARD)
TOTAL_VOLUME_M3 = Rec("total_volume_m3", "volume")
TARGET_VOLUME_M3 = Rec("target_volume_m3", "volume", storage=1)
TOTAL_ENERGY_KWH = Rec("total_energy_consumption_kwh", "energy")
TARGET_ENERGY_KWH = Rec("target_energy_kwh", "energy", storage=1)
POWER_KW = Rec("power_kw", "power")
MAX_POWER_KW = Rec("max_power_kw", "power", function=MAX)
VOLUME_FLOW_M3H = Rec("volume_flow_m3h", "volume_flow")
MAX_FLOW_M3H = Rec("max_flow_m3h", "volume_flow", function=MAX)
FLOW_TEMPERATURE_C = Rec("flow_temperature_c", "flow_temperature")
RETURN_TEMPERATURE_C = Rec("return_temperature_c", "return_temperature")
TEMPERATURE_DIFFERENCE_C = Rec("temperature_difference_c", "temperature_difference")
EXTERNAL_TEMPERATURE_C = Rec("external_temperature_c", "external_temperature")
CURRENT_HCA = Rec("current_consumption_hca", "hca_units")
SET_DATE_HCA = Rec("consumption_at_set_date_hca", "hca_units", storage=1)
OPERATING_TIME_H = Rec("operating_time_h", "operating_time")
ON_TIME_H = Rec("on_time_h", "on_time")
HUMIDITY_RH = Rec("current_relative_humidity_rh", "relative_humidity")

WATER: tuple[Field, ...] = (TOTAL_M3, TARGET_M3)
HEAT: tuple[Field, ...] = (
    TOTAL_ENERGY_KWH, TOTAL_VOLUME_M3, TARGET_ENERGY_KWH, TARGET_VOLUME_M3, POWER_KW,
    MAX_POWER_KW, VOLUME_FLOW_M3H, MAX_FLOW_M3H, FLOW_TEMPERATURE_C, RETURN_TEMPERATURE_C,
)
HCA: tuple[Field, ...] = (CURRENT_HCA, SET_DATE_HCA)

# Heat and cooling meters name their volume total_volume_m3 (it is the heat carrier's);
# everything else names it total_m3.
_HEAT_TYPES = frozenset({0x04, 0x0A, 0x0B, 0x0C, 0x0D})
_COMMON: tuple[Field, ...] = (
    TOTAL_ENERGY_KWH, TARGET_ENERGY_KWH, POWER_KW, MAX_POWER_KW, VOLUME_FLOW_M3H, MAX_FLOW_M3H,
    FLOW_TEMPERATURE_C, RETURN_TEMPERATURE_C, TEMPERATURE_DIFFERENCE_C, EXTERNAL_TEMPERATURE_C,
    *HCA, OPERATING_TIME_H, ON_TIME_H, HUMIDITY_RH,
)
GENERIC = "oms"  # the family name of readings from these rules


def generic_family(device_type: int) -> Family:
    """The standard readings for a meter of this device type that no family covers."""
    return _GENERIC_HEAT if device_type in _HEAT_TYPES else _GENERIC_OTHER


# Compact profiles (EN 13757-3 annex on profiles): a variable-length record whose last VIFE is
# 13 (inverse profile: the most recent value first), 1E or 1F (oldest first) holds a series of
# values after a spacing control byte (low nibble: the data field of each value; bits 6-7: the
# increment mode) and a spacing value. The record's storage number is the base; value k (1 the
# most recent) belongs to storage base + k, as wmbusmeters numbers them.
_PROFILES = {"inverse_compact_profile": True, "compact_profile": False,
             "compact_profile_with_register_numbers": False}
_LVAR = 0x0D
_PROFILE_HEADER = 2  # spacing control byte and spacing value
_MAX_BASE_STORAGE = 1 << 32  # leaves room for the profile's storages within 10 DIFEs


def profile_records(view: View) -> tuple[Record, ...]:
    """The values of every compact profile record, as the standard records they stand for."""
    out: list[Record] = []
    for r in view.telegram.records:
        inverse = next((_PROFILES[e] for e in r.extensions if e in _PROFILES), None)
        if (inverse is None or r.dif[0] & 0x0F != _LVAR or len(r.vif) < 2 or len(r.data) < 3
                or r.storage > _MAX_BASE_STORAGE):
            continue
        control, body = r.data[1], r.data[1 + _PROFILE_HEADER :]
        size = FIXED_SIZES.get(control & 0x0F, 0)
        if not size:
            continue
        values = [body[i : i + size] for i in range(0, len(body) - size + 1, size)]
        if not inverse:
            values.reverse()
        vif = r.vif[:-2] + bytes((r.vif[-2] & 0x7F,))  # the profile VIFE removed
        area = b"".join(
            make_dif(control & 0x0F, storage=r.storage + k, tariff=r.tariff, subunit=r.subunit)
            + vif + value for k, value in enumerate(values, start=1))
        out.extend(parse_records(area).records)
    return tuple(out)


_GENERIC_HEAT = Family(GENERIC, "meters no family covers (heat)", (),
                       (TOTAL_VOLUME_M3, TARGET_VOLUME_M3, *_COMMON), expand=profile_records)
_GENERIC_OTHER = Family(GENERIC, "meters no family covers", (),
                        (TOTAL_M3, TARGET_M3, TOTAL_BACKWARD_M3, *_COMMON), expand=profile_records)
