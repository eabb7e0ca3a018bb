"""Recorded IQ files: probing (format, sample rate, centre frequency), streaming reads, writers.

Raw interleaved I/Q in the formats rtl_433 and rtl_sdr use (cu8, cs8, cs16, cf32) and SigMF
(metadata read and written with the ``sigmf`` package). Sample rate and centre frequency come from
explicit arguments (which win), SigMF metadata, or rtl_433-style tokens in the file name.
"""

from __future__ import annotations

import argparse
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sigmf
from sigmf.error import SigMFError
from sigmf.sigmffile import get_sigmf_filenames

from dsp.types import IQChunk
from sdr.closing import Closing
from sdr.errors import UserError

SAMPLE_FORMATS = ("cu8", "cs8", "cs16", "cf32")
SIGMF_META_EXT = ".sigmf-meta"
SIGMF_DATA_EXT = ".sigmf-data"

# Bytes per complex sample.
_SAMPLE_BYTES = {"cu8": 2, "cs8": 2, "cs16": 4, "cf32": 8}
# Full scale of each integer format; reading divides by it, writing multiplies.
_FULL_SCALE = {"cs8": 128.0, "cs16": 32768.0}
_INT_DTYPE = {"cs8": np.dtype("i1"), "cs16": np.dtype("<i2")}

_SIGMF_DATATYPES = {"cu8": "cu8", "cs8": "ci8", "cs16": "ci16_le", "cf32": "cf32_le"}
_FORMAT_OF_SIGMF = {v: k for k, v in _SIGMF_DATATYPES.items()}

# A number with an SI scale and/or unit: 868.95M, 1600k, 2M4 (= 2.4 M), 868950000Hz, 2.4Msps.
_QUANTITY = r"(\d+(?:\.\d+)?)([kKmMgG]?)(\d*)(hz|sps)?"
_NAME_TOKEN = re.compile(rf"(?<![0-9A-Za-z.]){_QUANTITY}(?![0-9A-Za-z])", re.IGNORECASE)
_WHOLE_QUANTITY = re.compile(_QUANTITY, re.IGNORECASE)
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}
# Without an explicit Hz/sps unit, a value is a centre frequency when it is at least this large:
# sample rates of SDR dongles stay below it and the tuners cannot tune that low.
_FREQUENCY_THRESHOLD_HZ = 30e6


def _quantity(match: re.Match[str]) -> tuple[float, str] | None:
    """(value, unit) of a matched quantity; None for forms like ``2.4M4``."""
    number, scale, digits_after_scale, unit = match.groups()
    if digits_after_scale:
        if "." in number or not scale:
            return None
        number = f"{number}.{digits_after_scale}"
    return float(number) * _SCALE[scale.lower()], (unit or "").lower()


