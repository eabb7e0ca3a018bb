"""Kamstrup: Multical heat meters, Multical 21 / flowIQ water meters, pressure sensors.

They send OMS records, mostly as compact frames (CI 79) after an occasional full frame; the
record layouts below let the first compact frame decode without waiting for a full one. Each
layout is checked against the frame's format signature (its CRC) and every rebuilt frame against
the full-frame CRC, so a wrong entry cannot produce readings.
"""

from __future__ import annotations

from protocol.types import RecordFunction
from protocol.vendors import oms
from protocol.vendors.spec import ANY_STORAGE, Family, Rec, series

MIN, MAX = RecordFunction.MINIMUM, RecordFunction.MAXIMUM

KAMHEAT = Family(
    name="kamheat",
    meters="Kamstrup Multical 302/303/402/403/602/603/803 heat and cooling meters",
    aliases=("multical302", "multical303", "multical403", "multical602", "multical603",
             "multical803"),
    detect=(("KAM", 0x30, 0x04), ("KAM", 0x30, 0x0D), ("KAM", 0x30, 0x0C), ("KAM", 0x40, 0x04),
            ("KAM", 0x40, 0x0C), ("KAM", 0x19, 0x04), ("KAM", 0x34, 0x04), ("KAM", 0x34, 0x0A),
            ("KAM", 0x34, 0x0B), ("KAM", 0x34, 0x0C), ("KAM", 0x34, 0x0D), ("KAM", 0x1C, 0x04),
            ("KAM", 0x35, 0x04), ("KAM", 0x35, 0x0C), ("KAM", 0x39, 0x04),
            # A Multical 303 heat/cooling meter of wmbusmeters' tests, read by this driver.
            ("KAM", 0x40, 0x0D)),
    fields=(
        oms.TOTAL_ENERGY_KWH,
        Rec("total_energy_backward_kwh", "energy", extensions=oms.BACKWARD),
        oms.TOTAL_VOLUME_M3,
        *series(Rec("total_volume_subunit{}_m3", "volume"), "subunit", range(1, 5)),
        oms.VOLUME_FLOW_M3H, oms.POWER_KW, oms.MAX_POWER_KW,
        Rec("t1_temperature_c", "flow_temperature"),
        Rec("t2_temperature_c", "return_temperature"),
        oms.MAX_FLOW_M3H,
        # Energy E8 and E9 (m3 x degrees C), raw counters in manufacturer-specific records.
        Rec("forward_energy_m3c", difvif="04FF07"),
        Rec("return_energy_m3c", difvif="04FF08"),
        oms.TARGET_ENERGY_KWH,
        Rec("target_energy_backward_kwh", "energy", storage=1, extensions=oms.BACKWARD),
        oms.TARGET_VOLUME_M3,
        *series(Rec("target_volume_subunit{}_m3", "volume", storage=1), "subunit", range(1, 5)),
        Rec("operating_time_h", "operating_time", extensions=("manufacturer_specific",)),
        oms.ON_TIME_H,
        # The driver's library fields: hours on while in an error state (function "error"),
        # and the flow-return temperature difference.
        Rec("on_time_at_error_h", "on_time", function=RecordFunction.ERROR),
        Rec("flow_return_temperature_difference_c", "temperature_difference"),
        Rec("va_counter", difvif="04EEFF07"),  # pulse inputs A and B
        Rec("vb_counter", difvif="04EEFF08"),
    ),
    compact_formats=(
        # Multical 302 (kWh, GJ-scaled MJ), 303/403 short and long frames, 602, 803.
        "030643060314426C022D01FF21",
        "030E430E0313426C022D01FF21",
        "030F430F0314426C022D01FF21",
        "040604FF0704FF080414043B0259025D04FF22026C44064414426C",
        "040E04FF0704FF08041384401484804014043B0259025D142D84100E84200E04FF22026C440E4413C44014"
        "C4804014426C",
        "040F04FF0704FF08041484401484804014043B0259025D142D84100F84200F04FF22026C440F4414C44014"
        "C4804014426C",
        "02F9FF15040604EEFF0704EEFF0804148440148480401402FD17026C426C44064414C44014C4804014043B"
        "0259025D",
    ),
)

KAMWATER = Family(
    name="kamwater",
    meters="Kamstrup Multical 21, flowIQ 2200/3100 and KWM water meters",
    aliases=("multical21", "flowiq2200"),
    detect=(("KAM", 0x1B, 0x06), ("KAM", 0x1B, 0x16), ("KAW", 0x3A, 0x16), ("KAW", 0x3C, 0x16),
            ("KAM", 0x1D, 0x16), ("KAW", 0x42, 0x06), ("KAW", 0x42, 0x16),
            # flowIQ 2200 for warm water (device type 06), named by a later driver revision.
            ("KAW", 0x3C, 0x06)),
    fields=(
        *oms.WATER,
        Rec("flow_m3h", "volume_flow"),
        # The meter's water temperature is the minimum it logged, in whatever storage it sends.
        Rec("flow_temperature_c", "flow_temperature", storage=ANY_STORAGE, function=MIN),
        Rec("min_flow_temperature_c", "flow_temperature", storage=2, function=MIN),
        Rec("max_flow_temperature_c", "flow_temperature", storage=2, function=MAX),
        Rec("max_flow_m3h", "volume_flow", storage=ANY_STORAGE, function=MAX),
        Rec("min_flow_m3h", "volume_flow", storage=2, function=MIN),
        Rec("min_external_temperature_last_month_c", "external_temperature", storage=1,
            function=MIN),
        Rec("min_external_temperature_last_day_c", "external_temperature", storage=2,
            function=MIN),
        Rec("max_external_temperature_c", "external_temperature", storage=1, function=MAX),
    ),
    compact_formats=(
        "02FF2004134413615B6167",
        "02FF20041392013BA1015B8101E7FF0F",
        "04FF234413523B06FF1B426C61675167023B04138101E7FF0F",
        "02FF2004134413426C523B615B616751678101E7FF0F06FF1B",
        "02FF2004134413A1015B8101E7FF0F",
        "02FF2004134413615B5167",
        "02FF2004134413",
        "02FF200413523B",
        "04FF2304134413426C023B92013BA2013B06FF1BA1015B91015BA10167",
    ),
)

KAMPRESS = Family(
    name="kampress",
    meters="Kamstrup pressure sensor",
    detect=(("KAM", 0x01, 0x18),),
    fields=(
        Rec("pressure_bar", "pressure"),
        Rec("max_pressure_bar", "pressure", function=MAX),
        Rec("min_pressure_bar", "pressure", function=MIN),
        Rec("alfa_counter", difvif="05FF09"),
        Rec("beta_counter", difvif="05FF0A"),
    ),
    compact_formats=("22691269026905FF0905FF0A02FD17",),
)

FAMILIES = (KAMHEAT, KAMWATER, KAMPRESS)
