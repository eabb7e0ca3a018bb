"""Noise floor from the quietest blocks of each segment, and the noise-only exceedance threshold.

Theory: the power of a block of K samples of complex white Gaussian noise of power σ² is
σ² Gamma(K, 1) / K. The q-quantile of M such block powers has, to first order, the standard
deviation sqrt(q (1 - q) / M) / pdf(ξ) around ξ = Gamma(K).ppf(q) (in units of σ²/K), so the
estimate σ̂² = quantile / (ξ / K) has the relative standard deviation
``sqrt(q (1 - q) / M) / (pdf(ξ) ξ)``: the tolerance of every assertion below.
When a share f of the blocks is free of signal and the rest lie far above the noise, the
q-quantile of all blocks is the (q / f)-quantile of the noise-only ones.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import gamma, norm

from dsp.noise_floor import (
    NOISE_HISTORY_SEGMENTS,
    NoiseFloor,
    exceedance_threshold,
    gamma_quantile,
)

K = 240  # samples per block: the receiver's 40 chips of T1 at 600 kHz
M = 1250  # blocks per segment: its 0.5 s segments
Q = 0.01  # its quantile: 1 % of a segment's blocks must be free of signal
SIGMA2 = 0.37


def blocks(rng: np.random.Generator, count: int, noise: float, signal: float = 0.0):
    """Powers of ``count`` blocks of complex Gaussian noise of power ``noise``, each carrying a
    constant-envelope signal of power ``signal`` (a random FM-like phase: power is what counts)."""
    shape = (count, K)
    x = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * np.sqrt(noise / 2)
    if signal:
        x += np.sqrt(signal) * np.exp(1j * rng.uniform(0, 2 * np.pi, shape).cumsum(axis=1))
    return np.mean(np.abs(x) ** 2, axis=1)


def relative_sd(q: float, m: int) -> float:
    xi = gamma.ppf(q, K)
    return float(np.sqrt(q * (1 - q) / m) / (gamma.pdf(xi, K) * xi))


def test_white_noise_gives_its_power_within_the_quantile_spread() -> None:
    rng = np.random.default_rng(1)
    sd = relative_sd(Q, M)  # 0.7 % here
    floor = NoiseFloor(K, Q)
    assert np.isnan(floor.power)
    estimates = []
    for _ in range(NOISE_HISTORY_SEGMENTS):
        segment = blocks(rng, M, SIGMA2)
        alone = NoiseFloor(K, Q)
        alone.update(segment)
        estimates.append(alone.power)
        assert alone.power / SIGMA2 == pytest.approx(1.0, abs=4 * sd)
        floor.update(segment)
        # The floor is the lowest estimate of the segments so far.
        assert floor.power == min(estimates)
    # The lowest of 8 estimates sits about 1.4 sd low; all 8 above 1 + sd has odds 0.16^8.
    assert 1 - 4 * sd <= floor.power / SIGMA2 <= 1 + sd


@pytest.mark.parametrize("quantile", [0.01, 0.1, 0.5])
def test_the_estimate_is_unbiased_for_any_quantile(quantile) -> None:
    rng = np.random.default_rng(2)
    segment = blocks(rng, 4 * M, SIGMA2)
    floor = NoiseFloor(K, quantile)
    floor.update(segment)
    assert floor.power / SIGMA2 == pytest.approx(1.0, abs=4 * relative_sd(quantile, 4 * M))


def test_a_channel_busy_90_percent_of_the_time_keeps_its_floor() -> None:
    rng = np.random.default_rng(3)
    free = 0.1
    n_free = int(free * M)
    # Bursts 10 dB above the noise on 90 % of the blocks, at random places in the segment.
    segment = np.concatenate(
        [blocks(rng, n_free, SIGMA2), blocks(rng, M - n_free, SIGMA2, 10 * SIGMA2)]
    )
    rng.shuffle(segment)
    floor = NoiseFloor(K, Q)
    floor.update(segment)
    # The 1 % quantile of all blocks is the 10 % quantile of the noise-only ones.
    expected = gamma.ppf(Q / free, K) / gamma.ppf(Q, K)  # 1.08: 0.33 dB above the noise
    assert floor.power / SIGMA2 == pytest.approx(expected, abs=4 * relative_sd(Q / free, n_free))
    assert 10 * np.log10(floor.power / SIGMA2) < 0.5
    # A mean or a median would read the bursts: 10 dB more.
    assert 10 * np.log10(np.median(segment) / SIGMA2) > 9


def test_a_long_transmission_raises_the_floor_only_after_the_whole_history() -> None:
    rng = np.random.default_rng(4)
    floor = NoiseFloor(K, Q)
    floor.update(blocks(rng, M, SIGMA2))
    quiet = floor.power
    for _ in range(NOISE_HISTORY_SEGMENTS - 1):
        floor.update(blocks(rng, M, SIGMA2, 10 * SIGMA2))  # every block busy
        assert floor.power == quiet
    floor.update(blocks(rng, M, SIGMA2, 10 * SIGMA2))
    # The quiet segment has left the history: the floor is now the busy blocks' level. Their
    # power is near-normal with mean 11 σ² and variance (2·10 + 1) σ⁴ / K; the estimator
    # divides its 1 % quantile by the noise-only scale.
    busy = (11 + norm.ppf(Q) * np.sqrt(21 / K)) / (gamma.ppf(Q, K) / K)
    assert floor.power / SIGMA2 == pytest.approx(busy, rel=0.02)


def test_a_drop_of_the_noise_is_followed_at_once() -> None:
    rng = np.random.default_rng(5)
    floor = NoiseFloor(K, Q)
    for _ in range(3):
        floor.update(blocks(rng, M, SIGMA2))
    floor.update(blocks(rng, M, SIGMA2 / 10))
    assert floor.power / (SIGMA2 / 10) == pytest.approx(1.0, abs=4 * relative_sd(Q, M))


def test_the_floor_depends_only_on_the_last_segments_and_reset_forgets_them() -> None:
    rng = np.random.default_rng(6)
    segments = [blocks(rng, M // 5, SIGMA2 * rng.uniform(0.5, 2)) for _ in range(12)]
    long = NoiseFloor(K, Q)
    for segment in segments:
        long.update(segment)
    recent = NoiseFloor(K, Q)
    for segment in segments[-NOISE_HISTORY_SEGMENTS:]:
        recent.update(segment)
    assert long.power == recent.power
    long.reset()
    assert np.isnan(long.power)
    long.update(segments[0])
    fresh = NoiseFloor(K, Q)
    fresh.update(segments[0])
    assert long.power == fresh.power


@pytest.mark.parametrize(("block_len", "probability"), [(40, 0.01), (240, 0.001)])
def test_noise_blocks_exceed_the_threshold_with_the_stated_probability(block_len, probability):
    rng = np.random.default_rng(7)
    n_blocks = 40_000 if block_len == 40 else 8_000
    shape = (n_blocks, block_len)
    x = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * np.sqrt(SIGMA2 / 2)
    power = np.mean(np.abs(x) ** 2, axis=1)
    count = np.count_nonzero(power > exceedance_threshold(block_len, probability) * SIGMA2)
    mean = n_blocks * probability  # binomial: 400 ± 20 and 8 ± 2.8
    assert abs(count - mean) <= 4 * np.sqrt(mean * (1 - probability)) + 1


@pytest.mark.parametrize("count", [1, 2, 7, 101, 1250])
@pytest.mark.parametrize("quantile", [0.01, 0.5, 0.73, 0.999])
def test_the_segment_quantile_is_numpys_bit_for_bit(count, quantile) -> None:
    powers = np.random.default_rng(count).gamma(K, SIGMA2 / K, count)
    floor = NoiseFloor(K, quantile)
    floor.update(powers.copy())
    assert floor.power == np.quantile(powers, quantile) / (gamma_quantile(K, quantile) / K)


def test_a_nan_block_power_gives_a_nan_floor_as_numpy_would() -> None:
    powers = np.random.default_rng(3).gamma(K, SIGMA2 / K, M)
    powers[17] = np.nan
    floor = NoiseFloor(K, Q)
    floor.update(powers)
    assert np.isnan(floor.power) and np.isnan(np.quantile(powers, Q))
