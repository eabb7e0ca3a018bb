"""Every shipped recording decodes to (at least) the telegrams its truth file lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsp.receiver import Receiver
from protocol.decoder import Decoder
from protocol.telegram import Telegram
from sdr.io.codecs import SAMPLE_FORMATS
from sdr.io.files import probe_iq_file, read_iq_chunks
from sdr.pipeline import DecodePipeline
from tests.conftest import RECORDINGS

SUFFIXES = {f".{fmt}" for fmt in SAMPLE_FORMATS} | {".sigmf-meta"}
RECORDING_FILES = sorted(
    p for p in RECORDINGS.iterdir() if p.suffix in SUFFIXES and p.with_suffix(".json").exists()
)


def test_recordings_are_present_and_small() -> None:
    names = {p.name for p in RECORDING_FILES}
    assert "rtlsdr_868.625M_2M4_issue48.cu8" in names
    assert "rtlsdr_868.950M_1M6_samples2.cu8" in names
    assert sum(p.suffix == ".sigmf-meta" for p in RECORDING_FILES) >= 1
    assert {p.suffix for p in RECORDING_FILES} >= {".cu8", ".cf32", ".sigmf-meta"}
    total = sum(p.stat().st_size for p in RECORDINGS.iterdir())
    assert total < 10e6


@pytest.mark.parametrize("path", RECORDING_FILES, ids=lambda p: p.name)
def test_recording_decodes_to_its_truth(path: Path) -> None:
    truth = json.loads(path.with_suffix(".json").read_text())
    assert truth["file"] == path.name
    info = probe_iq_file(path)
    pipeline = DecodePipeline(Receiver(info.sample_rate_hz, info.center_freq_hz), Decoder())
    found = [r for r in pipeline.run(read_iq_chunks(info)) if isinstance(r, Telegram)]
    got = {t.frame.data.hex(): t for t in found}
    for expected in truth["telegrams"]:
        frame_hex = expected["frame_hex"].lower()
        assert frame_hex in got, f"{expected['mode']} telegram at {expected.get('start_sample')}"
        t = got[frame_hex]
        assert t.frame.mode == expected["mode"]
        assert str(t.frame_format) == expected["frame_format"]
        if "start_sample" in expected:  # synthetic: the exact burst span is known
            assert expected["start_sample"] <= t.frame.burst.start_sample < expected["end_sample"]
    if path.name.startswith("sim_"):
        # Synthetic recordings contain nothing else.
        assert len(found) == len(truth["telegrams"])
    else:
        # A better receiver may find more in real captures (only CRC-valid frames come out).
        for t in found:
            assert 0 <= t.frame.burst.start_sample < info.num_samples
            assert t.frame.mode in ("S1", "T1", "C1")
