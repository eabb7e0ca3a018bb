"""Sync search: where a burst's template ends, at which chip rate, and how often noise matches.

The detector is set up as the receiver sets it up: S1 on its 400 kHz channel with a ±2 % rate
bank on a grid of 3 points per chip; T1 and C1 on the shared 600 kHz channel with T1's template
(C1's sync word is the same chips), a ±15 % bank, 2 points per chip; threshold 0.6.

Theory used for the expectations:
- The score is |Σ c_k z_k| / sqrt(N Σ |z|²) over the N template chips (lag products z summed
  over a chip). A carrier offset rotates every lag product alike and a gain scales them alike,
  so neither changes the score.
- On white noise the z at different chips are uncorrelated; Σ c_k z_k is then close to
  complex Gaussian with N times their power, so N·score² is Exp(1): E[score²] = 1/N and
  P(score ≥ s) = exp(-N s²) per grid point and rate. Over a bank of R rates the union bound
  gives at most R·exp(-N s²) per grid point, and every candidate is such a point.
- Rates whose drift over the template is under a chip (|δ| < 1/N) look alike to it, so the rate
  of a candidate is known to 1/N; its end is known to the grid (½ or ⅓ chip) plus that drift:
  within a chip, which is what the per-burst acquisition starts from.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import poisson

from dsp.channelizer import Channelizer
from dsp.modulate import add_noise, modulate
from dsp.sync import SyncDetector
from protocol.framing import add_crcs
from protocol.modes import C1, S1, T1, FrameFormat, ModeSpec

THRESHOLD = 0.6
T1_RATES = (0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15)
NARROW_RATES = (0.98, 0.99, 1.0, 1.01, 1.02)
MAX_CFO_HZ = 80e3
ECN0_DB = 14.0


def template_of(lead: ModeSpec) -> str:
    return "01" * 8 + lead.sync_chips


# mode -> (mode whose template and deviation the channel searches for, channel rate, rates, grid)
SEARCH: dict[str, tuple[ModeSpec, float, tuple[float, ...], float]] = {
    "S1": (S1, 400e3, NARROW_RATES, 3.0),
    "T1": (T1, 600e3, T1_RATES, 2.0),
    "C1": (T1, 600e3, T1_RATES, 2.0),
}
MODES = {"S1": S1, "T1": T1, "C1": C1}


def detector(name: str, rates: tuple[float, ...] | None = None) -> SyncDetector:
    lead, rate, bank, grid = SEARCH[name]
    return SyncDetector(
        template_of(lead),
        rate,
        lead.chip_rate_hz,
        lead.deviation_hz,
        bank if rates is None else rates,
        THRESHOLD,
        grid,
    )


def chips_of(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), dtype=np.uint8) - ord("0")


def cpfsk(
    chips: np.ndarray, fs: float, chip_rate: float, deviation: float, cfo: float, phase: float
) -> np.ndarray:
    """Continuous-phase rectangular 2-FSK at baseband, chip 1 on the upper tone."""
    chip_s = fs / chip_rate
    t = np.arange(int(np.ceil(len(chips) * chip_s)))
    k = np.minimum((t / chip_s).astype(np.int64), len(chips) - 1)
    signs = 2.0 * chips - 1.0
    start = np.concatenate([[0.0], np.cumsum(signs)[:-1]]) * chip_s
    fm = 2 * np.pi * deviation / fs * (start[k] + signs[k] * (t - k * chip_s))
    return np.exp(1j * (phase + fm + 2 * np.pi * cfo * t / fs)).astype(np.complex64)


def search(det: SyncDetector, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores over the whole buffer: (template end per grid point, score, chip samples)."""
    q_lo = -(-det.history // det.step)
    q_hi = (len(y) - 1) // det.step + 1
    score, which = det.scores(y, 0, q_lo, q_hi)
    ends = (np.arange(q_lo, q_hi) - det.lead) * det.step
    return ends, score, np.asarray(det.chip_samples)[which]


def burst_after_noise(name: str, error: float, rng: np.random.Generator, lead_in: int = 1000):
    """Noise, then the template followed by random chips, then noise; and the template's end."""
    mode = MODES[name]
    lead, fs, _, _ = SEARCH[name]
    chips = np.concatenate([chips_of(template_of(lead)), rng.integers(0, 2, 100)])
    rate = mode.chip_rate_hz * (1 + error)
    wave = cpfsk(
        chips,
        fs,
        rate,
        mode.deviation_hz,
        cfo=rng.uniform(-MAX_CFO_HZ, MAX_CFO_HZ),
        phase=rng.uniform(0, 2 * np.pi),
    )
    quiet = np.zeros(lead_in, dtype=np.complex64)
    y = add_noise(np.concatenate([quiet, wave, quiet]), ECN0_DB, mode.chip_rate_hz, fs, rng)
    chip_samples = fs / rate
    return y, lead_in + len(template_of(lead)) * chip_samples, chip_samples


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("S1", -0.02),
        ("S1", 0.0),
        ("S1", 0.02),
        ("T1", -0.15),
        ("T1", -0.07),
        ("T1", 0.0),
        ("T1", 0.07),
        ("T1", 0.15),
        ("C1", -0.02),
        ("C1", 0.0),
        ("C1", 0.02),
    ],
)
def test_burst_is_found_at_its_sync_end_and_rate_anywhere_in_the_bank(name, error) -> None:
    det = detector(name)
    n_chips = len(det.template)
    for seed in range(10):
        y, true_end, chip_samples = burst_after_noise(name, error, np.random.default_rng(seed))
        ends, score, chip = search(det, y)
        found = [i for i in det.peaks(score) if abs(ends[i] - true_end) <= chip_samples]
        assert len(found) == 1, (seed, [(ends[i] - true_end) / chip_samples for i in found])
        (i,) = found
        assert score[i] >= THRESHOLD
        assert chip[i] / chip_samples == pytest.approx(1.0, abs=1 / n_chips), seed


