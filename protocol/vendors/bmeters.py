"""B Meters (BMT, BMP): Hydrodigit water meters, Hydrocal-M3/M4 heat meters, IWM-TX5, RFM-AMB
room sensors, Hydroclima heat cost allocators."""

from __future__ import annotations

import calendar
from fractions import Fraction

from protocol.types import RecordFunction
from protocol.vendors import oms
from protocol.vendors.spec import (
    Decoded,
    Family,
    Readings,
    Rec,
    View,
    number,
    read_int,
    series,
)

MAX, MIN = RecordFunction.MAXIMUM, RecordFunction.MINIMUM

# Hydrodigit: the manufacturer data after DIF 0F starts with a content byte whose bits say which
# sections follow, in this order: battery (bit 0, 1 byte: voltage code in the low nibble),
# fraud (bit 1, type and date, 4 bytes), leak date (bit 7, 3 bytes), backflow (bit 2, litres,
# 4 bytes), month-end totals January to December (bit 4, 12 x 3 bytes, 1/100 m3).
_BATTERY_V = {1: "1.9", 2: "2.1", 3: "2.2", 4: "2.3", 5: "2.4", 6: "2.5", 7: "2.65", 8: "2.8",
              9: "2.9", 10: "3.05", 11: "3.2", 12: "3.35", 13: "3.5"}
_BATTERY_DEFAULT_V = "3.7"  # codes 0, 14, 15
_SECTIONS = ((0x01, 1, "battery"), (0x02, 4, "fraud"), (0x80, 3, "leak"), (0x04, 4, "backflow"),
             (0x10, 36, "monthly"))
_MONTH_LIMIT = 10_000_000  # larger values mean "no data yet" (before the module was fitted)


def _hydrodigit(view: View) -> Decoded:
    data = view.telegram.manufacturer_data
    if not data:
        return {}
    content, pos = data[0], 1
    out: Readings = {}
    for bit, size, section in _SECTIONS:
        if not content & bit:
            continue
        chunk = data[pos : pos + size]
        if len(chunk) < size:
            break
        pos += size
        if section == "battery":
            out["voltage_v"] = number(Fraction(_BATTERY_V.get(chunk[0] & 0x0F, _BATTERY_DEFAULT_V)))
        elif section == "backflow":
            out["backflow_m3"] = number(Fraction(int.from_bytes(chunk, "little"), 1000))
        elif section == "monthly":
            for month in range(12):
                raw = int.from_bytes(chunk[3 * month : 3 * month + 3], "little")
                value = Fraction(raw, 100) if raw < _MONTH_LIMIT else 0
                out[f"{calendar.month_name[month + 1]}_total_m3"] = number(value)
    return out


HYDRODIGIT = Family(
    name="hydrodigit",
    meters="B Meters Hydrodigit water meters",
    detect=(("BMT", 0x13, 0x06), ("BMT", 0x17, 0x06), ("BMT", 0x13, 0x07), ("BMT", 0x15, 0x07),
            ("BMT", 0x17, 0x07)),
    fields=(oms.TOTAL_M3,),
    decode=_hydrodigit,
)

HYDROCALM3 = Family(
    name="hydrocalm3",
    meters="B Meters Hydrocal-M3 heat/cooling meters",
    detect=(("BMT", 0x0B, 0x0D),),
    # The meter repeats the same DIF/VIF: heating first, then cooling, then the pulse inputs.
    fields=(
        Rec("total_heating_kwh", "energy"),
        Rec("total_cooling_kwh", "energy", index=1),
        Rec("total_heating_m3", "volume"),
        Rec("total_cooling_m3", "volume", index=1),
        Rec("c1_volume_m3", "volume", index=2),
        Rec("c2_volume_m3", "volume", index=3),
        Rec("supply_temperature_c", "flow_temperature"),
        oms.RETURN_TEMPERATURE_C,
    ),
)

HYDROCALM4 = Family(
    name="hydrocalm4",
    meters="B Meters Hydrocal-M4 heat/cooling meters",
    detect=(("BMT", 0x1A, 0x0D),),
    fields=(
        Rec("total_heating_kwh", "energy"),
        Rec("total_heating_m3", "volume"),
        # Tariff 1 holds the cooling registers; subunits 1 and 2 the pulse inputs C1 and C2.
        Rec("total_cooling_kwh", "energy", tariff=1),
        Rec("total_cooling_m3", "volume", tariff=1),
        *series(Rec("c{}_volume_m3", "volume"), "subunit", (1, 2)),
        oms.POWER_KW, oms.VOLUME_FLOW_M3H,
        Rec("supply_temperature_c", "flow_temperature"),
        oms.RETURN_TEMPERATURE_C,
    ),
)

