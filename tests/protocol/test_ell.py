"""Extended link layer fields (docs/protocol.md §3)."""

from __future__ import annotations

from protocol.ell import parse_ell
from protocol.types import DecodeFailure, FailureReason
from tests.protocol.spec_vectors import R1


def test_ell_ii_fields_of_r1() -> None:
    data = bytes.fromhex(R1)
    parsed = parse_ell(data, 10)
    assert not isinstance(parsed, DecodeFailure)
    ell, sn, after = parsed
    assert (ell.ci, ell.cc, ell.acc, sn.hex().upper(), after) == (0x8D, 0x20, 0x91, "D37CAC21", 17)
    assert (ell.encryption, ell.session_counter) == (1, 3)
    assert ell.session_time == (0x21AC7CD3 >> 4) & 0x1FFFFFF
    assert ell.cc_flags == ("synchronised",)


def test_ell_iv_second_address_and_truncation() -> None:
    body = "8F" "A0" "01" "2D2C" "78563412" "01" "07" "00000020" "FFFF"
    parsed = parse_ell(bytes.fromhex(body), 0)
    assert not isinstance(parsed, DecodeFailure)
    ell, sn, after = parsed
    assert ell.address2 is not None and ell.address2.id == "12345678"
    assert (ell.encryption, after, sn) == (1, 15, bytes.fromhex("00000020"))
    assert ell.cc_flags == ("synchronised", "bidirectional")
    failure = parse_ell(bytes.fromhex(body)[:8], 0)
    assert isinstance(failure, DecodeFailure) and failure.reason is FailureReason.TRUNCATED
