"""Line codes (docs/protocol.md §1.2–1.3): 3-out-of-6 (T), Manchester (S), NRZ (C).

Chips are ``uint8`` arrays of 0/1 in time order (chip 1 = upper frequency). Soft chips are
float arrays where a positive value favours chip 1 and the magnitude is the confidence (a
log-likelihood ratio up to a common scale). Soft decoders pick the most likely valid code
word and report, for CRC-aided correction, the cheapest alternative decision of every
code word together with what it costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocol.modes import LineCode

# Nibble -> 6-chip code word (b5 first in time).
THREE_OF_SIX: tuple[int, ...] = (
    0x16, 0x0D, 0x0E, 0x0B, 0x1C, 0x19, 0x1A, 0x13,
    0x2C, 0x25, 0x26, 0x23, 0x34, 0x31, 0x32, 0x29,
)  # fmt: skip

CHIPS_PER_BYTE: dict[LineCode, int] = {
    LineCode.THREE_OF_SIX: 12,
    LineCode.MANCHESTER: 16,
    LineCode.NRZ: 8,
}

_WORD_CHIPS = ((np.array(THREE_OF_SIX)[:, None] >> np.arange(5, -1, -1)) & 1).astype(np.uint8)
_WORD_SIGNS = 2.0 * _WORD_CHIPS - 1.0  # (16, 6) of ±1
_INVERSE_3OF6 = np.full(64, -1, dtype=np.int16)
_INVERSE_3OF6[list(THREE_OF_SIX)] = np.arange(16)
_BIT_WEIGHTS = 1 << np.arange(7, -1, -1)


def bytes_to_bits(data: bytes) -> np.ndarray:
    """Bits of ``data`` MSB first as uint8 0/1."""
    return np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8))


def encode_3of6(data: bytes) -> np.ndarray:
    nibbles = np.frombuffer(bytes(data), dtype=np.uint8)
    order = np.stack([nibbles >> 4, nibbles & 0x0F], axis=1).ravel()
    return _WORD_CHIPS[order].ravel()


def encode_manchester(data: bytes) -> np.ndarray:
    bits = bytes_to_bits(data)
    return np.stack([1 - bits, bits], axis=1).ravel()  # 1 -> 01, 0 -> 10


def encode_nrz(data: bytes) -> np.ndarray:
    return bytes_to_bits(data)


def encode(data: bytes, line_code: LineCode) -> np.ndarray:
    """Line-code ``data`` into chips."""
    return {
        LineCode.THREE_OF_SIX: encode_3of6,
        LineCode.MANCHESTER: encode_manchester,
        LineCode.NRZ: encode_nrz,
    }[line_code](data)


def decode_hard(chips: np.ndarray, line_code: LineCode) -> bytes | None:
    """Decode hard chips; None when any code word is invalid (3-of-6 or Manchester violation)."""
    chips = np.asarray(chips, dtype=np.uint8)
    per_byte = CHIPS_PER_BYTE[line_code]
    if len(chips) % per_byte:
        raise ValueError(f"{len(chips)} chips is not a whole number of {line_code} bytes")
    if line_code is LineCode.THREE_OF_SIX:
        words = chips.reshape(-1, 6) @ (1 << np.arange(5, -1, -1))
        nibbles = _INVERSE_3OF6[words]
        if (nibbles < 0).any():
            return None
        return bytes((nibbles[0::2] << 4 | nibbles[1::2]).astype(np.uint8))
    if line_code is LineCode.MANCHESTER:
        pairs = chips.reshape(-1, 2)
        if (pairs[:, 0] == pairs[:, 1]).any():
            return None
        return np.packbits(pairs[:, 1]).tobytes()
    return np.packbits(chips).tobytes()


@dataclass(frozen=True, slots=True)
class SoftDecision:
    """Most likely bytes plus, per code word, the cheapest other valid decision.

    ``alt_byte[i]`` is the byte index that the i-th alternative changes, ``alt_xor[i]`` the
    bits it flips there, ``alt_cost[i] >= 0`` the loss in log-likelihood metric. ``violations``
    counts code words whose hard chip decisions were not themselves valid (a quality gauge).
    """

    data: bytes
    violations: int
    alt_byte: np.ndarray
    alt_xor: np.ndarray
    alt_cost: np.ndarray


def decode_3of6_soft(soft: np.ndarray) -> SoftDecision:
    """Maximum-likelihood 3-of-6 decoding: the code word with the largest correlation wins."""
    groups = np.asarray(soft, dtype=np.float64).reshape(-1, 6)
    metrics = groups @ _WORD_SIGNS.T  # (n_words, 16)
    order = np.argsort(-metrics, axis=1)[:, :2]
    best, second = order[:, 0], order[:, 1]
    rows = np.arange(len(groups))
    cost = metrics[rows, best] - metrics[rows, second]
    hard_words = (groups > 0).astype(np.int64) @ (1 << np.arange(5, -1, -1))
    violations = int(np.count_nonzero(_INVERSE_3OF6[hard_words] < 0))
    data = (best[0::2] << 4 | best[1::2]).astype(np.uint8).tobytes()
    shift = np.where(rows % 2 == 0, 4, 0)
    return SoftDecision(
        data=data,
        violations=violations,
        alt_byte=rows // 2,
        alt_xor=((best ^ second) << shift).astype(np.uint8),
        alt_cost=cost,
    )


def decode_bits_soft(bit_metrics: np.ndarray, violations: int = 0) -> SoftDecision:
    """Bit decisions from per-bit log-likelihood metrics (positive = 1), MSB first."""
    metrics = np.asarray(bit_metrics, dtype=np.float64)
    bits = (metrics > 0).astype(np.uint8)
    index = np.arange(len(metrics))
    return SoftDecision(
        data=np.packbits(bits).tobytes(),
        violations=violations,
        alt_byte=index // 8,
        alt_xor=_BIT_WEIGHTS[index % 8].astype(np.uint8),
        alt_cost=np.abs(metrics),
    )


def manchester_violations(soft: np.ndarray) -> int:
    """Chip pairs whose hard decisions are equal (00 or 11), i.e. not a Manchester symbol."""
    pairs = np.asarray(soft).reshape(-1, 2) > 0
    return int(np.count_nonzero(pairs[:, 0] == pairs[:, 1]))


def decode_soft(soft: np.ndarray, line_code: LineCode) -> SoftDecision:
    """Soft-decode chip metrics of whole bytes.

    Manchester pairs are decided as one symbol from the two chip metrics (second minus first);
    a receiver that has a better pair metric (using the phase across the pair) calls
    ``decode_bits_soft`` directly.
    """
    soft = np.asarray(soft, dtype=np.float64)
    per_byte = CHIPS_PER_BYTE[line_code]
    if len(soft) % per_byte:
        raise ValueError(f"{len(soft)} chips is not a whole number of {line_code} bytes")
    if line_code is LineCode.THREE_OF_SIX:
        return decode_3of6_soft(soft)
    if line_code is LineCode.MANCHESTER:
        return decode_bits_soft(soft[1::2] - soft[0::2], manchester_violations(soft))
    return decode_bits_soft(soft)