@pytest.mark.parametrize("error", [-0.3, 0.35])
def test_a_chip_rate_well_outside_the_bank_is_not_matched(error) -> None:
    # The nearest bank rate drifts 5 chips or more over the template: the match falls apart.
    det = detector("T1")
    for seed in range(5):
        y, true_end, chip_samples = burst_after_noise("T1", error, np.random.default_rng(seed))
        ends, score, _ = search(det, y)
        assert score[np.abs(ends - true_end) <= 2 * chip_samples].max() < THRESHOLD


@pytest.mark.parametrize("name", ["S1", "T1", "C1"])
def test_carrier_offset_and_gain_do_not_change_the_score(name) -> None:
    rng = np.random.default_rng(7)
    mode = MODES[name]
    lead, fs, _, _ = SEARCH[name]
    det = detector(name)
    chips = np.concatenate(
        [rng.integers(0, 2, 60), chips_of(template_of(lead)), rng.integers(0, 2, 60)]
    )
    true_end = (60 + len(det.template)) * fs / mode.chip_rate_hz
    scores = []
    for cfo, gain in ((0.0, 1.0), (MAX_CFO_HZ, 1.0), (-MAX_CFO_HZ, 1e-3), (33e3, 200.0)):
        wave = gain * cpfsk(chips, fs, mode.chip_rate_hz, mode.deviation_hz, cfo, phase=1.0)
        ends, score, _ = search(det, wave.astype(np.complex64))
        scores.append(score)
    for other in scores[1:]:
        np.testing.assert_allclose(other, scores[0], atol=1e-5)
    # A clean template scores 1 at its end (the grid point nearest it).
    near = np.abs(ends - true_end) <= det.step
    assert scores[0][near].max() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("name", ["S1", "T1"])
