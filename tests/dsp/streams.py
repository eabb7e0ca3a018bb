"""Synthetic streams for the receiver tests: telegrams placed at known positions, plus noise."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsp.modulate import add_noise, modulate
from dsp.receiver import Receiver
from dsp.types import IQChunk
from protocol.framing import add_crcs
from protocol.modes import FrameFormat, ModeSpec
from protocol.types import DecodeFailure, Frame


@dataclass(frozen=True)
class Sent:
    data: bytes  # CRC-less link frame, L = len - 1
    mode: ModeSpec
    frame_format: FrameFormat
    start: int  # first sample of the burst
    end: int


def random_frame(rng: np.random.Generator, length: int = 40) -> bytes:
    body = rng.integers(0, 256, length - 1, dtype=np.uint8).tobytes()
    return bytes([length - 1]) + body


def make_stream(
    bursts: list[tuple[ModeSpec, FrameFormat]],
    ecn0_db: float,
    rng: np.random.Generator,
    *,
    sample_rate_hz: float = 2.4e6,
    center_freq_hz: float = 868.625e6,
    gap_s: float = 0.004,
    cfo_hz: float = 0.0,
    chip_rate_error: float = 0.0,
    length: int = 40,
    preamble_chips: int | None = None,
) -> tuple[np.ndarray, list[Sent]]:
    """Bursts one after another with random gaps.

    ``ecn0_db`` holds for the fastest chip rate among the bursts (the hardest case); slower
    modes get correspondingly more energy per chip.
    """
    pieces: list[np.ndarray] = []
    sent: list[Sent] = []
    pos = 0
    for mode, fmt in bursts:
        gap = np.zeros(int(gap_s * sample_rate_hz) + int(rng.integers(0, 1000)), np.complex64)
        data = random_frame(rng, length)
        burst = modulate(
            add_crcs(data, fmt),
            mode,
            fmt,
            sample_rate_hz,
            center_freq_hz,
            cfo_hz=cfo_hz,
            chip_rate_error=chip_rate_error,
            preamble_chips=preamble_chips,
            start_phase_rad=float(rng.uniform(0, 2 * np.pi)),
        )
        pieces += [gap, burst]
        pos += len(gap)
        sent.append(Sent(data, mode, fmt, pos, pos + len(burst)))
        pos += len(burst)
    pieces.append(np.zeros(int(gap_s * sample_rate_hz), np.complex64))
    clean = np.concatenate(pieces)
    reference = max(mode.chip_rate_hz for mode, _ in bursts)
    noisy = add_noise(clean, ecn0_db, reference, sample_rate_hz, rng)
    return noisy, sent


def run(
    receiver: Receiver, samples: np.ndarray, chunk: int | None = None
) -> list[Frame | DecodeFailure]:
    step = len(samples) if chunk is None else chunk
    out: list[Frame | DecodeFailure] = []
    for start in range(0, len(samples), step):
        piece = samples[start : start + step]
        out += receiver.process(
            IQChunk(piece, start, receiver.sample_rate_hz, receiver.center_freq_hz)
        )
    return out + receiver.flush()


def frames(results: list[Frame | DecodeFailure]) -> list[Frame]:
    return [r for r in results if isinstance(r, Frame)]


def matched(results: list[Frame | DecodeFailure], sent: list[Sent]) -> list[Sent]:
    """The sent telegrams that came out exactly (data, mode, format, position)."""
    got = frames(results)
    out = []
    for s in sent:
        for f in got:
            if (
                f.data == s.data
                and f.mode == s.mode.name
                and f.frame_format is s.frame_format
                and f.burst is not None
                and s.start <= f.burst.start_sample < s.end
            ):
                out.append(s)
                break
    return out


def false_frames(results: list[Frame | DecodeFailure], sent: list[Sent]) -> list[Frame]:
    truth = {s.data for s in sent}
    return [f for f in frames(results) if f.data not in truth]


def read_cu8(path: Path) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.uint8).astype(np.float32)
    return ((raw[0::2] - 127.5) + 1j * (raw[1::2] - 127.5)).astype(np.complex64) / 127.5
