"""Room sensors and smoke detectors with OMS records: EI Electronics EI6500, Elvaco ELV sensors,
Weptech Munia, Lansen door/window, pulse and repeater devices."""

from __future__ import annotations

from protocol.vendors import oms
from protocol.vendors.spec import Decoded, Family, Rec, View

_COUNT = "dimensionless"
# The detector head's status word (manufacturer VIF FF 2C in subunit 1): bits 0-4 are the dust
# level, 0 (clean) upwards.
_HEAD_STATUS = Rec("head_status", difvif="8440FF2C")
_DUST_BITS = 0x1F


def _ei6500(view: View) -> Decoded:
    status = _HEAD_STATUS.read(view)
    return {} if not isinstance(status, int) else {"dust_level_counter": status & _DUST_BITS}


EI6500 = Family(
    name="ei6500", meters="EI Electronics EI6500 smoke alarms", detect=(("EIE", 0x0C, 0x1A),),
    # Event counters and durations per tariff of subunit 1 (the detector head).
    fields=(Rec("alarm_counter", "cumulation_counter", tariff=1, subunit=1),
            Rec("removed_counter", "cumulation_counter", tariff=2, subunit=1),
            Rec("test_button_counter", "cumulation_counter", tariff=3, subunit=1),
            Rec("duration_removed_h", "tariff_duration", tariff=2, subunit=1)),
    decode=_ei6500)

ELVSENSE = Family(
    name="elvsense", meters="Elvaco ELV room sensors (temperature, humidity, CO2)",
    # Sense 100W/200W/300W: versions 50-54.
    detect=tuple(("ELV", version, 0x1B) for version in range(0x50, 0x55)),
    fields=(Rec("temperature_c", "external_temperature"), Rec("humidity_rh", "relative_humidity"),
            Rec("battery_v", "voltage"),
            # CO2 comes with the plain-text unit "CO2" (VIF 7C).
            Rec("co2_ppm", difvif="027C03324F43")))

CMA12W = Family(
    name="cma12w", meters="Elvaco CMa12w temperature sensors", detect=(("ELV", 0x20, 0x1B),),
    fields=(Rec("current_temperature_c", "external_temperature"),
            Rec("average_temperature_1h_c", "external_temperature", storage=1)))

MUNIA = Family(
    name="munia", meters="Weptech Munia room sensors",
    detect=(("WEP", 0x02, 0x1B), ("WEP", 0x04, 0x1B)),
    fields=(Rec("current_temperature_c", "external_temperature"), oms.HUMIDITY_RH))

_AB = (Rec("a_counter", _COUNT), Rec("b_counter", _COUNT, subunit=1))
LANSENPU = Family(name="lansenpu", meters="Lansen pulse counters",
                  detect=(("LAS", 0x0B, 0x02), ("LAS", 0x14, 0x00), ("LAS", 0x1B, 0x00)),
                  fields=_AB)
LANSENDW = Family(name="lansendw", meters="Lansen door/window sensors",
                  detect=(("LAS", 0x07, 0x1D), ("LAS", 0x07, 0xFF)), fields=_AB)
LANSENSM = Family(
    name="lansensm", meters="Lansen smoke detectors", detect=(("LAS", 0x03, 0x1A),),
    fields=(Rec("async_msg_id_counter", "access_number"),
            Rec("minutes_since_last_manual_test_counter", _COUNT)))
LANSENRP = Family(
    name="lansenrp", meters="Lansen repeaters", detect=(("LAS", 0x0B, 0x32),),
    fields=(Rec("total_routed_messages_counter", _COUNT),
            Rec("used_router_slots_counter", _COUNT, subunit=1),
            Rec("seconds_to_mode_change_counter", _COUNT, subunit=3),
            Rec("listen_timer_value_counter", _COUNT, storage=1),
            Rec("pause_timer_value_counter", _COUNT, storage=2),
            Rec("start_time_value_counter", _COUNT, storage=4), Rec("battery_v", "voltage")))

FAMILIES = (EI6500, ELVSENSE, CMA12W, MUNIA, LANSENPU, LANSENDW, LANSENSM, LANSENRP)
