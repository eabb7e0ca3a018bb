"""Recorded IQ files: probing (format, sample rate, centre frequency) and streaming reads.

Raw interleaved I/Q in the formats rtl_433 and rtl_sdr use (cu8, cs8, cs16, cf32) and SigMF
(metadata read with the ``sigmf`` package). Sample rate and centre frequency come from explicit
arguments (which win), SigMF metadata, or rtl_433-style tokens in the file name.
"""

from __future__ import annotations

import json
import math
import reprlib
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sigmf
from sigmf.error import SigMFError
from sigmf.sigmffile import get_sigmf_filenames

from dsp.types import IQChunk
from sdr.errors import UserError
from sdr.io.codecs import (
    FORMAT_OF_SIGMF,
    SAMPLE_BYTES,
    SAMPLE_FORMATS,
    SIGMF_DATA_EXT,
    SIGMF_DATATYPES,
    SIGMF_META_EXT,
    decode_samples,
)
from sdr.io.names import (
    CENTER_FREQ_RANGE_HZ,
    SAMPLE_RATE_RANGE_HZ,
    format_quantity,
    parse_name_tokens,
)


class NotARecording(UserError):
    """The path is no recording at all (a directory, a file of unknown extension): a caller
    given a shell glob may skip it, where a broken recording is an error."""


@dataclass(frozen=True, slots=True)
class IQFileInfo:
    """What is needed to read a recording. For SigMF, ``path`` is the metadata file."""

    path: Path
    sample_format: str  # one of SAMPLE_FORMATS
    sample_rate_hz: float
    center_freq_hz: float
    data_path: Path | None = None  # file holding the samples (defaults to ``path``)
    data_offset_bytes: int = 0
    num_samples: int = 0
    trailing_bytes: int = 0  # bytes of an incomplete last sample, ignored when reading
    is_sigmf: bool = False

    @property
    def samples_path(self) -> Path:
        return self.data_path or self.path

    @property
    def truncated(self) -> bool:
        return self.trailing_bytes > 0

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate_hz


def _format_from_extension(path: Path) -> str | None:
    suffix = path.suffix.lower().lstrip(".")
    return suffix if suffix in SAMPLE_FORMATS else None


def _sigmf_meta_path(path: Path) -> Path | None:
    """The metadata file of a SigMF recording named by its meta, data or base path."""
    if path.suffix.lower() in (SIGMF_META_EXT, SIGMF_DATA_EXT):
        return get_sigmf_filenames(path)["meta_fn"]
    if path.suffix.lower() not in tuple(f".{f}" for f in SAMPLE_FORMATS):
        candidate = get_sigmf_filenames(path)["meta_fn"]
        if candidate.is_file() and not path.is_file():
            return candidate
    return None


@dataclass(frozen=True, slots=True)
class _SigMFFacts:
    data_path: Path
    data_offset_bytes: int
    trailing_bytes_declared: int
    sample_format: str | None
    datatype: str
    sample_rate_hz: float | None
    center_freq_hz: float | None


