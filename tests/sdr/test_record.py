"""`wmbus record` from a live rtl_tcp stream: SigMF validated by the sigmf package, plain cu8."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import sigmf

from protocol.framing import on_air_length
from protocol.modes import T1, FrameFormat
from sdr.cmd_record import rtl433_name
from sdr.iqfile import probe_iq_file
from tests.sdr.test_listen_support import (
    ISSUE48,
    expected_telegrams,
    json_lines,
    running_until_telegrams,
    serving,
    wmbus,
)


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


def test_ctrl_c_still_writes_the_metadata(tmp_path: Path) -> None:
    out, telegrams = tmp_path / "live", tmp_path / "telegrams.jsonl"
    with serving(tmp_path, ISSUE48, extra=("--loop", "--realtime")) as served:
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
    path = rtl433_name(tmp_path / "x", center, rate)
    assert path.name == name
    path.write_bytes(b"\x80\x80")
    info = probe_iq_file(path)
    assert (info.sample_rate_hz, info.center_freq_hz) == (rate, center)
