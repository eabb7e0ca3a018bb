"""Spectrum rows for the live view: averaged and peak power spectra of a stream, one row per
``row_s`` of samples, cheap enough to run beside the receiver.

Cost is bounded by sampling, not by the stream: each row takes ``segments`` windowed FFTs of
``fft_size`` samples spread evenly over its stretch (32 × 512 of 480,000 samples at 2.4 Msps
and 0.2 s: 2.2 ms of CPU per signal second on this machine, 3.2 ms with the view turning the
rows into lists for JSON). With the spacing of 15,000 samples a burst of 13,000 samples (a
46-byte T1 frame) overlaps a segment nine times in ten, so the peak row shows most bursts; the
mean row is the noise floor and steady carriers. Segment positions are absolute sample indices,
so the rows are the same whatever the chunk size; a gap in the stream (dropped blocks) discards
the samples carried across it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import get_window

from dsp.types import IQChunk

FFT_SIZE = 512
SEGMENTS_PER_ROW = 32
ROW_S = 0.2
# Keeps log10 finite on an all-zero segment (a dongle's padding): far below an 8-bit ADC's floor.
_FLOOR = 1e-20


@dataclass(frozen=True, slots=True)
class SpectrumRow:
    """One row: power per bin in dBFS (a full-scale tone in one bin reads 0), bins from the
    lowest frequency up, the centre bin at ``fft_size // 2``."""

    index: int  # row number from the stream start; row ``i`` covers samples from i·row_samples
    start_sample: int
    mean_dbfs: np.ndarray  # float32, averaged over the row's segments
    peak_dbfs: np.ndarray  # float32, the highest of the row's segments per bin


class SpectrumMeter:
    """``process(chunk) -> list[SpectrumRow]`` of the rows that chunk completed; ``flush()``
    returns a last, partly sampled row (when it holds any segment); ``reset()``."""

    def __init__(
        self,
        sample_rate_hz: float,
        fft_size: int = FFT_SIZE,
        segments_per_row: int = SEGMENTS_PER_ROW,
        row_s: float = ROW_S,
    ) -> None:
        self.fft_size = fft_size
        self.row_samples = max(fft_size * segments_per_row, round(row_s * sample_rate_hz))
        stride = self.row_samples // segments_per_row
        # Segment starts within a row; every segment ends inside its row.
        self._offsets = np.arange(segments_per_row, dtype=np.int64) * stride
        window = get_window("hann", fft_size).astype(np.float32)
        self._window = window
        # |FFT|² of a full-scale complex tone through this window is sum(window)².
        self._scale = np.float32(1.0 / float(window.sum()) ** 2)
        self.reset()

    def reset(self) -> None:
        self._carry = np.zeros(0, np.complex64)
        self._carry_start = 0  # absolute index of _carry[0]
        self._row = -1  # row being accumulated, -1: none
        # The row's segment powers, reduced when it ends: one summation order for any chunking.
        self._powers: list[np.ndarray] = []

    def _starts(self, first: int, end: int) -> np.ndarray:
        """Absolute starts of the segments lying inside samples [first, end)."""
        row_first = first // self.row_samples
        row_last = max(row_first, (end - 1) // self.row_samples)
        rows = np.arange(row_first, row_last + 1, dtype=np.int64) * self.row_samples
        starts = (rows[:, None] + self._offsets[None, :]).ravel()
        return starts[(starts >= first) & (starts + self.fft_size <= end)]

    def process(self, chunk: IQChunk) -> list[SpectrumRow]:
        if chunk.start_sample != self._carry_start + len(self._carry):
            self._carry = self._carry[:0]  # a gap: what was carried does not continue here
            self._carry_start = chunk.start_sample
        samples, base = chunk.samples, self._carry_start
        end = chunk.end_sample
        starts = self._starts(base, end)
        rows = self._accumulate(self._segments(samples, starts - base), starts // self.row_samples)
        # Keep what a segment starting before ``end`` may still need (whole chunks are not
        # copied: only the last fft_size - 1 samples).
        keep = self.fft_size - 1
        if len(samples) >= keep:
            self._carry = samples[len(samples) - keep :].copy()
        else:
            self._carry = np.concatenate((self._carry, samples))[-keep:]
        self._carry_start = end - len(self._carry)
        return rows

    def _segments(self, samples: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Windowed segments at ``positions`` of the carried samples followed by ``samples``."""
        carried = len(self._carry)
        taps = np.arange(self.fft_size)
        out = np.empty((len(positions), self.fft_size), np.complex64)
        early = positions < carried
        if early.any():
            head = np.concatenate((self._carry, samples[: self.fft_size]))
            out[early] = head[positions[early, None] + taps]
        late = ~early
        out[late] = samples[positions[late, None] - carried + taps]
        return out * self._window

    def _accumulate(self, segments: np.ndarray, row_of: np.ndarray) -> list[SpectrumRow]:
        out: list[SpectrumRow] = []
        if len(segments) == 0:
            return out
        power = np.abs(np.fft.fft(segments, axis=1)) ** 2 * self._scale
        for row in np.unique(row_of):
            if row != self._row:
                out.extend(self._finish())
                self._row = int(row)
            self._powers.append(power[row_of == row])
        return out

    def _finish(self) -> list[SpectrumRow]:
        if not self._powers:
            return []
        power = np.fft.fftshift(np.concatenate(self._powers).astype(np.float64), axes=1)
        self._powers = []
        return [
            SpectrumRow(
                self._row,
                self._row * self.row_samples,
                (10 * np.log10(power.mean(axis=0) + _FLOOR)).astype(np.float32),
                (10 * np.log10(power.max(axis=0) + _FLOOR)).astype(np.float32),
            )
        ]

    def flush(self) -> list[SpectrumRow]:
        rows = self._finish()
        self.reset()
        return rows
