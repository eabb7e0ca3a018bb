"""CRC-aided correction: repairs weak decisions, bounded, and never without a passing block."""

from __future__ import annotations

import numpy as np

from dsp.correction import correct
from protocol.coding import decode_soft, encode
from protocol.framing import add_crcs, strip_crcs
from protocol.modes import FrameFormat, LineCode

DATA = bytes([0x2F]) + bytes(range(1, 48))  # L = 47: block 1 + three 16-byte blocks


def soft_chips(raw: bytes, line_code: LineCode, rng: np.random.Generator) -> np.ndarray:
    return (2.0 * encode(raw, line_code) - 1.0) * rng.uniform(2.0, 3.0, len(raw) * 16)[
        : len(raw) * {LineCode.NRZ: 8, LineCode.THREE_OF_SIX: 12}[line_code]
    ]


def test_weak_wrong_bits_are_repaired_and_counted() -> None:
    rng = np.random.default_rng(0)
    raw = add_crcs(DATA, FrameFormat.A)
    soft = soft_chips(raw, LineCode.NRZ, rng)
    soft[[100, 107]] *= -0.05  # two barely-wrong bits in block 2
    decision = decode_soft(soft, LineCode.NRZ)
    assert decision.data != raw
    fixed = correct(decision, FrameFormat.A)
    assert fixed.ok and fixed.raw == raw
    assert fixed.corrections == 2
    assert strip_crcs(fixed.raw, FrameFormat.A).data == DATA


def test_3of6_second_best_word_is_an_alternative() -> None:
    rng = np.random.default_rng(1)
    raw = add_crcs(DATA, FrameFormat.A)
    soft = soft_chips(raw, LineCode.THREE_OF_SIX, rng)
    word = 12 * 20  # high nibble of byte 20: swap one 1 chip and one 0 chip, weakly
    one = word + int(np.flatnonzero(soft[word : word + 6] > 0)[0])
    zero = word + int(np.flatnonzero(soft[word : word + 6] < 0)[0])
    soft[one], soft[zero] = -0.05, 0.05
    decision = decode_soft(soft, LineCode.THREE_OF_SIX)
    fixed = correct(decision, FrameFormat.A)
    assert fixed.ok and fixed.raw == raw and fixed.corrections == 1


def test_strong_errors_are_not_guessed_away() -> None:
    rng = np.random.default_rng(2)
    raw = add_crcs(DATA, FrameFormat.A)
    soft = soft_chips(raw, LineCode.NRZ, rng)
    soft[100:104] *= -1.0  # four confidently wrong bits: beyond the 2-change budget
    fixed = correct(decode_soft(soft, LineCode.NRZ), FrameFormat.A)
    assert not fixed.ok
    assert fixed.block_ok.count(False) == 1


def test_no_correction_without_a_clean_block() -> None:
    rng = np.random.default_rng(3)
    raw = add_crcs(DATA, FrameFormat.A)
    soft = soft_chips(raw, LineCode.NRZ, rng)
    for block_start in (0, 12, 30, 48):  # one weak error in every block
        soft[8 * block_start + 3] *= -0.05
    fixed = correct(decode_soft(soft, LineCode.NRZ), FrameFormat.A)
    assert not fixed.ok and fixed.corrections == 0


def test_long_format_b_block_gets_one_close_call_only() -> None:
    rng = np.random.default_rng(4)
    raw = add_crcs(DATA, FrameFormat.B)
    soft = soft_chips(raw, LineCode.NRZ, rng)
    soft[20] *= -0.05  # a close call: repaired
    fixed = correct(decode_soft(soft, LineCode.NRZ), FrameFormat.B)
    assert fixed.ok and fixed.raw == raw and fixed.corrections == 1
    soft = soft_chips(raw, LineCode.NRZ, rng)
    soft[[20, 200]] *= -0.02  # two close calls: more than one change
    assert not correct(decode_soft(soft, LineCode.NRZ), FrameFormat.B).ok
    soft = soft_chips(raw, LineCode.NRZ, rng)
    soft[20] *= -0.6  # wrong, but not a close call compared with the other bits
    assert not correct(decode_soft(soft, LineCode.NRZ), FrameFormat.B).ok
