"""Engelmann (EFE) and its DWZ brand: SensoStar heat meters, HCA e2 heat cost allocators,
WaterStar M and FAW water meters."""

from __future__ import annotations

from protocol.vendors import oms
from protocol.vendors.spec import Family, Rec, series

SENSOSTAR = Family(
    name="sensostar",
    meters="Engelmann SensoStar heat meters",
    detect=(("EFE", 0x00, 0x04),),
    fields=(
        Rec("total_kwh", "energy"),
        Rec("target_kwh", "energy", storage=1),
        *series(Rec("target_{}_kwh", "energy"), "storage", range(2, 33)),
        # Tariffs 2 and 3 hold further energy registers, subunits 1-3 the pulse inputs.
        *series(Rec("total_tariff{}_kwh", "energy"), "tariff", (2, 3)),
        *series(Rec("target_tariff{}_kwh", "energy", storage=1), "tariff", (2, 3)),
        *series(Rec("total_subunit{}_m3", "volume"), "subunit", (1, 2, 3)),
        *series(Rec("target_subunit{}_m3", "volume", storage=1), "subunit", (1, 2, 3)),
        Rec("total_water_m3", "volume"),
        Rec("total_water_tariff2_m3", "volume", tariff=2),
        Rec("target_water_m3", "volume", storage=1),
        oms.POWER_KW,
        Rec("power_max_kw", "power", function=oms.MAX),
        Rec("flow_water_m3h", "volume_flow"),
        Rec("flow_water_max_m3h", "volume_flow", function=oms.MAX),
        oms.ON_TIME_H,
        Rec("forward_c", "flow_temperature"),
        Rec("return_c", "return_temperature"),
        Rec("difference_c", "temperature_difference"),
    ),
)

HCAE2 = Family(
    name="hcae2",
    meters="Engelmann HCA e2 heat cost allocators",
    detect=(("EFE", 0x31, 0x08),),
    fields=(
        Rec("consumption_hca", "hca_units"),
        oms.CURRENT_HCA,
        Rec("target_hca", "hca_units", storage=1),
        Rec("consumption_at_set_date_1_hca", "hca_units", storage=1),
        # Half-monthly differences in storages 2-31, the oldest first: k half months ago is
        # storage 32 - k.
        *(Rec(f"delta_{k}_half_months_ago_hca", "hca_units", storage=32 - k)
          for k in range(1, 31)),
    ),
)

WATERSTARM = Family(
    name="waterstarm",
    meters="Engelmann / DWZ WaterStar M water meters",
    detect=(("DWZ", 0x00, 0x06), ("DWZ", 0x00, 0x07), ("DWZ", 0x02, 0x06), ("DWZ", 0x02, 0x07),
            ("EFE", 0x03, 0x07), ("EFE", 0x70, 0x07)),
    fields=(
        oms.TOTAL_M3,
        Rec("total_backwards_m3", "volume", extensions=oms.BACKWARD),
        Rec("consumption_at_set_date_m3", "volume", storage=1),
        Rec("total_backwards_at_set_date_m3", "volume", storage=1, extensions=oms.BACKWARD),
        *series(Rec("consumption_at_history_{}_m3", "volume"), "storage", range(1, 16),
                offset=1),
        Rec("battery_v", "voltage"),
    ),
)

ENGELMANN_FAW = Family(
    name="engelmann_faw",
    meters="Engelmann FAW water meters (mostly compact frames)",
    aliases=("engelmann-faw",),
    detect=(("EFE", 0x00, 0x06), ("EFE", 0x00, 0x07), ("EFE", 0x00, 0x16)),
    fields=(
        oms.TOTAL_M3,
        Rec("consumption_at_reporting_date_m3", "volume", storage=1),
        *series(Rec("consumption_{}_months_ago_m3", "volume"), "storage", range(1, 16),
                offset=1),
    ),
    compact_formats=("426C441301FD17840113C40113840213C40213840313C40313840413C40413840513C4"
                     "0513840613C40613840713C40713840813046D0413",),
)

FAMILIES = (SENSOSTAR, HCAE2, WATERSTARM, ENGELMANN_FAW)
