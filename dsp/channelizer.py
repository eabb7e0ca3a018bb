"""Overlap-save FFT filter bank: one wideband FFT per block feeds every channel (DESIGN.md, DSP).

Per channel only the bins around its centre are kept, weighted by a lowpass response and
inverse-transformed at the low rate, which filters, shifts and decimates in one step. Blocks
sit on a fixed grid of absolute sample positions, so the output does not depend on how the
input is chunked. The bins next to 0 Hz are cleared in every block: that removes the DC spike
of RTL-SDR dongles (a constant or slowly drifting offset) from a channel that sits on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.signal

_TARGET_FFT = 4096
_DC_BINS = 1  # bins cleared on each side of 0 Hz
_FAST_PRIMES = (2, 3, 5, 7, 11)  # the factors of scipy.fft.next_fast_len's (complex) sizes


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


def _runs(bins: np.ndarray) -> list[tuple[int, int, int]]:
    """``bins`` as contiguous runs (destination index, first bin, length): slices gather and
    weight them in one pass, where a fancy-index gather would take an extra one."""
    breaks = np.flatnonzero(np.diff(bins) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(bins)]])
    return [(int(a), int(bins[a]), int(b - a)) for a, b in zip(starts, ends, strict=True)]


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
        sizes = [n for n in multiples if scipy.fft.next_fast_len(n) == n] or list(multiples)
        geometries = [(n, self._overlap_for(leading, n, nominal, lcm)) for n in sizes]
        size, overlap = min(
            geometries,
            key=lambda g: (
                self._misalignment(leading, g[0]),
                not self._phase_locked(leading, g[0], g[1]),
                not _smooth(g[0]),
                g[0],
            ),
        )
        self._overlap = overlap
        # Per channel: whether its blocks need re-referencing to absolute sample positions.
        self._rotate = [not self._phase_locked([c], size, overlap) for c in channels]
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
            h = scipy.signal.firwin(taps, cutoff_hz, fs=sample_rate_hz, window=("kaiser", 7.0))
            response = scipy.fft.fft(h, size)[k % size] / decimation
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

    def _center_bins_of(self, channels: list[tuple[float, int, float]], size: int) -> list[int]:
        return [round(off * size / self.sample_rate_hz) for off, _, _ in channels]

    def _phase_locked(
        self, channels: list[tuple[float, int, float]], size: int, overlap: int
    ) -> bool:
        """Whether every block starts at a whole number of periods of each channel's centre bin
        (blocks start at multiples of size - overlap, offset by -overlap)."""
        return all((overlap * c) % size == 0 for c in self._center_bins_of(channels, size))

    def _overlap_for(
        self, channels: list[tuple[float, int, float]], size: int, nominal: int, lcm: int
    ) -> int:
        """The nominal overlap, or a longer one (up to 1.5 times) that locks the block phases."""
        for overlap in range(nominal, nominal + nominal // 2 + 1, 2 * lcm):
            if self._phase_locked(channels, size, overlap):
                return overlap
        return nominal

    def _misalignment(self, channels: list[tuple[float, int, float]], size: int) -> float:
        bin_hz = self.sample_rate_hz / size
        return round(max(abs(off / bin_hz - round(off / bin_hz)) for off, _, _ in channels), 3)

    def reset(self) -> None:
        self._buffer = np.zeros(self._overlap, dtype=np.complex64)
        self._block = 0  # index of the next block to compute

    def process(self, samples: np.ndarray) -> list[np.ndarray]:
        self._buffer = np.concatenate([self._buffer, np.asarray(samples, dtype=np.complex64)])
        n_blocks = (len(self._buffer) - self._overlap) // self._hop
        if n_blocks <= 0:
            return [np.zeros(0, dtype=np.complex64) for _ in self.plans]
        view = np.lib.stride_tricks.sliding_window_view(self._buffer, self._size)
        blocks = view[: n_blocks * self._hop : self._hop]
        spectra = scipy.fft.fft(blocks, axis=1)
        spectra[:, self._dc_bins] = 0
        outputs = []
        first = self._block
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
            low = scipy.fft.ifft(band, axis=1, overwrite_x=True)
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
        self._buffer = self._buffer[n_blocks * self._hop :]
        return outputs

    def flush(self) -> list[np.ndarray]:
        """Push zeros through so every input sample (plus the filter delay) reaches the output."""
        pending = len(self._buffer) - self._overlap
        pad = (-pending) % self._hop + self._overlap
        out = self.process(np.zeros(pad, dtype=np.complex64))
        self.reset()
        return out
