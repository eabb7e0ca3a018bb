"""EN 13757-3 value information tables as data (docs/protocol.md §7.5-§7.8).

Every entry says what a VIF (or the first VIFE after FB/FD) measures: a snake_case quantity,
the unit the scaled value is expressed in, the power of ten applied to the raw number, and how
the data bytes are read (``ValueKind``). Units are the unit family the VIF encodes, in one fixed
unit per family (Wh, J, m3, kg, W, J/h, m3/h, kg/h, C, K, F, bar, V, A, %); durations keep the
time unit the VIF names (s, min, h, d, month, year) because months and years have no fixed length.

Combinable (orthogonal) VIFEs are ``Combinable`` entries: a name for ``Record.extensions`` and,
where the VIFE changes what the data means (a date of an event, a duration, a count, a
correction factor, data type C/D), how it changes the reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ValueKind(Enum):
    """How a record's data bytes turn into a value."""

    NUMBER = "number"  # type B (signed) integers, BCD, real32; scaled by the exponent
    UNSIGNED = "unsigned"  # type C counters
    BITS = "bits"  # type D bit fields, reported as an unsigned int
    DATE = "date"  # type G/J/F/I chosen by data length
    ID = "id"  # identifiers: BCD digits / hex digits of the LE integer / text
    RAW = "raw"  # manufacturer-specific: unscaled, unnamed


@dataclass(frozen=True, slots=True)
class VifInfo:
    quantity: str
    unit: str = ""
    exponent: int = 0
    kind: ValueKind = ValueKind.NUMBER


@dataclass(frozen=True, slots=True)
class Combinable:
    """A combinable VIFE: its name, and how it changes unit, scale or value kind (None = keep)."""

    name: str
    unit: str | None = None
    exponent_delta: int = 0
    reset_exponent: bool = False
    kind: ValueKind | None = None


TIME_UNITS = ("s", "min", "h", "d")
LONG_TIME_UNITS = ("h", "d", "month", "year")


def _decades(
    first: int, count: int, quantity: str, unit: str, exponent0: int
) -> dict[int, VifInfo]:
    """``count`` consecutive codes whose exponent grows by one per code from ``exponent0``."""
    return {first + i: VifInfo(quantity, unit, exponent0 + i) for i in range(count)}


def _times(first: int, quantity: str, units: tuple[str, ...] = TIME_UNITS) -> dict[int, VifInfo]:
    """Consecutive codes that differ only in their time unit (durations are never negative)."""
    return {first + i: VifInfo(quantity, u, 0, ValueKind.UNSIGNED) for i, u in enumerate(units)}


def _single(code: int, quantity: str, unit: str = "", exponent: int = 0,
            kind: ValueKind = ValueKind.NUMBER) -> dict[int, VifInfo]:
    return {code: VifInfo(quantity, unit, exponent, kind)}


ID = ValueKind.ID
UNSIGNED = ValueKind.UNSIGNED
BITS = ValueKind.BITS
DATE = ValueKind.DATE

# Primary VIF table, keyed by VIF & 0x7F (docs/protocol.md §7.5).
PRIMARY: dict[int, VifInfo] = {
    **_decades(0x00, 8, "energy", "Wh", -3),
    **_decades(0x08, 8, "energy", "J", 0),
    **_decades(0x10, 8, "volume", "m3", -6),
    **_decades(0x18, 8, "mass", "kg", -3),
    **_times(0x20, "on_time"),
    **_times(0x24, "operating_time"),
    **_decades(0x28, 8, "power", "W", -3),
    **_decades(0x30, 8, "power", "J/h", 0),
    **_decades(0x38, 8, "volume_flow", "m3/h", -6),
    **_decades(0x40, 8, "volume_flow", "m3/min", -7),
    **_decades(0x48, 8, "volume_flow", "m3/s", -9),
    **_decades(0x50, 8, "mass_flow", "kg/h", -3),
    **_decades(0x58, 4, "flow_temperature", "C", -3),
    **_decades(0x5C, 4, "return_temperature", "C", -3),
    **_decades(0x60, 4, "temperature_difference", "K", -3),
    **_decades(0x64, 4, "external_temperature", "C", -3),
    **_decades(0x68, 4, "pressure", "bar", -3),
    **_single(0x6C, "date", kind=DATE),
    **_single(0x6D, "date_time", kind=DATE),
    **_single(0x6E, "hca_units"),
    **_single(0x6F, "reserved"),
    **_times(0x70, "averaging_duration"),
    **_times(0x74, "actuality_duration"),
    **_single(0x78, "fabrication_number", kind=ID),
    **_single(0x79, "enhanced_id", kind=ID),
    **_single(0x7A, "bus_address", kind=UNSIGNED),
    **_single(0x7E, "any_vif"),
    **_single(0x7F, "manufacturer_specific", kind=ValueKind.RAW),
}

