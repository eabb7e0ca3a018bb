"""Water (and two gas) meters with OMS records whose wmbusmeters drivers name a few values their
own way: Sontex Supercom 587, Itron, Sensus iPERL, Kaden, Axioma Q400, Apator Ultrimis and
Unismart, Maddalena, Emerlin, Aventies, Zenner Minomess, IUWS and 0B, GWF, Aquastream, Actis
link, Picoflux, Topas ESKR, Watertech, WEH."""

from __future__ import annotations

from fractions import Fraction

from protocol.types import RecordFunction
from protocol.vendors import oms
from protocol.vendors.spec import Decoded, Family, Raw, Rec, View, number, series

MAX = RecordFunction.MAXIMUM
FORWARD = ("forward_flow",)
DURATION = Rec("actuality_duration_s", "actuality_duration")


def _water(name: str, meters: str, detect: tuple[tuple[str, int, int], ...], *extra: Rec,
           aliases: tuple[str, ...] = ()) -> Family:
    """A water meter family: total_m3 and target_m3 (storage 1), and what its driver adds."""
    return Family(name=name, meters=meters, detect=detect, fields=(*oms.WATER, *extra),
                  aliases=aliases)


SUPERCOM587 = _water("supercom587", "Sontex Supercom 587 water meters",
                     (("SON", 0x3C, 0x06), ("SON", 0x3C, 0x07)))
ITRON = _water("itron", "Itron water meters",
               (("ITW", 0x00, 0x07), ("ITW", 0x00, 0x16), ("ITW", 0x03, 0x07),
                ("ITW", 0x33, 0x07)),
               oms.TOTAL_BACKWARD_M3, oms.VOLUME_FLOW_M3H)
IPERL = _water("iperl", "Sensus iPERL water meters",
               (("SEN", 0x68, 0x07), ("SEN", 0x68, 0x06), ("SEN", 0x7C, 0x07)),
               # iPERL's only flow record is what its driver calls the maximum flow.
               Rec("max_flow_m3h", "volume_flow"))
KADENWATER = _water(
    "kadenwater", "Kaden / VIP / Ecomess water meters",
    (("KDN", 0x01, 0x07), ("VIP", 0x01, 0x07), ("ECM", 0x01, 0x07)),
    # A second volume and duration record (same DIF/VIF) belong to the second counter.
    Rec("volume_b_m3", "volume", index=1), oms.VOLUME_FLOW_M3H, oms.MAX_FLOW_M3H, DURATION,
    Rec("duration_b_s", "actuality_duration", index=1))
Q400 = _water(
    "q400", "Axioma Qalcosonic W1 / Q400 water meters",
    (("AXI", 0x01, 0x07), ("AXI", 0x10, 0x07), ("AXI", 0x20, 0x07)),
    Rec("total_forward_m3", "volume", extensions=FORWARD), oms.TOTAL_BACKWARD_M3,
    Rec("consumption_at_set_date_m3", "volume", storage=1),
    Rec("forward_at_set_date_m3", "volume", storage=1, extensions=FORWARD),
    Rec("backward_at_set_date_m3", "volume", storage=1, extensions=oms.BACKWARD),
    oms.FLOW_TEMPERATURE_C, oms.VOLUME_FLOW_M3H, oms.ON_TIME_H,
    Rec("error_free_time_h", "operating_time"),
    Rec("error_code_counter", "error_flags", function=RecordFunction.ERROR),
    # Axioma sends the battery level in percent under the remaining-battery-days VIF.
    Rec("battery_pct", difvif="01FD74"))
ULTRIMIS = _water("ultrimisv2", "Apator Ultrimis water meters",
                  (("APA", 0x01, 0x16), ("APA", 0x20, 0x16)),
                  oms.TOTAL_BACKWARD_M3, Rec("total_backward_flow_m3", "volume",
                                             extensions=oms.BACKWARD),
                  aliases=("ultrimis",))
MADDALENA = _water("maddalena", "Maddalena water meters",
                   (("MAD", 0x01, 0x07), ("MAD", 0x01, 0x06)))
EVO868 = _water(
    "evo868", "Maddalena EVO 868 water meters",
    (("MAD", 0x50, 0x06), ("MAD", 0x50, 0x07), ("MAD", 0x50, 0x16)),
    Rec("consumption_at_set_date_m3", "volume", storage=1),
    Rec("consumption_at_set_date_2_m3", "volume", storage=2),
    Rec("max_flow_since_datetime_m3h", "volume_flow", storage=3, function=MAX),
    # Monthly history from storage 8 on, the most recent first.
    *series(Rec("consumption_at_history_{}_m3", "volume"), "storage", range(1, 13), offset=7))
EMERLIN868 = _water("emerlin868", "Emerlin 868 water meters",
                    (("ELR", 0x11, 0x37), ("ELR", 0x12, 0x37)))
EV200 = _water("ev200", "Elster / Emerlin EV200 water meters", (("ELR", 0x0D, 0x07),))
AVENTIESWM = _water(
    "aventieswm", "Aventies water meters", (("AAA", 0x25, 0x07),),
    *series(Rec("consumption_at_set_date_{}_m3", "volume"), "storage", range(1, 15)))
