"""``wmbus simulate``: recordings with a truth file, checked by our decoder and by rtl_433."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sigmf

from protocol.decoder import Decoder
from protocol.framing import add_crcs
from protocol.modes import FrameFormat
from protocol.telegram import Telegram
from sdr.cli import main
from sdr.io.files import probe_iq_file, read_iq_chunks
from sdr.io.rtl433 import RTL433_SETUP, matches_frame, run_rtl433, to_channel
from tests.conftest import REPO, require_program


def wmbus(*args: str | Path) -> int:
    """The command line in this process (decode's tests run it as a separate process)."""
    return main([str(a) for a in args])


def test_truth_file_describes_the_recording(tmp_path: Path) -> None:
    out = tmp_path / "t1_868.625M_2400k.cu8"
    assert (
        wmbus(
            "simulate",
            out,
            "--mode",
            "T1",
            "--count",
            "4",
            "--ecn0",
            "20",
            "--length",
            "40",
            "--seed",
            "5",
        )
        == 0
    )
    truth = json.loads((tmp_path / "t1_868.625M_2400k.json").read_text())
    assert truth["file"] == out.name
    assert (truth["sample_rate_hz"], truth["center_freq_hz"]) == (2.4e6, 868.625e6)
    info = probe_iq_file(out)
    rows = truth["telegrams"]
    assert len(rows) == 4
    ends = [0]
    for row in rows:
        assert (row["mode"], row["frame_format"], row["ecn0_db"]) == ("T1", "A", 20.0)
        frame = bytes.fromhex(row["frame_hex"])
        assert len(frame) == 40 and frame[0] == 39
        # Each truth frame is a well-formed telegram for our protocol decoder.
        telegram = Decoder().decode_bytes(add_crcs(frame, FrameFormat.A))
        assert isinstance(telegram, Telegram) and telegram.error is None
        assert ends[-1] < row["start_sample"] < row["end_sample"] <= info.num_samples
        ends.append(row["end_sample"])
    assert len({r["frame_hex"] for r in rows}) == 4  # random meters and readings
    # Bursts stand out of the noise exactly where the truth file puts them.
    x = np.concatenate([c.samples for c in read_iq_chunks(info)])
    inside = np.mean(np.abs(x[rows[0]["start_sample"] : rows[0]["end_sample"]]) ** 2)
    before = np.mean(np.abs(x[: rows[0]["start_sample"]]) ** 2)
    noise_var = 2.4e6 / (100e3 * 10 ** (20 / 10))  # Ec/N0 = A²·fs/(σ²·Rc) with A = 1
    assert inside / before == pytest.approx((1 + noise_var) / noise_var, rel=0.15)


def test_same_seed_same_file(tmp_path: Path) -> None:
    args = ("--mode", "C1-B", "--count", "2", "--ecn0", "15")
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        assert wmbus("simulate", tmp_path / f"{name}_868.625M_2M4.cu8", *args, "--seed", seed) == 0
    a, b, c = ((tmp_path / f"{n}_868.625M_2M4.cu8").read_bytes() for n in "abc")
    assert a == b and a != c


def test_a_name_without_tuning_gets_the_rtl_433_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert wmbus("simulate", tmp_path / "out.cu8", "--count", "2", "--rate", "1M") == 0
    out = capsys.readouterr().out
    named = tmp_path / "out_868.625M_1000k.cu8"
    assert sorted(p.name for p in tmp_path.iterdir()) == [named.name, named.stem + ".json"]
    assert f"named {named.name}" in out and f"wrote {named} (2 telegrams)" in out
    assert "note: the name does not say" not in out  # decode needs no flags now
    info = probe_iq_file(named)
    assert (info.sample_rate_hz, info.center_freq_hz) == (1e6, 868.625e6)


@pytest.mark.parametrize(
    ("name", "args"),
    [("x_1000k.cu8", ("--center", "868.3M")), ("x_868.625M_2400k.cu8", ("--rate", "1.6M"))],
    ids=["rate only", "name contradicts --rate"],
)
def test_advice_for_a_name_that_does_not_say_the_tuning_is_what_decode_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture, name: str, args: tuple[str, ...]
) -> None:
    out = tmp_path / name
    assert wmbus("simulate", out, "--mode", "S1", "--count", "1", "--ecn0", "25", *args) == 0
    [note] = [line for line in capsys.readouterr().out.splitlines() if "decode with" in line]
    advice = note.split("decode with ")[1].split(",")[0].split()  # --rate X --center Y
    assert advice[0] == "--rate" and advice[2] == "--center"
    assert wmbus("decode", out, *advice, "--json") == 0
    assert '"mode": "S1"' in capsys.readouterr().out