def test_scores_on_white_noise_follow_the_exponential_law(name) -> None:
    _, fs, _, _ = SEARCH[name]
    rng = np.random.default_rng(11)
    n = int(fs)  # one second
    y = ((rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)).astype(np.complex64)
    det = detector(name, rates=(1.0,))
    n_taps = len(det.template)
    _, score, _ = search(det, y)
    assert n_taps * np.mean(score.astype(np.float64) ** 2) == pytest.approx(1.0, rel=0.05)
    for s in (0.2, 0.3):
        assert np.mean(score >= s) == pytest.approx(np.exp(-n_taps * s * s), rel=0.1)


@pytest.mark.parametrize("name", ["S1", "T1"])
def test_noise_gives_no_more_candidates_than_the_union_bound(name) -> None:
    _, fs, rates, _ = SEARCH[name]
    rng = np.random.default_rng(12)
    n = int(fs)
    y = ((rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)).astype(np.complex64)
    det = detector(name)
    _, score, _ = search(det, y)
    mean_bound = len(score) * len(rates) * np.exp(-len(det.template) * THRESHOLD**2)
    # S1 (40 chips): 0.3 expected per second of noise; T1 (32 chips, 7 rates): 14.
    candidates = len(det.peaks(score))
    assert candidates <= np.count_nonzero(score >= THRESHOLD)
    assert candidates <= poisson.ppf(1 - 1e-6, mean_bound)


@pytest.mark.parametrize("name", ["S1", "T1"])
def test_scores_do_not_depend_on_how_the_search_range_is_split(name) -> None:
    """The receiver scores a stream piece by piece from a trimmed buffer: same numbers."""
    rng = np.random.default_rng(13)
    y = (rng.standard_normal(60_000) + 1j * rng.standard_normal(60_000)).astype(np.complex64)
    det = detector(name)
    q_lo = -(-det.history // det.step)
    q_hi = (len(y) - 1) // det.step + 1
    whole, which = det.scores(y, 0, q_lo, q_hi)
    cuts = [q_lo, q_lo + 1, q_lo + 997, q_lo + 5000, q_hi]
    pieces = []
    for a, b in itertools.pairwise(cuts):
        start = a * det.step - det.history  # only the history the piece needs
        pieces.append(det.scores(y[start:], start, a, b))
    np.testing.assert_array_equal(np.concatenate([s for s, _ in pieces]), whole)
    np.testing.assert_array_equal(np.concatenate([w for _, w in pieces]), which)


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [(S1, FrameFormat.A), (T1, FrameFormat.A), (C1, FrameFormat.A), (C1, FrameFormat.B)],
)
def test_modulated_burst_through_the_channelizer_is_found_where_the_plan_puts_it(mode, fmt):
    """The modulator's burst at 2.4 Msps, channelized as the receiver does: the template end
    in channel time is the input time divided by the decimation plus the plan's delay."""
    fs, fc = 2.4e6, 868.625e6
    ch = Channelizer(fs, [(S1.center_freq_hz - fc, 6, 168e3), (T1.center_freq_hz - fc, 4, 252e3)])
    index = 0 if mode is S1 else 1
    plan = ch.plans[index]
    det = detector(mode.name)
    assert plan.output_rate_hz(fs) == SEARCH[mode.name][1]
    rng = np.random.default_rng(14)
    data = bytes([39]) + rng.integers(0, 256, 39, dtype=np.uint8).tobytes()
    # A preamble of only the template's 22 chips: the template starts the burst.
    burst = modulate(add_crcs(data, fmt), mode, fmt, fs, fc, cfo_hz=20e3, preamble_chips=22)
    start = 20_000
    quiet = np.zeros(start, dtype=np.complex64)
    x = add_noise(np.concatenate([quiet, burst, quiet]), ECN0_DB, mode.chip_rate_hz, fs, rng)
    y = np.concatenate([ch.process(x)[index], ch.flush()[index]])
    input_end = start + len(det.template) * fs / mode.chip_rate_hz
    true_end = input_end / plan.decimation + plan.delay_samples
    chip_samples = SEARCH[mode.name][1] / mode.chip_rate_hz
    ends, score, _ = search(det, y)
    found = [i for i in det.peaks(score) if abs(ends[i] - true_end) <= chip_samples]
    assert len(found) == 1
