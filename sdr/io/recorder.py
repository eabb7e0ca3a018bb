"""A live stream written to disk while it is decoded: SigMF (cu8 data, one annotation per decoded
telegram and per gap) or a plain cu8 file named the rtl_433 way."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from dsp.types import IQChunk
from protocol.modes import MODES
from protocol.telegram import Telegram
from sdr.errors import UserError
from sdr.io.codecs import SIGMF_DATA_EXT, SIGMF_META_EXT
from sdr.io.names import tuned_name
from sdr.io.writers import Annotation, IQWriter, SigMFWriter, channel_annotation

RECORD_FORMATS = ("sigmf", "cu8")


@dataclass(frozen=True, slots=True)
class RecordConfig:
    out: Path  # name given by the user; extension optional
    file_format: str = "sigmf"  # one of RECORD_FORMATS

    def __post_init__(self) -> None:
        if self.file_format not in RECORD_FORMATS:
            raise UserError(f"record format must be one of {', '.join(RECORD_FORMATS)}")
        sigmf_name = self.out.suffix.lower() in (SIGMF_META_EXT, SIGMF_DATA_EXT)
        if self.file_format == "cu8" and sigmf_name:
            raise UserError(f"{self.out}: a SigMF name with --format cu8")


def cu8_name(out: str | Path, center_freq_hz: float, sample_rate_hz: float) -> Path:
    """``OUT_868.625M_2400k.cu8``: tuning in the name, as rtl_433 writes and reads it."""
    out = Path(out)
    stem = out.with_suffix("") if out.suffix.lower() == ".cu8" else out
    return tuned_name(stem, center_freq_hz, sample_rate_hz, "cu8")


def sigmf_base(out: str | Path) -> Path:
    out = Path(out)
    if out.suffix.lower() in (SIGMF_META_EXT, SIGMF_DATA_EXT, ".sigmf"):
        return out.with_suffix("")
    return out


def telegram_annotation(telegram: Telegram) -> Annotation | None:
    """Where a telegram was heard: its burst's samples and the channel it occupied."""
    burst = telegram.frame.burst
    mode = None if burst is None else MODES.get(burst.mode)
    if burst is None or mode is None:
        return None
    return channel_annotation(
        burst.start_sample,
        max(1, burst.end_sample - burst.start_sample),
        f"{burst.mode} {telegram.meter_address.manufacturer} {telegram.meter_id}",
        telegram.frame.data.hex().upper(),
        mode,
        burst.freq_hz + burst.cfo_hz,
    )


class Recorder:
    """Writes every chunk; annotates telegrams and gaps when writing SigMF.

    The file holds the samples the source delivered, back to back. Chunks are numbered by device
    sample, so after a gap (blocks dropped because the decoder fell behind) a stream sample lies
    earlier in the file by the samples missing before it; SigMF gets a capture segment there
    (``core:global_index``) and a ``gap`` annotation, and telegram annotations are placed by
    file sample.
    """

    def __init__(self, config: RecordConfig) -> None:
        self.config = config
        self.writer: SigMFWriter | IQWriter | None = None
        self.path: Path | None = None
        self.annotations = 0
        self._next_sample: int | None = None
        self._gap_starts: list[int] = []  # stream sample after each gap
        self._missing_after: list[int] = []  # samples missing before that sample, in total

    def _open(self, chunk: IQChunk) -> SigMFWriter | IQWriter:
        if self.config.file_format == "sigmf":
            writer: SigMFWriter | IQWriter = SigMFWriter(
                sigmf_base(self.config.out),
                chunk.sample_rate_hz,
                chunk.center_freq_hz,
                "cu8",
                description="recorded by wmbus record",
            )
            self.path = writer.meta_path
        else:
            self.path = cu8_name(self.config.out, chunk.center_freq_hz, chunk.sample_rate_hz)
            writer = IQWriter(self.path, "cu8")
        return writer

    def file_sample(self, stream_sample: int) -> int:
        """Where a stream sample (device numbering) lies in the file."""
        gaps = bisect.bisect_right(self._gap_starts, stream_sample)
        return stream_sample - (self._missing_after[gaps - 1] if gaps else 0)

    def _gap(self, writer: SigMFWriter | IQWriter, chunk: IQChunk, missing: int) -> None:
        self._gap_starts.append(chunk.start_sample)
        before = self._missing_after[-1] if self._missing_after else 0
        self._missing_after.append(before + missing)
        if isinstance(writer, SigMFWriter):
            writer.discontinuity(chunk.start_sample)
            writer.annotate(
                Annotation(
                    writer.samples_written,
                    1,
                    "gap",
                    comment=f"{missing} samples dropped before this one (decoder behind)",
                )
            )

    def observe(self, chunks: Iterator[IQChunk]) -> Iterator[IQChunk]:
        for chunk in chunks:
            if self.writer is None:
                self.writer = self._open(chunk)
            if self._next_sample is not None and chunk.start_sample > self._next_sample:
                self._gap(self.writer, chunk, chunk.start_sample - self._next_sample)
            self._next_sample = chunk.end_sample
            self.writer.write(chunk.samples)
            yield chunk

    def on_telegram(self, telegram: Telegram) -> None:
        if isinstance(self.writer, SigMFWriter):
            annotation = telegram_annotation(telegram)
            if annotation is not None:
                start = self.file_sample(annotation.start_sample)
                self.writer.annotate(replace(annotation, start_sample=start))
                self.annotations += 1

    def close(self) -> int:
        """Finish the files (SigMF metadata included); returns the number of samples."""
        if self.writer is None:
            return 0
        self.writer.close()
        return self.writer.samples_written
