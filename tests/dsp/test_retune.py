"""Retuning a recorded stream: chunk invariance against resample_poly of the whole stream, and
tones landing where a receiver tuned elsewhere would see them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from dsp.retune import Retuner, passband_hz, rate_ratio


def noise(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)


def retune(retuner: Retuner, x: np.ndarray, chunk: int) -> np.ndarray:
    parts = [retuner.process(x[i : i + chunk]) for i in range(0, len(x), chunk)]
    return np.concatenate([*parts, retuner.flush()])


@pytest.mark.parametrize(
    ("in_rate", "out_rate", "shift"),
    [
        (2.4e6, 1.2e6, -325e3),  # 868.625 MHz recording to rtl_433's T/C tuning
        (1.6e6, 2.4e6, 325e3),  # upsampling, the band reaching past the recording
        (2.4e6, 2.048e6, 0.0),  # 64/75
        (2.4e6, 2.4e6, 100e3),  # a shift alone
        (2.4e6, 1.2e6, 1.5e6),  # mostly outside the recording
    ],
)
def test_output_is_resample_poly_of_the_mixed_stream_whatever_the_chunks(
    in_rate: float, out_rate: float, shift: float
) -> None:
    x = noise(100_003)
    retuner = Retuner(in_rate, out_rate, shift)
    mixed = x * np.exp(2j * np.pi * shift / in_rate * np.arange(len(x)))
    if retuner.up == retuner.down == 1:  # resample_poly would not filter at all
        whole = np.convolve(mixed, retuner.filter, mode="same")
    else:
        whole = resample_poly(mixed, retuner.up, retuner.down, window=retuner.filter)
    for chunk in (1_000, 997, 65_536, len(x)):
        got = retune(retuner, x, chunk)
        assert len(got) == len(whole)
        np.testing.assert_allclose(got, whole, atol=1e-5)


def test_tones_land_where_a_receiver_at_the_new_tuning_sees_them() -> None:
    # Recording: 2.4 Msps around 868.625 MHz, tones at 868.95 MHz (T/C) and 867.5 MHz. Retuned to
    # 1.2 Msps around 868.95 MHz: the first sits at 0 Hz, the second is outside (no alias).
    fs, n = 2.4e6, 240_000
    t = np.arange(n) / fs
    x = (np.exp(2j * np.pi * 325e3 * t) + np.exp(2j * np.pi * -1.125e6 * t)).astype(np.complex64)
    retuner = Retuner(fs, 1.2e6, 868.625e6 - 868.95e6)
    y = retune(retuner, x, 65_536)[1000:-1000]
    spectrum = np.abs(np.fft.fft(y * np.hanning(len(y))))
    freqs = np.fft.fftfreq(len(y), 1 / retuner.out_rate_hz)
    assert abs(freqs[np.argmax(spectrum)]) < 20
    assert 20 * np.log10(np.sort(spectrum)[-50] / spectrum.max()) < -40  # one tone only


def test_a_shift_never_wraps_the_band_edge_into_the_stream() -> None:
    # Shifted by +1 MHz at 2.4 Msps, a tone at +0.8 MHz would wrap to -0.6 MHz; the receiver at
    # the new tuning has no signal there, so the output must be (nearly) empty.
    fs, n = 2.4e6, 100_000
    x = np.exp(2j * np.pi * 0.8e6 / fs * np.arange(n)).astype(np.complex64)
    y = retune(Retuner(fs, fs, 1e6), x, 10_000)[200:-200]
    assert np.sqrt(np.mean(np.abs(y) ** 2)) < 0.01


def test_same_tuning_passes_samples_through() -> None:
    x = noise(5_000)
    retuner = Retuner(2.4e6, 2.4e6, 0.0)
    assert retuner.process(x) is x and len(retuner.flush()) == 0


def test_ratio_and_passband() -> None:
    assert rate_ratio(2.4e6, 1.2e6) == 0.5
    assert rate_ratio(2.4e6, 2.048e6).denominator == 75
    with pytest.raises(ValueError):
        rate_ratio(1e3, 2.4e6)  # a 2400-fold upsampling: refused, not a filter of millions of taps
    # 2.4 Msps at 868.95 MHz from a 1.6 Msps recording at 868.95 MHz: only ±0.8 MHz holds signal.
    assert passband_hz(1.6e6, 2.4e6, 0.0) == (-0.8e6, 0.8e6)
    lo, hi = passband_hz(2.4e6, 1.2e6, 3e6)
    assert lo >= hi  # no overlap
