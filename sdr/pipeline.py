"""Glue between a sample source, the receiver and the protocol decoder (decode, listen, survey)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol

from dsp.receiver import covered_modes
from dsp.types import IQChunk
from protocol.modes import ModeSpec
from protocol.telegram import Telegram
from protocol.types import DecodeFailure, Frame
from sdr.errors import UserError

Result = Telegram | DecodeFailure


def modes_in_band(
    modes: Sequence[ModeSpec],
    sample_rate_hz: float,
    center_freq_hz: float,
    band: str,
    action: str,
    warn: Callable[[str], None],
) -> tuple[ModeSpec, ...]:
    """The requested modes whose channel lies in the stream; ``warn`` names each one left out.

    ``band`` describes the stream ("this recording", "the tuned band"), ``action`` what is not
    done for a mode outside it ("decoded"). Raises UserError when no requested mode is inside.
    """
    inside = covered_modes(sample_rate_hz, center_freq_hz, modes)
    for mode in modes:
        if mode not in inside:
            warn(
                f"mode {mode.name} ({mode.center_freq_hz / 1e6:.3f} MHz) is outside {band}"
                f" ({sample_rate_hz / 1e6:g} Msps at {center_freq_hz / 1e6:.3f} MHz); not {action}"
            )
    if not inside:
        raise UserError(f"none of the requested modes is inside {band}")
    return inside


class ReceiverLike(Protocol):
    """What the pipeline needs of ``dsp.receiver.Receiver``."""

    stats: Counter

    def process(self, chunk: IQChunk) -> Sequence[Frame | DecodeFailure]: ...

    def flush(self) -> Sequence[Frame | DecodeFailure]: ...

    def reset(self) -> None: ...


class DecoderLike(Protocol):
    """What the pipeline needs of ``protocol.decoder.Decoder``."""

    def decode_frame(self, frame: Frame) -> Result: ...


class DecodePipeline:
    """Streaming receiver + decoder with per-mode statistics.

    ``failures`` counts (mode, reason) of frames that the decoder rejected or only partly
    decoded (``Telegram.error``); failures before a frame (sync, coding, CRC) are counted by the
    receiver and merged in by ``failure_counts``.
    """

    def __init__(self, receiver: ReceiverLike, decoder: DecoderLike) -> None:
        self.receiver = receiver
        self.decoder = decoder
        self.telegrams: Counter[str] = Counter()
        self.failures: Counter[tuple[str, str]] = Counter()

    def _decode(self, items: Iterable[Frame | DecodeFailure]) -> list[Result]:
        out: list[Result] = []
        for item in items:
            if isinstance(item, DecodeFailure):
                out.append(item)  # already counted by the receiver
                continue
            mode = item.mode or "?"
            result = self.decoder.decode_frame(item)
            if isinstance(result, DecodeFailure):
                self.failures[(mode, str(result.reason))] += 1
            else:
                self.telegrams[mode] += 1
                if result.error is not None:
                    self.failures[(mode, str(result.error.reason))] += 1
            out.append(result)
        return out

    def process(self, chunk: IQChunk) -> list[Result]:
        return self._decode(self.receiver.process(chunk))

    def flush(self) -> list[Result]:
        return self._decode(self.receiver.flush())

    def reset(self) -> None:
        self.receiver.reset()

    def run(
        self,
        chunks: Iterable[IQChunk],
        on_chunk: Callable[[int], None] | None = None,
    ) -> Iterator[Result]:
        """Process every chunk, then flush; results in the receiver's order (stream order within
        each channel: a long S1 burst may come out after a later T1 burst).

        ``on_chunk(end_sample)`` is called after each chunk (progress display).
        """
        for chunk in chunks:
            yield from self.process(chunk)
            if on_chunk is not None:
                on_chunk(chunk.end_sample)
        yield from self.flush()

    def failure_counts(self) -> Counter[tuple[str, str]]:
        """Failures per (mode, reason) from the receiver and the decoder together."""
        merged: Counter[tuple[str, str]] = Counter()
        for (mode, reason), count in self.receiver.stats.items():
            merged[(str(mode), str(reason))] += count
        merged.update(self.failures)
        return merged


def decode_stream(
    chunks: Iterable[IQChunk], receiver: ReceiverLike, decoder: DecoderLike
) -> Iterator[Result]:
    """Telegrams and failures of a whole stream, flushed at its end (``DecodePipeline.run``)."""
    return DecodePipeline(receiver, decoder).run(chunks)
