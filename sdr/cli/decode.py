"""``wmbus decode``: telegrams from recorded IQ files (cu8, cs8, cs16, cf32, SigMF)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from dsp.receiver import Receiver
from protocol.decoder import Decoder
from protocol.modes import ModeSpec, parse_modes
from protocol.telegram import Telegram
from sdr.cli.common import add_jobs_argument, add_recording_arguments, keys_from_args
from sdr.errors import UserError
from sdr.io.files import IQFileInfo, NotARecording, probe_iq_file, read_iq_chunks
from sdr.parallel import ordered_map
from sdr.pipeline import DecodePipeline, DecodeStats, modes_in_band
from sdr.progress import Progress
from sdr.sinks.output import TelegramOutput, json_line


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "decode",
        help="decode telegrams from recorded IQ files",
        description=(
            "Decode wM-Bus telegrams (S1, T1, C1 frame A and B) from IQ recordings. Sample rate "
            "and centre frequency come from SigMF metadata, from file-name tokens like "
            "868.625M_2400k or _2M4_, or from --rate/--center, which win. Each recording is "
            "decoded once (both files of a SigMF pair may be given); paths that are no "
            "recording (other extensions, directories) are skipped with a warning."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="IQ file(s) or .sigmf-meta")
    add_recording_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per telegram")
    parser.add_argument("--stats", action="store_true", help="print failure counts per mode")
    parser.add_argument(
        "--conversations",
        action="store_true",
        help="print only the exchanges between meters and gateways (a gateway's frame paired "
        "with the meter frame it answers and the meter's reply), each as one group; replies "
        "outside their response window are flagged",
    )
    add_jobs_argument(parser)
    parser.set_defaults(func=run)


def _error(message: str) -> str:
    return f"wmbus decode: error: {message}"


def _warning(message: str) -> str:
    return f"wmbus decode: warning: {message}"


def _nested(counts: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (key, reason), count in sorted(counts.items()):
        out.setdefault(key, {})[reason] = count
    return out


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]


def _reason_table(title: str, keys: list[str], counts: Counter[tuple[str, str]]) -> list[str]:
    reasons = sorted({reason for _, reason in counts})
    if not reasons:
        return []
    rows = [[key, *(str(counts[(key, r)]) for r in reasons)] for key in keys]
    return [title, *_table(["mode", *reasons], rows)]


def _total(counts: Counter[tuple[str, str]], key: str) -> int:
    return sum(n for (k, _), n in counts.items() if k == key)


class DecodeSummary:
    """Counts over all files for ``--stats``: every sync candidate, what became of it, why."""

    def __init__(self) -> None:
        self.stats = DecodeStats()
        self.signal_s = 0.0

    def add(self, stats: DecodeStats, signal_s: float) -> None:
        self.stats = self.stats + stats
        self.signal_s += signal_s

    def to_dict(self) -> dict:
        s = self.stats
        return {
            "signal_s": round(self.signal_s, 3),
            "candidates": dict(sorted(s.candidates.items())),
            "frames": dict(sorted(s.frames.items())),
            "telegrams": dict(sorted(s.telegrams.items())),
            "failures": _nested(s.failures),
            "rejections": _nested(s.rejections),
            "protocol_failures": _nested(s.protocol_failures),
        }

    def table(self) -> str:
        s = self.stats
        keys = s.keys
        rows = [
            [
                key,
                str(s.telegrams[key]),
                str(s.candidates[key]),
                str(s.frames[key]),
                str(_total(s.failures, key)),
                str(_total(s.rejections, key)),
                str(_total(s.protocol_failures, key)),
            ]
            for key in keys
        ]
        header = ["mode", "telegrams", "candidates", "frames", "failed", "rejected", "undecoded"]
        lines = [f"{self.signal_s:.1f} s of signal", *_table(header, rows)]
        lines += _reason_table("failed bursts (reported), by reason:", keys, s.failures)
        lines += _reason_table("rejected candidates (counted only), by reason:", keys, s.rejections)
        lines += _reason_table("frames the decoder rejected, by reason:", keys, s.protocol_failures)
        return "\n".join(lines)


def decode_file(
    info: IQFileInfo,
    modes: Sequence[ModeSpec],
    decoder: Decoder,
    output: TelegramOutput,
    chunk_samples: int,
    conversations_only: bool = False,
) -> DecodePipeline:
    """Decode one recording, writing each telegram as soon as it is decoded (with
    ``conversations_only``, only those that belong to an exchange)."""
    pipeline = DecodePipeline(Receiver(info.sample_rate_hz, info.center_freq_hz, modes), decoder)
    with Progress(info.num_samples, label=info.path.name) as progress:
        for result in pipeline.run(read_iq_chunks(info, chunk_samples), progress.update):
            if isinstance(result, Telegram) and not (
                conversations_only and result.exchange is None
            ):
                output.write(result, file=str(info.path))
    return pipeline


@dataclass(frozen=True, slots=True)
class FileJob:
    """One path of the command line, probed (in order, in this process): the recording to decode
    and the warnings and errors about it, printed before its telegrams."""

    path: str
    info: IQFileInfo | None  # None: nothing to decode (skipped, or an error among the notes)
    modes: tuple[ModeSpec, ...]
    notes: tuple[str, ...]
    status: int = 0


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """What every file is decoded with (sent to each worker process; keys never in a repr)."""

    keys: dict[str, bytes] = field(repr=False)
    as_json: bool
    chunk_samples: int
    conversations_only: bool


@dataclass(frozen=True, slots=True)
class FileResult:
    stats: DecodeStats | None  # None: the file was not decoded
    signal_s: float
    status: int


def file_jobs(args: argparse.Namespace, modes: Sequence[ModeSpec]) -> Iterator[FileJob]:
    """A job per path, each recording once (by metadata file: a shell glob names a SigMF pair
    twice). Lazy, so a look-ahead of a few files is all that is probed before decoding."""
    decoded: set[Path] = set()
    for path in args.paths:
        try:
            info = probe_iq_file(path, args.format, args.rate, args.center)
        except NotARecording as exc:  # a glob's truth files, READMEs, directories
            yield FileJob(path, None, (), (_warning(f"{exc} (skipped)"),))
            continue
        except UserError as exc:
            yield FileJob(path, None, (), (_error(str(exc)),), 2)
            continue
        if info.path.resolve() in decoded:
            continue
        decoded.add(info.path.resolve())
        notes: list[str] = []
        if info.truncated:
            notes.append(
                _warning(f"{path}: ignoring a partial last sample ({info.trailing_bytes} byte(s))")
            )
        try:
            inside = modes_in_band(
                modes, info.sample_rate_hz, info.center_freq_hz, "this recording", "decoded",
                lambda message, path=path, notes=notes: notes.append(
                    _warning(f"{path}: {message}")
                ),
            )
        except UserError as exc:
            yield FileJob(path, None, (), (*notes, _error(f"{path}: {exc}")), 2)
            continue
        yield FileJob(path, info, tuple(inside), tuple(notes))


def decode_job(job: FileJob, options: DecodeOptions) -> FileResult:
    """Print a job's notes and telegrams. Each file gets a decoder of its own, so a file decodes
    the same in a worker process as here (the decoder learns compact frames' layouts from full
    frames; across files that would make the output depend on which process had which file)."""
    for note in job.notes:
        print(note, file=sys.stderr)
    info = job.info
    if info is None:
        return FileResult(None, 0.0, job.status)
    with TelegramOutput(None, as_json=options.as_json) as output:
        try:
            pipeline = decode_file(
                info, job.modes, Decoder(options.keys), output, options.chunk_samples,
                options.conversations_only,
            )
        except BrokenPipeError:
            raise  # stdout closed (e.g. piped into head): the CLI ends quietly
        except OSError as exc:
            print(_error(f"{job.path}: read failed ({exc.strerror or exc})"), file=sys.stderr)
            return FileResult(None, 0.0, 2)
    if not sum(pipeline.stats().telegrams.values()) and not options.as_json:
        print(
            f"{job.path}: no telegrams in {info.duration_s:.1f} s of signal "
            f"({info.sample_rate_hz / 1e6:g} Msps at {info.center_freq_hz / 1e6:.3f} MHz)",
            file=sys.stderr,
        )
    return FileResult(pipeline.stats(), info.duration_s, 0)


def run(args: argparse.Namespace) -> int:
    try:
        modes = parse_modes(args.modes)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    options = DecodeOptions(keys_from_args(args), args.json, args.chunk_samples, args.conversations)
    summary = DecodeSummary()
    status = 0
    recordings = 0
    work = partial(decode_job, options=options)
    for result in ordered_map(work, file_jobs(args, modes), args.jobs):
        status = max(status, result.status)
        if result.stats is not None:
            summary.add(result.stats, result.signal_s)
            recordings += 1
    if not recordings and not status:
        print(_error("none of the paths is a recording"), file=sys.stderr)
        status = 2
    if args.stats:
        if args.json:
            print(json_line({"stats": summary.to_dict()}), file=sys.stderr)
        else:
            print(summary.table())
    return status
