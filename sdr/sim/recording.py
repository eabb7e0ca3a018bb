"""One simulated recording file (raw or SigMF, one annotation per telegram) and its truth file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dsp.bandplan import channel_offset_hz
from sdr.errors import UserError
from sdr.io.codecs import SAMPLE_FORMATS
from sdr.io.files import output_sample_format
from sdr.io.writers import Annotation, IQWriter, SigMFWriter, channel_annotation
from sdr.sim.stream import BurstSpec, SentTelegram, StreamSettings, render_stream


def truth_path(out: Path) -> Path:
    """``X.cu8`` -> ``X.json``; ``X.sigmf-meta`` -> ``X.json``."""
    return out.with_suffix(".json")


def _open_writer(out: Path, settings: StreamSettings) -> IQWriter | SigMFWriter:
    fmt = output_sample_format(out)
    if fmt is None:
        raise UserError(
            f"{out}: cannot tell the format from the extension; use .{', .'.join(SAMPLE_FORMATS)}"
            " or .sigmf-meta"
        )
    if fmt != "sigmf":
        return IQWriter(out, fmt)
    return SigMFWriter(
        out, settings.sample_rate_hz, settings.center_freq_hz, "cs16", description="wmbus simulate"
    )


def _annotation(telegram: SentTelegram) -> Annotation:
    phy = telegram.phy
    return channel_annotation(
        telegram.start_sample,
        telegram.end_sample - telegram.start_sample,
        f"{telegram.mode} frame {telegram.frame_format}",
        telegram.frame_hex,
        phy,
        phy.center_freq_hz + telegram.cfo_hz,
    )


def write_recording(
    out: Path,
    bursts: Sequence[BurstSpec],
    settings: StreamSettings,
    rng: np.random.Generator,
    generator: dict | None = None,
) -> list[SentTelegram]:
    """Write the recording (format from the extension; SigMF with one annotation per telegram)
    and its truth file; returns the telegrams sent."""
    for spec in bursts:
        try:
            channel_offset_hz(spec.kind.mode, settings.sample_rate_hz, settings.center_freq_hz)
        except ValueError as exc:
            raise UserError(str(exc)) from exc
    sent: list[SentTelegram] = []
    with _open_writer(out, settings) as writer:
        for samples, telegram in render_stream(bursts, settings, rng):
            writer.write(samples)
            if telegram is not None:
                sent.append(telegram)
                if isinstance(writer, SigMFWriter):
                    writer.annotate(_annotation(telegram))
    name = (writer.meta_path if isinstance(writer, SigMFWriter) else out).name
    truth = {
        "file": name,
        "sample_rate_hz": settings.sample_rate_hz,
        "center_freq_hz": settings.center_freq_hz,
        "generator": generator or {},
        "telegrams": [t.to_dict() for t in sent],
    }
    truth_path(out).write_text(json.dumps(truth, indent=1) + "\n")
    return sent
