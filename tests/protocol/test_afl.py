"""Authentication and fragmentation layer fields (docs/protocol.md §4)."""

from __future__ import annotations

import pytest

from protocol.afl import parse_afl
from protocol.types import DecodeFailure, FailureReason


def test_typical_oms_mode7_afl() -> None:
    parsed = parse_afl(bytes.fromhex("900F002C25895E02003B0877D31DA840B17A"), 0)
    assert not isinstance(parsed, DecodeFailure)
    afl, end = parsed
    assert (afl.fcl, afl.mcl, afl.mcr, afl.auth_type, end) == (0x2C00, 0x25, 155273, 5, 17)
    assert afl.mac == bytes.fromhex("3B0877D31DA840B1")
    assert (afl.fragment_id, afl.more_fragments, afl.ki, afl.ml) == (0, False, None, None)


def test_all_optional_fields() -> None:
    # FCL: KI, MAC, MCR, ML, MCL present; more fragments; fragment 3. MCL AT 4 (4-byte MAC).
    fcl = (1 << 9 | 1 << 10 | 1 << 11 | 1 << 12 | 1 << 13 | 1 << 14 | 3).to_bytes(2, "little")
    body = fcl + bytes([0x14]) + b"\x01\x02" + b"\x10\x00\x00\x00" + b"MACS" + b"\x20\x00"
    parsed = parse_afl(bytes([0x90, len(body)]) + body + b"\x7a", 0)
    assert not isinstance(parsed, DecodeFailure)
    afl, end = parsed
    assert (afl.ki, afl.mcr, afl.mac, afl.ml, afl.fragment_id, afl.more_fragments) == (
        0x0201, 16, b"MACS", 32, 3, True)
    assert end == 2 + len(body)


@pytest.mark.parametrize(
    ("hex_text", "reason"),
    [("900F002C25", FailureReason.TRUNCATED), ("9003002C25", FailureReason.MALFORMED),
     ("9002000400", FailureReason.MALFORMED), ("9001", FailureReason.TRUNCATED)],
)
def test_malformed_afl(hex_text: str, reason: FailureReason) -> None:
    failure = parse_afl(bytes.fromhex(hex_text), 0)
    assert isinstance(failure, DecodeFailure) and failure.reason is reason
