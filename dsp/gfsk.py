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


def _sigma(bt: float) -> float:
    return math.sqrt(math.log(2)) / (2 * math.pi * bt)


def reach(bt: float) -> int:
    """Chips on either side beyond which a ramp is 0 or 1 to double precision (6 sigma)."""
    return math.ceil(1 + 6 * _sigma(bt))


# Cephes' rational approximations of erf on |x| < 1 (T / U, in x²) and of erfc·exp(x²) on
# 1 <= x < 8 (P / Q) and beyond (R / S), highest power first; a leading 1 of Q, S, U is implied.
_ERF_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
          7.00332514112805075473e3, 5.55923013010394962768e4)
_ERF_U = (3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
          2.26290000613890934246e4, 4.92673942608635921086e4)
_ERFC_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
           4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
           9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)
_ERFC_Q = (1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
           9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
           1.65666309194161350182e3, 5.57535340817727675546e2)
_ERFC_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
           6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)
_ERFC_S = (2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
           1.70814450747565897222e1, 9.60896809063285878198e0, 3.36907645100081516050e0)


def _horner(x: np.ndarray, coefficients: tuple[float, ...], monic: bool = False) -> np.ndarray:
    out = x + coefficients[0] if monic else np.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        out *= x
        out += c
    return out


def _ndtr(z: np.ndarray) -> np.ndarray:
    """The standard normal CDF, computed as ``scipy.special.ndtr`` computes it (Cephes), whose
    import would cost a fifth of a second: erf near 0, erfc of |z|/√2 beyond."""
    x = z * math.sqrt(0.5)
    a = np.abs(x)
    out = np.empty_like(x)
    near = a < 1.0
    w = x[near]
    w2 = w * w
    out[near] = 0.5 + 0.5 * (w * _horner(w2, _ERF_T) / _horner(w2, _ERF_U, monic=True))
    far = ~near
    v = a[far]
    mid = v < 8.0
    ratio = np.empty_like(v)
    ratio[mid] = _horner(v[mid], _ERFC_P) / _horner(v[mid], _ERFC_Q, monic=True)
    ratio[~mid] = _horner(v[~mid], _ERFC_R) / _horner(v[~mid], _ERFC_S, monic=True)
    tail = 0.5 * (np.exp(-v * v) * ratio)
    out[far] = np.where(x[far] > 0, 1.0 - tail, tail)
    return out


def _step_integral(u: np.ndarray, sigma: float) -> np.ndarray:
    """``∫_{-inf}^{u} Φ(x / sigma) dx`` for the standard normal CDF Φ: a unit step smoothed by a
    Gaussian, integrated."""
    z = u / sigma
    return u * _ndtr(z) + sigma * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


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
    floor = np.floor(u)
    k = floor.astype(np.int64)
    done = np.concatenate([[0.0], np.cumsum(signs)])  # whole turns of the chips before index m
    total = done[np.clip(k - span + 1, 0, len(signs))]
    # Chip k + m's ramp is S(f - m) - S(f - m - 1) for the fraction f = u - k and the step
    # integral S: its values at the 2·span + 1 shifts serve all 2·span chips, in one pass.
    shifts = np.arange(-span + 1, span + 2, dtype=np.float64)
    steps = _step_integral((u - floor)[None, :] - shifts[:, None], _sigma(bt))
    for row, m in enumerate(range(-span + 1, span + 1)):
        j = k + m
        inside = (j >= 0) & (j < len(signs))
        ramp_m = steps[row] - steps[row + 1]
        total += np.where(inside, signs[np.clip(j, 0, len(signs) - 1)] * ramp_m, 0.0)
    return total
