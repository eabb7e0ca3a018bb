"""Authentication and fragmentation layer (CI 90): FCL, MCL, KI, MCR, MAC, ML.

docs/protocol.md §4.
"""

from __future__ import annotations

from protocol.telegram import AflHeader
from protocol.types import DecodeFailure, FailureReason

AFL_CI = 0x90
# MAC bytes by MCL authentication type (AT 8 is AES-GMAC with a 12-byte tag).
MAC_BYTES = {0: 0, 3: 2, 4: 4, 5: 8, 6: 12, 7: 16, 8: 12}
FCL_KI, FCL_MAC, FCL_MCR, FCL_ML, FCL_MCL = 1 << 9, 1 << 10, 1 << 11, 1 << 12, 1 << 13


def _fail(reason: FailureReason, detail: str) -> DecodeFailure:
    return DecodeFailure("afl", reason, detail)


def parse_afl(data: bytes, pos: int) -> tuple[AflHeader, int] | DecodeFailure:
    """The AFL whose CI is ``data[pos]``; returns it and the offset of the next layer's CI."""
    if len(data) < pos + 4:
        return _fail(FailureReason.TRUNCATED, "AFL header needs AFLL and FCL")
    afll = data[pos + 1]
    end = pos + 2 + afll
    if len(data) < end:
        return _fail(FailureReason.TRUNCATED, f"AFLL {afll} but {len(data) - pos - 2} bytes left")
    body = data[pos + 2 : end]
    if afll < 2:
        return _fail(FailureReason.MALFORMED, f"AFLL {afll} leaves no room for FCL")
    fcl = int.from_bytes(body[0:2], "little")
    at = 2

    def take(present: bool, size: int) -> bytes | None:
        nonlocal at
        if not present:
            return None
        field = body[at : at + size]
        at += size
        return field if len(field) == size else b""

    mcl_b = take(bool(fcl & FCL_MCL), 1)
    ki_b = take(bool(fcl & FCL_KI), 2)
    mcr_b = take(bool(fcl & FCL_MCR), 4)
    mcl = mcl_b[0] if mcl_b else None
    mac_len = MAC_BYTES.get(mcl & 0x0F, 0) if mcl is not None else 0
    if fcl & FCL_MAC and mcl is None:
        return _fail(FailureReason.MALFORMED, "AFL MAC present without MCL")
    if fcl & FCL_MAC and mac_len == 0:
        return _fail(FailureReason.MALFORMED, f"AFL MAC with authentication type {mcl & 0x0F}")
    mac = take(bool(fcl & FCL_MAC), mac_len)
    ml_b = take(bool(fcl & FCL_ML), 2)
    if at > len(body) or b"" in (mcl_b, ki_b, mcr_b, mac, ml_b):
        return _fail(FailureReason.MALFORMED, f"AFL fields of FCL 0x{fcl:04X} exceed AFLL {afll}")

    def number(field: bytes | None) -> int | None:
        return None if field is None else int.from_bytes(field, "little")

    header = AflHeader(afll, fcl, mcl, number(ki_b), number(mcr_b), mac, number(ml_b))
    return header, end