# First extension table: the VIFE after FB, keyed by VIFE & 0x7F (docs/protocol.md §7.6).
EXTENSION_FB: dict[int, VifInfo] = {
    **_decades(0x00, 2, "energy", "Wh", 5),  # 10^(n-1) MWh
    **_decades(0x08, 2, "energy", "J", 8),  # 10^(n-1) GJ
    **_decades(0x10, 2, "volume", "m3", 2),
    **_decades(0x18, 2, "mass", "kg", 5),  # 10^(n+2) t
    **_decades(0x1A, 2, "relative_humidity", "%", -1),
    **_single(0x20, "volume", "ft3"),
    **_single(0x21, "volume", "ft3", -1),
    **_single(0x22, "volume", "gal", -1),
    **_single(0x23, "volume", "gal"),
    **_single(0x24, "volume_flow", "gal/min", -3),
    **_single(0x25, "volume_flow", "gal/min"),
    **_single(0x26, "volume_flow", "gal/h"),
    **_decades(0x28, 2, "power", "W", 5),  # 10^(n-1) MW
    **_decades(0x30, 2, "power", "J/h", 8),  # 10^(n-1) GJ/h
    **_decades(0x58, 4, "flow_temperature", "F", -3),
    **_decades(0x5C, 4, "return_temperature", "F", -3),
    **_decades(0x60, 4, "temperature_difference", "F", -3),
    **_decades(0x64, 4, "external_temperature", "F", -3),
    **_decades(0x70, 4, "temperature_limit", "F", -3),
    **_decades(0x74, 4, "temperature_limit", "C", -3),
    **_decades(0x78, 8, "cumulative_count_max_power", "W", -3),
}

