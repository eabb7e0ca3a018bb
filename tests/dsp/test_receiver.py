"""Receiver: loopback through the modulator, tolerances, streaming, real captures, impairments.

PER tolerances come from theory: at 14 dB Ec/N0 even the hard-decision bound of a 40-byte
frame (chip error 0.5·exp(-Ec/2N0) = 4.6e-4, 550–740 chips) gives at most 30 % PER, and soft
decisions do far better, so "all of a few telegrams" is the statistically safe assertion
there; the near-threshold check uses a binomial bound.
"""

from __future__ import annotations

import json
from math import comb

import numpy as np
import pytest

from dsp.bandplan import POSTAMBLE, covered_modes, sync_word_chip
from dsp.receiver import Receiver
from dsp.types import IQChunk
from protocol.modes import C1, C2, S1, T1, FrameFormat
from protocol.types import DecodeFailure, Frame
from tests.conftest import RECORDINGS
from tests.dsp.streams import (
    false_frames,
    frames,
    make_stream,
    matched,
    read_cu8,
    run,
)

ALL = [(S1, FrameFormat.A), (T1, FrameFormat.A), (C1, FrameFormat.A), (C1, FrameFormat.B)]
FS, FC = 2.4e6, 868.625e6


def test_every_mode_and_format_in_one_stream() -> None:
    rng = np.random.default_rng(1)
    samples, sent = make_stream(ALL * 2, 14.0, rng)
    results = run(Receiver(FS, FC), samples)
    assert matched(results, sent) == sent
    assert not false_frames(results, sent)
    for f in frames(results):
        burst = f.burst
        assert burst is not None and f.corrected_errors >= 0
        mode = {"S1": S1, "T1": T1, "C1": C1}[f.mode]
        assert burst.freq_hz == mode.center_freq_hz
        assert burst.chip_rate_hz == pytest.approx(mode.chip_rate_hz, rel=0.005)
        assert abs(burst.cfo_hz) < 1.5e3
        # Noise is referenced to 100 kcps, so S1's slower chips get 10*log10(100/32.768) more.
        expected_snr = 14.0 + (10 * np.log10(100e3 / 32768) if f.mode == "S1" else 0.0)
        assert burst.snr_db == pytest.approx(expected_snr, abs=2.0)
        assert burst.sample_rate_hz == FS
        assert burst.end_sample > burst.start_sample


@pytest.mark.parametrize("cfo_hz", [-80e3, 80e3])
def test_carrier_offset_80_khz(cfo_hz: float) -> None:
    rng = np.random.default_rng(2)
    samples, sent = make_stream(ALL, 14.0, rng, cfo_hz=cfo_hz)
    results = run(Receiver(FS, FC), samples)
    assert matched(results, sent) == sent
    for f in frames(results):
        assert f.burst is not None
        assert f.burst.cfo_hz == pytest.approx(cfo_hz, abs=2e3)


@pytest.mark.parametrize(
    ("mode", "fmt", "error"),
    [
        (T1, FrameFormat.A, -0.15),
        (T1, FrameFormat.A, -0.07),
        (T1, FrameFormat.A, 0.1),
        (T1, FrameFormat.A, 0.15),
        (S1, FrameFormat.A, -0.02),
        (S1, FrameFormat.A, 0.02),
        (C1, FrameFormat.A, 0.02),
        (C1, FrameFormat.B, -0.02),
    ],
)
def test_chip_rate_error(mode, fmt, error: float) -> None:
    rng = np.random.default_rng(3)
    samples, sent = make_stream([(mode, fmt)] * 2, 16.0, rng, chip_rate_error=error)
    results = run(Receiver(FS, FC, [mode]), samples)
    assert matched(results, sent) == sent
    for f in frames(results):
        assert f.burst is not None
        assert f.burst.chip_rate_hz == pytest.approx(mode.chip_rate_hz * (1 + error), rel=0.003)


