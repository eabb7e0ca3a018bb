"""Burst decoding on its own: a candidate becomes a frame, a reported failure or a counted
rejection, each with its reason; and the receiver's counts of them add up."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from dsp.bandplan import SYNC_WORD_CHIPS, header_chips
from dsp.burst import BurstDecoder, ChannelGeometry, Rejection
from dsp.modulate import add_noise, modulate
from dsp.receiver import Receiver
from dsp.sync import SyncCandidate
from protocol.framing import add_crcs
from protocol.modes import C1, C1_MARKER_FORMAT_A, S1, T1, FrameFormat, LineCode, ModeSpec
from protocol.types import DecodeFailure, FailureReason, Frame
from tests.dsp.streams import make_stream, random_frame, run

FS, FC = 2.4e6, 868.625e6
# The receiver's channel rates at 2.4 Msps (decimation 6 for S1, 4 for T1 and C1).
CHANNEL_RATE = {"S1": 400e3, "T1": 600e3, "C1": 600e3}
EARLY = {FailureReason.NO_SYNC, FailureReason.INSIDE_PREAMBLE, FailureReason.SYNC_ERRORS}


def decoder_for(modes: tuple[ModeSpec, ...]) -> BurstDecoder:
    """A decoder as the receiver makes it for the channel of ``modes``, input = channel."""
    rate = CHANNEL_RATE[modes[0].name]
    geometry = ChannelGeometry(rate, 1, 0, 0.0, 0.42 * rate)
    return BurstDecoder(modes, "01" * 8 + modes[0].sync_chips, geometry)


def channel_burst(
    mode: ModeSpec,
    fmt: FrameFormat,
    data: bytes,
    *,
    preamble_chips: int | None = None,
    ecn0_db: float | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, float, float]:
    """A burst at the mode's channel rate and centre, 2000 silent samples ahead of it; returns
    the samples, where the sync template ends (channel samples) and the chip length."""
    rate = CHANNEL_RATE[mode.name]
    raw = add_crcs(data, fmt)
    x = modulate(raw, mode, fmt, rate, mode.center_freq_hz, preamble_chips=preamble_chips,
                 start_phase_rad=1.0)
    y = np.concatenate([np.zeros(2000, np.complex64), x, np.zeros(20000, np.complex64)])
    if ecn0_db is not None:
        y = add_noise(y, ecn0_db, mode.chip_rate_hz, rate, np.random.default_rng(seed))
    chip = rate / mode.chip_rate_hz
    marker = len(C1_MARKER_FORMAT_A) if mode.line_code is LineCode.NRZ else 0
    end = 2000 + (len(header_chips(mode, fmt, preamble_chips)) - marker) * chip
    return y, end, chip


DATA = random_frame(np.random.default_rng(1))


@pytest.mark.parametrize(
    ("modes", "mode", "fmt"),
    [
        ((S1,), S1, FrameFormat.A),
        ((T1, C1), T1, FrameFormat.A),
        ((T1, C1), C1, FrameFormat.A),
        ((T1, C1), C1, FrameFormat.B),
    ],
    ids=["S1", "T1", "C1-A", "C1-B"],
)
@pytest.mark.parametrize("late", [-3.0, 0.0, 3.0])  # samples the search's timing is off
def test_clean_burst_decodes(modes, mode: ModeSpec, fmt: FrameFormat, late: float) -> None:
    decoder = decoder_for(modes)
    y, end, chip = channel_burst(mode, fmt, DATA)
    key, outcome = decoder.decode(SyncCandidate(end + late, chip, 0.9), y, 0)
    assert key == mode.name
    assert isinstance(outcome, Frame)
    assert (outcome.data, outcome.frame_format, outcome.mode) == (DATA, fmt, mode.name)
    assert outcome.corrected_errors == 0
    burst = outcome.burst
    assert burst is not None
    # The burst starts at its sync word, which ends the template.
    assert burst.start_sample == pytest.approx(end - SYNC_WORD_CHIPS[mode.name] * chip, abs=1)
    assert burst.chip_rate_hz == pytest.approx(mode.chip_rate_hz, rel=1e-3)
    assert burst.rssi_dbfs == pytest.approx(0.0, abs=0.1)  # amplitude 1
    assert burst.snr_db > 25  # noiseless (the estimate reads low up there)


@pytest.mark.parametrize("modes", [(S1,), (T1, C1)], ids=["S1", "T1/C1"])
def test_a_candidate_in_noise_is_rejected_with_a_reason(modes) -> None:
    decoder = decoder_for(modes)
    rate = CHANNEL_RATE[modes[0].name]
    chip = rate / modes[0].chip_rate_hz
    for seed in range(10):
        noise = add_noise(np.zeros(60000, np.complex64), 0.0, 100e3, rate,
                          np.random.default_rng(seed))
        key, outcome = decoder.decode(SyncCandidate(20000.0, chip, 0.7), noise, 0)
        assert key == decoder.label == "/".join(m.name for m in modes)
        assert isinstance(outcome, Rejection)
        assert outcome.reason in EARLY


@pytest.mark.parametrize(("modes", "preamble_chips"), [((S1,), None), ((T1, C1), 300)])
def test_a_candidate_deep_in_a_long_preamble_is_rejected_as_such(modes, preamble_chips) -> None:
    mode = modes[0]
    y, end, chip = channel_burst(mode, FrameFormat.A, DATA, preamble_chips=preamble_chips)
    decoder = decoder_for(modes)
    # 200 chips before the sync word: S1's 558-chip preamble, or a long T1 one.
    assert decoder.decode(SyncCandidate(end - 200 * chip, chip, 0.8), y, 0) == (
        decoder.label,
        Rejection(FailureReason.INSIDE_PREAMBLE),
    )
    assert isinstance(decoder.decode(SyncCandidate(end, chip, 0.8), y, 0)[1], Frame)


def test_a_c1_decoder_rejects_a_t1_burst_for_its_missing_marker() -> None:
    # T1 and C1 share the sync word; what follows it in T1 is no C1 format marker.
    y, end, chip = channel_burst(T1, FrameFormat.A, DATA)
    outcome = decoder_for((C1,)).decode(SyncCandidate(end, chip, 0.9), y, 0)
    assert outcome == ("C1", Rejection(FailureReason.MARKER_ERRORS))


@pytest.mark.parametrize(
    ("modes", "mode", "fmt", "weak_key"),
    [
        ((S1,), S1, FrameFormat.A, "S1"),
        ((T1, C1), T1, FrameFormat.A, "T1"),
        # T1's reading gets as far as C1's (the length field): the mode is not known.
        ((T1, C1), C1, FrameFormat.B, "T1/C1"),
    ],
)
def test_a_truncated_burst_is_reported_only_after_a_strong_sync(
    modes, mode: ModeSpec, fmt: FrameFormat, weak_key: str
) -> None:
    y, end, chip = channel_burst(mode, fmt, DATA)
    cut = y[: int(end + 100 * chip)]
    decoder = decoder_for(modes)
    key, outcome = decoder.decode(SyncCandidate(end, chip, 0.9), cut, 0)
    assert key == mode.name
    assert isinstance(outcome, DecodeFailure)
    assert outcome.reason is FailureReason.TRUNCATED
    assert outcome.start_sample == pytest.approx(end - SYNC_WORD_CHIPS[mode.name] * chip, abs=1)
    # A weaker sync match that runs into the end is more likely noise: counted, not reported.
    weak = decoder.decode(SyncCandidate(end, chip, 0.7), cut, 0)
    assert weak == (weak_key, Rejection(FailureReason.TRUNCATED))


def _check_counts_match(receiver: Receiver, results: list[Frame | DecodeFailure]) -> None:
    counts = receiver.counts()
    for key, found in counts.candidates.items():
        failed = sum(n for (k, _), n in counts.failures.items() if k == key)
        rejected = sum(n for (k, _), n in counts.rejections.items() if k == key)
        assert found == counts.frames[key] + failed + rejected, key
    assert counts.frames == Counter(r.mode for r in results if isinstance(r, Frame))
    reported = Counter(r.reason for r in results if isinstance(r, DecodeFailure))
    assert Counter({reason: n for (_, reason), n in counts.failures.items()}) == reported


def test_receiver_counts_add_up_and_agree_with_its_output() -> None:
    bursts = [(S1, FrameFormat.A), (T1, FrameFormat.A), (C1, FrameFormat.A), (C1, FrameFormat.B)]
    samples, sent = make_stream(bursts * 3, 9.0, np.random.default_rng(31), gap_s=0.003)
    receiver = Receiver(FS, FC)
    results = run(receiver, samples, 65536)
    _check_counts_match(receiver, results)
    counts = receiver.counts()
    assert counts.frames.total() >= len(sent) - 2
    # S1's long preamble gives a candidate every template length before its sync word.
    assert counts.rejections[("S1", FailureReason.INSIDE_PREAMBLE)] > 0
    assert set(counts.candidates) <= {"S1", "T1", "C1", "T1/C1"}
    # After a flush the counts do not depend on the chunking; they add up until a reset.
    receiver.reset()
    assert receiver.counts().candidates.total() == 0
    whole = run(receiver, samples)
    assert whole == results
    assert receiver.counts() == counts
    run(receiver, samples, 262144)
    doubled = receiver.counts()
    assert doubled.candidates == counts.candidates + counts.candidates
    assert doubled.rejections == counts.rejections + counts.rejections


def test_receiver_counts_noise_candidates_without_reporting_them() -> None:
    rng = np.random.default_rng(32)
    noise = add_noise(np.zeros(int(2 * FS), np.complex64), 0.0, 100e3, FS, rng)
    receiver = Receiver(FS, FC, energy_gate=False)  # search every sample of the noise
    assert run(receiver, noise, 262144) == []
    counts = receiver.counts()
    assert not counts.frames and not counts.failures
    assert counts.candidates.total() > 0
    assert counts.rejections.total() == counts.candidates.total()
    assert {reason for _, reason in counts.rejections} <= EARLY
    # counts() is a copy: changing it changes nothing in the receiver.
    counts.candidates.clear()
    assert receiver.counts().candidates.total() > 0
