"""The RTL2832U's decimation filter, for simulated streams: what an RTL-SDR does to a signal near
the edge of its band (C2's channel sits 900 kHz from the default stream's centre, at 0.75 of
Nyquist).

The model, and what it rests on:
- The RTL2832U filters its 28.8 MHz (crystal-rate) samples with a programmable 32-tap symmetric
  FIR before resampling to the output rate; librtlsdr loads the coefficients ``RTL2832_FIR``
  (its ``fir_default``, the Windows driver's DAB/FM filter) at every sample rate. That the
  filter runs at the crystal rate was measured by M. Karcher (osmocom-sdr list, "RTL2832U FIR
  filter", July 2012), as librtlsdr's comment says; he also observed a second filter, in the
  resampler, that removes what lies beyond 0.7 times the output rate.
- The FIR's amplitude response (``fir_gain``), 1 at 0 Hz: +0.01 dB at ±325 kHz (S1, T1 and C1
  in the default stream), −0.79 / −1.00 / −1.24 dB at 850 / 900 / 950 kHz (C2's band in it),
  −3.0 dB at 1.2 MHz. It does not depend on the output rate.
- Noise (the tuner's, white across the FIR's band) reaches each output frequency through the
  FIR and through the aliases the resampler keeps (within 0.7 times the output rate). At
  2.4 Msps their sum is flat within −0.4 … +0.03 dB over the output band and within +0.01 …
  +0.02 dB over 850–950 kHz: what the FIR takes away near the edge, the alias from the other
  side brings back. So the model filters only the signal, and leaves the noise white: C2's
  Ec/N0 in the default stream drops by the FIR's 1.0 dB, 0.45 dB more at the channel's upper
  edge than at its lower one.
- Not modelled: the resampler filter's own shape inside the band (unknown), the tuner's IF
  filter (wider than the band at these rates), 8-bit quantisation; and at rates below 2.4 Msps
  the noise that the 0.7-times-the-rate observation would let alias in near the band edges (up
  to +2.8 dB at 1.2 Msps, unverified), which leaves a channel at ±325 kHz of a 1.2 Msps
  stream untouched.

``rtl2832_taps`` turns the response into a short zero-phase FIR at the stream's rate (within
0.02 dB of it up to 1.1 MHz at 2.4 Msps).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.signal

RTL2832_XTAL_HZ = 28.8e6
# librtlsdr's fir_default: the outer 16 of the 32 symmetric taps, outermost first.
RTL2832_FIR = (-54, -36, -41, -40, -32, -14, 14, 53, 101, 156, 215, 273, 327, 372, 404, 421)
RTL2832_MAX_RATE_HZ = 3.2e6  # the highest rate an RTL-SDR delivers
_TAPS = 31  # at the stream rate; the response is smooth (the FIR spans 1.1 us)
_GRID = 512  # frequencies the stream-rate FIR is fitted at, 0 to Nyquist


def fir_gain(freq_hz: np.ndarray | float) -> np.ndarray:
    """Amplitude response of the RTL2832U's FIR at baseband frequencies, 1 at 0 Hz."""
    half = np.array(RTL2832_FIR, dtype=np.float64)
    taps = np.concatenate([half, half[::-1]])
    freqs = np.atleast_1d(np.asarray(freq_hz, dtype=np.float64))
    _, response = scipy.signal.freqz(taps, worN=freqs, fs=RTL2832_XTAL_HZ)
    return np.abs(response) / taps.sum()


@lru_cache(maxsize=8)
def rtl2832_taps(sample_rate_hz: float) -> np.ndarray:
    """Zero-phase FIR (odd length, real) with ``fir_gain``'s response at ``sample_rate_hz``."""
    freqs = np.linspace(0.0, sample_rate_hz / 2, _GRID)
    taps = scipy.signal.firwin2(_TAPS, freqs, fir_gain(freqs), fs=sample_rate_hz)
    taps.setflags(write=False)
    return taps


def rtl2832_rolloff(iq: np.ndarray, sample_rate_hz: float) -> np.ndarray:
    """A burst as the RTL2832U's filter leaves it (complex64, same length and timing).

    Applied to each burst alone: the filter's few samples of spill beyond a burst's ends are
    dropped, where a real burst switches on and off anyway.
    """
    taps = rtl2832_taps(float(sample_rate_hz)).astype(np.float32)
    return scipy.signal.oaconvolve(iq, taps, mode="same").astype(np.complex64)
