"""The mode-7 reference telegram R5 rebuilt with another AFL (MCL, MAC): the MAC tests and the
hostile benchmark build their variants here."""

from __future__ import annotations

from dataclasses import replace

from protocol.afl import AFL_CI, FCL_MAC, parse_afl
from protocol.framing import add_crcs, strip_crcs
from protocol.modes import FrameFormat
from protocol.security import DC_MAC_FROM_METER, aes_cmac, afl_mac_input, mode7_key
from protocol.telegram import AflHeader
from tests.protocol.spec_vectors import R5, R5_KEY

R5_DATA = strip_crcs(bytes.fromhex(R5), FrameFormat.B).data
R5_AFL_AT = 13  # link header (10) and ELL I (3)


def r5_with_afl(mcl: int, mac: bytes | None) -> bytes:
    """R5 (frame format B, CRCs added again) with another MCL and MAC (None: FCL says none
    follows), L fixed up."""
    afl, tpl_at = parse_afl(R5_DATA, R5_AFL_AT)
    assert isinstance(afl, AflHeader) and afl.mcr is not None
    fcl = afl.fcl & ~FCL_MAC | (FCL_MAC if mac is not None else 0)
    body = fcl.to_bytes(2, "little") + bytes([mcl]) + afl.mcr.to_bytes(4, "little") + (mac or b"")
    frame = R5_DATA[1:R5_AFL_AT] + bytes([AFL_CI, len(body)]) + body + R5_DATA[tpl_at:]
    return add_crcs(bytes([len(frame)]) + frame, FrameFormat.B)


def r5_cmac(mcl: int) -> bytes:
    """The full CMAC a meter holding R5's key sends with this MCL."""
    afl, tpl_at = parse_afl(R5_DATA, R5_AFL_AT)
    assert isinstance(afl, AflHeader) and afl.mcr is not None
    kmac = mode7_key(R5_KEY, DC_MAC_FROM_METER, afl.mcr, R5_DATA[4:8])
    return aes_cmac(kmac, afl_mac_input(replace(afl, mcl=mcl), R5_DATA[tpl_at:]))
