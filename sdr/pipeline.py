"""Glue between a sample source, the receiver and the protocol decoder (decode, listen, survey)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from dsp.bandplan import covered_modes
from dsp.types import IQChunk
from protocol.modes import ModeSpec
from protocol.telegram import Telegram
from protocol.types import DecodeFailure, FailureReason, Frame
from sdr.errors import UserError

if TYPE_CHECKING:
    from dsp.receiver import CandidateCounts

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
    """Streaming receiver + decoder with per-mode statistics (``stats``)."""

    def __init__(self, receiver: ReceiverLike, decoder: DecoderLike) -> None:
        self.receiver = receiver
        self.decoder = decoder
        self._telegrams: Counter[str] = Counter()
        self._failures: Counter[tuple[str, str]] = Counter()

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
        return self._decode(self.receiver.process(chunk))

    def flush(self) -> list[Result]:
        return self._decode(self.receiver.flush())

    def reset(self) -> None:
        """Back to a new pipeline: the receiver's state and every count start again."""
        self.receiver.reset()
        self._telegrams = Counter()
        self._failures = Counter()

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
