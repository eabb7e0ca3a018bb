"""Overlap-save FFT filter bank: one wideband FFT per block feeds every channel (DESIGN.md, DSP).

Per channel only the bins around its centre are kept, weighted by a lowpass response and
inverse-transformed at the low rate, which filters, shifts and decimates in one step. Blocks
sit on a fixed grid of absolute sample positions, so the output does not depend on how the
input is chunked. The bins next to 0 Hz are cleared in every block: that removes the DC spike
of RTL-SDR dongles (a constant or slowly drifting offset) from a channel that sits on it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import ducc0
import numpy as np

_TARGET_FFT = 4096
_DC_BINS = 1  # bins cleared on each side of 0 Hz
_FAST_PRIMES = (2, 3, 5, 7, 11)  # the factors of the FFT's fast (complex) sizes
# ducc0 transforms the rows of a call in bunches and what is left in smaller ones or one by one,
# which rounds differently: so that a block's spectrum does not depend on how the stream was
# chunked, every call gets whole groups of this many rows, aligned to block numbers (see
# _fft_rows). Measured with ducc0 0.42 on lengths 240 to 8640: a call of any multiple of 16 rows
# rounds every row alike, while rows past the last 16 take another path (short lengths round
# differently even in calls of 8). Whole groups in one call also save the per-call overhead.
_FFT_GROUP = 16
_ROW_AXES = (1,)


@dataclass(frozen=True, slots=True)
class ChannelPlan:
    """What one channel of the bank delivers."""

    offset_hz: float  # requested channel centre relative to the stream centre
    decimation: int
    cutoff_hz: float
    actual_offset_hz: float  # bin-aligned centre the output is mixed down from
    delay_samples: int  # output sample j holds input time j * decimation - delay * decimation

    def output_rate_hz(self, sample_rate_hz: float) -> float:
        return sample_rate_hz / self.decimation


def _smooth(n: int, primes: tuple[int, ...] = (2, 3, 5)) -> bool:
    for p in primes:
        while n % p == 0:
            n //= p
    return n == 1


def fast_decimation(limit: int) -> int:
    """The largest decimation up to ``limit`` (at least 1) without a prime factor above 11.

    FFT sizes are multiples of every channel's decimation, so a factor like 17 (6 Msps: S1's
    channel needs at most 17) leaves only slow sizes and a large common multiple, which
    lengthens the filter; the next smaller decimation costs a slightly higher channel rate.
    """
    decimation = max(1, limit)
    while not _smooth(decimation, _FAST_PRIMES):
        decimation -= 1
    return decimation


def bank_decimations(limits: Sequence[int], fitted: Sequence[bool]) -> list[int]:
    """Per channel the largest decimation up to its limit (``fast_decimation``), except for a
    ``fitted`` channel: the largest that divides the others' common multiple, when that keeps
    its rate within twice what its limit gives.

    FFT sizes and the filter length are multiples of every decimation in the bank (see
    ``Channelizer``): a fitted decimation changes neither, so the other channels keep their
    filters (at 1.6 Msps around 868.95 MHz C2's own 5 next to S1's 4 and T1's 3 would cut
    every filter from 193 to 121 taps; it takes 4) and, with ``Channelizer``'s ``fitted``,
    their exact outputs.
    """
    own = [fast_decimation(limit) for limit in limits]
    others = [d for d, f in zip(own, fitted, strict=True) if not f]
    if not others:
        return own
    common = math.lcm(*others)
    out = []
    for limit, d, f in zip(limits, own, fitted, strict=True):
        divisor = next(k for k in range(max(1, limit), 0, -1) if common % k == 0)
        out.append(divisor if f and 2 * divisor >= limit else d)
    return out


def lowpass_taps(taps: int, cutoff_hz: float, sample_rate_hz: float) -> np.ndarray:
    """``scipy.signal.firwin(taps, cutoff_hz, fs=sample_rate_hz, window=("kaiser", 7.0))`` (to
    about 1e-15) without the import of scipy.signal: a windowed sinc scaled to unit DC gain."""
    bandwidth = 2 * cutoff_hz / sample_rate_hz  # of the whole band, -cutoff to +cutoff
    m = np.arange(taps) - (taps - 1) / 2
    h = bandwidth * np.sinc(bandwidth * m) * np.kaiser(taps, 7.0)
    return h / h.sum()


def _fft_rows(rows: np.ndarray, first: int, forward: bool, out: np.ndarray) -> np.ndarray:
    """The FFT of every row of ``rows`` (blocks ``first``, ``first + 1``, ...) into ``out``: the
    whole aligned groups in one call, a partial group at either end padded with zero rows."""
    group = _FFT_GROUP
    n = len(rows)
    whole_lo = min(-first % group, n)  # row index of the first whole group
    whole_hi = max(whole_lo, whole_lo + (n - whole_lo) // group * group)
    # Arguments by position (axes, forward, inorm, out): keywords cost more than a small FFT.
    if whole_hi > whole_lo:
        ducc0.fft.c2c(rows[whole_lo:whole_hi], _ROW_AXES, forward, 0, out[whole_lo:whole_hi])
    for lo, hi in ((0, whole_lo), (whole_hi, n)):
        if hi == lo:
            continue
        at = (first + lo) % group  # where the rows sit in their group
        padded = np.zeros((group, rows.shape[1]), dtype=np.complex64)
        padded[at : at + hi - lo] = rows[lo:hi]
        ducc0.fft.c2c(padded, _ROW_AXES, forward, 0, padded)
        out[lo:hi] = padded[at : at + hi - lo]
    return out


def _runs(bins: np.ndarray) -> list[tuple[int, int, int]]:
    """``bins`` as contiguous runs (destination index, first bin, length): slices gather and
    weight them in one pass, where a fancy-index gather would take an extra one."""
    breaks = np.flatnonzero(np.diff(bins) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(bins)]])
    return [(int(a), int(bins[a]), int(b - a)) for a, b in zip(starts, ends, strict=True)]


def _center_bins_of(
    sample_rate_hz: float, channels: Sequence[tuple[float, int, float]], size: int
) -> list[int]:
    return [round(off * size / sample_rate_hz) for off, _, _ in channels]


def _phase_locked(
    sample_rate_hz: float, channels: Sequence[tuple[float, int, float]], size: int, overlap: int
) -> bool:
    """Whether every block starts at a whole number of periods of each channel's centre bin
    (blocks start at multiples of size - overlap, offset by -overlap)."""
    centers = _center_bins_of(sample_rate_hz, channels, size)
    return all((overlap * c) % size == 0 for c in centers)


def _overlap_for(
    sample_rate_hz: float,
    channels: Sequence[tuple[float, int, float]],
    size: int,
    nominal: int,
    lcm: int,
) -> int:
    """The nominal overlap, or a longer one (up to 1.5 times) that locks the block phases."""
    for overlap in range(nominal, nominal + nominal // 2 + 1, 2 * lcm):
        if _phase_locked(sample_rate_hz, channels, size, overlap):
            return overlap
    return nominal


def _misalignment(
    sample_rate_hz: float, channels: Sequence[tuple[float, int, float]], size: int
) -> float:
    bin_hz = sample_rate_hz / size
    return round(max(abs(off / bin_hz - round(off / bin_hz)) for off, _, _ in channels), 3)


# The search takes milliseconds, a receiver's whole set-up otherwise: once per configuration.
@functools.lru_cache(maxsize=32)
def _geometry(
    sample_rate_hz: float, leading: tuple[tuple[float, int, float], ...], lcm: int
) -> tuple[int, int]:
    """(FFT size, overlap) of a bank whose ``leading`` channels set the block geometry and whose
    decimations have the common multiple ``lcm``."""
    # Overlap = filter length - 1, an even multiple of every decimation so the group delay is
    # a whole number of output samples. ~100 us of taps keeps 40+ dB selectivity.
    nominal = 2 * lcm * max(1, round(1e-4 * sample_rate_hz / (2 * lcm)))
    smallest = lcm * math.ceil(max(_TARGET_FFT, 4 * nominal) / lcm)
    # Among fast FFT sizes up to four times the smallest, prefer bins on the channel centres,
    # then a hop that keeps every channel's mixing phase the same in each block (no
    # per-block rotation), then sizes with only the factors 2, 3 and 5 (measurably faster
    # than 7 or 11).
    multiples = range(smallest, 4 * smallest + 1, lcm)
    # A decimation with a prime factor above 11 (see fast_decimation) leaves no fast size:
    # then any multiple serves, at a slower FFT.
    sizes = [n for n in multiples if _smooth(n, _FAST_PRIMES)] or list(multiples)
    geometries = [(n, _overlap_for(sample_rate_hz, leading, n, nominal, lcm)) for n in sizes]
    return min(
        geometries,
        key=lambda g: (
            _misalignment(sample_rate_hz, leading, g[0]),
            not _phase_locked(sample_rate_hz, leading, g[0], g[1]),
            not _smooth(g[0]),
            g[0],
        ),
    )


class Channelizer:
    """Streaming filter bank: ``process(samples) -> [per-channel output]``, ``flush``, ``reset``."""

    def __init__(
        self,
        sample_rate_hz: float,
        channels: list[tuple[float, int, float]],
        fitted: Sequence[bool] = (),
    ) -> None:
        """``channels``: (offset_hz, decimation, cutoff_hz) per channel. A ``fitted`` channel
        (flags in the order of ``channels``; default none) takes no part in choosing the block
        geometry: with a decimation that divides the others' common multiple
        (``bank_decimations``), the others' outputs are exactly what they are without it."""
        self.sample_rate_hz = sample_rate_hz
        fitted = list(fitted) + [False] * (len(channels) - len(fitted))
        # The channels that set the geometry: all of them if every one is fitted.
        leading = [c for c, f in zip(channels, fitted, strict=True) if not f] or channels
        lcm = math.lcm(*(d for _, d, _ in channels))
        size, overlap = _geometry(sample_rate_hz, tuple(leading), lcm)
        self._overlap = overlap
        # Per channel: whether its blocks need re-referencing to absolute sample positions.
        self._rotate = [not _phase_locked(sample_rate_hz, [c], size, overlap) for c in channels]
        self._size = size
        self._hop = size - self._overlap
        taps = self._overlap + 1
        self.plans: list[ChannelPlan] = []
        all_bins: list[np.ndarray] = []
        self._weights: list[np.ndarray] = []
        for offset_hz, decimation, cutoff_hz in channels:
            width = size // decimation
            center_bin = round(offset_hz * size / sample_rate_hz)
            k = np.fft.fftfreq(width, 1.0 / width).astype(np.int64)  # baseband bins in IFFT order
            h = lowpass_taps(taps, cutoff_hz, sample_rate_hz)
            # The inverse transform's 1/width is folded into the weights.
            response = np.fft.fft(h, size)[k % size] / (decimation * width)
            all_bins.append((center_bin + k) % size)
            self._weights.append(response.astype(np.complex64))
            self.plans.append(
                ChannelPlan(
                    offset_hz=offset_hz,
                    decimation=decimation,
                    cutoff_hz=cutoff_hz,
                    actual_offset_hz=center_bin * sample_rate_hz / size,
                    delay_samples=self._overlap // 2 // decimation,
                )
            )
        self._center_bins = [int(b[0]) for b in all_bins]
        self._runs = [_runs(b) for b in all_bins]
        dc = np.arange(-_DC_BINS, _DC_BINS + 1) % size
        self._dc_bins = dc
        self.reset()

    def reset(self) -> None:
        # Input and spectra live in workspaces kept between calls (fresh memory for every chunk
        # costs page faults); the input's first ``_held`` samples are the ones still needed.
        self._input = np.zeros(max(self._overlap, 1), dtype=np.complex64)
        self._held = self._overlap
        self._spectra = np.empty((0, self._size), dtype=np.complex64)
        self._block = 0  # index of the next block to compute

    def _take(self, samples: np.ndarray) -> int:
        """Appends ``samples`` to the held input; returns how many samples are held."""
        total = self._held + len(samples)
        if len(self._input) < total:
            grown = np.empty(total + total // 4, dtype=np.complex64)
            grown[: self._held] = self._input[: self._held]
            self._input = grown
        self._input[self._held : total] = samples
        self._held = total
        return total

    def process(self, samples: np.ndarray) -> list[np.ndarray]:
        self._take(np.asarray(samples, dtype=np.complex64))
        return self._emit(final=False)

    def _emit(self, final: bool) -> list[np.ndarray]:
        """Every channel's output of the held input's complete blocks; unless ``final``, only up
        to the last whole FFT group (the rest waits for the next call), so that no FFT row is
        spent on padding (up to _FFT_GROUP - 1 blocks, tens of milliseconds of signal, later)."""
        n_blocks = (self._held - self._overlap) // self._hop
        if not final:
            n_blocks -= (self._block + n_blocks) % _FFT_GROUP
        if n_blocks <= 0:
            return [np.zeros(0, dtype=np.complex64) for _ in self.plans]
        step = self._input.strides[0]
        blocks = np.lib.stride_tricks.as_strided(
            self._input, (n_blocks, self._size), (self._hop * step, step), writeable=False
        )
        if len(self._spectra) < n_blocks:
            self._spectra = np.empty((n_blocks, self._size), dtype=np.complex64)
        first = self._block
        spectra = _fft_rows(blocks, first, True, self._spectra[:n_blocks])
        spectra[:, self._dc_bins] = 0
        outputs = []
        for plan, runs, weights, center, rotate in zip(
            self.plans, self._runs, self._weights, self._center_bins, self._rotate, strict=True
        ):
            band = np.empty((n_blocks, len(weights)), dtype=np.complex64)
            for dst, src, length in runs:
                np.multiply(
                    spectra[:, src : src + length],
                    weights[dst : dst + length],
                    out=band[:, dst : dst + length],
                )
            low = _fft_rows(band, first, False, band)
            keep = low[:, self._overlap // plan.decimation :]
            if not rotate:
                outputs.append(keep.ravel())
                continue
            # Block b starts at padded index b*hop, i.e. input index b*hop - overlap: re-reference
            # the per-block mixing phase to absolute sample positions.
            starts = (np.arange(first, first + n_blocks) * self._hop - self._overlap) * center
            phase = np.exp(-2j * np.pi * (starts % self._size) / self._size).astype(np.complex64)
            # Rotating into a fresh array also makes the output contiguous, in the same pass.
            out = np.empty(keep.shape, dtype=np.complex64)
            np.multiply(keep, phase[:, None], out=out)
            outputs.append(out.ravel())
        self._block += n_blocks
        used = n_blocks * self._hop
        self._held -= used
        self._input[: self._held] = self._input[used : used + self._held]
        return outputs

    def flush(self) -> list[np.ndarray]:
        """Push zeros through so every input sample (plus the filter delay) reaches the output."""
        pending = self._held - self._overlap
        pad = (-pending) % self._hop + self._overlap
        self._take(np.zeros(pad, dtype=np.complex64))
        out = self._emit(final=True)
        self.reset()
        return out
