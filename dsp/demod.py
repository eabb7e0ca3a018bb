"""Per-burst FSK demodulation of a channel's samples: CFO, deviation, chip timing, soft chips.

Times are in channel samples relative to the start of the segment handed in; sample ``n``
covers the interval [n - 0.5, n + 0.5). Chip ``k`` of a burst spans
[t0 + k * chip_samples, t0 + (k + 1) * chip_samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


_DEVIATION_FACTORS = np.linspace(0.7, 1.3, 7)
_COHERENT_WINDOW = 8  # chips on each side that set a chip's carrier phase


def refine_carrier(
    y: np.ndarray, cfo: float, dev_nominal: float, timing: ChipTiming, chips: np.ndarray
) -> tuple[float, float]:
    """Data-aided CFO and deviation (rad/sample) over known ``chips`` starting at chip 0.

    Removing the known FSK phase path leaves a bare carrier; its frequency from lag products at
    growing lags is unbiased (lag-1 products of filtered noise are correlated, which pulls a
    blind estimate towards 0 at low SNR). The deviation is the one whose path leaves the most
    coherent carrier.
    """
    edges = timing.boundaries(0, len(chips))
    a, b = max(0, int(np.ceil(edges[0]))), min(len(y), int(edges[-1]))
    if b - a < 16:
        return cfo, dev_nominal
    n = np.arange(a, b, dtype=np.float64)
    k = np.clip(np.searchsorted(edges, n, side="right") - 1, 0, len(chips) - 1)
    signs = 2.0 * chips - 1.0
    at_edge = np.concatenate([[0.0], np.cumsum(signs * np.diff(edges))])
    path = at_edge[k] + signs[k] * (n - edges[k])
    base = y[a:b] * np.exp(-1j * cfo * (n - a))
    coherence = []
    carriers = []
    for factor in _DEVIATION_FACTORS:
        z = base * np.exp(-1j * dev_nominal * factor * path)
        omega = 0.0
        for lag in (4, 32, len(z) // 2):
            if lag >= len(z):
                break
            zz = z * np.exp(-1j * omega * np.arange(len(z)))
            omega += float(np.angle(np.vdot(zz[:-lag], zz[lag:]))) / lag
        carriers.append(omega)
        coherence.append(abs(np.sum(z * np.exp(-1j * omega * np.arange(len(z))))))
    i = int(np.argmax(coherence))
    step = _DEVIATION_FACTORS[1] - _DEVIATION_FACTORS[0]
    factor = _DEVIATION_FACTORS[i]
    if 0 < i < len(coherence) - 1:
        left, mid, right = coherence[i - 1 : i + 2]
        curve = left - 2 * mid + right
        if curve < 0:
            factor += step * 0.5 * (left - right) / curve
    return cfo + carriers[i], dev_nominal * factor


def _running_at(sums: list[np.ndarray], pos: np.ndarray) -> list[np.ndarray]:
    """Running sums (several of one length, sharing the index arithmetic) linearly
    interpolated at fractional indices ``pos`` (clipped to the ends).

    The grid is the integers, so the bracketing index is a truncation rather than a search.
    """
    last = len(sums[0]) - 1
    if last < 1:
        return [np.broadcast_to(cs[0], np.shape(pos)).copy() for cs in sums]
    # In place, and minimum/maximum rather than np.clip: at these sizes call overhead and
    # fresh temporaries cost more than the arithmetic.
    frac = np.maximum(pos, 0.0)
    np.minimum(frac, float(last), out=frac)
    i = frac.astype(np.intp)
    np.minimum(i, last - 1, out=i)
    frac -= i
    above = i + 1
    out = []
    for cs in sums:
        lower = cs[i]
        value = cs[above]
        value -= lower
        value *= frac
        value += lower
        out.append(value)
    return out


_ROTATOR_BLOCK = 64


def _rotator(omega: float, start: int, count: int) -> np.ndarray:
    """``exp(-1j * omega * n)`` for n = start .. start + count - 1.

    Built as an outer product of a block's phases and the block starts: 1 + 2/64 complex
    exponentials per sample instead of one each (exp dominates the cost otherwise).
    """
    blocks = -(-count // _ROTATOR_BLOCK)
    fine = np.exp(-1j * omega * np.arange(_ROTATOR_BLOCK))
    coarse = np.exp(-1j * omega * (start + _ROTATOR_BLOCK * np.arange(blocks)))
    return (coarse[:, None] * fine[None, :]).ravel()[:count]


class _ToneIntegrals:
    """Running integrals of the signal mixed down by each tone over a stretch of samples."""

    def __init__(self, y: np.ndarray, cfo: float, dev: float, start: float, stop: float) -> None:
        self.a = max(0, int(np.floor(start + 0.5)))
        b = min(len(y), int(np.floor(stop + 0.5)) + 1)
        seg = y[self.a : b].astype(np.complex128)
        self.omegas = (cfo + dev, cfo - dev)
        self.sums = []
        for omega in self.omegas:
            sums = np.zeros(len(seg) + 1, dtype=np.complex128)
            np.cumsum(seg * _rotator(omega, self.a, len(seg)), out=sums[1:])
            self.sums.append(sums)

    def chips(self, edges: np.ndarray) -> list[np.ndarray]:
        """Per-chip integrals for each tone between consecutive ``edges`` (fractional samples,
        last axis)."""
        # sums[i] integrates samples a .. a+i-1, i.e. up to time a + i - 0.5.
        pos = edges + (0.5 - self.a)
        return [at[..., 1:] - at[..., :-1] for at in _running_at(self.sums, pos)]


_SEGMENT = 16  # chips per timing measurement
_PROBES = np.linspace(-0.5, 0.5, 5)  # chips: timing probes around the current estimate
_KNOT_SPACING = 64
_KNOT_STIFFNESS = 2.0


def _segment_offsets(
    tones: _ToneIntegrals, timing: ChipTiming, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Timing error (chips) of each segment of chips [lo, hi), from probes half a chip around.

    The chip-energy contrast of a segment peaks at the right timing; the best probe and a
    parabola through it and its neighbours locate the peak within +-0.5 chip.
    """
    k = np.arange(lo, hi + 1, dtype=np.float64)
    starts = np.arange(0, hi - lo, _SEGMENT)
    up, low = tones.chips(timing.time(k + _PROBES[:, None]))
    contrast = np.abs(np.abs(up) ** 2 - np.abs(low) ** 2)
    grid = np.add.reduceat(contrast, starts, axis=1)  # (probes, segments)
    cols = np.arange(grid.shape[1])
    best = np.minimum(np.maximum(np.argmax(grid, axis=0), 1), len(_PROBES) - 2)
    early, on, late = grid[best - 1, cols], grid[best, cols], grid[best + 1, cols]
    curvature = early - 2 * on + late
    peaked = curvature < 0
    step = _PROBES[1] - _PROBES[0]
    vertex = step * (early - late) / (2 * np.where(peaked, curvature, -1.0))
    error = _PROBES[best] + np.where(peaked, vertex, 0.0)
    error = np.minimum(np.maximum(error, _PROBES[0]), _PROBES[-1])
    ends = np.minimum(starts + _SEGMENT, hi - lo)
    centers = lo + (starts + ends) / 2.0
    return centers, error, np.where(peaked, -curvature, 0.0)


