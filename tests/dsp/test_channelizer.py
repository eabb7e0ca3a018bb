"""Channelizer: each channel is the input mixed down by its centre, lowpass-filtered and decimated.

What a channel should deliver follows from its plan alone. Output sample ``m`` of a channel
holds input time ``t = (m - delay_samples) * decimation``; a tone ``A exp(j(2π f n / fs + φ))``
in the passband therefore comes out as ``A exp(j(2π (f - actual_offset_hz) t / fs + φ))``,
mixed against absolute sample 0. The module states 40+ dB selectivity; a Kaiser-windowed FIR has
the same ripple δ in passband and stopband, so 40 dB (δ = 0.01) also bounds the passband error
by 1 % of the amplitude. A lowpass with cutoff ``fc`` has its centre tap at ``2 fc / fs``
(the ideal sinc's), which is where an impulse peaks, ``delay_samples`` after it.
"""

from __future__ import annotations

import numpy as np
import pytest

from dsp.channelizer import Channelizer, ChannelPlan, bank_decimations, fast_decimation

FS = 2.4e6
# The receiver's layout (S1 and T1/C1 325 kHz either side of 868.625 MHz), and an awkward one:
# centres that need the per-block phase correction, odd decimations, one far out.
LAYOUTS = {
    "receiver": [(-325e3, 6, 168e3), (325e3, 4, 252e3)],
    "awkward": [(123.4e3, 8, 100e3), (-701e3, 3, 300e3)],
}
SELECTIVITY_DB = 40.0
RIPPLE = 10 ** (-SELECTIVITY_DB / 20)
N = 60_000


def run(ch: Channelizer, x: np.ndarray, chunk: int | None = None) -> list[np.ndarray]:
    """Every channel's whole output for ``x`` fed in chunks of ``chunk``, flush included."""
    step = len(x) if chunk is None else chunk
    outs: list[list[np.ndarray]] = [[] for _ in ch.plans]
    for pos in range(0, len(x), step):
        for out, y in zip(outs, ch.process(x[pos : pos + step]), strict=True):
            out.append(y)
    for out, y in zip(outs, ch.flush(), strict=True):
        out.append(y)
    return [np.concatenate(out) for out in outs]


def tone(freq_hz: float, amplitude: float = 1.0, phase: float = 0.0, n: int = N) -> np.ndarray:
    t = np.arange(n)
    return (amplitude * np.exp(1j * (2 * np.pi * freq_hz * t / FS + phase))).astype(np.complex64)


def input_time(plan: ChannelPlan, length: int) -> np.ndarray:
    """Input sample time held by each output sample (ChannelPlan.delay_samples)."""
    return (np.arange(length) - plan.delay_samples) * plan.decimation


def steady(plan: ChannelPlan, length: int, n: int = N) -> np.ndarray:
    """Output samples whose input time lies in the middle third of the input: away from the
    stream's start and end by more than any filter or FFT block reaches."""
    t = input_time(plan, length)
    return (t > n / 3) & (t < 2 * n / 3)


def expected(plan: ChannelPlan, freq_hz: float, amplitude: float, phase: float, length: int):
    t = input_time(plan, length)
    return amplitude * np.exp(1j * (2 * np.pi * (freq_hz - plan.actual_offset_hz) * t / FS + phase))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_tone_at_a_channel_centre_comes_out_at_dc_with_its_amplitude_and_phase(layout) -> None:
    ch = Channelizer(FS, LAYOUTS[layout])
    for i, plan in enumerate(ch.plans):
        assert plan.actual_offset_hz == pytest.approx(plan.offset_hz, abs=0.5)
        assert plan.output_rate_hz(FS) == FS / plan.decimation
        y = run(ch, tone(plan.actual_offset_hz, 0.3, 0.7))[i]
        sel = steady(plan, len(y))
        np.testing.assert_allclose(y[sel], 0.3 * np.exp(0.7j), atol=RIPPLE * 0.3)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_passband_tone_keeps_amplitude_frequency_and_timing(layout) -> None:
    ch = Channelizer(FS, LAYOUTS[layout])
    for i, plan in enumerate(ch.plans):
        for offset in (-0.8 * plan.cutoff_hz, 0.5 * plan.cutoff_hz):
            f = plan.actual_offset_hz + offset
            y = run(ch, tone(f, 2.0, -1.2))[i]
            sel = steady(plan, len(y))
            want = expected(plan, f, 2.0, -1.2, len(y))
            np.testing.assert_allclose(y[sel], want[sel], atol=RIPPLE * 2.0)


