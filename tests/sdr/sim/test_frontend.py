"""The RTL2832U's decimation filter model (sdr/sim/frontend.py): its numbers are what the module
says, and simulated streams pass bursts through it at RTL-SDR rates only."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from protocol.modes import C2, T1, Direction, FrameFormat
from sdr.sim.frontend import fir_gain, rtl2832_taps
from sdr.sim.stream import BurstSpec, ModeFormat, StreamSettings, render_stream


def db(x: np.ndarray | float) -> np.ndarray:
    return 20 * np.log10(np.asarray(x, dtype=np.float64))


def test_the_fir_response_is_the_documented_one() -> None:
    got = db(fir_gain(np.array([325e3, -325e3, 850e3, 900e3, 950e3, 1.2e6])))
    np.testing.assert_allclose(got, [0.01, 0.01, -0.79, -1.00, -1.24, -3.01], atol=0.01)


def test_noise_through_the_fir_and_the_kept_aliases_stays_flat_at_2_4_msps() -> None:
    # Why the model filters only the signal: the FIR's loss near the band edge is made up by
    # the alias from the other side (the resampler keeps what lies within 0.7 times the rate).
    fs = 2.4e6
    f = np.linspace(-fs / 2, fs / 2, 4801)
    aliases = [f + k * fs for k in range(-12, 13)]
    power = sum(np.where(np.abs(a) < 0.7 * fs, fir_gain(a) ** 2, 0.0) for a in aliases)
    level = 10 * np.log10(power)
    assert level.min() > -0.4 and level.max() < 0.035  # the docstring: −0.4 … +0.03 dB
    c2 = (f >= 850e3) & (f <= 950e3)
    assert level[c2].min() >= 0.01 and level[c2].max() < 0.025  # +0.01 … +0.02 dB


@pytest.mark.parametrize("fs", [2.4e6, 1.2e6])
def test_the_stream_rate_fir_follows_the_response(fs: float) -> None:
    taps = rtl2832_taps(fs)
    assert len(taps) % 2 == 1 and np.allclose(taps, taps[::-1])  # zero phase after its delay
    f = np.linspace(0.0, min(1.1e6, 0.46 * fs), 200)
    _, response = scipy.signal.freqz(taps, worN=f, fs=fs)
    np.testing.assert_allclose(db(np.abs(response)), db(fir_gain(f)), atol=0.02)


def _c2_power(settings: StreamSettings) -> float:
    kind = ModeFormat.of("C2", Direction.OTHER_TO_METER, FrameFormat.A)
    frame = bytes([20]) + bytes(range(20))
    (segment, sent), _ = render_stream([BurstSpec(kind, frame)], settings,
                                       np.random.default_rng(1))
    assert sent is not None
    burst = segment[-(sent.end_sample - sent.start_sample) :]
    return float(np.mean(np.abs(burst[200:-200]) ** 2))


def test_streams_at_rtl_sdr_rates_pass_the_filter_and_wider_ones_do_not() -> None:
    modelled = StreamSettings(2.4e6, 868.625e6)
    assert modelled.models_rolloff
    flat = StreamSettings(2.4e6, 868.625e6, rolloff=False)
    loss = 10 * np.log10(_c2_power(modelled) / _c2_power(flat))
    # C2's tones at 900 ± 25 kHz: −0.89 and −1.12 dB.
    assert loss == pytest.approx(-1.0, abs=0.15)
    assert not StreamSettings(6e6, 868.625e6).models_rolloff
    assert StreamSettings(6e6, 868.625e6, rolloff=True).models_rolloff
    # Near the centre the filter is flat: T1's 325 kHz loses nothing.
    assert fir_gain(T1.center_freq_hz - 868.625e6)[0] == pytest.approx(1.0, abs=2e-3)
    assert C2.center_freq_hz - 868.625e6 == 900e3