def _sigmf_sections(meta_path: Path) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The ``global`` object and the first capture (empty without one) of a metadata file."""
    try:
        meta = json.loads(meta_path.read_bytes())
    except OSError as exc:
        raise UserError(f"{meta_path}: cannot read ({exc.strerror or exc})") from exc
    except (ValueError, RecursionError) as exc:  # not JSON, or nested deeper than json can go
        raise UserError(f"{meta_path}: unreadable SigMF metadata ({exc})") from exc
    glob = meta.get("global") if isinstance(meta, dict) else None
    captures = meta.get("captures", []) if isinstance(meta, dict) else None
    if not (
        isinstance(glob, dict)
        and isinstance(captures, list)
        and all(isinstance(c, dict) for c in captures)
    ):
        raise UserError(
            f"{meta_path}: unreadable SigMF metadata (no 'global' object and 'captures' list)"
        )
    return glob, captures[0] if captures else {}


def _meta_number(
    section: Mapping[str, Any], key: str, meta_path: Path, whole: bool = False
) -> int | float | None:
    """``section[key]``: None when absent, else a finite number (an integer with ``whole``);
    text, NaN, infinities or ``true`` are a one-line error naming the field."""
    value = section.get(key)
    if value is None:
        return None
    kind: type | tuple[type, ...] = int if whole else (int, float)
    if (
        isinstance(value, bool)
        or not isinstance(value, kind)
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        wanted = "an integer" if whole else "a finite number"
        raise UserError(f"{meta_path}: {key} is {reprlib.repr(value)}, not {wanted}")
    return value


def _read_sigmf_meta(meta_path: Path) -> _SigMFFacts:
    if not meta_path.is_file():
        raise UserError(f"{meta_path}: no such file")
    # The fields read here are checked first: the sigmf package takes them on trust.
    glob, capture = _sigmf_sections(meta_path)
    channels = _meta_number(glob, sigmf.NUM_CHANNELS_KEY, meta_path, whole=True)
    if channels is not None and channels != 1:
        raise UserError(f"{meta_path}: {reprlib.repr(channels)} channels; only 1 is supported")
    trailing = _meta_number(glob, sigmf.TRAILING_BYTES_KEY, meta_path, whole=True) or 0
    if trailing < 0:
        raise UserError(f"{meta_path}: {sigmf.TRAILING_BYTES_KEY} is negative")
    datatype = glob.get(sigmf.DATATYPE_KEY)
    if not isinstance(datatype, str):
        raise UserError(
            f"{meta_path}: {sigmf.DATATYPE_KEY} is {reprlib.repr(datatype)}, not a type name"
        )
    rate = _meta_number(glob, sigmf.SAMPLE_RATE_KEY, meta_path)
    center = _meta_number(capture, sigmf.FREQUENCY_KEY, meta_path)
    try:
        with warnings.catch_warnings():
            # sigmf warns about partial samples; probe_iq_file reports them itself.
            warnings.simplefilter("ignore")
            handle = sigmf.fromfile(meta_path, skip_checksum=True)
    # What else the package trips over in metadata it does not validate.
    except (SigMFError, LookupError, TypeError, ValueError, AttributeError, OSError) as exc:
        raise UserError(f"{meta_path}: unreadable SigMF metadata ({exc})") from exc
    if handle.data_file is None:
        raise UserError(f"{meta_path}: SigMF dataset file is missing")
    return _SigMFFacts(
        data_path=Path(handle.data_file),
        data_offset_bytes=int(getattr(handle, "data_offset", 0)),
        trailing_bytes_declared=trailing,
        sample_format=FORMAT_OF_SIGMF.get(datatype.lower()),
        datatype=datatype,
        sample_rate_hz=None if rate is None else float(rate),
        center_freq_hz=None if center is None else float(center),
    )


@dataclass(frozen=True, slots=True)
class _Located:
    """Where a recording's samples are and what its metadata or name says about them."""

    path: Path  # the metadata file for SigMF
    data_path: Path
    data_offset_bytes: int
    trailing_bytes_declared: int
    sample_format: str | None
    sample_rate_hz: float | None
    center_freq_hz: float | None
    is_sigmf: bool


def _locate(path: Path, sample_format: str | None) -> _Located:
    hints = parse_name_tokens(path.name)
    meta_path = _sigmf_meta_path(path)
    if meta_path is None:
        fmt = sample_format or _format_from_extension(path)
        return _Located(
            path, path, 0, 0, fmt, hints.sample_rate_hz, hints.center_freq_hz, is_sigmf=False
        )
    facts = _read_sigmf_meta(meta_path)
    if facts.sample_format is None and sample_format is None:
        raise UserError(
            f"{meta_path}: SigMF datatype {facts.datatype!r} is not supported "
            f"(use {', '.join(SIGMF_DATATYPES.values())})"
        )
    return _Located(
        meta_path,
        facts.data_path,
        facts.data_offset_bytes,
        facts.trailing_bytes_declared,
        sample_format or facts.sample_format,
        hints.sample_rate_hz if facts.sample_rate_hz is None else facts.sample_rate_hz,
        hints.center_freq_hz if facts.center_freq_hz is None else facts.center_freq_hz,
        is_sigmf=True,
    )


