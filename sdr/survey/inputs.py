"""Survey inputs: a recording (decoded and measured now) or a JSON-lines log of decode/listen."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from dsp.occupancy import OccupancyDetector
from dsp.receiver import Receiver
from protocol.decoder import Decoder
from protocol.modes import ModeSpec
from protocol.report import telegram_to_dict
from protocol.telegram import Telegram
from sdr.errors import UserError
from sdr.io.files import IQFileInfo, read_iq_chunks
from sdr.pipeline import DecodePipeline
from sdr.progress import Progress
from sdr.survey.collisions import ChannelStats, channel_stats
from sdr.survey.stats import Reception, reception_from_dict

LOG_SUFFIXES = (".json", ".jsonl", ".ndjson", ".log")
IQ_SUFFIXES = (".cu8", ".cs8", ".cs16", ".cf32", ".raw", ".sigmf-meta", ".sigmf-data", ".sigmf")


@dataclass(frozen=True, slots=True)
class LocationInput:
    """What one location's input told us. ``channels`` is None for logs (no signal to measure)."""

    label: str
    path: str
    source: str  # "recording" or "log"
    duration_s: float
    receptions: tuple[Reception, ...]
    channels: tuple[ChannelStats, ...] | None
    skipped_lines: int = 0


def is_log(path: str | Path) -> bool:
    """A JSON-lines log rather than IQ: by suffix, else by a first line that is a JSON object."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(LOG_SUFFIXES):
        return True
    if name.endswith(IQ_SUFFIXES):
        return False
    try:
        with path.open("rb") as stream:
            first = stream.readline(65536)
        obj = json.loads(first.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(obj, dict)


def _parse_log(stream: TextIO, path: str | Path) -> tuple[list[Reception], int, set[str]]:
    receptions: list[Reception] = []
    skipped = 0
    files: set[str] = set()
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            skipped += 1
            continue
        except RecursionError as exc:
            # No line of ours nests; one deeper than json can go is not a log of telegrams.
            raise UserError(f"{path}: line {number}: JSON nested too deeply") from exc
        reception = reception_from_dict(obj) if isinstance(obj, dict) else None
        if reception is not None:
            receptions.append(reception)
            if isinstance(obj.get("file"), str):
                files.add(obj["file"])
        elif not (isinstance(obj, dict) and ("error" in obj or "stats" in obj)):
            skipped += 1
    return receptions, skipped, files


def read_log(path: str | Path, label: str) -> LocationInput:
    """Receptions of a ``wmbus decode --json`` / ``wmbus listen`` log.

    A log holds no signal, so channel occupancy and collisions are unavailable; the duration is
    taken as the time of the last telegram.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            receptions, skipped, files = _parse_log(stream, path)
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if len(files) > 1:
        # Times restart with every recording, so their telegrams cannot share one timeline.
        raise UserError(
            f"{path}: telegrams of {len(files)} recordings ({', '.join(sorted(files))}); "
            "give one log per location"
        )
    duration = max((r.time_s for r in receptions), default=0.0)
    return LocationInput(label, str(path), "log", duration, tuple(receptions), None, skipped)


def analyse_recording(
    info: IQFileInfo,
    label: str,
    modes: Sequence[ModeSpec],
    decoder: Decoder,
    chunk_samples: int = 262_144,
) -> LocationInput:
    """Decode a recording and measure its channels in one pass (progress bar on a TTY)."""
    pipeline = DecodePipeline(Receiver(info.sample_rate_hz, info.center_freq_hz, modes), decoder)
    occupancy = OccupancyDetector.for_stream(info.sample_rate_hz, info.center_freq_hz, modes)
    receptions: list[Reception] = []
    bursts = []

    def collect(results: Sequence[object]) -> None:
        for result in results:
            if isinstance(result, Telegram):
                reception = reception_from_dict(telegram_to_dict(result))
                if reception is not None:
                    receptions.append(reception)

    with Progress(info.num_samples, label=f"{label}: {info.path.name}") as progress:
        for chunk in read_iq_chunks(info, chunk_samples):
            collect(pipeline.process(chunk))
            bursts += occupancy.process(chunk)
            progress.update(chunk.end_sample)
        collect(pipeline.flush())
        bursts += occupancy.flush()
    channels = channel_stats(bursts, occupancy.occupancy(), occupancy.noise_dbfs())
    return LocationInput(label, str(info.path), "recording", info.duration_s,
                         tuple(receptions), tuple(channels))
