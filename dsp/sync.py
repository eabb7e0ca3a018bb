"""Preamble + sync-word search on one channel, insensitive to carrier offset.

The detector correlates lag products ``y[n] * conj(y[n - lag])`` (lag chosen so that the two
tones differ by half a turn), summed over a chip, with the ±1 chip template. A carrier offset
only rotates every product by the same angle, so the magnitude of the correlation divided by
the summed magnitudes is a score in [0, 1] that needs no frequency estimate and no amplitude
normalisation. The search runs at about three samples per chip and over a small bank of chip
rates (T1 meters can be 15 % off).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class SyncCandidate:
    end: float  # absolute channel sample time at which the template's last chip ends
    chip_samples: float  # chip length of the best-matching rate, channel samples
    score: float


_LEAF = "z"
# Levels of shared partial sums in the rate bank. Measured: pairs halve the adds, pairs of
# pairs save a third of the rest; a third level saves few more adds, but its many arrays no
# longer stay in cache and it gets slower.
_MERGE_LEVELS = 2


def _merge_plan(
    offsets: Sequence[np.ndarray], signs: np.ndarray, levels: int
) -> tuple[list[tuple[object, tuple[object, object, int, bool]]], list[list[tuple]]]:
    """How to sum every rate's template from partial sums shared between rates.

    Each rate's taps are merged pairwise, then the pairs pairwise, and so on for ``levels``
    levels; a group is named by its shape (tap spacing and relative signs), so all rates and
    template positions with the same shape share one array: the bank then costs far fewer adds
    than one per tap and rate. Returns the merges in dependency order, (key, (first, second,
    delta, same sign)), meaning ``group[key][q] = group[first][q] +- group[second][q + delta]``,
    and per rate its top groups as (key, offset of the first tap, its sign).
    """
    merges: dict[object, tuple[object, object, int, bool]] = {}
    tops = []
    for offs in offsets:
        level = [(_LEAF, int(o), float(sg)) for o, sg in zip(offs, signs, strict=True)]
        for _ in range(levels):
            if len(level) < 2:
                break
            merged = []
            for i in range(0, len(level) - 1, 2):
                (ka, oa, sa), (kb, ob, sb) = level[i], level[i + 1]
                key = (ka, kb, ob - oa, sa == sb)
                merges.setdefault(key, (ka, kb, ob - oa, sa == sb))
                merged.append((key, oa, sa))
            if len(level) % 2:
                merged.append(level[-1])
            level = merged
        tops.append(level)
    return list(merges.items()), tops


def _moving_mean(x: np.ndarray, length: int) -> np.ndarray:
    """``scipy.ndimage.uniform_filter1d(x, length, mode="nearest")``, bit for bit: a running sum
    in double precision, edges extended with the end values, divided at the output."""
    before = length // 2
    ext = np.concatenate(
        [np.full(before, x[0], np.float64), x, np.full(length - before - 1, x[-1], np.float64)]
    )
    steps = np.empty(len(x), np.float64)
    steps[0] = np.cumsum(ext[:length])[-1]  # cumsum adds in order, as a running sum does
    np.subtract(ext[length:], ext[: len(x) - 1], out=steps[1:])
    return (np.cumsum(steps) / length).astype(x.dtype)


class _TapBank:
    """Sums of a signal over several sets of signed taps, sharing partial sums between sets
    and between template positions (see ``_merge_plan``)."""

    def __init__(
        self, offsets: Sequence[np.ndarray], signs: np.ndarray, levels: int, dtype: type
    ) -> None:
        self._merges, tops = _merge_plan(offsets, signs, levels)
        # A positive top first in each set: it starts the sum.
        self._tops = [sorted(t, key=lambda top: -top[2]) for t in tops]
        self._dtype = dtype
        # Partial sums live in a workspace kept between calls: fresh memory for dozens of
        # arrays per call would cost more in page faults than the adds themselves.
        self._work = np.empty((len(self._merges), 0), dtype=dtype)

    def __len__(self) -> int:
        return len(self._tops)

    def sums(self, x: np.ndarray, start: int, width: int) -> Iterator[np.ndarray]:
        """Per tap set, ``sum_k sign_k * x[start + offset_k + q]`` for q < width, in one buffer
        that the next set overwrites."""
        if self._work.shape[1] < len(x):
            self._work = np.empty((len(self._merges), len(x) + len(x) // 4), dtype=self._dtype)
        groups: dict[object, np.ndarray] = {_LEAF: x}
        for row, (key, (first, second, delta, same)) in enumerate(self._merges):
            head, tail = groups[first], groups[second]
            length = min(len(head), len(tail) - delta)
            out = self._work[row, :length]
            (np.add if same else np.subtract)(head[:length], tail[delta : delta + length], out=out)
            groups[key] = out
        acc = np.empty(width, dtype=self._dtype)
        for (key, off, _), *rest in self._tops:
            np.copyto(acc, groups[key][start + off : start + off + width])
            for key, off, sign in rest:
                term = groups[key][start + off : start + off + width]
                if sign > 0:
                    acc += term
                else:
                    acc -= term
            yield acc


class SyncDetector:
    """Scores template matches; the caller owns the sample buffer (see ``Receiver``)."""

    def __init__(
        self,
        template: str,
        sample_rate_hz: float,
        chip_rate_hz: float,
        deviation_hz: float,
        rates: Sequence[float],
        threshold: float,
        grid_per_chip: float,
    ) -> None:
        self.template = template
        self.threshold = threshold
        chips = np.frombuffer(template.encode(), dtype=np.uint8) - ord("0")
        self._signs = (2.0 * chips - 1.0).astype(np.float32)
        if self._signs.sum() != 0:
            raise ValueError("sync template must have as many 1 as 0 chips")
        samples_per_chip = sample_rate_hz / chip_rate_hz
        self.lag = max(1, round(sample_rate_hz / (4.0 * deviation_hz)))
        self.step = max(1, round(samples_per_chip / grid_per_chip))
        # Lag products are summed over the fastest rate's chip: a longer window straddles two
        # chips of a fast meter (T1 at +10 % lost 1 dB that way), a shorter one only loses a
        # little energy of the slow ones.
        self.window = max(1, int(samples_per_chip / max(rates)))
        self.chip_samples = [samples_per_chip / r for r in rates]
        n = len(chips)
        centre_shift = self.lag / 2 + (self.window - 1) / 2
        offsets = [
            np.round((centre_shift - (n - np.arange(n) - 0.5) * cs) / self.step).astype(np.int64)
            for cs in self.chip_samples
        ]
        # Score index q looks back only; the template then ends at channel time (q - lead) * step.
        self.lead = max(int(o.max()) for o in offsets)
        self._offsets = [o - self.lead for o in offsets]
        self._bank = _TapBank(self._offsets, self._signs, _MERGE_LEVELS, np.complex64)
        # The score's norm is the lag-product power over the slowest rate's template span,
        # which holds every rate's taps: one moving sum serves all rates.
        widest = self._offsets[int(np.argmax(self.chip_samples))]
        # Grid points per (slowest) chip: the span starts where the first tap's chip does.
        chip_points = max(1, int(np.ceil(max(self.chip_samples) / self.step)))
        self._span = (int(widest.min()) - (chip_points - 1), int(widest.max()))
        # Grid points before q that scoring q reads: the earliest tap's, and its chip's.
        self._first = min(int(o.min()) for o in self._offsets) - (chip_points - 1)
        # Channel samples needed before grid point q*step to score it.
        self.history = (1 - self._first) * self.step + self.window + self.lag
        # Peaks closer than a template are the same burst (a C1 B marker repeats the sync word).
        self.peak_distance = max(1, round(n * samples_per_chip / self.step))

    def _window_sums(self, u: np.ndarray, count: int) -> np.ndarray:
        """``z[j] = sum(u[j * step : j * step + window])`` for j < count."""
        step, window = self.step, self.window
        if window % step:
            z = np.zeros(count, dtype=np.complex64)
            for i in range(window):
                z += u[i : i + (count - 1) * step + 1 : step]
            return z
        # A window of whole steps is a sum of per-step block sums: fewer passes over the data.
        blocks = count + window // step - 1
        b = u[: blocks * step : step].copy()
        for i in range(1, step):
            b += u[i : blocks * step : step]
        z = b[:count].copy()
        for i in range(1, window // step):
            z += b[i : i + count]
        return z

    def scores(
        self, y: np.ndarray, base: int, q_lo: int, q_hi: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Score and best-rate index (where the score reaches the threshold) at grid points q in
        [q_lo, q_hi).

        Point q is the template ending at channel time ``(q - lead) * step``;
        ``y[i]`` is channel sample ``base + i``; it must reach back ``history`` samples before
        ``q_lo * step``.
        """
        lowest = self._first
        first = (q_lo + lowest) * self.step  # absolute index of the first summed lag product
        lo = first - (self.window - 1) - self.lag - base
        hi = (q_hi - 1) * self.step + 1 - base
        seg = y[lo:hi]
        u = np.conjugate(seg[: -self.lag])
        np.multiply(u, seg[self.lag :], out=u)
        # Lag products summed over a chip window, evaluated on the grid only.
        count = q_hi - q_lo - lowest
        z = self._window_sums(u, count)
        width = q_hi - q_lo
        # Norm: the mean lag-product power over the span times the taps, as if each tap sat
        # on one of the span's grid points.
        span_lo, span_hi = self._span
        length = span_hi - span_lo + 1
        mean = _moving_mean((z * np.conjugate(z)).real, length)
        first_mean = span_lo - lowest + length // 2
        norm = mean[first_mean : first_mean + width] * np.float32(len(self._signs))
        energy = np.empty((len(self._bank), width), dtype=np.float32)
        square = np.empty(width, dtype=np.complex64)
        for r, acc in enumerate(self._bank.sums(z, -lowest, width)):
            np.multiply(acc, np.conjugate(acc), out=square)
            energy[r] = square.real
        best = energy.max(axis=0)
        # |sum c z| <= sqrt(N sum |z|^2): equality for a clean match; few live taps score low.
        # The span power approximates the taps' (they need not sit a chip apart), hence the clip.
        norm *= len(self._signs)
        score = np.sqrt(best / np.maximum(np.maximum(norm, best), 1e-30))
        # The best rate matters only where a candidate can be (selecting it everywhere would
        # cost more than the whole bank).
        which = np.zeros(width, dtype=np.int8)
        live = np.flatnonzero(score >= self.threshold)
        which[live] = np.argmax(energy[:, live], axis=0)
        return score, which

    def peaks(self, score: np.ndarray) -> np.ndarray:
        """Indices of local maxima above threshold, at most one per ``peak_distance``."""
        above = np.flatnonzero(score >= self.threshold)
        if not len(above):
            return np.zeros(0, dtype=np.int64)
        # The maximum over the window around each point above threshold only (there are few),
        # points beyond the scores counting as 0, as with scipy.ndimage.maximum_filter1d.
        d = self.peak_distance
        edge = np.zeros(d, dtype=score.dtype)
        padded = np.concatenate([edge, score, edge])
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * d + 1)
        idx = above[score[above] == windows[above].max(axis=1)]
        keep: list[int] = []
        for i in idx:
            if not keep or i - keep[-1] > self.peak_distance:
                keep.append(int(i))
        return np.array(keep, dtype=np.int64)
