"""The Gaussian frequency pulse of GFSK (C2's gateways, docs/protocol.md §1.1): the phase it
builds up, for the modulator and for the demodulator's matched decisions.

A chip's frequency pulse is its rectangle smoothed by a Gaussian whose bandwidth-time product
is ``bt`` (standard deviation ``sqrt(ln 2) / (2π·bt)`` chips, 0.265 at BT 0.5). Its phase ramp,
the integral of the pulse in units of one chip's full turn ``2π·deviation·chip``, rises from 0
well before the chip to 1 well after it; at BT 0.5 it spills 0.8 chip into each neighbour.
Times are in chips from the first chip's start.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr


def _sigma(bt: float) -> float:
    return math.sqrt(math.log(2)) / (2 * math.pi * bt)


def reach(bt: float) -> int:
    """Chips on either side beyond which a ramp is 0 or 1 to double precision (6 sigma)."""
    return math.ceil(1 + 6 * _sigma(bt))


def _step_integral(u: np.ndarray, sigma: float) -> np.ndarray:
    """``∫_{-inf}^{u} Φ(x / sigma) dx`` for the standard normal CDF Φ: a unit step smoothed by a
    Gaussian, integrated."""
    z = u / sigma
    return u * ndtr(z) + sigma * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def ramp(x: np.ndarray, bt: float) -> np.ndarray:
    """Phase ramp of one chip's pulse at ``x`` chips from its start: 0 before, 1 after."""
    sigma = _sigma(bt)
    return _step_integral(x, sigma) - _step_integral(x - 1, sigma)


def gaussian_phase(u: np.ndarray, signs: np.ndarray, bt: float) -> np.ndarray:
    """Phase at times ``u`` of chips ``signs`` (±1), in full turns: ``sum_j signs[j]·ramp(u - j)``.

    Chips more than ``reach`` away contribute 0 or their whole turn, so each time sums only a
    few ramps.
    """
    span = reach(bt)
    k = np.floor(u).astype(np.int64)
    done = np.concatenate([[0.0], np.cumsum(signs)])  # whole turns of the chips before index m
    total = done[np.clip(k - span + 1, 0, len(signs))]
    for m in range(-span + 1, span + 1):
        j = k + m
        inside = (j >= 0) & (j < len(signs))
        total += np.where(inside, signs[np.clip(j, 0, len(signs) - 1)] * ramp(u - j, bt), 0.0)
    return total
