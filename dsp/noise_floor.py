"""Noise power of a channel from its quietest blocks, for the occupancy detector and the
receiver's energy gate.

Per segment of blocks, a low quantile of the block powers, divided by where that quantile of a
noise-only block's power sits (a block of K samples of complex Gaussian noise has a power of
gamma(K)/K times the noise power), estimates the noise power while most blocks may hold
signal. The floor is the lowest estimate of the last few segments, so a busy segment or a long
transmission does not raise it.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from scipy.stats import gamma

NOISE_HISTORY_SEGMENTS = 8


class NoiseFloor:
    """``update(segment_block_powers)`` after each segment; ``power`` is NaN before the first.

    ``quantile``: the share of a segment's blocks that must be free of signal.
    """

    def __init__(self, block_len: int, quantile: float) -> None:
        self._quantile = quantile
        self._scale = float(gamma.ppf(quantile, block_len) / block_len)
        self.reset()

    def reset(self) -> None:
        self._history: deque[float] = deque(maxlen=NOISE_HISTORY_SEGMENTS)
        self.power = float("nan")

    def update(self, block_power: np.ndarray) -> None:
        self._history.append(float(np.quantile(block_power, self._quantile)) / self._scale)
        self.power = min(self._history)


def exceedance_threshold(block_len: int, probability: float) -> float:
    """Block power over noise power that a noise-only block exceeds with ``probability``."""
    return float(gamma.ppf(1 - probability, block_len) / block_len)
