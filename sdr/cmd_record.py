"""``wmbus record``: record a live source to SigMF (with telegram annotations) or plain cu8.

The samples are written as the device delivered them (cu8), while the same stream is decoded:
in SigMF every decoded telegram becomes an annotation (sample range, frequency edges, label
``MODE MANUFACTURER METER_ID``, the frame as comment). Where blocks were dropped because the
decoder fell behind, an ``overflow`` annotation marks the discontinuity.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

from dsp.types import IQChunk
from protocol.modes import MODES
from protocol.telegram import Telegram
from sdr.cmd_listen import add_live_arguments, report, run_session, say
from sdr.errors import UserError
from sdr.iqfile import SIGMF_DATA_EXT, SIGMF_META_EXT, Annotation, IQWriter, SigMFWriter
from sdr.sources import LiveSource

RECORD_FORMATS = ("sigmf", "cu8")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "record",
        help="record a live source to SigMF or cu8 while decoding it",
        description=(
            "Record samples from a live source while decoding them. SigMF (default) writes "
            "OUT.sigmf-data (cu8) and OUT.sigmf-meta with one annotation per decoded telegram; "
            "--format cu8 writes OUT_<centre>M_<rate>k.cu8, named the way rtl_433 and "
            "'wmbus decode' read tuning from file names."
        ),
    )
    parser.add_argument("out", metavar="OUT", help="output name (extension optional)")
    parser.add_argument(
        "--format", choices=RECORD_FORMATS, default="sigmf", help="file format (default sigmf)"
    )
    add_live_arguments(parser)
    parser.set_defaults(func=run)


def _number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def rtl433_name(out: str | Path, center_freq_hz: float, sample_rate_hz: float) -> Path:
    """``OUT_868.625M_2400k.cu8``: tuning in the name, as rtl_433 writes and reads it."""
    out = Path(out)
    stem = out.with_suffix("") if out.suffix.lower() == ".cu8" else out
    tokens = f"_{_number(center_freq_hz / 1e6)}M_{_number(sample_rate_hz / 1e3)}k"
    return stem.with_name(stem.name + tokens + ".cu8")


def sigmf_base(out: str | Path) -> Path:
    out = Path(out)
    if out.suffix.lower() in (SIGMF_META_EXT, SIGMF_DATA_EXT, ".sigmf"):
        return out.with_suffix("")
    return out


def telegram_annotation(telegram: Telegram) -> Annotation | None:
    """Where a telegram was heard: its burst's samples and the channel it occupied."""
    burst = telegram.frame.burst
    if burst is None:
        return None
    mode = MODES.get(burst.mode)
    half_width_hz = 0.0
    if mode is not None:
        # Carson's rule for the FSK burst: deviation plus half the chip rate on each side.
        half_width_hz = mode.deviation_hz + mode.chip_rate_hz / 2
    center_hz = burst.freq_hz + burst.cfo_hz
    address = telegram.meter_address
    return Annotation(
        start_sample=burst.start_sample,
        length_samples=max(1, burst.end_sample - burst.start_sample),
        label=f"{burst.mode} {address.manufacturer} {telegram.meter_id}",
        comment=telegram.frame.data.hex().upper(),
        freq_lower_edge_hz=center_hz - half_width_hz,
        freq_upper_edge_hz=center_hz + half_width_hz,
    )


class Recorder:
    """Writes every chunk, zero-filling gaps; annotates telegrams when writing SigMF."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.writer: SigMFWriter | IQWriter | None = None
        self.path: Path | None = None
        self.annotations = 0

    def _open(self, chunk: IQChunk) -> SigMFWriter | IQWriter:
        if self.args.format == "sigmf":
            writer: SigMFWriter | IQWriter = SigMFWriter(
                sigmf_base(self.args.out),
                chunk.sample_rate_hz,
                chunk.center_freq_hz,
                "cu8",
                description="recorded by wmbus record",
            )
            self.path = writer.meta_path
        else:
            self.path = rtl433_name(self.args.out, chunk.center_freq_hz, chunk.sample_rate_hz)
            writer = IQWriter(self.path, "cu8")
        return writer

    def observe(self, source: LiveSource, chunks: Iterator[IQChunk]) -> Iterator[IQChunk]:
        noted = 0
        for chunk in chunks:
            if self.writer is None:
                self.writer = self._open(chunk)
            if isinstance(self.writer, SigMFWriter):
                for start, missing in source.gaps[noted:]:
                    self.writer.annotate(
                        Annotation(
                            start,
                            1,
                            "overflow",
                            comment=f"{missing} samples dropped before this one (decoder behind)",
                        )
                    )
            noted = len(source.gaps)
            self.writer.write(chunk.samples)
            yield chunk

    def on_telegram(self, telegram: Telegram) -> None:
        if isinstance(self.writer, SigMFWriter):
            annotation = telegram_annotation(telegram)
            if annotation is not None:
                self.writer.annotate(annotation)
                self.annotations += 1

    def close(self) -> int:
        """Finish the files (SigMF metadata included); returns the number of samples."""
        if self.writer is None:
            return 0
        self.writer.close()
        return self.writer.samples_written


def run(args: argparse.Namespace) -> int:
    if args.format == "cu8" and Path(args.out).suffix.lower() in (SIGMF_META_EXT, SIGMF_DATA_EXT):
        raise UserError(f"{args.out}: a SigMF name with --format cu8")
    recorder = Recorder(args)
    try:
        result = run_session(args, "record", recorder.observe, recorder.on_telegram)
    finally:
        samples = recorder.close()
    status = report("record", result)
    if recorder.path is not None:
        extra = f", {recorder.annotations} telegram annotation(s)" if args.format == "sigmf" else ""
        say("record", f"wrote {recorder.path} ({samples} samples{extra})")
    return status