def probe_iq_file(
    path: str | Path,
    sample_format: str | None = None,
    sample_rate_hz: float | None = None,
    center_freq_hz: float | None = None,
) -> IQFileInfo:
    """Describe a recording; raises UserError with a one-line reason when it cannot be read.

    An incomplete last sample is not an error: ``trailing_bytes`` says how much is ignored.
    """
    if sample_format is not None and sample_format not in SAMPLE_FORMATS:
        raise UserError(
            f"unknown sample format {sample_format!r}; choose from {', '.join(SAMPLE_FORMATS)}"
        )
    found = _locate(Path(path), sample_format)
    path, data_path, fmt = found.path, found.data_path, found.sample_format
    try:
        if data_path.is_dir():
            raise NotARecording(f"{data_path}: is a directory")
        regular = data_path.is_file()
        exists = regular or data_path.exists()
    except OSError as exc:  # a name too long, a folder on the way that may not be read, ...
        raise UserError(f"{data_path}: {exc.strerror or exc}") from None
    if not regular:
        raise UserError(f"{data_path}: {'not a regular file' if exists else 'no such file'}")
    if fmt is None:
        raise NotARecording(
            f"{path}: unknown sample format (extension {path.suffix or 'missing'!r}); "
            f"give --format {'|'.join(SAMPLE_FORMATS)}"
        )
    rate = sample_rate_hz if sample_rate_hz is not None else found.sample_rate_hz
    center = center_freq_hz if center_freq_hz is not None else found.center_freq_hz
    if rate is None:
        raise UserError(
            f"{path}: sample rate unknown; give --rate (or name the file like ..._2400k.cu8)"
        )
    if center is None:
        raise UserError(
            f"{path}: centre frequency unknown; give --center (or name the file like "
            "..._868.625M_2400k.cu8)"
        )
    for what, value, (low, high), option in (
        ("sample rate", rate, SAMPLE_RATE_RANGE_HZ, "--rate"),
        ("centre frequency", center, CENTER_FREQ_RANGE_HZ, "--center"),
    ):
        if not low <= value <= high:
            raise UserError(
                f"{path}: {what} {value:g} is not from {format_quantity(low)} to "
                f"{format_quantity(high)}; give {option}"
            )
    size = data_path.stat().st_size - found.data_offset_bytes - found.trailing_bytes_declared
    if size <= 0:
        raise UserError(f"{data_path}: file is empty")
    num_samples, trailing = divmod(size, SAMPLE_BYTES[fmt])
    if num_samples == 0:
        raise UserError(f"{data_path}: file is shorter than one {fmt} sample")
    return IQFileInfo(
        path=path,
        sample_format=fmt,
        sample_rate_hz=float(rate),
        center_freq_hz=float(center),
        data_path=data_path if data_path != path else None,
        data_offset_bytes=found.data_offset_bytes,
        num_samples=num_samples,
        trailing_bytes=trailing,
        is_sigmf=found.is_sigmf,
    )


def read_iq_chunks(info: IQFileInfo, chunk_samples: int = 262_144) -> Iterator[IQChunk]:
    """Stream a recording as consecutive IQChunks of at most ``chunk_samples`` samples."""
    if chunk_samples < 1:
        raise ValueError("chunk_samples must be at least 1")
    sample_bytes = SAMPLE_BYTES[info.sample_format]
    start = 0
    with open(info.samples_path, "rb") as fh:
        fh.seek(info.data_offset_bytes)
        while start < info.num_samples:
            count = min(chunk_samples, info.num_samples - start)
            raw = fh.read(count * sample_bytes)
            count = len(raw) // sample_bytes
            if count == 0:
                break  # the file shrank while being read
            samples = decode_samples(raw[: count * sample_bytes], info.sample_format)
            yield IQChunk(samples, start, info.sample_rate_hz, info.center_freq_hz)
            start += count


def output_sample_format(path: str | Path) -> str | None:
    """Format implied by an output file name: a raw format, ``"sigmf"``, or None if unknown."""
    path = Path(path)
    if path.suffix.lower() in (SIGMF_META_EXT, SIGMF_DATA_EXT):
        return "sigmf"
    return _format_from_extension(path)
