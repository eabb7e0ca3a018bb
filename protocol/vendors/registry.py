"""The registry of meter families, and the vendor layer's one step in the decoder.

Like rtl_433's decoder list: every family module declares ``FAMILIES``, and ``MODULES`` below is
the list of modules. A telegram belongs to the family that declares its (manufacturer, version,
device type), looked up by the link-layer address and then by the TPL long-header address (a
radio module in front of a meter); no two families may declare the same triple.
"""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType

from protocol.telegram import Address, Telegram
from protocol.transport import MANUFACTURER_CI
from protocol.types import DecodeFailure, FailureReason
from protocol.vendors import (
    apator,
    bmeters,
    diehl,
    electricity,
    engelmann,
    hca,
    heat,
    kamstrup,
    oms,
    qundis,
    sensors,
    techem,
    water,
)
from protocol.vendors.spec import Detection, Family, View, as_readings

MODULES: tuple[ModuleType, ...] = (
    apator, bmeters, diehl, electricity, engelmann, hca, heat, kamstrup, qundis, sensors, techem,
    water,
)

FAMILIES: tuple[Family, ...] = tuple(f for m in MODULES for f in m.FAMILIES)


def _detections(families: tuple[Family, ...]) -> dict[Detection, Family]:
    table: dict[Detection, Family] = {}
    for family in families:
        for triple in family.detect:
            if triple in table:
                raise ValueError(f"{triple} declared by {table[triple].name} and {family.name}")
            table[triple] = family
    return table


_BY_DETECTION = _detections(FAMILIES)
# Record layouts of compact frames that meters send before (or instead of) a full frame.
COMPACT_FORMATS: tuple[bytes, ...] = tuple(
    bytes.fromhex(h) for family in FAMILIES for h in family.compact_formats
)


def _declared(address: Address) -> Family | None:
    """The family that declares this exact version, else one that declares any version."""
    m, version, device_type = address.manufacturer, address.version, address.device_type
    return _BY_DETECTION.get((m, version, device_type)) or _BY_DETECTION.get((m, None, device_type))


def family_of(telegram: Telegram) -> Family | None:
    """The family that declares the meter (link address first, then the TPL long header)."""
    for address in (telegram.link.address, telegram.tpl.address if telegram.tpl else None):
        if address is not None and (family := _declared(address)) is not None:
            return family
    return None


def _reads_proprietary(telegram: Telegram, family: Family | None) -> bool:
    """Whether the payload is proprietary: a manufacturer-specific CI, or a family known to send
    its own layout under another CI."""
    tpl = telegram.tpl
    return tpl is not None and (tpl.ci in MANUFACTURER_CI or (family is not None
                                                             and family.proprietary))


def add_readings(telegram: Telegram, key: bytes | None) -> Telegram:
    """The telegram with the readings of its family, or of the generic OMS rules when no family
    declares it.

    A proprietary payload that gives no readings keeps its bytes in ``payload`` and gets the
    failure its family reports (no key, wrong key, ...) or ``vendor_format_unknown``; a failure
    of a layer below is never replaced.
    """
    family = family_of(telegram)
    view = View(telegram, key)
    readings, failure = (family or oms.generic_family(telegram.meter_address.device_type)
                         ).readings(view)
    if failure is None and not readings and telegram.payload and _reads_proprietary(telegram,
                                                                                      family):
        which = (f"the {family.name} family reads nothing from it" if family
                 else "no meter family knows its format")
        failure = DecodeFailure("vendor", FailureReason.VENDOR_FORMAT_UNKNOWN,
                                f"proprietary payload: {which}")
    return replace(
        telegram,
        family=(family.name if family else oms.GENERIC) if readings else None,
        readings=as_readings(readings),
        error=telegram.error or failure,
    )
