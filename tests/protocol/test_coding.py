"""Line codes: table facts (docs/protocol.md §1.2–1.3), round trips, soft-decision behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.coding import (
    THREE_OF_SIX,
    decode_3of6_soft,
    decode_bits_soft,
    decode_hard,
    decode_soft,
    encode,
    encode_3of6,
    encode_manchester,
    encode_nrz,
)
from protocol.modes import LineCode


def chips(text: str) -> np.ndarray:
    return np.array([int(c) for c in text], dtype=np.uint8)


def test_3of6_table_is_the_weight_3_code_of_the_spec() -> None:
    assert len(set(THREE_OF_SIX)) == 16
    assert all(bin(w).count("1") == 3 for w in THREE_OF_SIX)
    unused = {w for w in range(64) if bin(w).count("1") == 3} - set(THREE_OF_SIX)
    assert unused == {0b000111, 0b010101, 0b101010, 0b111000}


def test_spec_examples() -> None:
    # docs/protocol.md §1.3: L = 2A
    assert "".join(map(str, encode_3of6(b"\x2a"))) == "001110100110"
    assert "".join(map(str, encode_manchester(b"\x80"))) == "0110101010101010"  # 1 -> 01, 0 -> 10
    assert "".join(map(str, encode_nrz(b"\x54\x3d"))) == "0101010000111101"


@given(st.binary(min_size=1, max_size=40), st.sampled_from(list(LineCode)))
def test_round_trip_hard_and_soft(data: bytes, line_code: LineCode) -> None:
    coded = encode(data, line_code)
    assert decode_hard(coded, line_code) == data
    decision = decode_soft(2.0 * coded - 1.0, line_code)
    assert decision.data == data
    assert decision.violations == 0


def test_hard_decoder_rejects_code_violations() -> None:
    assert decode_hard(chips("000111" + "010110"), LineCode.THREE_OF_SIX) is None
    assert decode_hard(chips("0110101010101011"[:14] + "11"), LineCode.MANCHESTER) is None
    with pytest.raises(ValueError):
        decode_hard(chips("0101"), LineCode.THREE_OF_SIX)


def test_soft_3of6_picks_the_most_likely_valid_word() -> None:
    # Nibble 0 = 010110. Flip its weakest chip: the hard word 010111 is invalid, but the ML
    # decision still returns nibble 0 because the flipped chip was barely negative.
    soft = 2.0 * chips("010110" + "010110") - 1.0
    soft[5] = +0.1  # chip that should be 0, received slightly positive
    decision = decode_3of6_soft(soft)
    assert decision.data == b"\x00"
    assert decision.violations == 1


@given(st.lists(st.floats(-4, 4), min_size=12, max_size=12))
def test_soft_3of6_equals_brute_force_maximum_likelihood(values: list[float]) -> None:
    soft = np.array(values)
    words = np.array([encode_3of6(bytes([n]))[6:] for n in range(16)], dtype=float)
    # Log-likelihood of a word given per-chip LLR-like metrics: sum of the metrics of its 1 chips.
    best = [int(np.argmax(words @ soft[i : i + 6])) for i in (0, 6)]
    decision = decode_3of6_soft(soft)
    scores_hi = words @ soft[0:6]
    scores_lo = words @ soft[6:12]
    assert scores_hi[decision.data[0] >> 4] == pytest.approx(scores_hi[best[0]])
    assert scores_lo[decision.data[0] & 0xF] == pytest.approx(scores_lo[best[1]])


def test_soft_alternatives_are_cheapest_other_decisions() -> None:
    soft = 2.0 * chips("010110" + "001101") - 1.0  # byte 0x01
    soft[0:6] *= 0.2  # the high nibble is unreliable
    decision = decode_3of6_soft(soft)
    costs = dict(zip(decision.alt_xor.tolist(), decision.alt_cost.tolist(), strict=True))
    high = [x for x in costs if x & 0xF0]
    low = [x for x in costs if x & 0x0F]
    assert len(high) == 1 and len(low) == 1
    assert costs[high[0]] < costs[low[0]]
    # Applying an alternative gives another valid 3-of-6 byte.
    other = bytes([decision.data[0] ^ high[0]])
    assert decode_hard(encode_3of6(other), LineCode.THREE_OF_SIX) == other


def test_manchester_soft_uses_both_chips_of_a_pair() -> None:
    coded = encode_manchester(b"\xa5")
    soft = 2.0 * coded - 1.0
    soft[0] = -soft[0] * 0.5  # first chip of bit 7 wrong but weaker than its partner
    decision = decode_soft(soft, LineCode.MANCHESTER)
    assert decision.data == b"\xa5"
    assert decision.violations == 1


def test_bit_metrics_give_bits_and_costs() -> None:
    decision = decode_bits_soft(np.array([1.0, -2.0, 0.5, -0.1, 3.0, 3.0, -3.0, 3.0]))
    assert decision.data == bytes([0b10101101])
    assert decision.alt_byte.tolist() == [0] * 8
    assert decision.alt_xor[3] == 0b00010000
    assert decision.alt_cost[3] == pytest.approx(0.1)
