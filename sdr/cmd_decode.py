"""``wmbus decode``: telegrams from recorded IQ files (cu8, cs8, cs16, cf32, SigMF)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence

from dsp.receiver import Receiver
from protocol.decoder import Decoder
from protocol.modes import ModeSpec, parse_modes
from protocol.telegram import Telegram
from sdr.errors import UserError
from sdr.iqfile import SAMPLE_FORMATS, IQFileInfo, probe_iq_file, quantity_arg, read_iq_chunks
from sdr.keys import add_key_arguments, keys_from_args
from sdr.output import TelegramOutput, json_line
from sdr.pipeline import DecodePipeline, modes_in_band
from sdr.progress import Progress


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "decode",
        help="decode telegrams from recorded IQ files",
        description=(
            "Decode wM-Bus telegrams (S1, T1, C1 frame A and B) from IQ recordings. Sample rate "
            "and centre frequency come from SigMF metadata, from file-name tokens like "
            "868.625M_2400k or _2M4_, or from --rate/--center, which win."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="IQ file(s) or .sigmf-meta")
    add_recording_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per telegram")
    parser.add_argument("--stats", action="store_true", help="print failure counts per mode")
    parser.set_defaults(func=run)


def add_recording_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of every command that decodes recordings: tuning, format, modes and keys."""
    parser.add_argument("--rate", type=quantity_arg, help="sample rate, e.g. 2.4M or 2400000")
    parser.add_argument("--center", type=quantity_arg, help="centre frequency, e.g. 868.625M")
    parser.add_argument("--format", choices=SAMPLE_FORMATS, help="sample format of raw files")
    parser.add_argument(
        "--modes", default="S1,T1,C1", help="modes to receive, comma separated (default S1,T1,C1)"
    )
    add_key_arguments(parser)
    # Results never depend on the chunk size; tests use this option to prove it.
    parser.add_argument("--chunk-samples", type=int, default=262_144, help=argparse.SUPPRESS)


def _error(message: str) -> None:
    print(f"wmbus decode: error: {message}", file=sys.stderr)


def _warn(message: str) -> None:
    print(f"wmbus decode: warning: {message}", file=sys.stderr)


class DecodeSummary:
    """Counts over all files for ``--stats``."""

    def __init__(self) -> None:
        self.telegrams: Counter[str] = Counter()
        self.failures: Counter[tuple[str, str]] = Counter()
        self.signal_s = 0.0

    def add(self, pipeline: DecodePipeline, signal_s: float) -> None:
        self.telegrams.update(pipeline.telegrams)
        self.failures.update(pipeline.failure_counts())
        self.signal_s += signal_s

    def to_dict(self) -> dict:
        failures: dict[str, dict[str, int]] = {}
        for (mode, reason), count in sorted(self.failures.items()):
            failures.setdefault(mode, {})[reason] = count
        return {
            "signal_s": round(self.signal_s, 3),
            "telegrams": dict(sorted(self.telegrams.items())),
            "failures": failures,
        }

    def table(self) -> str:
        modes = sorted(set(self.telegrams) | {mode for mode, _ in self.failures})
        reasons = sorted({reason for _, reason in self.failures})
        header = ["mode", "telegrams", *reasons]
        rows = [
            [mode, str(self.telegrams[mode]), *(str(self.failures[(mode, r)]) for r in reasons)]
            for mode in modes
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True))
            for row in [header, *rows]
        ]
        return f"{self.signal_s:.1f} s of signal\n" + "\n".join(lines)


def decode_file(
    info: IQFileInfo,
    modes: Sequence[ModeSpec],
    decoder: Decoder,
    output: TelegramOutput,
    chunk_samples: int,
) -> DecodePipeline:
    """Decode one recording, writing each telegram as soon as it is decoded."""
    pipeline = DecodePipeline(Receiver(info.sample_rate_hz, info.center_freq_hz, modes), decoder)
    with Progress(info.num_samples, label=info.path.name) as progress:
        for result in pipeline.run(read_iq_chunks(info, chunk_samples), progress.update):
            if isinstance(result, Telegram):
                output.write(result, file=str(info.path))
    return pipeline


def run(args: argparse.Namespace) -> int:
    try:
        modes = parse_modes(args.modes)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if args.chunk_samples < 1:
        raise UserError("--chunk-samples must be at least 1")
    decoder = Decoder(keys_from_args(args))
    summary = DecodeSummary()
    status = 0
    with TelegramOutput(None, as_json=args.json) as output:
        for path in args.paths:
            try:
                info = probe_iq_file(path, args.format, args.rate, args.center)
            except UserError as exc:
                _error(str(exc))
                status = 2
                continue
            if info.truncated:
                _warn(f"{path}: ignoring a partial last sample ({info.trailing_bytes} byte(s))")
            try:
                inside = modes_in_band(
                    modes, info.sample_rate_hz, info.center_freq_hz, "this recording", "decoded",
                    lambda message, path=path: _warn(f"{path}: {message}"),
                )
            except UserError as exc:
                _error(f"{path}: {exc}")
                status = 2
                continue
            try:
                pipeline = decode_file(info, inside, decoder, output, args.chunk_samples)
            except BrokenPipeError:
                raise  # stdout closed (e.g. piped into head): the CLI ends quietly
            except OSError as exc:
                _error(f"{path}: read failed ({exc.strerror or exc})")
                status = 2
                continue
            summary.add(pipeline, info.duration_s)
            if not sum(pipeline.telegrams.values()) and not args.json:
                print(
                    f"{path}: no telegrams in {info.duration_s:.1f} s of signal "
                    f"({info.sample_rate_hz / 1e6:g} Msps at {info.center_freq_hz / 1e6:.3f} MHz)",
                    file=sys.stderr,
                )
    if args.stats:
        if args.json:
            print(json_line({"stats": summary.to_dict()}), file=sys.stderr)
        else:
            print(summary.table())
    return status
