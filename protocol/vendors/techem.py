"""Techem (TCH): MK Radio 3/4/4a water meters, FHKV data III/IV heat cost allocators, Compact V /
Compact 5 and Vario heat meters.

The radio versions send a proprietary payload after a manufacturer-specific CI (A0-A2). After
a status byte come the date of the last billing period (2 bytes) and the value at that date,
the current date (2 bytes) and the value since then; the total is the sum. The FHKV data
allocators add the room and radiator temperatures (1/100 C, signed); the payload's first byte
names the layout (01 and 11: right after the values, 0F: one byte later).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from protocol.vendors import oms
from protocol.vendors.spec import (
    Decode,
    Decoded,
    Family,
    Readings,
    Rec,
    View,
    number,
    read_int,
    series,
)

TENTH = Fraction(1, 10)
CENTI = Fraction(1, 100)


def _periods(size: int, readings: Callable[[View, int, int], Readings]) -> Decode:
    """A decode step: ``readings`` of the value at the last billing date and of the value since
    then (each ``size`` bytes LE, at payload offsets 3 and 7)."""

    def decode(view: View) -> Decoded:
        previous = read_int(view.payload, 3, size)
        current = read_int(view.payload, 7, size)
        return {} if previous is None or current is None else readings(view, previous, current)

    return decode


# MK Radio 3 and 4 share the layout: 16-bit volumes in units of 0.1 m3 (VIF 15).
_MK_RADIO = _periods(2, lambda _, previous, current: {
    "total_m3": number((previous + current) * TENTH), "target_m3": number(previous * TENTH)})

MKRADIO3 = Family(
    name="mkradio3",
    meters="Techem MK Radio 3 water meters (CI A2)",
    detect=(("TCH", 0x74, 0x62), ("TCH", 0x74, 0x72)),
    decode=_MK_RADIO,
    proprietary=True,
)

MKRADIO4 = Family(
    name="mkradio4",
    meters="Techem MK Radio 4 water meters (CI A2)",
    detect=(("TCH", 0x95, 0x62), ("TCH", 0x70, 0x62), ("TCH", 0x95, 0x72), ("TCH", 0x70, 0x72)),
    decode=_MK_RADIO,
    proprietary=True,
)

COMPACT5 = Family(
    name="compact5",
    meters="Techem Compact V / Compact 5 heat meters (CI A1/A2)",
    detect=(("TCH", 0x45, 0x43), ("TCH", 0x39, 0x43), ("TCH", 0x22, 0x43), ("TCH", 0x45, 0x04),
            ("TCH", 0x45, 0xC3)),
    decode=_periods(3, lambda _, previous, current: {
        "total_kwh": previous + current, "previous_kwh": previous, "current_kwh": current}),
    proprietary=True,
)

# The offset of the room temperature, by the payload's first byte; a payload starting with
# any other byte has a layout the format does not describe and gives no readings.
_FHKV_TEMPERATURES = {0x01: 9, 0x11: 9, 0x0F: 10}


def _fhkv(view: View, previous: int, current: int) -> Readings:
    out: Readings = {"current_hca": current, "previous_hca": previous}
    offset = _FHKV_TEMPERATURES[view.payload[0]]
    room = read_int(view.payload, offset, 2, signed=True)
    radiator = read_int(view.payload, offset + 2, 2, signed=True)
    if room is not None and radiator is not None:
        out["temp_room_c"] = number(room * CENTI)
        out["temp_radiator_c"] = number(radiator * CENTI)
    return out


_FHKV_PERIODS = _periods(2, _fhkv)


def _fhkvdataiii(view: View) -> Decoded:
    known = bool(view.payload) and view.payload[0] in _FHKV_TEMPERATURES
    return _FHKV_PERIODS(view) if known else {}


FHKVDATAIII = Family(
    name="fhkvdataiii",
    meters="Techem FHKV data III heat cost allocators (CI A0/A2)",
    detect=(("TCH", 0x69, 0x80), ("TCH", 0x94, 0x80)),
    decode=_fhkvdataiii,
    proprietary=True,
)

FHKVDATAIV = Family(
    name="fhkvdataiv",
    meters="Techem FHKV data IV heat cost allocators (OMS records)",
    detect=(("TCH", 0x94, 0x08), ("TCH", 0x69, 0x08)),
    expand=oms.profile_records,
    fields=(
        *oms.HCA,
        # A compact profile based at storage 8: the n-th most recent set date is storage 8 + n.
        *series(Rec("consumption_at_set_date_{}_hca", "hca_units"), "storage", range(1, 15),
                offset=8),
    ),
)

MKRADIO4A = Family(
    name="mkradio4a",
    meters="Techem MK Radio 4a water meters (OMS records)",
    detect=(("TCH", 0x95, 0x37), ("HYD", 0xFE, 0x06)),
    fields=oms.WATER,
)

VARIO451MID = Family(
    name="vario451mid",
    meters="Techem Vario 4 heat meters (version 17)",
    detect=(("TCH", 0x17, 0x04),),
    fields=(
        oms.TOTAL_ENERGY_KWH,
        Rec("energy_at_old_date_kwh", "energy", storage=1),
        Rec("energy_at_set_date_kwh", "energy", storage=8),
    ),
)

VARIO411 = Family(
    name="vario411",
    meters="Techem Vario 411 heat meters (version 28)",
    detect=(("TCH", 0x28, 0x04),),
    fields=(Rec("total_kwh", "energy"), Rec("target_kwh", "energy", storage=1)),
)

FAMILIES = (MKRADIO3, MKRADIO4, COMPACT5, FHKVDATAIII, FHKVDATAIV, MKRADIO4A, VARIO451MID, VARIO411)
