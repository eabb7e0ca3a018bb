"""Per-burst FSK demodulation on a channel's complex samples: CFO, deviation, chip timing, soft chips.

Times are in channel samples relative to the start of the segment handed in; sample ``n``
covers the interval [n - 0.5, n + 0.5). Chip ``k`` of a burst spans
[t0 + k * chip_samples, t0 + (k + 1) * chip_samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MAX_TIMING_RESIDUAL = 0.3  # chips; crossings farther from the grid are noise


@dataclass(frozen=True, slots=True)
class ChipTiming:
    """Chip boundaries: a line ``t0 + k * chip_samples``, optionally bent through knots.

    The knots (chip index, time) follow a meter clock that wanders during the burst; outside
    them the line's slope continues from the nearest knot.
    """

    t0: float  # time of the boundary before chip 0, channel samples
    chip_samples: float  # mean chip length
    knot_chips: np.ndarray | None = None
    knot_offsets: np.ndarray | None = None  # knot time minus the line

    def time(self, k: np.ndarray) -> np.ndarray:
        line = self.t0 + k * self.chip_samples
        if self.knot_chips is None or self.knot_offsets is None:
            return line
        return line + np.interp(k, self.knot_chips, self.knot_offsets)

    def boundaries(self, first: int, count: int) -> np.ndarray:
        return self.time(first + np.arange(count + 1, dtype=np.float64))

    def shifted(self, chips: int) -> ChipTiming:
        """The same boundaries with chip ``k`` renamed ``k - chips``."""
        knots = None if self.knot_chips is None else self.knot_chips - chips
        return ChipTiming(
            self.t0 + chips * self.chip_samples, self.chip_samples, knots, self.knot_offsets
        )


def frequency_offset(y: np.ndarray, start: float, stop: float) -> float:
    """Mean phase step (rad/sample) over [start, stop): the CFO when the chips there are balanced.

    Amplitude-weighted lag-1 products do not suffer from FM clicks at low SNR.
    """
    a, b = max(1, int(start)), min(len(y), int(stop))
    return float(np.angle(np.vdot(y[a - 1 : b - 1], y[a:b])))


def deviation(y: np.ndarray, cfo: float, timing: ChipTiming, chips: np.ndarray) -> float:
    """Measured deviation (rad/sample) over known ``chips`` starting at chip 0 of ``timing``."""
    edges = timing.boundaries(0, len(chips))
    a, b = max(1, int(np.ceil(edges[0]))), min(len(y), int(edges[-1]))
    n = np.arange(a, b)
    steps = y[n] * np.conj(y[n - 1]) * np.exp(-1j * cfo)
    k = np.clip(np.searchsorted(edges, n - 0.5) - 1, 0, len(chips) - 1)
    # Mirror the low-tone steps so every step points at +deviation.
    steps = np.where(chips[k] == 1, steps, np.conj(steps))
    return float(abs(np.angle(steps.sum())))


def _moving_sum(x: np.ndarray, length: int) -> np.ndarray:
    out = x[length - 1 :].copy()
    for i in range(1, length):
        out += x[length - 1 - i : len(x) - i]
    return out


def _crossings(
    y: np.ndarray, cfo: float, timing: ChipTiming, first: int, stop: int
) -> tuple[np.ndarray, np.ndarray]:
    """Times and strengths of the zero crossings of the chip-averaged frequency."""
    edges = timing.boundaries(first - 1, stop - first + 2)
    a, b = max(1, int(edges[0])), min(len(y), int(np.ceil(edges[-1])) + 1)
    length = max(2, round(timing.chip_samples))
    if b - a < length + 2:
        return np.zeros(0), np.zeros(0)
    steps = (y[a:b] * np.conj(y[a - 1 : b - 1]) * np.exp(-1j * cfo)).imag
    m = _moving_sum(steps, length)
    idx = np.flatnonzero(np.signbit(m[:-1]) != np.signbit(m[1:]))
    frac = m[idx] / (m[idx] - m[idx + 1])
    # steps[i] sits at time a + i - 0.5; m[j] sums steps j .. j + length - 1.
    times = a + idx + frac + (length - 1) / 2.0 - 0.5
    weights = np.abs(m[idx] - m[idx + 1])
    return times, weights / max(float(weights.mean()), 1e-30) if len(weights) else weights


def _assign(times: np.ndarray, line: ChipTiming, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Chip index of every crossing near the line's grid within chips [lo, hi]; mask of those."""
    pos = (times - line.t0) / line.chip_samples
    k = np.round(pos)
    use = (k >= lo) & (k <= hi) & (np.abs(pos - k) < _MAX_TIMING_RESIDUAL)
    return k, use


def _line(k: np.ndarray, t: np.ndarray, w: np.ndarray, fallback: ChipTiming) -> ChipTiming:
    if len(k) < 4 or np.ptp(k) < 2:
        return fallback
    center = np.average(k, weights=w)
    slope = np.sum(w * (k - center) * t) / np.sum(w * (k - center) ** 2)
    return ChipTiming(t0=float(np.average(t, weights=w) - slope * center), chip_samples=float(slope))


_TRACK_SEGMENT = 16  # chips decided per tracking step
_TRACK_WINDOW = 96  # chips of history the local clock estimate uses
_KNOT_SPACING = 32
_KNOT_STIFFNESS = 4.0


