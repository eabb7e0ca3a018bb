"""Noise power of a channel from its quietest blocks, for the occupancy detector and the
receiver's energy gate.

Per segment of blocks, a low quantile of the block powers, divided by where that quantile of a
noise-only block's power sits (a block of K samples of complex Gaussian noise has a power of
gamma(K)/K times the noise power), estimates the noise power while most blocks may hold
signal. The floor is the lowest estimate of the last few segments, so a busy segment or a long
transmission does not raise it.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from statistics import NormalDist

import numpy as np

NOISE_HISTORY_SEGMENTS = 8
# A Poisson sum stops at terms this small relative to it: below double precision.
_NEGLIGIBLE = 1e-17
_NEWTON_STEPS = 60
# Relative step at which Newton stops: the tails are good to about 1e-14, smaller steps only
# follow their rounding.
_NEWTON_TOLERANCE = 1e-14


def _poisson_tail(shape: int, x: float, below: bool) -> float:
    """``P(N < shape)`` (``below``) or ``P(N >= shape)`` for N Poisson with mean ``x``, summed
    outward from ``shape``: every term is positive, so a tail of 1e-6 keeps full precision."""
    n = shape - 1 if below else shape
    term = math.exp(n * math.log(x) - x - math.lgamma(n + 1))
    total = 0.0
    while n >= 0:
        total += term
        if below:
            term *= n / x
            n -= 1
            rising = n >= x
        else:
            n += 1
            term *= x / n
            rising = n <= x
        if term <= _NEGLIGIBLE * total and not rising:
            break
    return total


@functools.lru_cache(maxsize=64)
def gamma_quantile(shape: int, probability: float) -> float:
    """The ``probability`` quantile of the gamma distribution with integer ``shape`` and unit
    scale (``scipy.stats.gamma.ppf`` to about 1e-13, without the import of scipy.stats).

    Its CDF is a Poisson tail, ``P(shape, x) = P(N >= shape)`` for N Poisson with mean x; Newton
    steps on the logarithm of the smaller tail, from the Wilson-Hilferty approximation.
    """
    below = probability > 0.5  # the upper tail of the gamma is the lower one of the Poisson
    target = math.log(1.0 - probability if below else probability)
    z = NormalDist().inv_cdf(probability)
    # (Its cube goes negative for tiny shapes; a small start then walks up.)
    x = shape * max(1 - 1 / (9 * shape) + z / math.sqrt(9 * shape), 0.1) ** 3
    for _ in range(_NEWTON_STEPS):
        tail = _poisson_tail(shape, x, below)
        density = math.exp((shape - 1) * math.log(x) - x - math.lgamma(shape))
        step = (math.log(tail) - target) * tail / density
        new = max(x + step if below else x - step, x / 2)
        if abs(new - x) <= _NEWTON_TOLERANCE * x:
            return new
        x = new
    return x


def _quantile(values: np.ndarray, q: float) -> float:
    """``np.quantile(values, q)`` (linear interpolation) bit for bit, NaN if any value is: its
    general machinery costs ten times the partition (40 us, each segment of each channel)."""
    n = len(values)
    virtual = (n - 1) * q
    lo = min(max(math.floor(virtual), 0), n - 1)
    hi = min(lo + 1, n - 1)
    part = np.partition(values, (lo, hi, n - 1))  # a NaN sorts to the end
    if math.isnan(part[-1]):
        return math.nan
    a, b = float(part[lo]), float(part[hi])
    t = virtual - lo
    # numpy's lerp: from the nearer end, so that t = 0 and t = 1 give the ends exactly.
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


class NoiseFloor:
    """``update(segment_block_powers)`` after each segment; ``power`` is NaN before the first.

    ``quantile``: the share of a segment's blocks that must be free of signal.
    """

    def __init__(self, block_len: int, quantile: float) -> None:
        self._quantile = quantile
        self._scale = gamma_quantile(block_len, quantile) / block_len
        self.reset()

    def reset(self) -> None:
        self._history: deque[float] = deque(maxlen=NOISE_HISTORY_SEGMENTS)
        self.power = float("nan")

    def update(self, block_power: np.ndarray) -> None:
        self._history.append(_quantile(block_power, self._quantile) / self._scale)
        self.power = min(self._history)


def exceedance_threshold(block_len: int, probability: float) -> float:
    """Block power over noise power that a noise-only block exceeds with ``probability``."""
    return gamma_quantile(block_len, 1 - probability) / block_len
