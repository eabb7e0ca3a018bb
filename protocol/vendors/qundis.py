"""Qundis (QDS, and LSE for its Landis+Gyr/Siemens-branded meters): Q water, Q heat, Q caloric
heat cost allocators, Q smoke.

Besides standard records, Qundis meters send a "walk-by" record (DIF/VIF 0D FF 5F, usually 53
bytes): bytes 0-8 a header the drivers do not read, byte 9 the VIF of every value in the block
(13 litres for Q water; 05, 06, 0D or 0E energy for Q heat; 6E HCA units for Q caloric), then the
error date (10-11), the current value (12-15, 8 BCD digits), the date and value at the end of
the last year (16-17, 18-21; storage 1), the date and value at the end of the last month (22-23,
24-27; storage 17), and twelve signed 16-bit monthly differences (28-51). The drivers' grammar
is nine bytes, the VIF, the values, then "any further bytes": the VIF byte alone tells a walk-by
block of the meter, and a block is read as far as it goes. ``walk_by_records`` rebuilds the
standard records those values stand for, so that the same fields read both kinds of telegram.

wmbusmeters has two drivers each for the water and heat meters (qwater/qwaterv2,
qheat/qheatv2) that name the same values differently; both sets of names are given.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from protocol.records import parse_records
from protocol.types import Record, RecordFunction
from protocol.vendors import oms
from protocol.vendors.spec import Decode, Family, Readings, Rec, View, convert, number

WALK_BY = bytes.fromhex("0DFF5F")
_WALK_BY_VALUES_END = 28  # the values end here; the monthly differences follow
_WALK_BY_VIF_AT = 9  # after a nine-byte header the drivers do not read
# The VIFs each driver's grammar accepts at byte 9: litres (Q water), 100 Wh, kWh, 100 kJ or MJ
# (Q heat), HCA units (Q caloric). Any other byte there: not a walk-by block of that meter.
WATER_VIFS = frozenset({0x13})
ENERGY_VIFS = frozenset({0x05, 0x06, 0x0D, 0x0E})
HCA_VIFS = frozenset({0x6E})
_DIFFERENCES = range(28, 52, 2)  # offsets of the twelve monthly differences


def _walk_by(view: View, vifs: frozenset[int]) -> bytes | None:
    """The bytes of the walk-by record, when it is one with one of ``vifs`` (its LVAR byte
    stripped)."""
    for r in view.telegram.records:
        if r.dif + r.vif == WALK_BY and len(r.data) > _WALK_BY_VALUES_END:
            block = r.data[1:]
            if block[_WALK_BY_VIF_AT] in vifs:
                return block
    return None


def walk_by_records(vifs: frozenset[int]) -> Callable[[View], tuple[Record, ...]]:
    """An expand step: the current, last-year (storage 1) and last-month (storage 17) values of
    a walk-by record with one of ``vifs``, as the standard records a full telegram carries
    (8-digit BCD, the block's VIF)."""

    def expand(view: View) -> tuple[Record, ...]:
        block = _walk_by(view, vifs)
        if block is None:
            return ()
        vif = block[_WALK_BY_VIF_AT]
        area = (bytes((0x0C, vif)) + block[12:16] + bytes((0x4C, vif)) + block[18:22]
                + bytes((0xCC, 0x08, vif)) + block[24:28])
        return parse_records(area).records

    return expand


def _differences(template: str, vifs: frozenset[int]) -> Decode:
    """A decode step: the monthly differences of a walk-by block with one of ``vifs`` as
    ``template`` readings, numbered 2 to 13 (wmbusmeters' numbering), in the block's unit."""

    def decode(view: View) -> Readings:
        block = _walk_by(view, vifs)
        if block is None:
            return {}
        vif = block[_WALK_BY_VIF_AT]
        area = b"".join(bytes((0x02, vif)) + block[i : i + 2] for i in _DIFFERENCES
                        if i + 2 <= len(block))
        out: Readings = {}
        for n, record in enumerate(parse_records(area).records, start=2):
            value = convert(record, template)
            if value is not None:
                out[template.format(n)] = value
        return out

    return decode


# Q water sends its flow with VIFE 56 (a duration-of-low-flow extension), which makes the record's
# number a plain count; wmbusmeters still reads it as the flow, scaled by the flow VIF's exponent
# (VIF 38-3F: 10^(n-6) m3/h), whatever the data size.
_LOW_FLOW = ("duration_of_lower_limit_exceed_last",)
_FLOW_VIFS = range(0x38, 0x40)


def _qwater_flow(view: View) -> Readings:
    for r in view.records:
        if (r.quantity == "volume_flow" and r.extensions == _LOW_FLOW and r.vif[0] & 0x7F in
                _FLOW_VIFS and (r.storage, r.tariff, r.subunit) == (0, 0, 0)
                and r.function is RecordFunction.INSTANTANEOUS and isinstance(r.value, int)):
            return {"volume_flow_m3h": number(r.value * Fraction(10) ** ((r.vif[0] & 7) - 6))}
    return {}


_QWATER_DIFFERENCES = _differences("volume_delta_{}_m3", WATER_VIFS)


def _qwater(view: View) -> Readings:
    return {**_qwater_flow(view), **_QWATER_DIFFERENCES(view)}


QWATER = Family(
    name="qwaterv2",
    meters="Qundis Q water 5.5 and related water meters",
    aliases=("qwater",),
    detect=tuple(("QDS", v, t) for v, t in (
        (0x33, 0x37), (0x35, 0x37), (0x16, 0x06), (0x16, 0x07), (0x17, 0x06), (0x17, 0x07),
        (0x18, 0x06), (0x18, 0x07), (0x19, 0x07), (0x1A, 0x06), (0x1A, 0x07), (0x1D, 0x06),
        (0x1D, 0x07), (0x36, 0x06), (0x36, 0x07), (0x35, 0x06), (0x35, 0x07))),
    expand=walk_by_records(WATER_VIFS),
    fields=(
        oms.TOTAL_M3,
        Rec("target_m3", "volume", storage=17),
        Rec("target_year_m3", "volume", storage=1),
        Rec("due_date_m3", "volume", storage=1),
        Rec("due_17_date_m3", "volume", storage=17),
    ),
    decode=_qwater,
)

QHEAT = Family(
    name="qheatv2",
    meters="Qundis Q heat 5.5 heat meters",
    aliases=("qheat",),
    detect=tuple(("QDS", v, t) for v, t in (
        (0x23, 0x04), (0x46, 0x04), (0x23, 0x37), (0x3E, 0x37), (0x47, 0x37), (0x48, 0x04),
        (0x48, 0x37))),
    expand=walk_by_records(ENERGY_VIFS),
    fields=(
        Rec("total_kwh", "energy"),
        Rec("target_kwh", "energy", storage=17),
        Rec("target_year_kwh", "energy", storage=1),
        oms.TOTAL_ENERGY_KWH,
        Rec("last_month_energy_consumption_kwh", "energy", storage=17),
        Rec("last_year_energy_consumption_kwh", "energy", storage=1),
    ),
    decode=_differences("energy_delta_{}_kwh", ENERGY_VIFS),
)

QCALORIC = Family(
    name="qcaloric",
    meters="Qundis Q caloric heat cost allocators (also sold as Siemens WHE 4/5)",
    aliases=("whe5x", "whe46x"),
    detect=(("LSE", 0x34, 0x08), ("LSE", 0x35, 0x08), ("QDS", 0x35, 0x08), ("QDS", 0x34, 0x08),
            ("QDS", 0x36, 0x08), ("LSE", 0x18, 0x08), ("ZRI", 0xFD, 0x08)),
    expand=walk_by_records(HCA_VIFS),
    fields=(
        *oms.HCA,
        Rec("consumption_at_set_date_1_hca", "hca_units", storage=1),
        Rec("consumption_at_set_date_8_hca", "hca_units", storage=8),
        Rec("consumption_at_set_date_17_hca", "hca_units", storage=17),
        oms.FLOW_TEMPERATURE_C,
    ),
)

QSMOKE = Family(
    name="qsmoke",
    meters="Qundis Q smoke detectors",
    detect=(("QDS", 0x21, 0x1A), ("QDS", 0x23, 0x1A)),
    fields=(
        # Counters in records with plain-text units ("#AL", "#UI" sent last character first).
        Rec("alarm_counter", difvif="81037C034C4123"),
        Rec("test_button_counter", difvif="81027C03495523"),
        Rec("transmission_counter", "access_number"),
        Rec("some_sort_of_duration_h", "duration_since_last_readout", extensions=("future_value",)),
    ),
)

LSE_07_17 = Family(
    name="lse_07_17",
    meters="Siemens / Qundis WFW and WFK water meters (LSE)",
    detect=tuple(("LSE", v, t) for v, t in ((0x18, 0x06), (0x18, 0x07), (0x16, 0x07),
                                            (0x17, 0x07), (0xD8, 0x07))),
    fields=(
        oms.TOTAL_M3,
        Rec("due_m3", "volume", storage=1),
        Rec("consumption_at_set_date_8_m3", "volume", storage=8),
    ),
)

LSE_08 = Family(
    name="lse_08",
    meters="Siemens / Qundis WHE heat cost allocators (LSE version 01)",
    detect=(("LSE", 0x01, 0x08),),
    fields=(
        oms.CURRENT_HCA,
        Rec("consumption_at_set_date_hca", "hca_units", storage=8),
        Rec("duration_since_readout_h", "duration_since_last_readout",
            extensions=("future_value",)),
    ),
)

QHEAT5US = Family(
    name="qheat5us",
    meters="Qundis / Siemens Q heat 5 US heat meters (LSE version 23)",
    detect=(("LSE", 0x23, 0x04),),
    fields=(Rec("total_kwh", "energy"), Rec("target_kwh", "energy", storage=1)),
)

FAMILIES = (QWATER, QHEAT, QCALORIC, QSMOKE, LSE_07_17, LSE_08, QHEAT5US)
