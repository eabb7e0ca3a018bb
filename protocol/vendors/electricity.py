"""Electricity meters with OMS records: EasyMeter ESY-WM, eBZ wMB-E01, Carlo Gavazzi EM24,
Gran-System, Apator Amiplus."""

from __future__ import annotations

import math
from fractions import Fraction

from protocol.types import RecordFunction
from protocol.vendors import oms
from protocol.vendors.spec import Decoded, Family, Readings, Rec, View, convert, number, series

KILO = Fraction(1, 1000)
BACKWARD = oms.BACKWARD
# Power per phase in records with a manufacturer-specific VIFE (A9 FF 01..03, W x 10^-2).
PHASE_POWER = tuple(Rec(f"current_power_consumption_phase{n}_kw", difvif=f"04A9FF0{n}",
                        scale=KILO) for n in (1, 2, 3))

ESYSWM = Family(
    name="esyswm", meters="EasyMeter ESY-WM radio modules for electricity meters",
    detect=(("ESY", 0x30, 0x37), ("ESY", 0x11, 0x02)),  # the radio module, and a meter
    fields=(oms.TOTAL_ENERGY_KWH,
            *series(Rec("total_energy_consumption_tariff{}_kwh", "energy"), "tariff", (1, 2)),
            Rec("total_energy_production_kwh", "energy", extensions=BACKWARD),
            Rec("current_power_consumption_kw", "power"), *PHASE_POWER))


def _ebz_total_power(view: View) -> Decoded:
    """The meter sends the power of each phase; its driver adds them up."""
    phases = [f.read(view) for f in PHASE_POWER]
    if any(p is None for p in phases):
        return {}
    return {"current_power_consumption_kw": number(sum(Fraction(str(p)) for p in phases))}


EBZWMBE = Family(
    name="ebzwmbe", meters="eBZ wMB-E01 radio modules for electricity meters",
    # The wMB-E01 radio module, and the eBZ meter behind it (its TPL long-header address).
    detect=(("EBZ", 0x02, 0x37), ("EBZ", 0x01, 0x02)),
    fields=(oms.TOTAL_ENERGY_KWH, *PHASE_POWER), decode=_ebz_total_power)

# EM24 sends reactive energy under VIF FB 82 with a correction VIFE (75: x 0.1) that its driver
# does not apply; apparent energy is the hypotenuse of active and reactive energy.
_REACTIVE = {"consumption": "04FB8275", "production": "04FB82F53C"}
_ACTIVE = {"consumption": oms.TOTAL_ENERGY_KWH,
           "production": Rec("total_energy_production_kwh", "energy", extensions=BACKWARD)}


def _em24(view: View) -> Decoded:
    out: Readings = {}
    for direction, difvif in _REACTIVE.items():
        reactive = Rec(f"total_reactive_energy_{direction}_kvarh", difvif=difvif,
                       scale=Fraction(10))
        kvarh, kwh = reactive.read(view), _ACTIVE[direction].read(view)
        if kvarh is None:
            continue
        out[reactive.name] = kvarh
        if kwh is not None:
            out[f"total_apparent_energy_{direction}_kvah"] = math.hypot(kwh, kvarh)
    return {**out, **_frequency(view)}


def _frequency(view: View) -> Readings:
    """Mains frequency: VIF FB 2C-2F (10^(n-3) Hz, a newer OMS code our record table names
    reserved)."""
    for r in view.records:
        if r.vif[:1] == b"\xfb" and len(r.vif) == 2 and 0x2C <= r.vif[1] <= 0x2F:
            value = convert(r, "frequency_hz", Fraction(10) ** ((r.vif[1] & 3) - 3))
            if value is not None:
                return {"frequency_hz": value}
    return {}


EM24 = Family(
    name="em24", meters="Carlo Gavazzi EM24 electricity meters",
    detect=(("GAV", 0x00, 0x02), ("KAM", 0x33, 0x02)),
    fields=(*_ACTIVE.values(), oms.POWER_KW,
            *(Rec(f"voltage_at_phase_{n}_v", "voltage", extensions=(f"phase_l{n}",))
              for n in (1, 2, 3)),
            *(Rec(f"amperage_at_phase_{n}_a", "current", extensions=(f"phase_l{n}",))
              for n in (1, 2, 3))),
    decode=_em24)

GRANSYSTEMS = Family(
    name="gransystems", meters="Gran-System electricity meters", detect=(("GSS", 0x01, 0x02),),
    # Tariffs 1-4; the billing values in storage 2; phases are subunits 1-3.
    fields=(oms.TOTAL_ENERGY_KWH,
            *series(Rec("total_energy_consumption_tariff_{}_kwh", "energy"), "tariff",
                    range(1, 5)),
            Rec("target_energy_consumption_kwh", "energy", storage=2),
            *series(Rec("target_energy_consumption_tariff_{}_kwh", "energy", storage=2),
                    "tariff", range(1, 5)),
            *series(Rec("voltage_at_phase_{}_v", "voltage"), "subunit", (1, 2, 3)),
            *series(Rec("current_at_phase_{}_a", "current"), "subunit", (1, 2, 3)),
            # A single-phase meter sends its phase without a subunit.
            Rec("voltage_at_phase_1_v", "voltage"), Rec("current_at_phase_1_a", "current")),
    decode=_frequency)

AMIPLUS = Family(
    name="amiplus", meters="Apator Amiplus / Devolo electricity meters",
    # Apator Amiplus and Otus, Devolo, NES and Gama 350 meters, and their radio modules.
    detect=(("APA", 0x02, 0x02), ("DEV", 0x02, 0x37), ("DEV", 0x00, 0x02), ("DEV", 0x01, 0x02),
            ("NES", 0x03, 0x02), ("APA", 0x01, 0x02), ("APT", 0x01, 0x02), ("EGM", 0x01, 0x02)),
    fields=(oms.TOTAL_ENERGY_KWH,
            *series(Rec("total_energy_consumption_tariff_{}_kwh", "energy"), "tariff",
                    range(1, 5)),
            Rec("total_energy_production_kwh", "energy", extensions=BACKWARD),
            *series(Rec("total_energy_production_tariff_{}_kwh", "energy", extensions=BACKWARD),
                    "tariff", range(1, 5)),
            Rec("current_power_consumption_kw", "power"),
            Rec("current_power_production_kw", "power", extensions=BACKWARD),
            Rec("max_power_consumption_kw", "power", function=RecordFunction.MAXIMUM),
            *(Rec(f"voltage_at_phase_{n}_v", "voltage", extensions=(f"phase_l{n}",))
              for n in (1, 2, 3))))

FAMILIES = (ESYSWM, EBZWMBE, EM24, GRANSYSTEMS, AMIPLUS)
