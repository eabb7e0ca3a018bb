"""Writing recordings: raw interleaved I/Q files and SigMF (data plus metadata with annotations)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sigmf
from sigmf.sigmffile import get_sigmf_filenames

from dsp.bandplan import occupied_half_width_hz
from protocol.modes import ModeSpec
from sdr.closing import Closing
from sdr.errors import UserError
from sdr.io.codecs import SAMPLE_FORMATS, SIGMF_DATATYPES, encode_samples


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


def channel_annotation(
    start_sample: int,
    length_samples: int,
    label: str,
    comment: str,
    mode: ModeSpec,
    center_hz: float,
) -> Annotation:
    """A burst of ``mode`` heard at ``center_hz``: its samples and the band it occupied."""
    half_width_hz = occupied_half_width_hz(mode)
    return Annotation(
        start_sample,
        length_samples,
        label,
        comment=comment,
        freq_lower_edge_hz=center_hz - half_width_hz,
        freq_upper_edge_hz=center_hz + half_width_hz,
    )


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
        self._captures: list[tuple[int, int]] = [(0, 0)]  # (file sample, stream sample)

    @property
    def samples_written(self) -> int:
        return self._data.samples_written

    def write(self, samples: np.ndarray) -> None:
        self._data.write(samples)

    def annotate(self, annotation: Annotation) -> None:
        self._annotations.append(annotation)

    def discontinuity(self, stream_sample: int) -> None:
        """The samples written next are stream sample ``stream_sample`` on: a new SigMF capture
        segment whose ``core:global_index`` says where it continues the original stream."""
        self._captures.append((self.samples_written, stream_sample))

    def close(self) -> Path:
        """Finish the data file and write the metadata; returns the metadata path."""
        self._data.close()
        global_info = {
            sigmf.DATATYPE_KEY: SIGMF_DATATYPES[self._data.sample_format],
            sigmf.SAMPLE_RATE_KEY: float(self.sample_rate_hz),
            sigmf.VERSION_KEY: sigmf.__specification__,
            sigmf.RECORDER_KEY: "wmbus-sdr",
        }
        if self.description:
            global_info[sigmf.DESCRIPTION_KEY] = self.description
        handle = sigmf.SigMFFile(global_info=global_info)
        handle.set_data_file(self.data_path, skip_checksum=True)
        for file_sample, stream_sample in self._captures:
            capture: dict[str, object] = {sigmf.FREQUENCY_KEY: float(self.center_freq_hz)}
            if stream_sample != file_sample:
                capture[sigmf.GLOBAL_INDEX_KEY] = stream_sample
            handle.add_capture(file_sample, metadata=capture)
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
