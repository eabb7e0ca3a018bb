"""Apator water meters with proprietary payloads: 16.2, NA-1 and 08."""

from __future__ import annotations

from fractions import Fraction

from protocol.manufacturers import PROPRIETARY_PAYLOADS
from protocol.security import FILLER, aes_cbc_decrypt, mode5_iv
from protocol.types import DecodeFailure, FailureReason
from protocol.vendors.spec import Decoded, Family, Raw, View, number, read_int

# Apator 16.2: after the fill bytes, a leading byte and 7 status bytes, then tagged fields up to
# FF padding and a 2-byte checksum. Every tag's field size is known; tag 10 is the total volume
# in litres. Sizes of the tags 71-7C grow by one 4-byte value per tag.
_APATOR162_SIZES = {
    0x00: 4, 0x01: 3, 0x10: 4, 0x11: 2, 0x40: 6, 0x41: 2, 0x42: 4, 0x43: 2, 0x44: 3,
    **{0x71 + k: 1 + 4 * (k + 2) for k in range(12)},
    **dict.fromkeys((0x80, 0x81, 0x82, 0x83, 0x84, 0x86, 0x87), 10),
    **dict.fromkeys((0x85, 0x88, 0x8F), 11),
    0x8A: 9, 0x8B: 6, 0x8C: 6, 0x8E: 7,
    **dict.fromkeys((0xA7, 0xA8, 0xAA, 0xAB, 0xAC, 0xAD), 2),
    0xA0: 4, 0xA1: 4, 0xA2: 1, 0xA3: 7, 0xA4: 4, 0xA5: 1, 0xA6: 3, 0xA9: 1, 0xAF: 1,
    0xB0: 5, 0xB1: 8, 0xB2: 16, 0xB3: 8, 0xB4: 2, 0xB5: 16,
    **dict.fromkeys(range(0xB6, 0xC8), 3),
    0xD0: 3, 0xD3: 3, 0xF0: 4,
}
_APATOR162_TOTAL = 0x10
_APATOR162_START = 8  # leading byte and 7 status bytes
_CHECKSUM_LEN = 2
LITRE = Fraction(1, 1000)


def _apator162(view: View) -> Decoded:
    data = view.payload.removeprefix(FILLER)
    pos = _APATOR162_START
    while pos < len(data) - _CHECKSUM_LEN and data[pos] != 0xFF:
        tag = data[pos]
        size = _APATOR162_SIZES.get(tag)
        if size is None:  # the fields after an unknown tag cannot be found
            break
        if tag == _APATOR162_TOTAL:
            litres = read_int(data, pos + 1, 4)
            return {} if litres is None else {"total_m3": number(litres * LITRE)}
        pos += 1 + size
    return {}


APATOR162 = Family(
    name="apator162",
    meters="Apator 16.2 / AT-WMBUS-16-2 water meters",
    detect=tuple(("APA", version, device_type) for _, version, device_type in
                 sorted(PROPRIETARY_PAYLOADS)),
    decode=_apator162,
    proprietary=True,
)

# Apator NA-1: CI A0/A1, then ACC, a status byte and one AES-128-CBC block (meter key, the OMS
# mode-5 IV from the link address and that ACC): a 2F fill byte, the packed total, the meter's
# clock, the last historic reading as age and difference, current and historic alarm flags.
_NA1_BLOCK = slice(2, 18)
_NA1_MULTIPLIERS = (1, 10, 100, 1000)


def _apatorna1(view: View) -> Decoded:
    payload = view.payload
    if view.key is None or len(view.key) != 16:
        return DecodeFailure("vendor", FailureReason.NO_KEY, "Apator NA-1 needs the meter key")
    if len(payload) < _NA1_BLOCK.stop:
        return DecodeFailure("vendor", FailureReason.TRUNCATED, "Apator NA-1 block cut short")
    block = aes_cbc_decrypt(view.key, mode5_iv(view.telegram.link.address, payload[0]),
                            payload[_NA1_BLOCK])
    if block[0] != FILLER[0]:  # one byte: a wrong key passes once in 256
        return DecodeFailure("vendor", FailureReason.WRONG_KEY, "Apator NA-1 block without 2F")
    packed = int.from_bytes(block[1:5], "little")
    multiplier = _NA1_MULTIPLIERS[(packed >> 4) % 4] * LITRE
    total = ((packed >> 8) * 16 + packed % 16) * multiplier
    age_low, meta, d0, d1, d2 = block[9:14]
    delta = ((d2 << 18) + (d1 << 10) + (d0 << 2) + meta % 4) * multiplier
    return {"total_m3": number(total), "historic_m3": number(total - delta),
            "historic_age_h": (meta >> 2) * 256 + age_low}


APATORNA1 = Family(
    name="apatorna1",
    meters="Apator NA-1 water meters (encrypted manufacturer payload, CI A0/A1)",
    detect=(("APA", 0x14, 0x07),),
    decode=_apatorna1,
    proprietary=True,
)

APATOR08 = Family(
    name="apator08",
    meters="Apator 08 water and gas meters (CI A0)",
    detect=(("APT", 0x03, 0x03), ("APT", 0x0F, 0x0F)),
    # Litres at the start of the payload, in units of a third (wmbusmeters' scale 1/3).
    fields=(Raw("total_m3", 0, 4, scale=LITRE / 3),),
    proprietary=True,
)

FAMILIES = (APATOR162, APATORNA1, APATOR08)