def test_sigmf_output_with_annotations(tmp_path: Path) -> None:
    out = tmp_path / "mixed.sigmf-meta"
    assert wmbus("simulate", out, "--mode", "S1,C1-A", "--count", "2", "--ecn0", "25") == 0
    handle = sigmf.fromfile(out)
    assert handle.get_global_field(sigmf.SAMPLE_RATE_KEY) == 2.4e6
    annotations = handle.get_annotations()
    truth = json.loads((tmp_path / "mixed.json").read_text())["telegrams"]
    assert [a[sigmf.SAMPLE_START_KEY] for a in annotations] == [t["start_sample"] for t in truth]
    assert [a[sigmf.LABEL_KEY] for a in annotations] == ["S1 frame A", "C1 frame A"]
    assert (
        annotations[0][sigmf.FREQ_LOWER_EDGE_KEY]
        < 868.3e6
        < annotations[0][sigmf.FREQ_UPPER_EDGE_KEY]
    )


@pytest.mark.parametrize("mode", ["T1", "C1-A", "C1-B", "S1"])
def test_rtl433_decodes_what_we_simulate(tmp_path: Path, mode: str) -> None:
    """An independent receiver finds every telegram of our modulator at the truth's bytes."""
    require_program("rtl_433")
    out = tmp_path / "x_868.625M_2400k.cu8"
    assert (
        wmbus("simulate", out, "--mode", mode, "--count", "3", "--ecn0", "35", "--seed", "9") == 0
    )
    info = probe_iq_file(out)
    setup = RTL433_SETUP[mode[:2]]
    x = np.concatenate([c.samples for c in read_iq_chunks(info)])
    y = to_channel(
        x, info.sample_rate_hz, setup.center_freq_hz - info.center_freq_hz, setup.sample_rate_hz
    )
    rtl_file = tmp_path / "rtl.cf32"
    rtl_file.write_bytes(y.tobytes())
    result = run_rtl433(rtl_file, [setup.protocol], setup.sample_rate_hz, setup.center_freq_hz)
    truth = json.loads((tmp_path / "x_868.625M_2400k.json").read_text())["telegrams"]
    for row in truth:
        frame = bytes.fromhex(row["frame_hex"])
        assert any(matches_frame(m, frame) for m in result.messages), row["frame_hex"]


def process(*args: str | Path) -> subprocess.CompletedProcess:
    """The command line as a user runs it: a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "sdr.cli", *map(str, args)],
        capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
    )


def test_gateway_modes_round_trip_through_decode(tmp_path: Path) -> None:
    # C2 needs no --direction (its name is its gateways' channel); S2 is told.
    made = {
        tmp_path / "c2_868.625M_2400k.cu8": ("--mode", "C2-A,C2-B", "--cfo", "15e3"),
        tmp_path / "s2_868.625M_2400k.cu8": ("--mode", "S2", "--direction", "other_to_meter"),
    }
    truth = []
    for out, args in made.items():
        run = process("simulate", out, *args, "--count", "4", "--ecn0", "20", "--seed", "3")
        assert run.returncode == 0, run.stderr
        truth += json.loads(out.with_suffix(".json").read_text())["telegrams"]
    decoded = process("decode", *made, "--json")
    assert decoded.returncode == 0, decoded.stderr
    got = [json.loads(line) for line in decoded.stdout.splitlines()]
    keys = ("frame_hex", "mode", "direction", "frame_format")
    assert [tuple(str(g[k]).lower() for k in keys) for g in got] == [
        tuple(str(t[k]).lower() for k in keys) for t in truth
    ]
    assert [t["mode"] for t in truth] == ["C2"] * 4 + ["S2"] * 4
    assert {t["direction"] for t in truth} == {"other_to_meter"}


def test_c2_annotation_sits_on_its_channel(tmp_path: Path) -> None:
    out = tmp_path / "c2.sigmf-meta"
    assert wmbus("simulate", out, "--mode", "C2", "--count", "1", "--ecn0", "25") == 0
    [annotation] = sigmf.fromfile(out).get_annotations()
    assert annotation[sigmf.LABEL_KEY] == "C2 frame A"
    lower, upper = annotation[sigmf.FREQ_LOWER_EDGE_KEY], annotation[sigmf.FREQ_UPPER_EDGE_KEY]
    assert (lower, upper) == (869.525e6 - 50e3, 869.525e6 + 50e3)  # ±(25 kHz + 50 kcps / 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("out.cu8", "--mode", "Q1"), "unknown mode"),
        (("out.cu8", "--mode", "S1", "--direction", "other_to_meter"), "no other_to_meter"),
        (("out.cu8", "--mode", "C2", "--length", "20"), "at least 21 bytes"),
        (("out.cu8", "--mode", "C2", "--rate", "1.6M"), "outside"),
        (("out.cu8", "--mode", "T1-B"), "no frame format B"),
        (("out.wav",), "extension"),
        (("out.cu8", "--center", "433.92M"), "outside"),
        (("out.cu8", "--length", "5"), "--length"),
    ],
)
def test_bad_arguments_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: tuple, message: str
) -> None:
    assert wmbus("simulate", *(tmp_path / a if a.startswith("out") else a for a in args)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())  # nothing half-written
