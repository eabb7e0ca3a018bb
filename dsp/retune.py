"""Retuning a recorded stream: the samples a receiver at another centre and rate would have got.

A recording at rate ``Fs`` centred at ``Fc`` holds the band ``Fc ± Fs/2``. A receiver tuned to
``F`` at rate ``R`` sees ``F ± R/2``: the recording mixed by ``Fc − F`` and resampled to ``R``
(``resample_poly``), with nothing where the recording has nothing. Mixing at ``Fs`` wraps the
part of the band pushed past ``±Fs/2`` around to the other edge, so the resampling filter is a
band-pass that keeps only the shifted recording that lands inside the new band unwrapped; when
the new band lies inside the recording that is ``resample_poly``'s own low-pass.

The stream is processed in blocks cut with enough real samples on both sides for the filter, so
the output equals ``resample_poly`` of the whole mixed stream (the same filter as a plain
convolution when only the centre changes) whatever the chunk size.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

# The filter has 20·max(up, down) taps; bounding the denominator bounds its length and cost. An
# exact ratio is found for the rates dongles are used at (2.4 -> 1.2, 1.6, 2.048, 0.25 Msps, ...),
# other rates come within about a ppm.
MAX_DENOMINATOR = 1000
# Beyond this the filter (and memory) grows without purpose: no receiver needs it.
MAX_UPSAMPLING = 16
# resample_poly's default filter: half length 10·max(up, down), Kaiser window with beta 5.
_HALF_LEN_PER_RATE = 10
_KAISER_BETA = 5.0


def rate_ratio(in_rate_hz: float, out_rate_hz: float) -> Fraction:
    """The up/down factor the resampler uses for ``out_rate_hz``; ValueError when out of reach."""
    ratio = Fraction(out_rate_hz / in_rate_hz).limit_denominator(MAX_DENOMINATOR)
    if not 0 < ratio <= MAX_UPSAMPLING:
        raise ValueError(f"cannot resample {in_rate_hz:g} sps to {out_rate_hz:g} sps")
    return ratio


def passband_hz(in_rate_hz: float, out_rate_hz: float, shift_hz: float) -> tuple[float, float]:
    """The part ``(lo, hi)`` of the output band ``±out_rate_hz/2`` that holds recorded signal
    after shifting every frequency by ``shift_hz``; ``lo >= hi`` when the two do not overlap."""
    lo = max(-out_rate_hz / 2, shift_hz - in_rate_hz / 2)
    hi = min(out_rate_hz / 2, shift_hz + in_rate_hz / 2)
    return lo, hi


class Retuner:
    """Shifts a stream by ``shift_hz`` and resamples it to (nearly) ``out_rate_hz``.

    ``out_rate_hz`` is the rate actually produced, ``in_rate_hz · up / down``. ``process`` takes
    consecutive chunks and returns the output they complete (it lags by a few dozen samples),
    ``flush`` the rest at the end of the stream, ``reset`` starts a new stream."""

    def __init__(self, in_rate_hz: float, out_rate_hz: float, shift_hz: float = 0.0) -> None:
        ratio = rate_ratio(in_rate_hz, out_rate_hz)
        self.up, self.down = ratio.numerator, ratio.denominator
        self.in_rate_hz = in_rate_hz
        self.out_rate_hz = in_rate_hz * self.up / self.down
        self.shift_hz = shift_hz
        self.passband_hz = passband_hz(in_rate_hz, self.out_rate_hz, shift_hz)
        self._passthrough = ratio == 1 and shift_hz == 0
        half_len = _HALF_LEN_PER_RATE * max(self.up, self.down)
        # The identity filter when nothing changes (the stream is then passed through).
        self.filter = np.ones(1) if self._passthrough else self._design(half_len)
        # Output n needs the inputs within half_len/up samples of n·down/up. Blocks start on a
        # multiple of ``down`` so that their outputs fall on the stream's output grid.
        self._context = math.ceil((half_len / self.up + 1) / self.down) * self.down
        self.reset()

    def _design(self, half_len: int) -> np.ndarray:
        taps = 2 * half_len + 1
        lo, hi = self.passband_hz
        if hi <= lo:
            return np.zeros(taps)
        # The filter runs at the upsampled rate; its response is the passband's low-pass
        # prototype moved to the passband's centre.
        rate = self.up * self.in_rate_hz
        # scipy.signal costs about 0.5 s to import: only a client that asks for another tuning
        # pays it, not every listen that imports the rtl_tcp module.
        from scipy.signal import firwin

        prototype = firwin(taps, (hi - lo) / rate, window=("kaiser", _KAISER_BETA))
        centre = (lo + hi) / 2
        if centre == 0:
            return prototype
        return prototype * np.exp(2j * np.pi * centre / rate * np.arange(-half_len, half_len + 1))

    def reset(self) -> None:
        # The stream starts after zeros, as resample_poly pads it.
        self._pending = np.zeros(self._context, np.complex128)
        self._phase_cycles = 0.0

    def process(self, samples: np.ndarray) -> np.ndarray:
        if self._passthrough:
            return samples
        self._pending = np.concatenate([self._pending, self._mix(samples)])
        body = (len(self._pending) - 2 * self._context) // self.down * self.down
        if body <= 0:
            return np.zeros(0, np.complex64)
        segment = self._pending[: body + 2 * self._context]
        return self._resample(segment, body, body * self.up // self.down)

    def flush(self) -> np.ndarray:
        if self._passthrough:
            return np.zeros(0, np.complex64)
        body = len(self._pending) - self._context
        whole = -(-body // self.down) * self.down
        padded = np.concatenate(
            [self._pending, np.zeros(whole - body + self._context, np.complex128)]
        )
        # resample_poly makes ceil(n·up/down) samples of n.
        out = self._resample(padded, whole, -(-body * self.up // self.down))
        self.reset()
        return out

    def _mix(self, samples: np.ndarray) -> np.ndarray:
        if self.shift_hz == 0:
            return samples.astype(np.complex128)
        step = self.shift_hz / self.in_rate_hz
        cycles = self._phase_cycles + step * np.arange(len(samples))
        # Kept modulo one cycle, the phase stays exact however long the stream.
        self._phase_cycles = (self._phase_cycles + step * len(samples)) % 1.0
        return samples * np.exp(2j * np.pi * cycles)

    def _resample(self, segment: np.ndarray, consumed: int, count: int) -> np.ndarray:
        first = self._context * self.up // self.down
        if self.up == self.down == 1:
            # resample_poly returns such input unfiltered; the band still has to be cut.
            out = np.convolve(segment, self.filter, mode="same")
        else:
            from scipy.signal import resample_poly

            out = resample_poly(segment, self.up, self.down, window=self.filter)
        self._pending = self._pending[consumed:]
        return out[first : first + count].astype(np.complex64)