def _line(
    chips: np.ndarray, times: np.ndarray, weight: np.ndarray, fallback: ChipTiming
) -> ChipTiming:
    use = weight > 0
    if np.count_nonzero(use) < 2 or np.ptp(chips[use]) <= 0:
        return fallback
    w = weight / weight.max()
    total = w.sum()
    c = np.multiply(chips, w).sum() / total
    slope = np.sum(w * (chips - c) * times) / np.sum(w * (chips - c) ** 2)
    return ChipTiming(
        t0=float(np.multiply(times, w).sum() / total - slope * c), chip_samples=float(slope)
    )


def _measure(
    tones: _ToneIntegrals, timing: ChipTiming, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(segment centre chip, measured boundary time there, weight) for chips [lo, hi)."""
    centers, error, weight = _segment_offsets(tones, timing, lo, hi)
    return centers, timing.time(centers + error), weight


def _bend(
    line: ChipTiming,
    centers: np.ndarray,
    times: np.ndarray,
    weight: np.ndarray,
    first: int,
    stop: int,
) -> ChipTiming:
    """Stiff piecewise-linear correction of ``line`` through the measured boundary times."""
    knots = np.unique(np.minimum(np.arange(first, stop + _KNOT_SPACING, _KNOT_SPACING), stop))
    knots = knots.astype(np.float64)
    if len(knots) < 3:
        return line
    # Hat-function basis: each measurement interpolates between its two neighbouring knots.
    j = np.clip(np.searchsorted(knots, centers, side="right") - 1, 0, len(knots) - 2)
    frac = np.clip((centers - knots[j]) / (knots[j + 1] - knots[j]), 0.0, 1.0)
    basis = np.zeros((len(centers), len(knots)))
    rows = np.arange(len(centers))
    basis[rows, j] = 1 - frac
    basis[rows, j + 1] = frac
    w = weight / max(float(weight.max()), 1e-30)
    second = np.diff(np.eye(len(knots)), n=2, axis=0)
    lhs = basis.T @ (basis * w[:, None]) + _KNOT_STIFFNESS * second.T @ second
    rhs = basis.T @ (w * (times - line.time(centers)))
    offsets = np.linalg.solve(lhs + 1e-9 * np.eye(len(knots)), rhs)
    return ChipTiming(line.t0, line.chip_samples, knots, offsets)


_ACQUIRE_RATE = 0.04  # relative chip-length error searched either way
_ACQUIRE_EARLY = 2.5  # chips the template may end before where the search put it
# (rate step, shift step in chips): a coarse pass, then a fine one around its best point
_ACQUIRE_PASSES = ((0.01, 0.25), (0.0025, 0.0625))


def _chip_grid(end: float, chip_samples: float, n: int, scales, shifts) -> np.ndarray:
    """Chip edges of every (scale, shift) grid of ``n`` chips stretched about ``end``."""
    k = np.arange(n + 1, dtype=np.float64)
    edges = ((k - n) * scales[:, None])[:, None, :] + shifts[None, :, None]
    edges *= chip_samples
    edges += end
    return edges


def lag_chip_sums(y: np.ndarray, lag: int, edges: np.ndarray) -> np.ndarray:
    """Per-chip sums of ``y[m] * conj(y[m - lag])`` between consecutive edges (last axis)."""
    # The product at index m sits at time m - lag/2.
    lo = max(lag, int(np.floor(edges.min() + lag / 2 + 0.5)))
    hi = min(len(y), int(np.floor(edges.max() + lag / 2 + 0.5)) + 1)
    u = y[lo:hi].astype(np.complex128) * np.conj(y[lo - lag : hi - lag])
    sums = np.zeros(len(u) + 1, dtype=np.complex128)
    np.cumsum(u, out=sums[1:])
    return np.diff(_running_at([sums], edges + (0.5 + lag / 2 - lo))[0], axis=-1)


def _tone_contrast(y: np.ndarray, cfo: float, dev: float, edges: np.ndarray) -> np.ndarray:
    """Per-chip tone contrast |upper| - |lower| between consecutive edges (last axis)."""
    tones = _ToneIntegrals(y, cfo, dev, float(edges.min()), float(edges.max()))
    up, low = tones.chips(edges)
    return np.abs(up) - np.abs(low)


def acquire_timing(
    y: np.ndarray,
    guess: ChipTiming,
    chips: np.ndarray,
    later: float,
    carrier: tuple[float, float] | None = None,
    lag: int = 1,
) -> tuple[ChipTiming, np.ndarray]:
    """Best chip grid for the known ``chips`` (from chip 0) near ``guess``, and the hard chip
    decisions there.

    The sync search only knows the chip rate to a few percent, which over a 32-chip template
    is most of a chip, and it may peak on the preamble up to ``later`` chips before the sync
    (the preamble two chips early differs from a T1/C1 template in only 4 chips); matching
    grid points against the known chips, coarse then fine, settles both. With ``carrier``
    (cfo, dev in rad/sample) chips are tone correlations; without, lag products at ``lag``
    (the tones a quarter turn apart), for which a carrier offset only rotates everything:
    a little noisier, but independent of a poor first CFO estimate.
    """
    signs = 2.0 * chips - 1.0
    end = guess.t0 + len(chips) * guess.chip_samples  # the sync search placed the end best
    scale, shift = 1.0, 0.0
    low_s, high_s, span_r = -_ACQUIRE_EARLY, later, _ACQUIRE_RATE
    for rate_step, shift_step in _ACQUIRE_PASSES:
        scales = scale + np.arange(-span_r, span_r + rate_step / 2, rate_step)
        shifts = shift + np.arange(low_s, high_s + shift_step / 2, shift_step)
        edges = _chip_grid(end, guess.chip_samples, len(chips), scales, shifts)
        if carrier is not None:
            contrast = _tone_contrast(y, carrier[0], carrier[1], edges)
            score = contrast @ signs
        else:
            sums = lag_chip_sums(y, lag, edges)
            match = sums @ signs
            score = np.abs(match)
            # The match points the way chip 1 turns; chips are decided against it.
            contrast = (sums * np.conj(match)[..., None]).real
        i, j = np.unravel_index(int(np.argmax(score)), score.shape)
        scale, shift = float(scales[i]), float(shifts[j])
        decided = contrast[i, j] > 0
        low_s, high_s, span_r = -shift_step, shift_step, rate_step
    cs = guess.chip_samples * scale
    t_end = end + shift * guess.chip_samples
    return ChipTiming(t0=float(t_end - len(chips) * cs), chip_samples=float(cs)), decided


_TRACK_STEP = 64  # chips added per tracking step once the clock is known
_TRACK_MEMORY = 192  # chips of measurements the local clock estimate uses


def fit_timing(
    y: np.ndarray, cfo: float, dev: float, guess: ChipTiming, first: int, stop: int
) -> ChipTiming:
    """Chip timing over chips [first, stop), starting from ``guess`` near ``first``.

    Each segment of chips is probed a quarter chip early and late: the chip-energy contrast
    peaks at the right timing. A clock line is grown from the known chips in doubling spans
    (so a chip-rate error cannot slip a whole chip), then carried forward with a local line
    over recent measurements, which follows a meter clock that wanders during the burst; a
    stiff piecewise-linear fit through all measurements gives the final boundaries.
    """
    margin = 0.4 * (stop - first) * guess.chip_samples + 4 * guess.chip_samples
    start_t = float(guess.time(np.float64(first)))
    tones = _ToneIntegrals(
        y, cfo, dev, start_t - margin, float(guess.time(np.float64(stop))) + margin
    )
    timing = guess
    hi = first
    span = 2 * _SEGMENT
    while hi < stop and span <= _TRACK_MEMORY:
        hi = min(stop, first + span)
        centers, times, weight = _measure(tones, timing, first, hi)
        timing = _line(centers, times, weight, timing)
        span *= 2
    local = timing
    while hi < stop:
        lo, hi = hi, min(stop, hi + _TRACK_STEP)
        new = _measure(tones, local, lo, hi)
        centers, times, weight = (
            np.concatenate(pair) for pair in zip((centers, times, weight), new, strict=True)
        )
        recent = centers >= hi - _TRACK_MEMORY
        local = _line(centers[recent], times[recent], weight[recent], local)
    if stop - first < 2 * _KNOT_SPACING:
        return timing
    line = _line(centers, times, weight, timing)
    bent = _bend(line, centers, times, weight, first, stop)
    return _bend(line, *_measure(tones, bent, first, stop), first, stop)


@dataclass(frozen=True, slots=True)
class ToneCorrelations:
    """Per-chip correlations with the upper and lower tone, phase-referenced to each chip start."""

    upper: np.ndarray
    lower: np.ndarray
    edges: np.ndarray  # chip boundaries, channel samples
    cfo: float  # rad/sample
    dev: float  # rad/sample

    def soft(self) -> np.ndarray:
        """Non-coherent chip metrics: which tone holds more energy."""
        return np.abs(self.upper) - np.abs(self.lower)

    def coherent_soft(self, window: int = _COHERENT_WINDOW) -> np.ndarray:
        """Chip metrics against a carrier phase carried over from the neighbouring chips.

        With continuous phase, chip k starts at the phase chip k-1 started at plus that chip's
        tone times its length. Decisions of the non-coherent pass give that phase path; the
        neighbours' correlations, rotated along it, give the reference phase of each chip
        (leaving the chip itself out), and the chip is then decided coherently, which is about
        1 dB better than comparing energies. The window keeps up with residual CFO and clock.
        """
        soft = self.soft()
        for _ in range(2):
            ones = soft > 0
            tone = np.where(ones, self.cfo + self.dev, self.cfo - self.dev)
            path = np.concatenate([[0.0], np.cumsum(tone * np.diff(self.edges))[:-1]])
            rotate = np.exp(-1j * path)
            chosen = np.where(ones, self.upper, self.lower) * rotate
            sums = np.concatenate([[0.0], np.cumsum(chosen)])
            k = np.arange(len(chosen))
            hi = np.minimum(k + window + 1, len(chosen))
            lo = np.maximum(k - window, 0)
            reference = (sums[hi] - sums[lo] - chosen) * np.conj(rotate)
            unit = reference / np.maximum(np.abs(reference), 1e-30)
            soft = ((self.upper - self.lower) * np.conj(unit)).real
        return soft


def tone_correlations(
    y: np.ndarray, cfo: float, dev: float, timing: ChipTiming, first: int, count: int
) -> ToneCorrelations:
    """Integrate-and-dump of each chip against both tones, with fractional chip boundaries."""
    edges = timing.boundaries(first, count)
    tones = _ToneIntegrals(y, cfo, dev, edges[0], edges[-1])
    up, low = tones.chips(edges)
    return ToneCorrelations(
        upper=up * np.exp(1j * tones.omegas[0] * edges[:-1]),
        lower=low * np.exp(1j * tones.omegas[1] * edges[:-1]),
        edges=edges,
        cfo=cfo,
        dev=dev,
    )


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
