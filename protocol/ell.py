"""Extended link layer (CI 8C-8F): header fields and the region protected by the payload CRC.

docs/protocol.md §3. Decryption of that region is ``protocol.security.open_ell``.
"""

from __future__ import annotations

from protocol.link import ADDRESS_LEN, parse_address
from protocol.telegram import EllHeader
from protocol.types import DecodeFailure, FailureReason

# Bytes after the CI: CC ACC [M2 A2] [SN(4) PayloadCRC(2)].
ELL_LENGTHS = {0x8C: 2, 0x8D: 8, 0x8E: 10, 0x8F: 16}
SN_LEN = 4


def parse_ell(data: bytes, pos: int) -> tuple[EllHeader, bytes, int] | DecodeFailure:
    """The ELL header whose CI is ``data[pos]``.

    Returns the header, the SN bytes as on air (empty without SN) and the offset after the SN,
    where the payload CRC starts (ELL II/IV) or the next layer's CI follows (ELL I/III).
    """
    ci = data[pos]
    size = ELL_LENGTHS[ci]
    if len(data) < pos + 1 + size:
        return DecodeFailure(
            "ell", FailureReason.TRUNCATED,
            f"ELL CI 0x{ci:02X} needs {size} bytes, {len(data) - pos - 1} left",
        )
    cc, acc = data[pos + 1], data[pos + 2]
    at = pos + 3
    address2 = None
    if ci in (0x8E, 0x8F):
        address2 = parse_address(data[at : at + ADDRESS_LEN])
        at += ADDRESS_LEN
    sn = b""
    if ci in (0x8D, 0x8F):
        sn = bytes(data[at : at + SN_LEN])
        at += SN_LEN
    header = EllHeader(ci, cc, acc, address2, int.from_bytes(sn, "little") if sn else None)
    return header, sn, at