def test_a_centre_off_the_bin_grid_is_mixed_from_the_nearest_bin() -> None:
    # 123456.7 Hz is a bin centre for no FFT size: the plan says which frequency is mixed to 0.
    ch = Channelizer(FS, [(123_456.7, 8, 100e3)])
    plan = ch.plans[0]
    # FFT sizes are at least 4096, so bins are at most FS / 4096 apart.
    assert abs(plan.actual_offset_hz - plan.offset_hz) <= FS / 4096 / 2
    y = run(ch, tone(plan.offset_hz, 1.0, 0.3))[0]
    sel = steady(plan, len(y))
    want = expected(plan, plan.offset_hz, 1.0, 0.3, len(y))
    np.testing.assert_allclose(y[sel], want[sel], atol=RIPPLE)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_stopband_and_neighbouring_channel_are_suppressed_by_the_stated_selectivity(layout):
    ch = Channelizer(FS, LAYOUTS[layout])
    limit = RIPPLE  # amplitude of a unit tone after 40 dB
    for i, plan in enumerate(ch.plans):
        # ~100 us of taps: a transition band of a few 10 kHz; 60 kHz past the cutoff is stopband.
        beyond = [plan.actual_offset_hz + s * (plan.cutoff_hz + 60e3) for s in (-1, 1)]
        others = [p.actual_offset_hz for j, p in enumerate(ch.plans) if j != i]
        for f in beyond + others:
            y = run(ch, tone(f))[i]
            assert np.abs(y[steady(plan, len(y))]).max() < limit, (layout, i, f)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_impulse_peaks_after_the_documented_delay_with_the_centre_tap(layout) -> None:
    ch = Channelizer(FS, LAYOUTS[layout])
    n0 = 24_000  # a multiple of every decimation: the peak falls on an output sample
    x = np.zeros(N, dtype=np.complex64)
    x[n0] = 1.0
    for i, plan in enumerate(ch.plans):
        y = run(ch, x)[i]
        peak = int(np.argmax(np.abs(y)))
        assert peak == n0 // plan.decimation + plan.delay_samples
        assert abs(y[peak]) == pytest.approx(2 * plan.cutoff_hz / FS, rel=0.02)
        # Mixed against absolute sample 0: the impulse's phase is that of the mixer at n0.
        mixer = np.exp(-2j * np.pi * plan.actual_offset_hz * n0 / FS)
        assert np.angle(y[peak] / mixer) == pytest.approx(0.0, abs=1e-3)


def test_decimations_without_a_fast_fft_size_still_get_a_plan() -> None:
    # FFT sizes are multiples of every decimation; with 17 and 13 none is a fast size (prime
    # factors up to 11), which left no plan at all (min() of nothing).
    ch = Channelizer(FS, [(-325e3, 17, 60e3), (325e3, 13, 80e3)])
    for i, plan in enumerate(ch.plans):
        f = plan.actual_offset_hz + 0.5 * plan.cutoff_hz
        y = run(ch, tone(f, 2.0, -1.2))[i]
        sel = steady(plan, len(y))
        want = expected(plan, f, 2.0, -1.2, len(y))
        np.testing.assert_allclose(y[sel], want[sel], atol=RIPPLE * 2.0)


def test_fast_decimation_drops_prime_factors_above_11() -> None:
    # The S1 channel's largest decimations at 6, 20 and 2.4 Msps, and degenerate limits.
    assert [fast_decimation(d) for d in (17, 57, 6, 11, 13, 1, 0)] == [16, 56, 6, 11, 12, 1, 1]


def test_a_fitted_channel_takes_a_decimation_that_divides_the_others() -> None:
    # The receiver's limits for S1, T1 and C2 at 2.4, 1.6 (868.95 MHz), 10 and 20 Msps, and for
    # T1 and C2 at 1.2 Msps (869.2 MHz). A fitted channel alone, or with no divisor within half
    # its limit, keeps its own.
    fitted = [False, False, True]
    assert bank_decimations([6, 4, 8], fitted) == [6, 4, 6]
    assert bank_decimations([4, 3, 5], fitted) == [4, 3, 4]
    assert bank_decimations([28, 20, 37], fitted) == [28, 20, 35]
    assert bank_decimations([57, 40, 74], fitted) == [56, 40, 70]
    assert bank_decimations([2, 4], [False, True]) == [2, 2]
    assert bank_decimations([7], [True]) == [7]
    assert bank_decimations([5, 17], [False, True]) == [5, 16]  # 5 would more than halve 17