# Second extension table: the VIFE after FD, keyed by VIFE & 0x7F (docs/protocol.md §7.7).
EXTENSION_FD: dict[int, VifInfo] = {
    **_decades(0x00, 4, "credit", "currency", -3),
    **_decades(0x04, 4, "debit", "currency", -3),
    **_single(0x08, "access_number", kind=UNSIGNED),
    **_single(0x09, "medium", kind=ID),
    **_single(0x0A, "manufacturer", kind=ID),
    **_single(0x0B, "parameter_set", kind=ID),
    **_single(0x0C, "model_version", kind=ID),
    **_single(0x0D, "hardware_version", kind=ID),
    **_single(0x0E, "firmware_version", kind=ID),
    **_single(0x0F, "software_version", kind=ID),
    **_single(0x10, "customer_location", kind=ID),
    **_single(0x11, "customer", kind=ID),
    **_single(0x12, "access_code_user", kind=ID),
    **_single(0x13, "access_code_operator", kind=ID),
    **_single(0x14, "access_code_system_operator", kind=ID),
    **_single(0x15, "access_code_developer", kind=ID),
    **_single(0x16, "password", kind=ID),
    **_single(0x17, "error_flags", kind=BITS),
    **_single(0x18, "error_mask", kind=BITS),
    **_single(0x19, "security_key", kind=ID),
    **_single(0x1A, "digital_output", kind=BITS),
    **_single(0x1B, "digital_input", kind=BITS),
    **_single(0x1C, "baud_rate", "Bd", kind=UNSIGNED),
    **_single(0x1D, "response_delay_time", "bit_times", kind=UNSIGNED),
    **_single(0x1E, "retry", kind=UNSIGNED),
    **_single(0x1F, "remote_control", kind=BITS),
    **_single(0x20, "first_storage_number", kind=UNSIGNED),
    **_single(0x21, "last_storage_number", kind=UNSIGNED),
    **_single(0x22, "storage_block_size", kind=UNSIGNED),
    **_single(0x23, "tariff_subunit_descriptor", kind=BITS),
    **_times(0x24, "storage_interval", (*TIME_UNITS, "month", "year")),
    **_single(0x2A, "operator_specific_data", kind=ID),
    **_single(0x2B, "time_point_second", "s", kind=UNSIGNED),
    **_times(0x2C, "duration_since_last_readout"),
    **_single(0x30, "tariff_start", kind=DATE),
    **_times(0x31, "tariff_duration", ("min", "h", "d")),
    **_times(0x34, "tariff_period", (*TIME_UNITS, "month", "year")),
    **_single(0x3A, "dimensionless"),
    **_single(0x3B, "data_container", kind=ID),
    **_decades(0x40, 16, "voltage", "V", -9),
    **_decades(0x50, 16, "current", "A", -12),
    **_single(0x60, "reset_counter", kind=UNSIGNED),
    **_single(0x61, "cumulation_counter", kind=UNSIGNED),
    **_single(0x62, "control_signal", kind=BITS),
    **_single(0x63, "day_of_week", kind=UNSIGNED),
    **_single(0x64, "week_number", kind=UNSIGNED),
    **_single(0x65, "time_point_of_day_change", kind=UNSIGNED),
    **_single(0x66, "parameter_activation_state", kind=BITS),
    **_single(0x67, "special_supplier_information", kind=ID),
    **_times(0x68, "duration_since_last_cumulation", LONG_TIME_UNITS),
    **_times(0x6C, "battery_operating_time", LONG_TIME_UNITS),
    **_single(0x70, "battery_change_date_time", kind=DATE),
    **_single(0x71, "rf_level", "dBm"),
    **_single(0x72, "daylight_saving", kind=BITS),
    **_single(0x73, "listening_window_management", kind=BITS),
    **_single(0x74, "remaining_battery_days", "d", kind=UNSIGNED),
    **_single(0x75, "meter_stop_count", kind=UNSIGNED),
    **_single(0x76, "manufacturer_protocol_container", kind=ID),
}

RESERVED = VifInfo("reserved")


