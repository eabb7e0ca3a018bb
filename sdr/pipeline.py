"""Glue between a sample source, the receiver, the protocol decoder and the conversation tracker
(decode, listen, survey)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from dsp.bandplan import (
    ALL_MODES,
    SHORT_PREAMBLE_CHIPS,
    airtime_s,
    covered_modes,
    sync_word_chip,
)
from dsp.receiver import SLOWEST_CHIP_RATE, CandidateCounts
from dsp.types import IQChunk
from protocol.conversation import ConversationTracker
from protocol.framing import on_air_length
from protocol.modes import S1, ModeSpec
from protocol.telegram import Telegram
from protocol.types import DecodeFailure, FailureReason, Frame
from sdr.errors import UserError

Result = Telegram | DecodeFailure

# How long after a frame's start_sample the receiver has delivered it, at most: it decodes a
# candidate once its buffer holds the longest burst that could follow (L = 255) at the slowest
# chip rate it searches (``SLOWEST_CHIP_RATE``), plus its filters and sync search
# (``LATENCY_MARGIN_S``). Bounded over every mode, whichever a stream covers: S1's 0.19 s.
LATENCY_MARGIN_S = 0.02
RECEIVER_LATENCY_S = LATENCY_MARGIN_S + max(
    airtime_s(m, m.frame_formats[0], on_air_length(255, m.frame_formats[0]),
              chip_rate_error=SLOWEST_CHIP_RATE - 1)
    for m in ALL_MODES
)
# The shortest preamble before an answer's sync word, per channel: the answers on the S channel
# (S2 and T2 gateways, S2 meters) use the short one, the others their mode's minimum.
ANSWER_PREAMBLES_S: dict[str, float] = {
    m.name: sync_word_chip(m, SHORT_PREAMBLE_CHIPS if m is S1 else None) / m.chip_rate_hz
    for m in ALL_MODES
}


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

    def process(self, chunk: IQChunk) -> Sequence[Frame | DecodeFailure]: ...

    def flush(self) -> Sequence[Frame | DecodeFailure]: ...

    def reset(self) -> None: ...

    def counts(self) -> CandidateCounts: ...


class DecoderLike(Protocol):
    """What the pipeline needs of ``protocol.decoder.Decoder``."""

    def decode_frame(self, frame: Frame) -> Result: ...


@dataclass(frozen=True, slots=True)
class DecodeStats:
    """What became of every sync candidate, per mode (liquid-dsp's frame-sync statistics).

    The receiver's (``CandidateCounts``; a key is a mode, or "T1/C1" when a candidate was
    rejected before its mode could be told): every candidate is a ``frame``, a ``failure``
    reported in the output (a credible burst that did not decode: coding, CRC, length), or a
    ``rejection`` that is only counted (a chance match in noise, a preamble), so for each key
    candidates = frames + failures + rejections. The decoder's: each frame became a telegram
    (``telegrams``) or not, and ``protocol_failures`` counts frames it rejected or only partly
    decoded (``Telegram.error``), per (mode, reason). Stats of several streams add with ``+``.
    """

    candidates: Counter[str] = field(default_factory=Counter)
    frames: Counter[str] = field(default_factory=Counter)
    rejections: Counter[tuple[str, str]] = field(default_factory=Counter)
    telegrams: Counter[str] = field(default_factory=Counter)
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    protocol_failures: Counter[tuple[str, str]] = field(default_factory=Counter)

    def __add__(self, other: DecodeStats) -> DecodeStats:
        return DecodeStats(
            self.candidates + other.candidates,
            self.frames + other.frames,
            self.rejections + other.rejections,
            self.telegrams + other.telegrams,
            self.failures + other.failures,
            self.protocol_failures + other.protocol_failures,
        )

    @property
    def keys(self) -> list[str]:
        """Every mode (or channel label) that has a count, sorted."""
        pairs = [*self.rejections, *self.failures, *self.protocol_failures]
        return sorted({*self.candidates, *self.telegrams, *(key for key, _ in pairs)})


def _by_reason(counts: Counter[tuple[str, FailureReason]]) -> Counter[tuple[str, str]]:
    return Counter({(key, str(reason)): n for (key, reason), n in counts.items()})


class DecodePipeline:
    """Streaming receiver + decoder + conversation tracker, with per-mode statistics (``stats``).

    Telegrams of meters that offer no access come out as soon as the receiver delivers them;
    frames that may belong to an exchange are held until it is complete, at most the pairing
    horizon plus twice ``RECEIVER_LATENCY_S`` (``protocol.conversation``).
    """

    def __init__(self, receiver: ReceiverLike, decoder: DecoderLike) -> None:
        self.receiver = receiver
        self.decoder = decoder
        self.conversations = ConversationTracker(RECEIVER_LATENCY_S, ANSWER_PREAMBLES_S)
        self._telegrams: Counter[str] = Counter()
        self._failures: Counter[tuple[str, str]] = Counter()
        self._now = 0  # where the stream has reached: the end of the last chunk

    def _decode(self, items: Iterable[Frame | DecodeFailure]) -> list[Result]:
        out: list[Result] = []
        for item in items:
            if isinstance(item, DecodeFailure):
                out.append(item)  # already counted by the receiver
                continue
            mode = item.mode or "?"
            result = self.decoder.decode_frame(item)
            if isinstance(result, DecodeFailure):
                self._failures[(mode, str(result.reason))] += 1
            else:
                self._telegrams[mode] += 1
                if result.error is not None:
                    self._failures[(mode, str(result.error.reason))] += 1
            out.append(result)
        return out

    def process(self, chunk: IQChunk) -> list[Result]:
        self._now = chunk.end_sample
        return self.conversations.process(self._decode(self.receiver.process(chunk)), self._now)

    def flush(self) -> list[Result]:
        last = self.conversations.process(self._decode(self.receiver.flush()), self._now)
        return last + self.conversations.flush()

    def reset(self) -> None:
        """Back to a new pipeline: the receiver's and tracker's state and every count start
        again."""
        self.receiver.reset()
        self.conversations.reset()
        self._telegrams = Counter()
        self._failures = Counter()
        self._now = 0

    def run(
        self,
        chunks: Iterable[IQChunk],
        on_chunk: Callable[[int], None] | None = None,
    ) -> Iterator[Result]:
        """Process every chunk, then flush; results in the receiver's order (stream order within
        each channel: a long S1 burst may come out after a later T1 burst), an exchange's
        frames together once it is complete.

        ``on_chunk(end_sample)`` is called after each chunk (progress display).
        """
        for chunk in chunks:
            yield from self.process(chunk)
            if on_chunk is not None:
                on_chunk(chunk.end_sample)
        yield from self.flush()

    def stats(self) -> DecodeStats:
        """Counts since the pipeline was made or last reset."""
        counts = self.receiver.counts()
        return DecodeStats(
            candidates=Counter(counts.candidates),
            frames=Counter(counts.frames),
            rejections=_by_reason(counts.rejections),
            telegrams=Counter(self._telegrams),
            failures=_by_reason(counts.failures),
            protocol_failures=Counter(self._failures),
        )


def decode_stream(
    chunks: Iterable[IQChunk], receiver: ReceiverLike, decoder: DecoderLike
) -> Iterator[Result]:
    """Telegrams and failures of a whole stream, flushed at its end (``DecodePipeline.run``)."""
    return DecodePipeline(receiver, decoder).run(chunks)