@pytest.mark.parametrize(
    ("fs", "others", "fitted"),
    [
        # 2.4 Msps: C2 at +900 kHz; 1.6 Msps at 868.95 MHz: C2 at +575 kHz, off the others' bin
        # grid, which would otherwise choose another FFT size.
        (2.4e6, [(-325e3, 6, 168e3), (325e3, 4, 252e3)], (900e3, 6, 126e3)),
        (1.6e6, [(-650e3, 4, 168e3), (0.0, 3, 224e3)], (575e3, 4, 126e3)),
    ],
)
def test_a_fitted_channel_leaves_the_others_outputs_exactly_as_they_were(
    fs: float, others: list, fitted: tuple
) -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(50_000) + 1j * rng.standard_normal(50_000)).astype(np.complex64)
    alone = Channelizer(fs, others)
    both = Channelizer(fs, [*others, fitted], [False] * len(others) + [True])
    outputs = run(both, x, 4099)
    for want, got in zip(run(alone, x, 4099), outputs, strict=False):
        np.testing.assert_array_equal(got, want)
    # The fitted channel is a channel like the others: a tone at its centre comes out at DC.
    plan = both.plans[-1]
    y = run(both, (0.3 * np.exp(2j * np.pi * plan.actual_offset_hz * np.arange(30_000) / fs))
            .astype(np.complex64))[-1]
    middle = y[len(y) // 3 : 2 * len(y) // 3]
    np.testing.assert_allclose(np.abs(middle), 0.3, rtol=RIPPLE)


def test_the_dc_spike_of_the_dongle_is_removed_from_a_channel_on_it() -> None:
    ch = Channelizer(FS, [(0.0, 6, 168e3)])
    plan = ch.plans[0]
    x = (0.5 + tone(60e3, 0.1)).astype(np.complex64)  # an offset 14 dB above the signal
    y = run(ch, x)[0]
    sel = steady(plan, len(y))
    want = expected(plan, 60e3, 0.1, 0.0, len(y))
    # The offset is gone and the tone is intact, to the ripple bound of the tone's amplitude.
    np.testing.assert_allclose(y[sel], want[sel], atol=RIPPLE * 0.1)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_output_is_the_same_whatever_the_chunk_size(layout) -> None:
    rng = np.random.default_rng(1)
    n = 70_000
    x = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
    x += tone(LAYOUTS[layout][0][0] + 20e3, 3.0, n=n)
    whole = run(Channelizer(FS, LAYOUTS[layout]), x)
    for chunk in (1, 997, 65_536):
        for got, want in zip(run(Channelizer(FS, LAYOUTS[layout]), x, chunk), whole, strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_output_is_causal_and_flush_delivers_every_input_sample(layout) -> None:
    ch = Channelizer(FS, LAYOUTS[layout])
    n = 36_001  # the last sample, 36000, is a multiple of every decimation
    x = np.zeros(n, dtype=np.complex64)
    x[-1] = 1.0
    produced = [0] * len(ch.plans)
    for pos in range(0, n, 5_000):
        fed = min(pos + 5_000, n)
        for i, (plan, y) in enumerate(zip(ch.plans, ch.process(x[pos:fed]), strict=True)):
            produced[i] += len(y)
            # Output m holds input time (m - delay) * D and reaches half the filter, delay * D,
            # beyond it: it cannot exist before input m * D has arrived.
            assert produced[i] <= -(-fed // plan.decimation)
    for i, (plan, y) in enumerate(zip(ch.plans, ch.flush(), strict=True)):
        total = produced[i] + len(y)
        at = (n - 1) // plan.decimation + plan.delay_samples  # where the last sample comes out
        assert produced[i] <= at < total  # only flush() can push it out
        assert np.argmax(np.abs(y)) == at - produced[i]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_reset_and_flush_start_a_new_stream(layout) -> None:
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(30_000) + 1j * rng.standard_normal(30_000)).astype(np.complex64)
    other = (rng.standard_normal(12_345) + 1j).astype(np.complex64)
    fresh = run(Channelizer(FS, LAYOUTS[layout]), x)
    ch = Channelizer(FS, LAYOUTS[layout])
    ch.process(other)
    ch.reset()
    for got, want in zip(run(ch, x), fresh, strict=True):
        np.testing.assert_array_equal(got, want)
    # run() ended with flush(): the next stream starts from scratch too.
    for got, want in zip(run(ch, x), fresh, strict=True):
        np.testing.assert_array_equal(got, want)