IWMTX5 = Family(
    name="iwmtx5",
    meters="B Meters IWM-TX5 water meter radio modules",
    detect=(("BMT", 0x18, 0x06), ("BMT", 0x18, 0x07)),
    fields=oms.WATER,
)

_TEMP, _RH = "external_temperature", "relative_humidity"
RFMAMB = Family(
    name="rfmamb",
    meters="B Meters RFM-AMB room temperature and humidity sensors",
    detect=(("BMT", 0x10, 0x1B),),
    fields=(
        Rec("current_temperature_c", _TEMP),
        Rec("average_temperature_1h_c", _TEMP, storage=1),
        Rec("average_temperature_24h_c", _TEMP, storage=2),
        Rec("maximum_temperature_1h_c", _TEMP, function=MAX),
        Rec("minimum_temperature_1h_c", _TEMP, function=MIN),
        Rec("maximum_temperature_24h_c", _TEMP, storage=1, function=MAX),
        Rec("minimum_temperature_24h_c", _TEMP, storage=1, function=MIN),
        Rec("current_relative_humidity_rh", _RH),
        Rec("average_relative_humidity_1h_rh", _RH, storage=1),
        Rec("average_relative_humidity_24h_rh", _RH, storage=2),
        Rec("minimum_relative_humidity_1h_rh", _RH, function=MIN),
        Rec("maximum_relative_humidity_1h_rh", _RH, function=MAX),
        Rec("maximum_relative_humidity_24h_rh", _RH, storage=1, function=MAX),
        Rec("minimum_relative_humidity_24h_rh", _RH, storage=1, function=MIN),
    ),
)

# Hydroclima: manufacturer data after DIF 0F, a version byte then 16-bit LE words; temperatures
# in 1/100 C, 8000 meaning "no value". Version 10: status, time, date, average ambient
# temperature, maximum ambient and its date, number of measurements, last period's ambient and
# heater averages, units, total units (3 bytes). Version 11: status, time, date, opening date,
# heater and ambient averages, maximum ambient and its date, last period's heater and ambient
# averages, 4 consumption values at the last set dates, 3 ambient temperatures at those dates,
# 3 temperature counters (3 bytes each), total units.
_NO_VALUE = -0x8000
_HC_LAYOUTS: dict[int, tuple[tuple[str | None, int], ...]] = {
    0x10: ((None, 6), ("average_ambient_temperature_c", 2), ("max_ambient_temperature_c", 2),
           (None, 4), ("average_ambient_temperature_last_month_c", 2),
           ("average_heater_temperature_last_month_c", 2), (None, 2),
           ("total_consumption_hca", 3)),
    0x11: ((None, 8), ("average_heater_temperature_c", 2), ("average_ambient_temperature_c", 2),
           ("max_ambient_temperature_c", 2), (None, 2),
           ("average_heater_temperature_last_month_c", 2),
           ("average_ambient_temperature_last_month_c", 2),
           *((f"consumption_at_set_date_{n}_hca", 2) for n in range(1, 5)),
           *((f"ambient_temperature_at_set_date_{n}_c", 2) for n in range(1, 4)),
           (None, 9), ("total_consumption_hca", 2)),
}
CENTI = Fraction(1, 100)


def _hydroclima(view: View) -> Decoded:
    data = view.telegram.manufacturer_data
    layout = _HC_LAYOUTS.get(data[0]) if data else None
    out: Readings = {}
    pos = 1
    for name, size in layout or ():
        if name is not None:
            temperature = name.endswith("_c")
            raw = read_int(data, pos, size, signed=temperature)
            if raw is None:
                break
            if raw != _NO_VALUE:
                out[name] = number(raw * CENTI) if temperature else raw
        pos += size
    return out


HYDROCLIMAV2 = Family(
    name="hydroclimav2",
    meters="B Meters Hydroclima heat cost allocators",
    detect=(("BMP", 0x53, 0x08), ("BMP", 0x85, 0x08)),
    fields=(Rec("consumption_hca", "hca_units"), Rec("target_hca", "hca_units", storage=1)),
    decode=_hydroclima,
)

FAMILIES = (HYDRODIGIT, HYDROCALM3, HYDROCALM4, IWMTX5, RFMAMB, HYDROCLIMAV2)
