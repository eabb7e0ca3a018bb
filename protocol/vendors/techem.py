"""Techem (TCH): MK Radio 3/4 water meters, FHKV data III/IV heat cost allocators, Compact V /
Compact 5 and Vario heat meters.

The radio versions send a proprietary payload after a manufacturer-specific CI (A0-A2). After
a status byte come the date of the last billing period (2 bytes) and the value at that date,
the current date (2 bytes) and the value since then; the total is the sum. The FHKV data
allocators add the room and radiator temperatures (1/100 C), one byte later in version 94.
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


MKRADIO3 = Family(
    name="mkradio3",
    meters="Techem MK Radio 3 water meters (CI A2)",
    detect=(("TCH", 0x74, 0x62), ("TCH", 0x74, 0x72)),
    decode=_periods(2, lambda _, previous, current: {
        "total_m3": number((previous + current) * TENTH), "target_m3": number(previous * TENTH)}),
    proprietary=True,
)

COMPACT5 = Family(
    name="compact5",
    meters="Techem Compact V / Compact 5 heat meters (CI A1/A2)",
    detect=(("TCH", 0x45, 0x43), ("TCH", 0x39, 0x43)),
    decode=_periods(3, lambda _, previous, current: {
        "total_kwh": previous + current, "previous_kwh": previous, "current_kwh": current}),
    proprietary=True,
)

_FHKV_TEMPERATURES = {0x69: 9, 0x94: 10}  # offset of the room temperature, by version


def _fhkv(view: View, previous: int, current: int) -> Readings:
    out: Readings = {"current_hca": current, "previous_hca": previous}
    offset = _FHKV_TEMPERATURES.get(view.telegram.link.address.version)
    if offset is not None:
        room, radiator = read_int(view.payload, offset, 2), read_int(view.payload, offset + 2, 2)
        if room is not None and radiator is not None:
            out["temp_room_c"] = number(room * CENTI)
            out["temp_radiator_c"] = number(radiator * CENTI)
    return out


FHKVDATAIII = Family(
    name="fhkvdataiii",
    meters="Techem FHKV data III heat cost allocators (CI A0/A2)",
    detect=(("TCH", 0x69, 0x80), ("TCH", 0x94, 0x80)),
    decode=_periods(2, _fhkv),
    proprietary=True,
)

FHKVDATAIV = Family(
    name="fhkvdataiv",
    meters="Techem FHKV data IV heat cost allocators (OMS records)",
    detect=(("TCH", 0x94, 0x08),),
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
    detect=(("TCH", 0x95, 0x37),),
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

FAMILIES = (MKRADIO3, COMPACT5, FHKVDATAIII, FHKVDATAIV, MKRADIO4A, VARIO451MID, VARIO411)
