"""`wmbus record` from a live rtl_tcp stream (SigMF validated by the sigmf package, plain cu8) and
the recorder on a stream with a gap."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest
import sigmf

from dsp.bandplan import sync_word_chip
from dsp.modulate import add_noise, modulate
from dsp.receiver import Receiver
from dsp.types import IQChunk
from protocol.decoder import Decoder
from protocol.framing import add_crcs, on_air_length
from protocol.modes import T1, FrameFormat
from protocol.telegram import Telegram
from sdr.io.files import probe_iq_file
from sdr.io.recorder import RecordConfig, Recorder, cu8_name
from sdr.pipeline import DecodePipeline
from sdr.sim.telegrams import random_telegram
from tests.conftest import RECORDINGS
from tests.sdr.live_support import (
    ISSUE48,
    decoded_by_file,
    expected_telegrams,
    json_lines,
    running_until_telegrams,
    serving,
    wmbus,
)

FS, FC = 2.4e6, 868.625e6


def manufacturer_and_id(frame_hex: str) -> tuple[str, str]:
    """EN 13757-4 M field (3 letters, 5 bits each, LE) and A-field id (BCD, LE) of a frame."""
    frame = bytes.fromhex(frame_hex)
    m = int.from_bytes(frame[2:4], "little")
    letters = "".join(chr(((m >> shift) & 0x1F) + 64) for shift in (10, 5, 0))
    return letters, frame[4:8][::-1].hex()


def test_sigmf_recording_with_a_telegram_annotation(tmp_path: Path) -> None:
    out = tmp_path / "capture"
    with serving(tmp_path, ISSUE48) as served:
        done = wmbus("record", out, "--rtl-tcp", served.address)
    # The server ends the stream: a fault for a live source, but the recording is complete.
    assert done.returncode == 1
    assert f"error: rtl_tcp server {served.address} closed the connection" in done.stderr
    assert "1 telegram annotation(s)" in done.stderr

    handle = sigmf.sigmffile.fromfile(str(out) + ".sigmf-meta")
    handle.validate()
    assert (out.parent / "capture.sigmf-data").read_bytes() == ISSUE48.read_bytes()
    assert handle.get_global_field(sigmf.DATATYPE_KEY) == "cu8"
    assert handle.get_global_field(sigmf.SAMPLE_RATE_KEY) == 2.4e6
    assert handle.get_captures()[0][sigmf.FREQUENCY_KEY] == 868.625e6

    [truth] = expected_telegrams(ISSUE48)
    [ann] = handle.get_annotations()
    letters, meter_id = manufacturer_and_id(truth["frame_hex"])
    assert ann[sigmf.LABEL_KEY] == f"T1 {letters} {meter_id}"
    assert ann[sigmf.COMMENT_KEY] == truth["frame_hex"].upper()
    # The burst: near where the independent decoders saw its energy start (the receiver may
    # place it at the sync word, after the preamble), about as long as its chips.
    start = ann[sigmf.SAMPLE_START_KEY]
    length = ann[sigmf.SAMPLE_COUNT_KEY]
    on_air = on_air_length(int(truth["frame_hex"][:2], 16), FrameFormat.A)
    chips = on_air * 12  # 3-of-6: 12 chips per byte
    burst_samples = chips / T1.chip_rate_hz * 2.4e6
    assert abs(start - truth["approx_start_sample"]) < 0.15 * burst_samples
    assert 0.8 * burst_samples < length < 1.3 * burst_samples
    lower = ann[sigmf.FREQ_LOWER_EDGE_KEY]
    upper = ann[sigmf.FREQ_UPPER_EDGE_KEY]
    assert lower < T1.center_freq_hz < upper and upper - lower < 400e3


def test_plain_cu8_is_named_the_rtl_433_way(tmp_path: Path) -> None:
    with serving(tmp_path, ISSUE48) as served:
        done = wmbus(
            "record", tmp_path / "capture.cu8", "--format", "cu8", "--rtl-tcp", served.address,
            "--duration", f"{len(ISSUE48.read_bytes()) / 2 / 2.4e6:.12f}",
        )
    assert done.returncode == 0, done.stderr
    path = tmp_path / "capture_868.625M_2400k.cu8"
    assert path.read_bytes() == ISSUE48.read_bytes()
    info = probe_iq_file(path)
    assert (info.sample_rate_hz, info.center_freq_hz) == (2.4e6, 868.625e6)


def test_metadata_is_true_of_a_recording_of_another_tuning_served_to_record(
    tmp_path: Path,
) -> None:
    # A 1.6 Msps capture at 868.95 MHz served to a default `record` (2.4 Msps at 868.625 MHz):
    # the server resamples and shifts it, so the samples are what the metadata says they are.
    original = RECORDINGS / "rtlsdr_868.950M_1M6_samples2.cu8"
    out = tmp_path / "retuned"
    with serving(tmp_path, original) as served:
        done = wmbus("record", out, "--rtl-tcp", served.address, "--json")
        log = served.log
    assert done.returncode == 1 and "closed the connection" in done.stderr  # end of recording
    handle = sigmf.sigmffile.fromfile(str(out) + ".sigmf-meta")
    assert handle.get_global_field(sigmf.SAMPLE_RATE_KEY) == FS
    assert handle.get_captures()[0][sigmf.FREQUENCY_KEY] == FC
    original_samples = original.stat().st_size // 2
    assert (tmp_path / "retuned.sigmf-data").stat().st_size == 2 * (original_samples * 3 // 2)
    assert "the band 867.425–869.825 MHz reaches beyond the recording's 868.15–869.75 MHz" in log
    # The telegrams are where the metadata puts them: decoding the new file finds the frames
    # of the original, and so did the live decoding while recording.
    frames = [t["frame_hex"] for t in decoded_by_file(original)]
    assert len(frames) >= 2
    assert [t["frame_hex"] for t in json_lines(done.stdout)] == frames
    assert [t["frame_hex"] for t in decoded_by_file(Path(str(out) + ".sigmf-meta"))] == frames


def test_ctrl_c_still_writes_the_metadata(tmp_path: Path) -> None:
    out, telegrams = tmp_path / "live", tmp_path / "telegrams.jsonl"
    with serving(tmp_path, ISSUE48, extra=("--loop",)) as served:
        record = running_until_telegrams(served, telegrams, "record", out)
        record.send_signal(signal.SIGINT)
        _, stderr = record.communicate(timeout=20)
    assert record.returncode == 130, stderr
    assert "wmbus record: interrupted" in stderr
    handle = sigmf.sigmffile.fromfile(str(out) + ".sigmf-meta")
    handle.validate()
    printed = json_lines(telegrams.read_text())
    annotations = handle.get_annotations()
    assert [a[sigmf.SAMPLE_START_KEY] for a in annotations] == [
        t["start_sample"] for t in printed
    ]
    data = (tmp_path / "live.sigmf-data").read_bytes()
    loops, rest = divmod(len(data), len(ISSUE48.read_bytes()))
    assert data == ISSUE48.read_bytes() * loops + ISSUE48.read_bytes()[:rest]


@pytest.mark.parametrize(
    ("center", "rate", "name"),
    [(868.95e6, 1.6e6, "x_868.95M_1600k.cu8"), (868.3e6, 1.024e6, "x_868.3M_1024k.cu8"),
     (868.625e6, 2.4e6, "x_868.625M_2400k.cu8")],
)
def test_rtl433_names_read_back(tmp_path: Path, center: float, rate: float, name: str) -> None:
    path = cu8_name(tmp_path / "x", center, rate)
    assert path.name == name
    path.write_bytes(b"\x80\x80")
    info = probe_iq_file(path)
    assert (info.sample_rate_hz, info.center_freq_hz) == (rate, center)


def test_a_gap_gets_a_capture_segment_and_annotations_land_on_file_samples(
    tmp_path: Path,
) -> None:
    # A T1 telegram after a gap of 200,000 samples, decoded by the real receiver: the file holds
    # only delivered samples, so its annotation lies 200,000 samples earlier in the file.
    rng = np.random.default_rng(5)
    frame = random_telegram(rng, 30)
    burst = modulate(add_crcs(frame, FrameFormat.A), T1, FrameFormat.A, FS, FC)
    x = np.zeros(300_000, np.complex64)
    x[150_000 : 150_000 + len(burst)] = burst
    x = add_noise(x, 20, T1.chip_rate_hz, FS, rng)
    missing = 200_000
    chunks = [IQChunk(x[:50_000], 0, FS, FC), IQChunk(x[50_000:], 50_000 + missing, FS, FC)]
    recorder = Recorder(RecordConfig(tmp_path / "gap"))
    pipeline = DecodePipeline(Receiver(FS, FC), Decoder())
    got = []
    for result in pipeline.run(recorder.observe(iter(chunks))):
        if isinstance(result, Telegram):
            got.append(result)
            recorder.on_telegram(result)
    assert recorder.close() == len(x)
    [telegram] = got
    assert telegram.frame.data == frame
    stream_start = telegram.frame.burst.start_sample
    # Device numbering, at the sync word (the burst's start_sample) within a chip and a half.
    sync = 150_000 + missing + sync_word_chip(T1) * FS / T1.chip_rate_hz
    assert abs(stream_start - sync) <= 1.5 * FS / T1.chip_rate_hz

    handle = sigmf.sigmffile.fromfile(str(tmp_path / "gap.sigmf-meta"))
    handle.validate()
    captures = handle.get_captures()
    assert [c[sigmf.SAMPLE_START_KEY] for c in captures] == [0, 50_000]
    assert captures[1][sigmf.GLOBAL_INDEX_KEY] == 50_000 + missing
    gap, ann = sorted(handle.get_annotations(), key=lambda a: a[sigmf.SAMPLE_START_KEY])
    assert gap[sigmf.LABEL_KEY] == "gap" and gap[sigmf.SAMPLE_START_KEY] == 50_000
    assert gap[sigmf.COMMENT_KEY].startswith(f"{missing} samples dropped")
    assert ann[sigmf.SAMPLE_START_KEY] == stream_start - missing
    assert ann[sigmf.COMMENT_KEY] == frame.hex().upper()
    assert recorder.file_sample(49_999) == 49_999
