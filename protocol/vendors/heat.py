"""Heat and cooling meters with OMS records whose wmbusmeters drivers name values their own
way: Sontex Supercal, Axioma Qalcosonic E3, Maddalena Microclima, Landis+Gyr Ultraheat / Qundis
Q heat 5.5 US, Itron heat, ista, Zenner C5-ISF, Apator ELF / ELF 2."""

from __future__ import annotations

from protocol.types import RecordFunction
from protocol.vendors import oms
from protocol.vendors.spec import Family, Rec, series

FORWARD, BACKWARD = ("forward_flow",), oms.BACKWARD

SUPERCAL = Family(
    name="supercal", meters="Sontex Supercal heat meters", detect=(("SON", 0x1B, 0x04),),
    fields=(Rec("total_kwh", "energy"), Rec("target_kwh", "energy", storage=20),
            oms.TOTAL_M3, Rec("target_m3", "volume", storage=20), oms.POWER_KW,
            oms.VOLUME_FLOW_M3H, oms.FLOW_TEMPERATURE_C, oms.RETURN_TEMPERATURE_C))

QUALCOSONIC = Family(
    name="qualcosonic", meters="Axioma Qalcosonic E3 heat/cooling meters",
    detect=(("AXI", 0x0B, 0x0D), ("AXI", 0x0C, 0x0D)),
    fields=(oms.TOTAL_M3, oms.OPERATING_TIME_H, oms.ON_TIME_H, oms.FLOW_TEMPERATURE_C,
            oms.RETURN_TEMPERATURE_C,
            Rec("flow_return_temperature_difference_c", "temperature_difference"),
            oms.VOLUME_FLOW_M3H, oms.POWER_KW,
            Rec("total_heat_energy_kwh", "energy", extensions=FORWARD),
            Rec("total_cooling_energy_kwh", "energy", extensions=BACKWARD),
            # Billing values are in storage 16.
            Rec("target_heat_energy_kwh", "energy", storage=16, extensions=FORWARD),
            Rec("target_cooling_energy_kwh", "energy", storage=16, extensions=BACKWARD)))

MICROCLIMA = Family(
    name="microclima", meters="Maddalena Microclima heat meters", detect=(("MAD", 0x00, 0x04),),
    fields=(oms.TOTAL_ENERGY_KWH, oms.TOTAL_VOLUME_M3, oms.VOLUME_FLOW_M3H, oms.POWER_KW,
            oms.FLOW_TEMPERATURE_C, oms.RETURN_TEMPERATURE_C, oms.TEMPERATURE_DIFFERENCE_C,
            *series(Rec("consumption_at_set_date_{}_kwh", "energy"), "storage", range(1, 32))))

QHEAT_55_US = Family(
    name="qheat_55_us", meters="Landis+Gyr / Qundis Q heat 5.5 US heat meters (LUG)",
    detect=(("LUG", 0x07, 0x04), ("LUG", 0x0A, 0x04)),
    fields=(oms.TOTAL_ENERGY_KWH, Rec("key_datetime_kwh", "energy", storage=1),
            # Monthly values from storage 2 on, the most recent first.
            *series(Rec("prev_{}_month_kwh", "energy"), "storage", range(1, 15), offset=1),
            Rec("actuality_duration_h", "actuality_duration"),
            Rec("time_without_measurement_h", "on_time", function=RecordFunction.ERROR)))

ULTRAHEAT = Family(
    name="ultraheat", meters="Landis+Gyr Ultraheat heat meters", detect=(("LUG", 0x04, 0x04),),
    fields=(Rec("heat_kwh", "energy"), Rec("volume_m3", "volume"), oms.POWER_KW,
            Rec("flow_m3h", "volume_flow"), Rec("flow_c", "flow_temperature"),
            Rec("return_c", "return_temperature"), Rec("target_kwh", "energy", storage=1),
            Rec("actuality_duration_s", "actuality_duration")))

