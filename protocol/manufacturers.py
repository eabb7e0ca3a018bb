"""Manufacturer (M-field) codes: three letters packed into 15 bits (docs/protocol.md §2.4)."""

from __future__ import annotations

from enum import StrEnum

M_FIELD_MASK = 0x7FFF  # bit 15 is set by some meters; its meaning is unknown, so it is ignored


def manufacturer_letters(m_field: int) -> str:
    """Three letters of an M-field value (as a little-endian integer); bit 15 is ignored.

    Values outside "AAA".."ZZZ" still give three characters (e.g. ``@`` for 0) so that a
    strange code is shown as received instead of failing.
    """
    m = m_field & M_FIELD_MASK
    return "".join(chr(((m >> shift) & 0x1F) + 64) for shift in (10, 5, 0))


def manufacturer_code(letters: str) -> int:
    """M-field value of a three-letter code such as ``"KAM"`` (raises ValueError otherwise)."""
    if len(letters) != 3 or not all("A" <= c <= "Z" for c in letters):
        raise ValueError(f"manufacturer code must be three letters A-Z, got {letters!r}")
    c1, c2, c3 = (ord(c) - 64 for c in letters)
    return (c1 << 10) | (c2 << 5) | c3


# Diehl Metering and its brands send some frames with a non-standard A-field (wmbusmeters'
# "Diehl frame interpretation"): REAL_DATA and PRIOS frames put version and type before the id;
# SAP PRIOS frames use version and type as part of a longer id (reported as version 0, water).
DIEHL_MANUFACTURERS = frozenset({"DME", "HYD", "SAP", "EWT", "SPL"})
# Diehl's published default key for OMS mode-5 frames sent without an installer key.
DIEHL_DEFAULT_KEY = bytes.fromhex("51728910E66D83F8") * 2


# Meters that send a proprietary layout after the fill bytes 2F 2F although their CI announces
# records (wmbusmeters' apator162 driver): (manufacturer, version, device type). Nothing but the
# 2F 2F can tell whether their key was right (docs/protocol.md §6.5).
PROPRIETARY_PAYLOADS = frozenset({("APA", 0x05, 0x06), ("APA", 0x05, 0x07)})


class DiehlLayout(StrEnum):
    OMS = "oms"  # standard frame
    SWAPPED = "swapped"  # A-field = version, type, id
    SAP_PRIOS = "sap_prios"  # version/type not sent: reported as 00 / 07 (water)


def diehl_layout(manufacturer: str, c_field: int, ci: int, cw: int) -> DiehlLayout | None:
    """How a Diehl-family frame lays out its address (None: not a Diehl SND_NR/SND_IR frame)."""
    if manufacturer not in DIEHL_MANUFACTURERS or c_field not in (0x44, 0x46):
        return None
    real_data = ci == 0x71 or (ci == 0x7A and (cw >> 8) & 0x10)
    if 0xA0 <= ci <= 0xA7:
        return DiehlLayout.SAP_PRIOS if manufacturer == "SAP" else DiehlLayout.SWAPPED
    if real_data or 0xB1 <= ci <= 0xB3:
        return DiehlLayout.SWAPPED
    return DiehlLayout.OMS
