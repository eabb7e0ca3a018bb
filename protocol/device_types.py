"""Device type (medium) names of the A-field (docs/protocol.md §2.5)."""

from __future__ import annotations

DEVICE_TYPES: dict[int, str] = {
    0x00: "other",
    0x01: "oil",
    0x02: "electricity",
    0x03: "gas",
    0x04: "heat",  # outlet/return measurement
    0x05: "steam",
    0x06: "warm_water",
    0x07: "water",
    0x08: "heat_cost_allocator",
    0x09: "compressed_air",
    0x0A: "cooling_load_outlet",
    0x0B: "cooling_load_inlet",
    0x0C: "heat_inlet",
    0x0D: "heat_cooling_load",
    0x0E: "bus_system_component",
    0x0F: "unknown_medium",
    0x10: "irrigation_water",  # sources disagree (reserved in older tables)
    0x11: "water_data_logger",
    0x12: "gas_data_logger",
    0x13: "gas_converter",
    0x14: "calorific_value",
    0x15: "hot_water",
    0x16: "cold_water",
    0x17: "dual_register_water",
    0x18: "pressure",
    0x19: "ad_converter",
    0x1A: "smoke_detector",
    0x1B: "room_sensor",
    0x1C: "gas_detector",
    0x1D: "co_alarm",  # sources disagree (reserved for sensors elsewhere)
    0x1E: "heat_alarm",
    0x1F: "sensor_device",
    0x20: "breaker",
    0x21: "valve",
    0x25: "customer_unit",
    0x28: "waste_water",
    0x29: "garbage",
    0x2A: "carbon_dioxide",
    0x31: "communication_controller",
    0x32: "unidirectional_repeater",
    0x33: "bidirectional_repeater",
    0x36: "radio_converter_system_side",
    0x37: "radio_converter_meter_side",
    0x38: "wired_adapter",  # sources disagree
}

# Techem uses codes of its own (wmbusmeters' table).
TECHEM_DEVICE_TYPES: dict[int, str] = {
    0x62: "warm_water",
    0x72: "cold_water",
    0x80: "heat_cost_allocator",
    0x43: "heat",
    0xC3: "heat",
    0xF0: "smoke_detector",
}


def device_type_name(code: int, manufacturer: str = "") -> str:
    """Name of a device type code; unknown codes give ``"unknown_0xNN"``, never an error."""
    if manufacturer == "TCH" and code in TECHEM_DEVICE_TYPES:
        return TECHEM_DEVICE_TYPES[code]
    return DEVICE_TYPES.get(code, f"unknown_0x{code:02X}")