def fit_timing(y: np.ndarray, cfo: float, guess: ChipTiming, first: int, stop: int) -> ChipTiming:
    """Chip timing from the zero crossings of the filtered instantaneous frequency.

    Every transition between chips lies on a boundary. A line grown from the known chips near
    ``first`` gives the clock; tracking forward in short segments assigns each crossing to
    its boundary even when the meter's clock wanders; a stiff piecewise-linear fit through the
    assigned crossings then gives the boundaries.
    """
    times, weights = _crossings(y, cfo, guess, first, stop)
    line = guess
    span = 24
    while True:  # grow the line from the known chips so a rate error cannot alias a crossing
        last = min(stop, first + span)
        k, use = _assign(times, line, first, last)
        line = _line(k[use], times[use], weights[use], line)
        if last == stop or span >= _TRACK_WINDOW:
            break
        span *= 2
    if last == stop:
        return line
    chip = np.full(len(times), np.nan)
    chip[use] = k[use]
    local = line
    for seg_end in range(last + _TRACK_SEGMENT, stop + _TRACK_SEGMENT, _TRACK_SEGMENT):
        seg_end = min(seg_end, stop)
        k, use = _assign(times, local, seg_end - _TRACK_SEGMENT, seg_end)
        chip[use] = k[use]
        recent = ~np.isnan(chip) & (chip >= seg_end - _TRACK_WINDOW)
        local = _line(chip[recent], times[recent], weights[recent], local)
    known = ~np.isnan(chip)
    kk, tt, ww = chip[known], times[known], weights[known]
    line = _line(kk, tt, ww, line)
    knots = np.arange(first, stop + _KNOT_SPACING, _KNOT_SPACING, dtype=np.float64)
    knots[-1] = min(knots[-1], stop)
    knots = np.unique(knots)
    if len(knots) < 3:
        return line
    # Hat-function basis: time offset at each crossing interpolated between its two knots.
    basis = np.zeros((len(kk), len(knots)))
    j = np.clip(np.searchsorted(knots, kk, side="right") - 1, 0, len(knots) - 2)
    frac = np.clip((kk - knots[j]) / (knots[j + 1] - knots[j]), 0.0, 1.0)
    rows = np.arange(len(kk))
    basis[rows, j] = 1 - frac
    basis[rows, j + 1] = frac
    second = np.diff(np.eye(len(knots)), n=2, axis=0)
    lhs = basis.T @ (basis * ww[:, None]) + _KNOT_STIFFNESS * second.T @ second
    rhs = basis.T @ (ww * (tt - line.time(kk)))
    offsets = np.linalg.solve(lhs + 1e-9 * np.eye(len(knots)), rhs)
    return ChipTiming(line.t0, line.chip_samples, knots, offsets)


@dataclass(frozen=True, slots=True)
class ToneCorrelations:
    """Per-chip correlations with the upper and lower tone, phase-referenced to each chip start."""

    upper: np.ndarray
    lower: np.ndarray

    def soft(self) -> np.ndarray:
        return np.abs(self.upper) - np.abs(self.lower)


def tone_correlations(
    y: np.ndarray, cfo: float, dev: float, timing: ChipTiming, first: int, count: int
) -> ToneCorrelations:
    """Integrate-and-dump of each chip against both tones, with fractional chip boundaries."""
    edges = timing.boundaries(first, count)
    a = max(0, int(np.floor(edges[0] + 0.5)))
    b = min(len(y), int(np.floor(edges[-1] + 0.5)) + 1)
    n = np.arange(a, b)
    seg = y[a:b].astype(np.complex128)
    out = []
    for omega in (cfo + dev, cfo - dev):
        w = seg * np.exp(-1j * omega * n)
        cs = np.concatenate([[0.0], np.cumsum(w)])
        # cs[i] integrates samples a .. a+i-1, i.e. up to time a + i - 0.5.
        pos = np.clip(edges + 0.5 - a, 0, len(w))
        integral = np.interp(pos, np.arange(len(cs)), cs.real) + 1j * np.interp(
            pos, np.arange(len(cs)), cs.imag
        )
        corr = np.diff(integral) * np.exp(1j * omega * edges[:-1])
        out.append(corr)
    return ToneCorrelations(upper=out[0], lower=out[1])


def manchester_metrics(tones: ToneCorrelations, reference_pairs: int) -> np.ndarray:
    """Bit metrics for Manchester pairs decided as one two-chip symbol, using the phase across it.

    A data 1 is chips 01 (low tone then high tone), a 0 is 10. With continuous phase the second
    chip's correlation is the first one's times a fixed rotation; the rotations for 01 and 10
    are measured on the first ``reference_pairs`` pairs (preamble, known 01) and the alternating
    pairs between them (10), then refined once from the decided data.
    """
    up, low = tones.upper, tones.lower
    first_lo, second_up = low[0::2], up[1::2]
    first_up, second_lo = up[0::2], low[1::2]

    def metrics(rot1: complex, rot0: complex) -> np.ndarray:
        m1 = np.abs(first_lo + second_up * rot1)
        m0 = np.abs(first_up + second_lo * rot0)
        return m1 - m0

    def unit(z: complex) -> complex:
        return z / abs(z) if abs(z) > 0 else 1.0

    ref = reference_pairs
    rot1 = unit(np.vdot(second_up[:ref], first_lo[:ref]))
    # Pairs "10" straddle the preamble's pair boundaries: chip 2i+1 (high) then 2i+2 (low).
    rot0 = unit(np.vdot(low[2 : 2 * ref : 2], up[1 : 2 * ref - 1 : 2]))
    bits = metrics(rot1, rot0) > 0
    rot1 = unit(np.vdot(second_up[bits], first_lo[bits]) + np.vdot(second_up[:ref], first_lo[:ref]))
    rot0 = unit(np.vdot(second_lo[~bits], first_up[~bits]))
    return metrics(rot1, rot0)