@pytest.mark.parametrize("preamble_chips", [64, 150])
def test_long_preambles(preamble_chips: int) -> None:
    # The T1/C1 sync differs from the alternating preamble in only 4 of the template's chips,
    # so the search may fire anywhere in a long preamble; the burst must still be found.
    rng = np.random.default_rng(12)
    bursts = [(T1, FrameFormat.A), (C1, FrameFormat.A), (C1, FrameFormat.B)] * 2
    samples, sent = make_stream(bursts, 13.0, rng, preamble_chips=preamble_chips)
    assert matched(run(Receiver(FS, FC, [T1, C1]), samples), sent) == sent


@pytest.mark.parametrize("preamble_chips", [None, 64, 301])
@pytest.mark.parametrize("chip_rate_error", [0.0, 0.015])
def test_a_burst_spans_its_sync_word_to_its_last_data_chip(
    preamble_chips: int | None, chip_rate_error: float
) -> None:
    # start_sample is the first sample of the sync word's first chip, whatever the preamble;
    # end_sample the one after the last data chip (the postamble is not counted). The
    # modulator puts chip k of a burst at k chip durations from the burst's first sample.
    rng = np.random.default_rng(24)
    samples, sent = make_stream(
        ALL, 16.0, rng, preamble_chips=preamble_chips, chip_rate_error=chip_rate_error
    )
    results = run(Receiver(FS, FC), samples)
    assert matched(results, sent) == sent
    bursts = {f.data: f.burst for f in frames(results)}
    for s in sent:
        chip = FS / (s.mode.chip_rate_hz * (1 + chip_rate_error))
        burst = bursts[s.data]
        assert burst is not None
        sync = s.start + sync_word_chip(s.mode, preamble_chips) * chip
        assert abs(burst.start_sample - sync) <= 1.5 * chip, (s.mode.name, s.frame_format)
        data_end = s.end - len(POSTAMBLE) * chip
        assert abs(burst.end_sample - data_end) <= 1.5 * chip, (s.mode.name, s.frame_format)