def quantity_arg(text: str) -> float:
    """``parse_quantity`` as an argparse ``type`` (bad values become usage errors)."""
    try:
        return parse_quantity(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def parse_quantity(text: str) -> float:
    """A command-line rate or frequency: ``2400000``, ``2.4M``, ``2M4``, ``1600k``, ``868.95M``."""
    match = _WHOLE_QUANTITY.fullmatch(text.strip())
    parsed = _quantity(match) if match else None
    if parsed is None:
        raise ValueError(f"not a frequency or rate: {text!r} (examples: 2.4M, 2400k, 868.95M)")
    return parsed[0]


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


@dataclass(frozen=True, slots=True)
class NameHints:
    """Sample rate and centre frequency found in a file name (None when absent)."""

    sample_rate_hz: float | None = None
    center_freq_hz: float | None = None


def parse_name_tokens(name: str) -> NameHints:
    """Sample rate and centre frequency from rtl_433 / rtl-wmbus style file-name tokens.

    ``Hz`` marks a frequency and ``sps`` a rate; otherwise large values are centre frequencies
    and small ones sample rates, so ``868.95M``, ``1600k``, ``2M4`` and ``2.4M`` all work. When a
    kind appears twice, the last token wins (rtl_433 also parses left to right).
    """
    rate: float | None = None
    center: float | None = None
    for match in _NAME_TOKEN.finditer(name):
        if not match.group(2) and not match.group(4):
            continue  # a bare number (an index, a date) says nothing
        parsed = _quantity(match)
        if parsed is None:
            continue
        value, unit = parsed
        if unit == "hz" or (not unit and value >= _FREQUENCY_THRESHOLD_HZ):
            center = value
        else:
            rate = value
    return NameHints(sample_rate_hz=rate, center_freq_hz=center)


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


def _read_sigmf_meta(meta_path: Path) -> _SigMFFacts:
    if not meta_path.is_file():
        raise UserError(f"{meta_path}: no such file")
    try:
        with warnings.catch_warnings():
            # sigmf warns about partial samples; probe_iq_file reports them itself.
            warnings.simplefilter("ignore")
            handle = sigmf.fromfile(meta_path, skip_checksum=True)
    except (SigMFError, ValueError, KeyError, OSError) as exc:
        raise UserError(f"{meta_path}: unreadable SigMF metadata ({exc})") from exc
    if handle.data_file is None:
        raise UserError(f"{meta_path}: SigMF dataset file is missing")
    if handle.num_channels != 1:
        raise UserError(f"{meta_path}: {handle.num_channels} channels; only 1 is supported")
    datatype = str(handle.get_global_field(sigmf.DATATYPE_KEY))
    rate = handle.get_global_field(sigmf.SAMPLE_RATE_KEY)
    captures = handle.get_captures()
    center = captures[0].get(sigmf.FREQUENCY_KEY) if captures else None
    return _SigMFFacts(
        data_path=Path(handle.data_file),
        data_offset_bytes=int(getattr(handle, "data_offset", 0)),
        trailing_bytes_declared=int(handle.get_global_field(sigmf.TRAILING_BYTES_KEY, 0)),
        sample_format=_FORMAT_OF_SIGMF.get(datatype.lower()),
        datatype=datatype,
        sample_rate_hz=float(rate) if rate is not None else None,
        center_freq_hz=float(center) if center is not None else None,
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
    path = Path(path)
    if sample_format is not None and sample_format not in SAMPLE_FORMATS:
        raise UserError(
            f"unknown sample format {sample_format!r}; choose from {', '.join(SAMPLE_FORMATS)}"
        )
    meta_path = _sigmf_meta_path(path)
    hints = parse_name_tokens(path.name)
    rate, center = hints.sample_rate_hz, hints.center_freq_hz
    data_path, offset, trailing_declared = path, 0, 0
    fmt = _format_from_extension(path)
    if meta_path is not None:
        facts = _read_sigmf_meta(meta_path)
        path, data_path = meta_path, facts.data_path
        offset, trailing_declared = facts.data_offset_bytes, facts.trailing_bytes_declared
        rate = facts.sample_rate_hz or rate
        center = facts.center_freq_hz or center
        fmt = facts.sample_format
        if fmt is None and sample_format is None:
            raise UserError(
                f"{meta_path}: SigMF datatype {facts.datatype!r} is not supported "
                f"(use {', '.join(_SIGMF_DATATYPES.values())})"
            )
    if sample_format is not None:
        fmt = sample_format
    if data_path.is_dir():
        raise UserError(f"{data_path}: is a directory")
    if not data_path.is_file():
        raise UserError(f"{data_path}: no such file")
    if fmt is None:
        raise UserError(
            f"{path}: unknown sample format (extension {path.suffix or 'missing'!r}); "
            f"give --format {'|'.join(SAMPLE_FORMATS)}"
        )
    rate = sample_rate_hz if sample_rate_hz is not None else rate
    center = center_freq_hz if center_freq_hz is not None else center
    if rate is None or rate <= 0:
        raise UserError(
            f"{path}: sample rate unknown; give --rate (or name the file like ..._2400k.cu8)"
        )
    if center is None:
        raise UserError(
            f"{path}: centre frequency unknown; give --center (or name the file like "
            "..._868.625M_2400k.cu8)"
        )
    size = data_path.stat().st_size - offset - trailing_declared
    if size <= 0:
        raise UserError(f"{data_path}: file is empty")
    num_samples, trailing = divmod(size, _SAMPLE_BYTES[fmt])
    if num_samples == 0:
        raise UserError(f"{data_path}: file is shorter than one {fmt} sample")
    return IQFileInfo(
        path=path,
        sample_format=fmt,
        sample_rate_hz=float(rate),
        center_freq_hz=float(center),
        data_path=data_path if data_path != path else None,
        data_offset_bytes=offset,
        num_samples=num_samples,
        trailing_bytes=trailing,
        is_sigmf=meta_path is not None,
    )


def decode_samples(raw: bytes | np.ndarray, sample_format: str) -> np.ndarray:
    """Interleaved I/Q bytes of ``sample_format`` -> complex64 samples scaled to about ±1."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    if sample_format == "cu8":
        # rtl_sdr's unsigned bytes are centred on 127.5, so 0 and 255 map to -1 and +1.
        # Arithmetic in place beats a lookup table (a gather per byte or pair) by 4x, and a
        # multiply beats a divide.
        values = buf.astype(np.float32)
        values *= np.float32(1 / 127.5)
        values -= np.float32(1.0)
        return values.view(np.complex64)
    if sample_format == "cf32":
        return buf.view("<f4").astype(np.float32).view(np.complex64)
    ints = buf.view(_INT_DTYPE[sample_format]).astype(np.float32)
    ints *= np.float32(1.0 / _FULL_SCALE[sample_format])
    return ints.view(np.complex64)


def encode_samples(samples: np.ndarray, sample_format: str) -> bytes:
    """complex samples -> interleaved I/Q bytes; integer formats round and clip at full scale."""
    if sample_format not in SAMPLE_FORMATS:
        raise ValueError(f"unknown sample format {sample_format!r}")
    iq = np.asarray(samples, dtype=np.complex64).view(np.float32)
    if sample_format == "cf32":
        return iq.astype("<f4").tobytes()
    if sample_format == "cu8":
        return np.clip(np.rint(iq * 127.5 + 127.5), 0, 255).astype(np.uint8).tobytes()
    dtype = _INT_DTYPE[sample_format]
    info = np.iinfo(dtype)
    scaled = np.rint(iq * _FULL_SCALE[sample_format])
    return np.clip(scaled, info.min, info.max).astype(dtype).tobytes()


def read_iq_chunks(info: IQFileInfo, chunk_samples: int = 262_144) -> Iterator[IQChunk]:
    """Stream a recording as consecutive IQChunks of at most ``chunk_samples`` samples."""
    if chunk_samples < 1:
        raise ValueError("chunk_samples must be at least 1")
    sample_bytes = _SAMPLE_BYTES[info.sample_format]
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


class IQWriter(Closing):
    """Append complex samples to a raw IQ file in one of SAMPLE_FORMATS (a context manager)."""

    def __init__(self, path: str | Path, sample_format: str) -> None:
        if sample_format not in SAMPLE_FORMATS:
            raise UserError(
                f"unknown sample format {sample_format!r}; choose from {', '.join(SAMPLE_FORMATS)}"
            )
        self.path = Path(path)
        self.sample_format = sample_format
        self.samples_written = 0
        try:
            self._fh = open(self.path, "wb")  # noqa: SIM115 - closed by close()/__exit__
        except OSError as exc:
            raise UserError(f"{self.path}: cannot write ({exc.strerror})") from exc

    def write(self, samples: np.ndarray) -> None:
        self._fh.write(encode_samples(samples, self.sample_format))
        self.samples_written += len(samples)

    def close(self) -> None:
        self._fh.close()



def write_iq(path: str | Path, samples: np.ndarray, sample_format: str) -> None:
    """Write a whole recording as raw interleaved I/Q."""
    with IQWriter(path, sample_format) as writer:
        writer.write(samples)


@dataclass(frozen=True, slots=True)
class Annotation:
    """A SigMF annotation: a labelled span of samples, optionally with its frequency range."""

    start_sample: int
    length_samples: int
    label: str
    comment: str = ""
    freq_lower_edge_hz: float | None = None
    freq_upper_edge_hz: float | None = None


class SigMFWriter(Closing):
    """Stream samples into ``BASE.sigmf-data``; ``close()`` writes ``BASE.sigmf-meta``.

    Annotations may be added while recording (e.g. one per decoded telegram).
    """

    def __init__(
        self,
        base_path: str | Path,
        sample_rate_hz: float,
        center_freq_hz: float,
        sample_format: str = "cu8",
        description: str = "",
    ) -> None:
        names = get_sigmf_filenames(base_path)
        self.meta_path: Path = names["meta_fn"]
        self.data_path: Path = names["data_fn"]
        self.sample_rate_hz = sample_rate_hz
        self.center_freq_hz = center_freq_hz
        self.description = description
        self._data = IQWriter(self.data_path, sample_format)
        self._annotations: list[Annotation] = []

    @property
    def samples_written(self) -> int:
        return self._data.samples_written

    def write(self, samples: np.ndarray) -> None:
        self._data.write(samples)

    def annotate(self, annotation: Annotation) -> None:
        self._annotations.append(annotation)

    def close(self) -> Path:
        """Finish the data file and write the metadata; returns the metadata path."""
        self._data.close()
        global_info = {
            sigmf.DATATYPE_KEY: _SIGMF_DATATYPES[self._data.sample_format],
            sigmf.SAMPLE_RATE_KEY: float(self.sample_rate_hz),
            sigmf.VERSION_KEY: sigmf.__specification__,
            sigmf.RECORDER_KEY: "wmbus-sdr",
        }
        if self.description:
            global_info[sigmf.DESCRIPTION_KEY] = self.description
        handle = sigmf.SigMFFile(global_info=global_info)
        handle.set_data_file(self.data_path, skip_checksum=True)
        handle.add_capture(0, metadata={sigmf.FREQUENCY_KEY: float(self.center_freq_hz)})
        for ann in self._annotations:
            fields: dict[str, object] = {sigmf.LABEL_KEY: ann.label}
            if ann.comment:
                fields[sigmf.COMMENT_KEY] = ann.comment
            if ann.freq_lower_edge_hz is not None:
                fields[sigmf.FREQ_LOWER_EDGE_KEY] = float(ann.freq_lower_edge_hz)
            if ann.freq_upper_edge_hz is not None:
                fields[sigmf.FREQ_UPPER_EDGE_KEY] = float(ann.freq_upper_edge_hz)
            handle.add_annotation(ann.start_sample, ann.length_samples, metadata=fields)
        handle.tofile(self.meta_path, overwrite=True)
        return self.meta_path



def write_sigmf(
    base_path: str | Path,
    samples: np.ndarray,
    sample_rate_hz: float,
    center_freq_hz: float,
    annotations: Iterable[Annotation] = (),
    sample_format: str = "cu8",
    description: str = "",
) -> Path:
    """Write a whole SigMF recording (data and metadata); returns the metadata path."""
    writer = SigMFWriter(base_path, sample_rate_hz, center_freq_hz, sample_format, description)
    writer.write(samples)
    for ann in annotations:
        writer.annotate(ann)
    return writer.close()


def output_sample_format(path: str | Path) -> str | None:
    """Format implied by an output file name: a raw format, ``"sigmf"``, or None if unknown."""
    path = Path(path)
    if path.suffix.lower() in (SIGMF_META_EXT, SIGMF_DATA_EXT):
        return "sigmf"
    return _format_from_extension(path)
