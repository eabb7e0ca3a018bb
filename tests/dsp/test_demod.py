"""Demodulator building blocks against their direct definitions."""

from __future__ import annotations

import numpy as np

from dsp.demod import (
    ChipTiming,
    ToneIntegrals,
    _box_scores,
    _grow_line,
    _lag_running,
    _magnitude_contrast,
    _running_at,
    _track,
    fit_timing,
    tone_correlations,
)


def _noise(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=n) + 1j * rng.normal(size=n)).astype(np.complex64)


def test_tone_integrals_grown_in_pieces_equal_one_pass() -> None:
    """Growing right and left (as later calls reach further) gives the same chip integrals
    as integrating the whole stretch at once; times outside the samples clip to the ends."""
    y = _noise(3000)
    edges = np.linspace(-20.0, 3020.0, 700)
    grown = ToneIntegrals(y, 0.05, 0.3)
    grown.cover(1000.0, 1100.0)
    grown.cover(1050.0, 2500.0)
    grown.cover(400.0, 1200.0)
    once = ToneIntegrals(y, 0.05, 0.3)
    once.cover(-20.0, 3020.0)
    np.testing.assert_allclose(grown.chips(edges), once.chips(edges), rtol=1e-9, atol=1e-9)
    # The definition: the upper tone's mix-down summed over the samples a chip covers.
    upper = y[:100] * np.exp(-1j * 0.35 * np.arange(100))
    chip = once.chips(np.array([-0.5, 99.5]))  # samples 0 .. 99
    np.testing.assert_allclose(chip[0, 0], upper.sum(), rtol=1e-6)


def test_coarse_table_scores_equal_direct_chip_sums() -> None:
    """The table look-up of the coarse acquisition equals summing every grid's chips."""
    rng = np.random.default_rng(2)
    y = _noise(4000)
    signs = rng.choice([-1.0, 1.0], 32)
    step, count = 2, 40
    # Three chip lengths (5, 6, 7 samples) across the scales; edges reaching past the start.
    starts, lengths = np.array([[-30.0], [200.0], [900.0]]), np.array([[5.2], [6.0], [6.7]])
    index = np.rint(starts + np.arange(33) * lengths).astype(np.intp)
    moves = index[:, None, :] + step * np.arange(count)[:, None]  # (scales, moves, edges)

    tones = ToneIntegrals(y, -0.1, 0.25)
    tones.cover(0.0, 1300.0)
    direct = _running_at(tones.sums, moves.astype(np.float64))
    per_chip = _magnitude_contrast(*(direct[..., 1:] - direct[..., :-1]))
    np.testing.assert_allclose(
        _box_scores(tones.sums, index, step, count, _magnitude_contrast, signs),
        per_chip @ signs,
        rtol=1e-9,
        atol=1e-9,
    )

    running, _ = _lag_running(y, 3, 0.0, 1300.0)
    direct = _running_at(running, moves.astype(np.float64))[0]
    np.testing.assert_allclose(
        _box_scores(running, index, step, count, np.asarray, signs),
        (direct[..., 1:] - direct[..., :-1]) @ signs,
        rtol=1e-9,
        atol=1e-9,
    )


def _alternating_chips(
    chip: float, count: int, dev: float, wander: float
) -> tuple[np.ndarray, ToneIntegrals]:
    """True chip boundaries of ``count`` alternating chips whose clock drifts by ``wander``
    samples mid-burst, and the tone integrals of their (slightly noisy) samples."""
    k = np.arange(count + 1, dtype=np.float64)
    true = ChipTiming(20.0, chip).time(k) + wander * np.sin(np.pi * k / count)  # samples
    t = np.arange(int(true[-1]) + 40, dtype=np.float64)
    chip_of = np.clip(np.searchsorted(true, t, side="right") - 1, 0, count - 1)
    freq = np.where(chip_of % 2 == 1, dev, -dev)
    y = np.exp(1j * np.cumsum(freq)).astype(np.complex64) + 0.1 * _noise(len(t), 3)
    return true, ToneIntegrals(y, 0.0, dev)


def test_fit_timing_follows_a_wandering_clock() -> None:
    """Alternating chips whose clock drifts by a quarter chip over the burst: the fit ends
    within a small fraction of a chip of the true boundaries everywhere."""
    chip, count, dev = 6.0, 900, 0.25
    k = np.arange(count + 1, dtype=np.float64)
    true, tones = _alternating_chips(chip, count, dev, 1.5)
    fitted = fit_timing(tones, ChipTiming(20.3, chip * 1.002), 0, count)
    assert np.max(np.abs(fitted.time(k) - true)) < 0.15 * chip
    decided = tone_correlations(tones, fitted, 0, count).soft() > 0
    assert np.array_equal(decided, np.arange(count) % 2 == 1)


def test_timing_measurements_cover_each_segment_once() -> None:
    """The doubling spans and the tracking steps (including those measured again after the
    local line left the slack) measure every 16-chip segment of [first, stop) exactly once,
    in order."""
    chip, count, first = 5.0, 1000, 8
    _, tones = _alternating_chips(chip, count, 0.3, 8.0)
    line, measured, hi = _grow_line(tones, ChipTiming(20.0, chip * 1.001), first, count, 0)
    measured = _track(tones, line, measured, hi, count)
    edges = np.append(np.arange(first, count, 16), count)
    np.testing.assert_array_equal(measured.centers, (edges[:-1] + edges[1:]) / 2)