def binomial_tail(n: int, k: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


@pytest.mark.parametrize(
    ("mode", "fmt", "ecn0_db"),
    [
        (T1, FrameFormat.A, 10.0),
        (C1, FrameFormat.A, 10.5),
        (C1, FrameFormat.B, 11.5),
        (S1, FrameFormat.A, 9.5),
    ],
)
def test_near_the_sensitivity_goal(mode, fmt, ecn0_db: float) -> None:
    # Issue 4 goals for 10 % PER: T1 <= 10 dB, C1 <= 10.5 dB, S1 <= 9.5 dB (soft-decision
    # limits: ML 3-of-6 10 % near 9.6 dB, Manchester pairs with phase 8.7 dB; C1 B has no
    # CRC-aided correction, its hard-decision bound is 11.7 dB). A receiver meeting the goal
    # fails 6+ of 20 telegrams with probability < 1.2 %.
    n = 20
    assert binomial_tail(n, 6, 0.10) < 0.012
    rng = np.random.default_rng(4)
    samples, sent = make_stream([(mode, fmt)] * n, ecn0_db, rng, gap_s=0.002)
    results = run(Receiver(FS, FC, [mode]), samples)
    assert n - len(matched(results, sent)) < 6
    assert not false_frames(results, sent)


def test_output_does_not_depend_on_chunk_size() -> None:
    rng = np.random.default_rng(5)
    samples, sent = make_stream(ALL, 13.0, rng, gap_s=0.002)
    receiver = Receiver(FS, FC)
    reference = run(receiver, samples)
    assert len(matched(reference, sent)) == len(sent)
    for chunk in (997, 65536):
        assert run(receiver, samples, chunk) == reference


@pytest.mark.parametrize(
    ("mode", "fmt", "fc"), [(T1, FrameFormat.A, T1.center_freq_hz), (C2, FrameFormat.B, 869.2e6)]
)
def test_chunks_of_one_sample(mode, fmt, fc: float) -> None:
    rng = np.random.default_rng(6)
    fs = 1.2e6
    samples, sent = make_stream(
        [(mode, fmt)], 14.0, rng, sample_rate_hz=fs, center_freq_hz=fc, gap_s=0.001
    )
    receiver = Receiver(fs, fc, [mode])
    reference = run(receiver, samples)
    assert matched(reference, sent) == sent
    assert run(receiver, samples, 1) == reference


@pytest.mark.parametrize(("fs", "fc"), [(1.0e6, 868.95e6), (2.048e6, 868.625e6), (3.2e6, 868.7e6)])
def test_other_sample_rates_and_centres(fs: float, fc: float) -> None:
    receiver = Receiver(fs, fc)
    bursts = [(m, f) for m in receiver.covered_modes for f in m.frame_formats]
    rng = np.random.default_rng(11)
    samples, sent = make_stream(bursts, 14.0, rng, sample_rate_hz=fs, center_freq_hz=fc)
    assert matched(run(receiver, samples, 65536), sent) == sent


# Rates of RTL-SDR (0.9-3.2), Airspy (2.5, 3, 6, 10), HackRF (2-20) and SDRplay: the channels'
# decimations must leave the filter bank a plan (6 and 20 Msps had none: S1's 17 and 57).
@pytest.mark.parametrize("fs", [0.9e6, 1.0e6, 1.6e6, 2.048e6, 2.5e6, 3.2e6, 6e6, 10e6, 20e6])
def test_every_mode_at_any_sample_rate_from_0_9_to_20_msps(fs: float) -> None:
    receiver = Receiver(fs, FC)
    # C2's channel (869.525 MHz, ±50 kHz) needs 1.9 Msps around 868.625 MHz.
    with_c2 = fs >= 1.9e6
    assert receiver.covered_modes == ((S1, T1, C1, C2) if with_c2 else (S1, T1, C1))
    rng = np.random.default_rng(12)
    # One telegram per mode and format, close together: 20 Msps makes many samples.
    bursts = ALL + [(C2, FrameFormat.A), (C2, FrameFormat.B)] * with_c2
    samples, sent = make_stream(bursts, 14.0, rng, sample_rate_hz=fs, gap_s=0.002)
    results = run(receiver, samples, 262_144)
    assert matched(results, sent) == sent
    assert not false_frames(results, sent)


def test_noise_gives_no_frames_and_no_failures() -> None:
    rng = np.random.default_rng(7)
    receiver = Receiver(FS, FC)
    noise = (rng.standard_normal((2, int(2 * FS))) * 0.05).astype(np.float32)
    results = run(receiver, (noise[0] + 1j * noise[1]).astype(np.complex64), 262144)
    assert results == []
    counts = receiver.counts()
    assert not counts.frames and not counts.failures
    assert counts.rejections.total() == counts.candidates.total()


def test_dc_spike_iq_imbalance_and_impulses() -> None:
    # The 1.6 Msps capture situation: the T1 channel sits on DC, where the dongle adds a
    # constant offset; add gain/phase imbalance and a spike every 125 us (the real capture
    # has them 12 dB below its telegrams; here they are 10 dB above).
    rng = np.random.default_rng(8)
    fs, fc = 1.6e6, T1.center_freq_hz
    samples, sent = make_stream(
        [(T1, FrameFormat.A)] * 3, 15.0, rng, sample_rate_hz=fs, center_freq_hz=fc, gap_s=0.002
    )
    i, q = samples.real * 1.1, (samples.imag * np.cos(0.1) + samples.real * np.sin(0.1))
    impaired = (i + 1j * q + (0.8 + 0.5j)).astype(np.complex64)
    impaired[:: int(125e-6 * fs)] += 3.0  # 10 dB above the wanted signal
    results = run(Receiver(fs, fc), impaired, 65536)
    assert matched(results, sent) == sent


def test_truncated_stream_yields_no_frame() -> None:
    rng = np.random.default_rng(9)
    samples, sent = make_stream([(T1, FrameFormat.A)], 20.0, rng)
    cut = samples[: (sent[0].start + sent[0].end) // 2]
    results = run(Receiver(FS, FC, [T1]), cut)
    assert frames(results) == []
    assert all(r.reason == "truncated" for r in results if isinstance(r, DecodeFailure))


@pytest.mark.parametrize(
    ("name", "fs", "fc"),
    [
        ("rtlsdr_868.625M_2M4_issue48", 2.4e6, 868.625e6),
        ("rtlsdr_868.950M_1M6_samples2", 1.6e6, 868.95e6),
    ],
)
def test_real_captures(name: str, fs: float, fc: float) -> None:
    truth = json.loads((RECORDINGS / f"{name}.json").read_text())
    samples = read_cu8(RECORDINGS / f"{name}.cu8")
    results = run(Receiver(fs, fc), samples, 262144)
    got = {f.data.hex(): f for f in frames(results)}
    for expected in truth["telegrams"]:
        frame = got[expected["frame_hex"]]
        assert frame.mode == expected["mode"]
        assert str(frame.frame_format) == expected["frame_format"]
        assert frame.burst is not None
        # approx_start_sample is where the energy starts; our start is the sync template's.
        assert 0 <= frame.burst.start_sample - expected["approx_start_sample"] < 2500


def test_mode_outside_the_stream_is_a_clear_error() -> None:
    assert covered_modes(1.2e6, 868.95e6) == (T1, C1)
    with pytest.raises(ValueError, match="S1"):
        Receiver(1.2e6, 868.95e6, [S1, T1])
    receiver = Receiver(1.2e6, 868.95e6)
    assert receiver.covered_modes == (T1, C1)
    with pytest.raises(ValueError, match="no wM-Bus channel"):
        Receiver(1.0e6, 869.525e6 + 1e6)
    with pytest.raises(ValueError, match="sps"):
        receiver.process(IQChunk(np.zeros(10, np.complex64), 0, 2.4e6, 868.95e6))


def test_frames_are_only_crc_valid_frames() -> None:
    rng = np.random.default_rng(10)
    samples, sent = make_stream([(C1, FrameFormat.A)] * 6, 9.0, rng, gap_s=0.002)
    receiver = Receiver(FS, FC, [C1])
    results = run(receiver, samples)
    assert not false_frames(results, sent)
    assert all(isinstance(r, Frame | DecodeFailure) for r in results)
    failures = [r for r in results if isinstance(r, DecodeFailure)]
    assert receiver.counts().failures.total() == len(failures)
    assert all(r.start_sample is not None for r in failures)


def _searched_points(receiver: Receiver) -> list[int]:
    """Counts, per channel, of the grid points the sync search scores (wraps the detectors)."""
    counts = [0] * len(receiver._channels)
    for i, ch in enumerate(receiver._channels):
        scores = ch.detector.scores

        def counting(y, base, q_lo, q_hi, _scores=scores, _i=i):
            counts[_i] += q_hi - q_lo
            return _scores(y, base, q_lo, q_hi)

        ch.detector.scores = counting  # type: ignore[method-assign]
    return counts


def test_energy_gate_searches_only_near_signals_and_loses_nothing() -> None:
    # Telegrams of every mode near the sensitivity goals, 0.2-0.3 s apart: after the first
    # noise-floor segment (0.1 s) the search should skip most of the stream, and every
    # telegram and failure the full search finds must still come out, for any chunking.
    rng = np.random.default_rng(21)
    samples, sent = make_stream(ALL * 2, 10.5, rng, gap_s=0.2)
    gated = Receiver(FS, FC)
    searched = _searched_points(gated)
    full = Receiver(FS, FC, energy_gate=False)
    everything = _searched_points(full)
    reference = run(full, samples, 65536)
    assert len(matched(reference, sent)) >= len(sent) - 1
    assert run(gated, samples, 65536) == reference
    assert all(s < 0.3 * e for s, e in zip(searched, everything, strict=True))
    for chunk in (997, 262144):
        assert run(gated, samples, chunk) == reference


def test_energy_gate_holds_on_a_busy_channel() -> None:
    # S1 telegrams back to back with 1-2 ms gaps keep the channel ~95 % busy: the noise floor
    # must still come from the gaps, or weak telegrams would go unsearched.
    rng = np.random.default_rng(22)
    samples, sent = make_stream([(S1, FrameFormat.A)] * 40, 8.5, rng, gap_s=0.001)
    assert len(samples) > 2 * FS * 0.5  # three noise-floor segments at least
    full = run(Receiver(FS, FC, [S1], energy_gate=False), samples, 262144)
    assert len(matched(full, sent)) >= 30
    assert run(Receiver(FS, FC, [S1]), samples, 262144) == full


@pytest.mark.parametrize(("mode", "fmt"), ALL)
@pytest.mark.parametrize(("ecn0_db", "tolerance_db"), [(10.0, 0.6), (20.0, 0.6), (30.0, 3.0)])
def test_snr_is_the_ec_n0(mode, fmt, ecn0_db: float, tolerance_db: float) -> None:
    # Input-referred, as the sensitivity figures are, so that SNR minus the required Ec/N0 is a
    # link margin; above ~25 dB it reads low (2 dB at 30 dB: the chip model's own error).
    rng = np.random.default_rng(23)
    samples, sent = make_stream([(mode, fmt)] * 2, ecn0_db, rng)
    results = run(Receiver(FS, FC, [mode]), samples)
    assert matched(results, sent) == sent
    got = frames(results)
    for f in got:
        assert f.burst is not None
        assert f.burst.snr_db == pytest.approx(ecn0_db, abs=tolerance_db)


def _feed(receiver: Receiver, pieces: list[tuple[int, np.ndarray]]) -> list:
    out: list = []
    for start, piece in pieces:
        out += receiver.process(IQChunk(piece, start, 2.4e6, 868.625e6))
    return out + receiver.flush()


def test_a_gap_ends_the_burst_in_progress_and_keeps_the_numbering() -> None:
    rng = np.random.default_rng(21)
    x, sent = make_stream([(T1, FrameFormat.A)] * 3 + [(C1, FrameFormat.B)] * 2, 20, rng)
    cut = sent[2]
    lo = (cut.start + cut.end) // 2  # the middle third of the third burst is never delivered
    hi = lo + (cut.end - cut.start) // 3
    pieces = [(s, x[s : min(e, lo)]) for s, e in ((0, 50_000), (50_000, lo))]
    pieces += [(s, x[s : s + 65_536]) for s in range(hi, len(x), 65_536)]
    got = frames(_feed(Receiver(2.4e6, 868.625e6), pieces))
    whole = frames(run(Receiver(2.4e6, 868.625e6), x))
    # The burst cut in two is not decoded across the gap; every other one is, at its true place.
    assert [f.data for f in whole] == [s.data for s in sent]
    assert [f.data for f in got] == [s.data for s in sent if s is not cut]
    assert not false_frames(got, sent)
    by_data = {f.data: f.burst for f in whole}
    for f in got:
        assert f.burst is not None
        assert abs(f.burst.start_sample - by_data[f.data].start_sample) <= 2
        assert abs(f.burst.end_sample - by_data[f.data].end_sample) <= 2


def test_a_gap_at_any_chunking_gives_the_same_output() -> None:
    rng = np.random.default_rng(22)
    x, sent = make_stream([(S1, FrameFormat.A), (T1, FrameFormat.A), (C1, FrameFormat.A)], 18, rng)
    gap_at, gap_len = sent[1].start - 5_000, 2_000  # quiet air: no telegram is lost

    def pieces(step: int) -> list[tuple[int, np.ndarray]]:
        starts = [*range(0, gap_at, step), *range(gap_at + gap_len, len(x), step)]
        return [(s, x[s : min(s + step, gap_at if s < gap_at else len(x))]) for s in starts]

    whole = _feed(Receiver(2.4e6, 868.625e6), pieces(len(x)))
    assert sorted(f.data for f in frames(whole)) == sorted(s.data for s in sent)
    for step in (997, 65_536):
        assert _feed(Receiver(2.4e6, 868.625e6), pieces(step)) == whole


def test_a_chunk_that_overlaps_the_stream_is_refused() -> None:
    receiver = Receiver(2.4e6, 868.625e6)
    receiver.process(IQChunk(np.zeros(100, np.complex64), 1_000, 2.4e6, 868.625e6))
    with pytest.raises(ValueError, match="overlaps"):
        receiver.process(IQChunk(np.zeros(10, np.complex64), 1_050, 2.4e6, 868.625e6))
