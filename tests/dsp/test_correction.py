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


# The false frame of issue 4 (C1 format B, 8 dB): sent, and received CRC-valid with two bits
# changed 151 bits apart, the period of the EN 13757 generator.
ISSUE_SENT = bytes.fromhex(
    "27440106523481190e167aad000000041394bd6a05025b13004413cf2707052f2f2f2f2f2f2f2f2f"
)
ISSUE_RECEIVED = bytes.fromhex(
    "27440106523581190e167aad000000041394bd6a05025b13024413cf2707052f2f2f2f2f2f2f2f2f"
)
TWIN_BITS = (5 * 8 + 7, 24 * 8 + 6)  # the two changed bits, MSB first


def noisy_chips(raw: bytes, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Right NRZ decisions with Gaussian reliabilities (magnitude ~1, spread ``sigma``)."""
    return (2.0 * encode(raw, LineCode.NRZ) - 1.0) * np.abs(
        1.0 + sigma * rng.standard_normal(len(raw) * 8)
    )


def test_issue_frame_twin_is_crc_valid() -> None:
    raw = bytearray(add_crcs(ISSUE_SENT, FrameFormat.B))
    for bit in TWIN_BITS:
        raw[bit // 8] ^= 0x80 >> bit % 8
    assert TWIN_BITS[1] - TWIN_BITS[0] == 151
    twin = strip_crcs(bytes(raw), FrameFormat.B)
    assert all(twin.block_ok) and twin.data == ISSUE_RECEIVED


def test_repair_that_could_be_either_twin_is_rejected() -> None:
    """The issue's case: one wrong decision, and its twin 151 bits away a close call.

    Changing the close call makes the CRC pass, but the wrong decision was nearly as weak: the
    two readings are about equally likely, so the block must not be accepted.
    """
    raw = add_crcs(ISSUE_SENT, FrameFormat.B)
    soft = noisy_chips(raw, np.random.default_rng(5), 0.3)
    soft[TWIN_BITS[1]] = -0.3 * np.sign(soft[TWIN_BITS[1]])  # wrong
    soft[TWIN_BITS[0]] = 0.22 * np.sign(soft[TWIN_BITS[0]])  # right, barely
    decision = decode_soft(soft, LineCode.NRZ)
    assert not all(strip_crcs(decision.data, FrameFormat.B).block_ok)
    assert not correct(decision, FrameFormat.B).ok


def test_two_weak_errors_151_bits_apart_are_rejected() -> None:
    raw = add_crcs(ISSUE_SENT, FrameFormat.B)
    soft = noisy_chips(raw, np.random.default_rng(6), 0.35)
    for bit, size in zip(TWIN_BITS, (0.1, 0.12), strict=True):
        soft[bit] *= -size / abs(soft[bit])
    decision = decode_soft(soft, LineCode.NRZ)
    assert strip_crcs(decision.data, FrameFormat.B).data == ISSUE_RECEIVED  # the CRC passes
    assert not correct(decision, FrameFormat.B).ok


def test_format_b_false_acceptance_budget() -> None:
    """Random 40-byte frames in AWGN where most fail: none may come out wrong but CRC-valid.

    At this noise (10 log10(1/σ²) = 9 dB, a quarter of the frames fail) the unguarded CRC
    check lets about one frame in 1000 through wrong (two errors 151 bits apart, or a repair
    completing one); frames received correctly must mostly still be accepted and single weak
    errors repaired.
    """
    rng = np.random.default_rng(7)
    sigma = 1 / np.sqrt(8.0)
    outcomes = {"false": 0, "right": 0, "repaired": 0, "clean": 0, "clean_kept": 0}
    for _ in range(3000):
        data = bytes([39]) + rng.integers(0, 256, 39, dtype=np.uint8).tobytes()
        raw = add_crcs(data, FrameFormat.B)
        soft = (2.0 * encode(raw, LineCode.NRZ) - 1.0) + sigma * rng.standard_normal(len(raw) * 8)
        decision = decode_soft(soft, LineCode.NRZ)
        fixed = correct(decision, FrameFormat.B)
        clean = decision.data == raw
        outcomes["clean"] += clean
        outcomes["clean_kept"] += clean and fixed.ok
        if fixed.ok:
            outcomes["false" if fixed.raw != raw else "right"] += 1
            outcomes["repaired"] += fixed.raw == raw and fixed.corrections == 1
    assert outcomes["false"] == 0
    assert outcomes["clean_kept"] >= 0.85 * outcomes["clean"]
    assert outcomes["repaired"] > 0.1 * outcomes["right"]
