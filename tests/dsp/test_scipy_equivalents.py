"""The numpy stand-ins for scipy functions whose import costs a fraction of a second at start-up
(``scipy.signal``, ``scipy.ndimage``, ``scipy.stats``, ``scipy.special``) against scipy itself,
which stays installed for this comparison.

Expectations: the moving mean and the peak search do the same arithmetic as scipy in the same
order, so they agree bit for bit. The filter taps are the same formula with numpy's Bessel
function for the window (both Cephes-derived), so they agree to a few units in the last place
of the largest tap (1e-12 leaves ample room). The gamma quantile is found by another method
(Newton steps on Poisson tails instead of Cephes' igami), both accurate to about 1e-14 relative:
1e-12 again. The normal CDF uses Cephes' coefficients as scipy does; only the exponential may
differ by an ulp, so it agrees to 2 ulp of 1 absolute.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import maximum_filter1d, uniform_filter1d
from scipy.signal import firwin
from scipy.special import ndtr
from scipy.stats import gamma

from dsp.channelizer import lowpass_taps
from dsp.gfsk import _ndtr
from dsp.noise_floor import exceedance_threshold, gamma_quantile
from dsp.sync import SyncDetector, _moving_mean

RNG_SEED = 20261202


@pytest.mark.parametrize("taps", [49, 121, 193, 241, 289, 577])
@pytest.mark.parametrize("sample_rate_hz", [1.2e6, 2.4e6, 10e6])
@pytest.mark.parametrize("cutoff_hz", [60e3, 168e3, 252e3])
def test_lowpass_taps_are_firwins(taps: int, sample_rate_hz: float, cutoff_hz: float) -> None:
    ours = lowpass_taps(taps, cutoff_hz, sample_rate_hz)
    theirs = firwin(taps, cutoff_hz, fs=sample_rate_hz, window=("kaiser", 7.0))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12 * np.abs(theirs).max())


def test_moving_mean_is_uniform_filter1d_bit_for_bit() -> None:
    rng = np.random.default_rng(RNG_SEED)
    for _ in range(300):
        n = int(rng.integers(1, 4000))
        length = int(rng.integers(1, 400))
        # Powers over many decades, as lag-product powers are.
        x = (rng.standard_exponential(n) * 10.0 ** rng.uniform(-8, 8)).astype(np.float32)
        expected = uniform_filter1d(x, length, mode="nearest")
        assert np.array_equal(_moving_mean(x, length), expected), (n, length)


def _reference_peaks(detector: SyncDetector, score: np.ndarray) -> np.ndarray:
    """The search's peaks as they were found with scipy.ndimage.maximum_filter1d."""
    if not np.any(score >= detector.threshold):
        return np.zeros(0, dtype=np.int64)
    local = maximum_filter1d(score, 2 * detector.peak_distance + 1, mode="constant", cval=0.0)
    keep: list[int] = []
    for i in np.flatnonzero((score >= detector.threshold) & (score == local)):
        if not keep or i - keep[-1] > detector.peak_distance:
            keep.append(int(i))
    return np.array(keep, dtype=np.int64)


def test_peaks_are_the_maximum_filter_ones() -> None:
    rng = np.random.default_rng(RNG_SEED)
    detector = SyncDetector("01" * 8 + "0000111101", 600e3, 100e3, 50e3, (1.0,), 0.6, 2.0)
    for _ in range(300):
        n = int(rng.integers(1, 5000))
        # Scores in [0, 1] with plateaus (equal neighbours) and runs above the threshold.
        score = np.round(rng.beta(2, 3, n), int(rng.integers(1, 4))).astype(np.float32)
        np.testing.assert_array_equal(detector.peaks(score), _reference_peaks(detector, score))


@pytest.mark.parametrize("probability", [1e-6, 0.01, 0.1, 0.5, 0.9, 1 - 1e-5, 1 - 1e-6])
def test_gamma_quantile_is_scipys(probability: float) -> None:
    for shape in [*range(1, 300), 480, 1000, 4000]:
        expected = gamma.ppf(probability, shape)
        assert gamma_quantile(shape, probability) == pytest.approx(expected, rel=1e-12)


def test_exceedance_threshold_is_scipys() -> None:
    for block_len in (4, 40, 240, 480):
        for probability in (1e-5, 1e-6):
            expected = gamma.ppf(1 - probability, block_len) / block_len
            assert exceedance_threshold(block_len, probability) == pytest.approx(
                expected, rel=1e-12
            )


def test_normal_cdf_is_ndtr() -> None:
    rng = np.random.default_rng(RNG_SEED)
    z = np.concatenate(
        [rng.uniform(-40, 40, 200_000), rng.standard_normal(200_000), [0.0, 1.0, -8.0, 8.0]]
    )
    np.testing.assert_allclose(_ndtr(z), ndtr(z), rtol=0, atol=2 * np.finfo(float).eps)