ITRONHEAT = Family(
    name="itronheat", meters="Itron heat meters", detect=(("ITW", 0x00, 0x04),),
    fields=(Rec("total_kwh", "energy"), Rec("last_year_kwh", "energy", storage=1),
            oms.TOTAL_M3))

ISTAHEAT = Family(
    name="istaheat", meters="ista sensonic 3 heat meters",
    detect=(("IST", 0xA9, 0x04), ("IST", 0xA9, 0x0C)),
    # Storage 1 is the end of the billing year, storage 2 the end of the last month.
    fields=(Rec("total_kwh", "energy"), Rec("target_kwh", "energy", storage=2),
            Rec("last_year_kwh", "energy", storage=1), Rec("target_m3", "volume", storage=2)))

C5ISF = Family(
    name="c5isf", meters="Zenner C5-ISF heat (and cooling) meters",
    detect=(("ZRI", 0x88, 0x0D), ("ZRI", 0x88, 0x07), ("ZRI", 0x88, 0x04)),
    # Tariff 1 holds the cooling register, storage 8 the due date's value, storage 32 on the
    # month ends.
    fields=(oms.TOTAL_ENERGY_KWH, oms.TOTAL_VOLUME_M3,
            Rec("total_cooling_consumption_kwh", "energy", tariff=1),
            Rec("due_energy_consumption_kwh", "energy", storage=8), oms.VOLUME_FLOW_M3H,
            oms.POWER_KW, oms.FLOW_TEMPERATURE_C, oms.RETURN_TEMPERATURE_C,
            Rec("max_power_last_month_kw", "power", storage=32, function=RecordFunction.MAXIMUM,
                extensions=("per_month",)),
            Rec("total_energy_consumption_last_month_kwh", "energy", storage=32),
            # Monthly values from storage 32 on, the most recent first.
            *series(Rec("prev_{}_month_kwh", "energy"), "storage", range(1, 15), offset=31)))

ELF = Family(
    name="elf", meters="Apator ELF heat meters (behind a radio module)",
    detect=(("APA", 0x40, 0x04),),
    fields=(oms.TOTAL_ENERGY_KWH, Rec("current_power_consumption_kw", "power"),
            oms.TOTAL_VOLUME_M3, Rec("total_energy_consumption_at_date_kwh", "energy", storage=1),
            oms.FLOW_TEMPERATURE_C, oms.RETURN_TEMPERATURE_C, oms.EXTERNAL_TEMPERATURE_C,
            oms.OPERATING_TIME_H, Rec("battery_v", "voltage")))

ELF2 = Family(
    name="elf2", meters="Apator ELF 2 heat/cooling meters",
    detect=(("APA", 0x42, 0x04), ("APA", 0x42, 0x0D)),
    # Subunit 1 holds the cooling registers, tariffs 1 and 2 the pulse inputs.
    fields=(Rec("total_energy_kwh", "energy"),
            Rec("total_energy_cooling_kwh", "energy", subunit=1),
            Rec("total_energy_period_kwh", "energy", storage=1),
            Rec("total_energy_cooling_period_kwh", "energy", storage=1, subunit=1),
            oms.TOTAL_VOLUME_M3, Rec("total_volume_cooling_m3", "volume", subunit=1),
            Rec("current_volume_flow_m3h", "volume_flow"), Rec("current_power_kw", "power"),
            Rec("t1_temperature_c", "flow_temperature"),
            Rec("t2_temperature_c", "return_temperature"),
            Rec("input1_volume_m3", "volume", tariff=1),
            Rec("input2_volume_m3", "volume", tariff=2),
            # The driver's library fields: hours on, and hours on in an error state.
            oms.ON_TIME_H, Rec("on_time_at_error_h", "on_time", function=RecordFunction.ERROR)))

FAMILIES = (SUPERCAL, QUALCOSONIC, MICROCLIMA, QHEAT_55_US, ULTRAHEAT, ITRONHEAT, ISTAHEAT, C5ISF,
            ELF, ELF2)
