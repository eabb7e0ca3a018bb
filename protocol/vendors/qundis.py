"""Qundis (QDS, and LSE for its Landis+Gyr/Siemens-branded meters): Q water, Q heat, Q caloric
heat cost allocators, Q smoke.

Besides standard records, Qundis meters send a "walk-by" record (DIF/VIF 0D FF 5F, 53 bytes):
bytes 0-8 a header whose byte 7 is 07, byte 9 the VIF of every value in the block (13 litres,
05/06/0D/0E energy, 6E HCA units), then the error date (10-11), the current value (12-15, 8 BCD
digits), the date and value at the end of the last year (16-17, 18-21; storage 1), the date and
value at the end of the last month (22-23, 24-27; storage 17), and twelve signed 16-bit
monthly differences (28-51). ``walk_by_records`` rebuilds the standard records those values
stand for, so that the same fields read both kinds of telegram.

wmbusmeters has two drivers each for the water and heat meters (qwater/qwaterv2,
qheat/qheatv2) that name the same values differently; both sets of names are given.
"""

from __future__ import annotations

from fractions import Fraction

from protocol.records import parse_records
from protocol.types import Record
from protocol.vendors import oms
from protocol.vendors.spec import Decode, Family, Readings, Rec, View, convert

WALK_BY = bytes.fromhex("0DFF5F")
_WALK_BY_LEN = 53
_WALK_BY_MARK = (7, 0x07)  # byte 7 of every walk-by block seen
_WALK_BY_VIFS = frozenset({0x13, 0x05, 0x06, 0x0D, 0x0E, 0x6E})
_DIFFERENCES = range(28, 52, 2)  # offsets of the twelve monthly differences


def _walk_by(view: View) -> bytes | None:
    """The 53 bytes of the walk-by record, when it is one (its LVAR byte stripped)."""
    for r in view.telegram.records:
        if r.dif + r.vif == WALK_BY and len(r.data) == 1 + _WALK_BY_LEN:
            block = r.data[1:]
            offset, mark = _WALK_BY_MARK
            if block[offset] == mark and block[9] in _WALK_BY_VIFS:
                return block
    return None


def walk_by_records(view: View) -> tuple[Record, ...]:
    """The current, last-year (storage 1) and last-month (storage 17) values of a walk-by
    record as the standard records a full telegram carries (8-digit BCD, the block's VIF)."""
    block = _walk_by(view)
    if block is None:
        return ()
    vif = block[9]
    area = (bytes((0x0C, vif)) + block[12:16] + bytes((0x4C, vif)) + block[18:22]
            + bytes((0xCC, 0x08, vif)) + block[24:28])
    return parse_records(area).records


def _differences(template: str) -> Decode:
    """A decode step: the walk-by block's monthly differences as ``template`` readings,
    numbered 2 to 13 (wmbusmeters' numbering), in the block's unit."""

    def decode(view: View) -> Readings:
        block = _walk_by(view)
        if block is None:
            return {}
        area = b"".join(bytes((0x02, block[9])) + block[i : i + 2] for i in _DIFFERENCES)
        out: Readings = {}
        for n, record in enumerate(parse_records(area).records, start=2):
            value = convert(record, template)
            if value is not None:
                out[template.format(n)] = value
        return out

    return decode


QWATER = Family(
    name="qwaterv2",
    meters="Qundis Q water 5.5 and related water meters",
    aliases=("qwater",),
    detect=tuple(("QDS", v, t) for v, t in (
        (0x33, 0x37), (0x35, 0x37), (0x16, 0x06), (0x16, 0x07), (0x17, 0x06), (0x17, 0x07),
        (0x18, 0x06), (0x18, 0x07), (0x19, 0x07), (0x1A, 0x06), (0x1A, 0x07), (0x1D, 0x06),
        (0x1D, 0x07), (0x36, 0x06), (0x36, 0x07), (0x35, 0x06), (0x35, 0x07))),
    expand=walk_by_records,
    fields=(
        oms.TOTAL_M3,
        Rec("target_m3", "volume", storage=17),
        Rec("target_year_m3", "volume", storage=1),
        Rec("due_date_m3", "volume", storage=1),
        Rec("due_17_date_m3", "volume", storage=17),
        # A flow record (VIF 3B, l/h) whose VIFE 56 names a low-flow duration; wmbusmeters
        # reads it as the flow.
        Rec("volume_flow_m3h", difvif="02BB56", scale=Fraction(1, 1000)),
    ),
    decode=_differences("volume_delta_{}_m3"),
)

QHEAT = Family(
    name="qheatv2",
    meters="Qundis Q heat 5.5 heat meters",
    aliases=("qheat",),
    detect=tuple(("QDS", v, t) for v, t in (
        (0x23, 0x04), (0x46, 0x04), (0x23, 0x37), (0x3E, 0x37), (0x47, 0x37), (0x48, 0x04),
        (0x48, 0x37))),
    expand=walk_by_records,
    fields=(
        Rec("total_kwh", "energy"),
        Rec("target_kwh", "energy", storage=17),
        Rec("target_year_kwh", "energy", storage=1),
        oms.TOTAL_ENERGY_KWH,
        Rec("last_month_energy_consumption_kwh", "energy", storage=17),
        Rec("last_year_energy_consumption_kwh", "energy", storage=1),
    ),
    decode=_differences("energy_delta_{}_kwh"),
)

QCALORIC = Family(
    name="qcaloric",
    meters="Qundis Q caloric heat cost allocators (also sold as Siemens WHE 4/5)",
    aliases=("whe5x", "whe46x"),
    detect=(("LSE", 0x34, 0x08), ("LSE", 0x35, 0x08), ("QDS", 0x35, 0x08), ("QDS", 0x34, 0x08),
            ("QDS", 0x36, 0x08), ("LSE", 0x18, 0x08), ("ZRI", 0xFD, 0x08)),
    expand=walk_by_records,
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
