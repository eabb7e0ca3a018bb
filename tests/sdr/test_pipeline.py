"""The decode pipeline: receiver + decoder over a stream, in order, with statistics."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dsp.receiver import CandidateCounts, Receiver
from dsp.types import IQChunk
from protocol.decoder import Decoder
from protocol.modes import C1, S1, T1, FrameFormat
from protocol.telegram import Telegram
from protocol.types import DecodeFailure, FailureReason, Frame
from sdr.io.files import probe_iq_file, read_iq_chunks
from sdr.io.writers import write_iq
from sdr.pipeline import DecodePipeline, DecodeStats, decode_stream
from sdr.sim.stream import ModeFormat, StreamSettings, random_bursts, render_stream
from sdr.sim.telegrams import random_telegram

RATE, CENTER = 2.4e6, 868.625e6
MIXED = [
    ModeFormat(T1, FrameFormat.A),
    ModeFormat(C1, FrameFormat.B),
    ModeFormat(S1, FrameFormat.A),
    ModeFormat(C1, FrameFormat.A),
]


@pytest.fixture(scope="module")
def mixed_stream(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """A cu8 file with T1, C1-B, S1 and C1-A telegrams at 25 dB (well above any threshold)."""
    rng = np.random.default_rng(11)
    bursts = random_bursts(MIXED, 8, rng, length=30)
    parts = list(render_stream(bursts, StreamSettings(RATE, CENTER, 25.0), rng))
    path = tmp_path_factory.mktemp("pipe") / "mixed_868.625M_2400k.cu8"
    write_iq(path, np.concatenate([s for s, _ in parts]), "cu8")
    return path, [t for _, t in parts if t is not None]


def telegrams(results) -> list[Telegram]:
    return [r for r in results if isinstance(r, Telegram)]


def test_every_telegram_found_once_in_order_per_channel(mixed_stream) -> None:
    path, sent = mixed_stream
    info = probe_iq_file(path)
    results = list(decode_stream(read_iq_chunks(info), Receiver(RATE, CENTER), Decoder()))
    got = telegrams(results)
    assert sorted(t.frame.data.hex() for t in got) == sorted(s.frame_hex for s in sent)
    by_hex = {s.frame_hex: s for s in sent}
    for t in got:
        s = by_hex[t.frame.data.hex()]
        assert (t.frame.mode, str(t.frame_format)) == (s.mode, s.frame_format)
        # The receiver locates each burst inside the span where it was transmitted.
        assert s.start_sample <= t.frame.burst.start_sample < s.end_sample
    # Channels finish bursts with different delays (an S1 burst is long), so only results of
    # one channel are guaranteed to come out in stream order.
    for freq in {t.frame.burst.freq_hz for t in got}:
        starts = [t.frame.burst.start_sample for t in got if t.frame.burst.freq_hz == freq]
        assert starts == sorted(starts)


def test_results_do_not_depend_on_chunk_size(mixed_stream) -> None:
    path, _ = mixed_stream
    info = probe_iq_file(path)

    def run(chunk_samples: int) -> list:
        pipe = DecodePipeline(Receiver(RATE, CENTER), Decoder())
        out = [
            (t.frame.data, t.frame.burst)
            for t in telegrams(pipe.run(read_iq_chunks(info, chunk_samples)))
        ]
        return [out, pipe.stats()]

    whole = run(info.num_samples)
    assert whole[0]
    assert run(997) == whole


def test_statistics_per_mode(mixed_stream) -> None:
    path, sent = mixed_stream
    pipe = DecodePipeline(Receiver(RATE, CENTER), Decoder())
    ends = []
    list(pipe.run(read_iq_chunks(probe_iq_file(path), 50_000), ends.append))
    stats = pipe.stats()
    assert stats.telegrams == Counter(s.mode for s in sent)
    assert ends[-1] == probe_iq_file(path).num_samples  # progress callback saw every chunk
    for key in stats.keys:  # every candidate is accounted for exactly once
        failed = sum(n for (k, _), n in (stats.failures + stats.rejections).items() if k == key)
        assert stats.candidates[key] == stats.frames[key] + failed
    assert stats.frames == stats.telegrams  # clean stream: every frame decodes


def test_reset_starts_every_count_again(mixed_stream) -> None:
    path, sent = mixed_stream
    info = probe_iq_file(path)
    pipe = DecodePipeline(Receiver(RATE, CENTER), Decoder())
    list(pipe.run(read_iq_chunks(info)))
    first = pipe.stats()
    assert sum(first.telegrams.values()) == len(sent)
    pipe.reset()
    assert pipe.stats() == DecodeStats()
    list(pipe.run(read_iq_chunks(info)))
    assert pipe.stats() == first


class ScriptedReceiver:
    """Stands in for the radio to hand the decoder chosen frames."""

    def __init__(self, items: list) -> None:
        self.items = items

    def counts(self) -> CandidateCounts:
        return CandidateCounts(failures=Counter({("T1", FailureReason.CRC): 2}))

    def process(self, chunk: IQChunk) -> list:
        return self.items

    def flush(self) -> list:
        return []

    def reset(self) -> None:
        self.items = []


def test_decoder_failures_are_counted_and_passed_on() -> None:
    rng = np.random.default_rng(3)
    good = Frame(random_telegram(rng, 30), FrameFormat.A, "T1")
    # An L field that disagrees with the frame length: the link layer rejects it.
    bad = Frame(bytes([0x40]) + good.data[1:], FrameFormat.A, "C1")
    phy = DecodeFailure("phy", FailureReason.NO_SYNC)
    pipe = DecodePipeline(ScriptedReceiver([good, bad, phy]), Decoder())
    chunk = IQChunk(np.zeros(4, np.complex64), 0, RATE, CENTER)
    out = list(pipe.run([chunk]))
    assert isinstance(out[0], Telegram) and out[0].frame is good
    assert isinstance(out[1], DecodeFailure) and out[1].stage != "phy"
    assert out[2] is phy
    stats = pipe.stats()
    assert stats.telegrams == Counter({"T1": 1})
    assert stats.protocol_failures == Counter({("C1", str(out[1].reason)): 1})
    # The phy failure is the receiver's to count, not the decoder's: its counts are passed on.
    assert stats.failures == Counter({("T1", "crc"): 2})
