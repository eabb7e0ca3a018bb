"""Heat cost allocators: Sontex 868, Inmess/Ram Euris II, Aventies, Zenner Caltos E (OMS
records; the n-th set date's value is storage n, Caltos sends a compact profile, see
``oms.profile_records``) and the BFW 240 radio (a proprietary payload)."""

from __future__ import annotations

from protocol.types import RecordFunction
from protocol.vendors import oms
from protocol.vendors.spec import Decoded, Family, Readings, Rec, View, series

SET_DATES = series(Rec("consumption_at_set_date_{}_hca", "hca_units"), "storage", range(1, 18))

SONTEX868 = Family(
    name="sontex868", meters="Sontex 868 heat cost allocators", detect=(("SON", 0x16, 0x08),),
    fields=(*oms.HCA, Rec("current_temp_c", "flow_temperature"),
            Rec("current_room_temp_c", "external_temperature"),
            Rec("max_temp_c", "flow_temperature", function=RecordFunction.MAXIMUM),
            Rec("max_temp_previous_period_c", "flow_temperature", storage=1,
                function=RecordFunction.MAXIMUM)))

EURISII = Family(
    name="eurisii", meters="Inmess / Ram Euris II heat cost allocators",
    detect=(("INE", 0x55, 0x08), ("RAM", 0x55, 0x08)),
    fields=(*oms.HCA, *SET_DATES))

AVENTIESHCA = Family(
    name="aventieshca", meters="Aventies heat cost allocators", detect=(("AAA", 0x55, 0x08),),
    # Storage 1 is only consumption_at_set_date_hca here; the numbered names start at 2.
    fields=(*oms.HCA, *SET_DATES[1:]))

CALTOSE = Family(
    name="caltose", meters="Zenner Caltos E heat cost allocators", aliases=("zennerhca",),
    detect=(("ZRI", 0xFC, 0x08),),
    expand=oms.profile_records,
    fields=(Rec("consumption_hca", "hca_units"), Rec("target_hca", "hca_units", storage=1),
            Rec("base_hca", "hca_units", storage=8),
            # The profile is based at storage 8: the n-th month back is storage 8 + n.
            *series(Rec("consumption_{}_hca", "hca_units"), "storage", range(1, 33), offset=8)))

# BFW 240 radio: after the TPL header (2F 2F and two bytes), the units at the end of the last
# billing period and so far in this one (16-bit, most significant byte first), two bytes, then
# 18 monthly values packed two per 3 bytes b0 b1 b2 (oldest pair first): the newer of a pair is
# (b1 & 0F) * 256 + b2, the older (b1 >> 4) * 256 + b0.
_BFW_PREVIOUS, _BFW_CURRENT, _BFW_HISTORY, _BFW_MONTHS = 4, 6, 10, 18


def _bfw240radio(view: View) -> Decoded:
    data = view.payload
    if len(data) < _BFW_HISTORY + 3 * _BFW_MONTHS // 2:
        return {}
    out: Readings = {"current_hca": int.from_bytes(data[_BFW_CURRENT:_BFW_CURRENT + 2], "big"),
                     "prev_hca": int.from_bytes(data[_BFW_PREVIOUS:_BFW_PREVIOUS + 2], "big")}
    for pair in range(_BFW_MONTHS // 2):
        b0, b1, b2 = data[_BFW_HISTORY + 3 * pair : _BFW_HISTORY + 3 * pair + 3]
        older = _BFW_MONTHS - 2 * pair
        out[f"prev_{older:02}_hca"] = (b1 >> 4) * 256 + b0
        out[f"prev_{older - 1:02}_hca"] = (b1 & 0x0F) * 256 + b2
    return out


BFW240RADIO = Family(
    name="bfw240radio", meters="BFW 240 radio heat cost allocators",
    detect=(("BFW", 0x02, 0x08),), decode=_bfw240radio, proprietary=True)

FAMILIES = (SONTEX868, EURISII, AVENTIESHCA, CALTOSE, BFW240RADIO)