def _combinable_table() -> dict[int, Combinable]:
    table: dict[int, Combinable] = {}
    errors = {
        0x00: "none", 0x01: "too_many_difes", 0x02: "storage_not_implemented",
        0x03: "unit_not_implemented", 0x04: "tariff_not_implemented",
        0x05: "function_not_implemented", 0x06: "data_class_not_implemented",
        0x07: "data_size_not_implemented", 0x0B: "too_many_vifes", 0x0C: "illegal_vif_group",
        0x0D: "illegal_vif_exponent", 0x0E: "vif_dif_mismatch", 0x0F: "unimplemented_action",
        0x15: "no_data_available", 0x16: "overflow", 0x17: "underflow", 0x18: "data_error",
        0x1C: "premature_end_of_record",
    }
    for code in (*range(0x00, 0x10), *range(0x15, 0x1D)):
        table[code] = Combinable(f"error_{errors.get(code, f'reserved_{code:02x}')}")
    names = {
        0x12: "average_value", 0x13: "inverse_compact_profile", 0x14: "relative_deviation",
        0x1D: "standard_conformant_data_content", 0x1E: "compact_profile_with_register_numbers",
        0x1F: "compact_profile", 0x20: "per_second", 0x21: "per_minute", 0x22: "per_hour",
        0x23: "per_day", 0x24: "per_week", 0x25: "per_month", 0x26: "per_year",
        0x27: "per_revolution_or_measurement", 0x28: "increment_per_input_pulse_channel_0",
        0x29: "increment_per_input_pulse_channel_1", 0x2A: "increment_per_output_pulse_channel_0",
        0x2B: "increment_per_output_pulse_channel_1", 0x2C: "per_litre", 0x2D: "per_m3",
        0x2E: "per_kg", 0x2F: "per_kelvin", 0x30: "per_kwh", 0x31: "per_gj", 0x32: "per_kw",
        0x33: "per_kelvin_litre", 0x34: "per_volt", 0x35: "per_ampere", 0x36: "multiplied_by_s",
        0x37: "multiplied_by_s_per_v", 0x38: "multiplied_by_s_per_a",
        0x3A: "uncorrected", 0x3B: "forward_flow", 0x3C: "backward_flow",
        0x3D: "non_metric_units", 0x3E: "value_at_base_conditions", 0x3F: "obis_declaration",
        0x40: "lower_limit_value", 0x48: "upper_limit_value",
        0x68: "value_during_lower_limit_exceed",
        0x6C: "value_during_upper_limit_exceed", 0x69: "leakage_values", 0x6D: "overflow_values",
        0x7E: "future_value", 0x7F: "manufacturer_specific",
    }
    table.update({code: Combinable(name) for code, name in names.items()})
    table[0x39] = Combinable("start_date_time", unit="", kind=DATE)
    counts = {0x41: "lower_limit_exceed_count", 0x49: "upper_limit_exceed_count"}
    for code, name in counts.items():
        table[code] = Combinable(name, unit="", reset_exponent=True, kind=UNSIGNED)
    # Limit-exceed dates: E100 u f 1 b (u upper, f last, b end).
    for code in (0x42, 0x43, 0x46, 0x47, 0x4A, 0x4B, 0x4E, 0x4F):
        limit = "upper" if code & 0x08 else "lower"
        which = "last" if code & 0x04 else "first"
        edge = "end" if code & 0x01 else "begin"
        table[code] = Combinable(f"{limit}_limit_exceed_{which}_{edge}_date", unit="", kind=DATE)
    # Limit-exceed durations: E101 u f nn; durations of D: E110 0 f nn.
    for code in range(0x50, 0x68):
        subject = ("upper_limit_exceed" if code & 0x08 else "lower_limit_exceed") \
            if code < 0x60 else "d"
        which = "last" if code & 0x04 else "first"
        table[code] = Combinable(f"duration_of_{subject}_{which}", unit=TIME_UNITS[code & 3],
                                 reset_exponent=True, kind=UNSIGNED)
    for code in (0x6A, 0x6B, 0x6E, 0x6F):
        which = "last" if code & 0x04 else "first"
        edge = "end" if code & 0x01 else "begin"
        table[code] = Combinable(f"d_{which}_{edge}_date", unit="", kind=DATE)
    for code in range(0x70, 0x78):
        table[code] = Combinable(f"multiplicative_correction_factor_1e{code - 0x76}",
                                 exponent_delta=code - 0x76)
    for code in range(0x78, 0x7C):
        table[code] = Combinable(f"additive_correction_constant_1e{code - 0x7B}")
    table[0x7D] = Combinable("multiplicative_correction_factor_1e3", exponent_delta=3)
    return table


# Combinable (orthogonal) VIFEs, keyed by VIFE & 0x7F (docs/protocol.md §7.8); 7C is the escape
# below.
COMBINABLE: dict[int, Combinable] = _combinable_table()
COMBINABLE_ESCAPE = 0x7C
MANUFACTURER_VIFE = 0x7F

# Combinable extension table: the VIFE after a combinable 7C/FC, keyed by VIFE & 0x7F.
COMBINABLE_EXTENSION: dict[int, Combinable] = {
    0x01: Combinable("phase_l1"), 0x02: Combinable("phase_l2"), 0x03: Combinable("phase_l3"),
    0x04: Combinable("neutral"), 0x05: Combinable("phase_l1_l2"),
    0x06: Combinable("phase_l2_l3"), 0x07: Combinable("phase_l3_l1"),
    0x08: Combinable("quadrant_q1"), 0x09: Combinable("quadrant_q2"),
    0x0A: Combinable("quadrant_q3"), 0x0B: Combinable("quadrant_q4"),
    0x0C: Combinable("delta_import_export"), 0x10: Combinable("absolute_accumulation"),
    0x11: Combinable("data_type_c", kind=UNSIGNED), 0x12: Combinable("data_type_d", kind=BITS),
}