MINOMESS = Family(
    name="minomess", meters="Zenner Minomess water meters",
    # Usually behind a ZRI radio module (CI 72 long header); wired M-Bus versions send the
    # billing value in storage 1 instead of 8.
    detect=(("ZRI", 0x00, 0x07), ("ZRI", 0x01, 0x16), ("ZRI", 0x01, 0x06)),
    fields=(oms.TOTAL_M3, Rec("target_m3", "volume", storage=8),
            Rec("target_m3", "volume", storage=1), oms.TOTAL_BACKWARD_M3, oms.VOLUME_FLOW_M3H,
            oms.OPERATING_TIME_H, oms.ON_TIME_H))
_GWF_BLOCK_TYPE = 0x01  # the only layout of GWF's manufacturer data that is known


def _gwf_battery(view: View) -> Decoded:
    """GWF's manufacturer data of type 01 is: type, status flags, then a byte whose bits 3-7
    count the remaining battery life in half years."""
    data = view.telegram.manufacturer_data
    if len(data) < 3 or data[0] != _GWF_BLOCK_TYPE:
        return {}
    return {"battery_y": number(Fraction(data[2] >> 3, 2))}


GWFWATER = Family(name="gwfwater", meters="GWF water meters",
                  detect=(("GWF", 0x01, 0x0E), ("GWF", 0x3C, 0x07)),
                  fields=(*oms.WATER, DURATION), decode=_gwf_battery)
AQUASTREAM = Family(
    name="aquastream", meters="Integral-V Aquastream water meters",
    detect=(("IMT", 0x01, 0x07),),
    # Tariff 1's volume: "total_backwards_m3" in one driver revision, "total_tariff1_m3" in
    # another; both names are given.
    fields=(*oms.WATER, Rec("total_backwards_m3", "volume", tariff=1),
            Rec("total_tariff1_m3", "volume", tariff=1),
            # Remaining battery days in years of 365 days, as its driver counts them.
            Rec("battery_y", difvif="02FD74", scale=Fraction(1, 365))))
ACTISLINK = _water("actislink", "ALK (Actis link) water meter modules",
                   (("ALK", 0x04, 0x07),))
PICOFLUX = _water("picoflux", "Ecometering Picoflux water meters", (("ECM", 0x05, 0x07),),
                  oms.TOTAL_BACKWARD_M3, DURATION)
TOPASESKR = Family(
    name="topaseskr", meters="Topas ESKR water meters",
    detect=(("AMT", 0xF1, 0x06), ("AMT", 0xF1, 0x07)),
    fields=(oms.TOTAL_M3, Rec("access_counter", "access_number"),
            Rec("temperature_c", "flow_temperature"), Rec("current_flow_m3h", "volume_flow"),
            Rec("volume_year_period_m3", "volume", storage=1),
            Rec("reverse_volume_year_period_m3", "volume", storage=1, tariff=1),
            Rec("volume_month_period_m3", "volume", storage=3),
            Rec("battery_y", "remaining_battery_days")))
WATERTECH = _water("watertech", "Watertech water meters", (("WTT", 0x59, 0x07),))
WEH_07 = _water("weh_07", "WEH water meters", (("WEH", 0x03, 0x07), ("WEH", 0xFE, 0x07)))
UNCORRECTED = ("uncorrected",)
UNISMART = Family(
    name="unismart", meters="Apator Unismart gas meters", detect=(("AMX", 0x01, 0x03),),
    fields=(Rec("total_m3", "volume", extensions=UNCORRECTED),
            Rec("target_m3", "volume", storage=1, extensions=UNCORRECTED)))
UIWS = Family(
    name="uiws", meters="Zenner IUWS water meters", detect=(("ZRI", 0x99, 0x07),),
    expand=oms.profile_records,
    # Billing values come as a compact profile based at storage 30, the most recent first.
    fields=(oms.TOTAL_M3, Rec("target_m3", "volume", storage=30),
            *series(Rec("target_{}_m3", "volume"), "storage", range(1, 11), offset=30),
            Rec("unknown_m3", "volume", storage=1),
            oms.FLOW_TEMPERATURE_C, oms.EXTERNAL_TEMPERATURE_C))

# Zenner 0B: manufacturer data after DIF 0F with the billing and current volumes as 32-bit LE
# values in 1/256 litres.
ZENNER0B = Family(
    name="zenner0b", meters="Zenner water meters (version 0B)", detect=(("ZRI", 0x0B, 0x16),),
    fields=(Raw("target_m3", 4, 4, scale=Fraction(1, 256_000), manufacturer_data=True),
            Raw("total_m3", 8, 4, scale=Fraction(1, 256_000), manufacturer_data=True)))

FAMILIES = (ZENNER0B, SUPERCOM587, ITRON, IPERL, KADENWATER, Q400, ULTRIMIS, MADDALENA, EVO868,
            EMERLIN868, EV200, AVENTIESWM, MINOMESS, GWFWATER, AQUASTREAM, ACTISLINK, PICOFLUX,
            TOPASESKR, WATERTECH, WEH_07, UNISMART, UIWS)
