"""``wmbus decode`` as a user runs it: real files, a real process, exit codes and output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from protocol.encoder import TelegramSpec, TplSpec, encode_telegram
from protocol.modes import MODES, Direction
from protocol.telegram import Address
from sdr.io.writers import write_iq
from sdr.sim.stream import BurstSpec, ModeFormat, StreamSettings, render_stream
from tests.conftest import REPO

RADIO_FIELDS = (
    "start_sample",
    "time_s",
    "rssi_dbfs",
    "snr_db",
    "cfo_hz",
    "chip_rate_hz",
    "freq_hz",
    "corrected_errors",
)


def wmbus(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sdr.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """A mixed-mode recording made by ``wmbus simulate`` and its truth."""
    out = tmp_path_factory.mktemp("dec") / "mix_868.625M_2400k.cu8"
    run = wmbus(
        "simulate", out, "--mode", "T1,S1,C1-B", "--count", "3", "--ecn0", "22", "--seed", "4"
    )
    assert run.returncode == 0, run.stderr
    return out, json.loads(out.with_suffix(".json").read_text())["telegrams"]


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_with_mode_radio_fields_file_and_stats(sim) -> None:
    path, truth = sim
    run = wmbus("decode", path, "--json", "--stats")
    assert run.returncode == 0, run.stderr
    rows = json_lines(run.stdout)  # stdout stays pure JSON lines; stats go to stderr
    assert sorted(r["frame_hex"].lower() for r in rows) == sorted(t["frame_hex"] for t in truth)
    by_hex = {t["frame_hex"]: t for t in truth}
    for row in rows:
        sent = by_hex[row["frame_hex"].lower()]
        assert row["file"] == str(path)
        assert (row["mode"], row["frame_format"]) == (sent["mode"], sent["frame_format"])
        assert all(field in row for field in RADIO_FIELDS)
        assert sent["start_sample"] <= row["start_sample"] < sent["end_sample"]
        assert row["time_s"] == pytest.approx(row["start_sample"] / 2.4e6, abs=1e-5)
        assert row["freq_hz"] == {"S1": 868.3e6, "T1": 868.95e6, "C1": 868.95e6}[row["mode"]]
        assert len(row["meter_id"]) == 8 and row["records"]
    stats = json.loads(run.stderr.strip().splitlines()[-1])["stats"]
    assert stats["telegrams"] == {m: sum(t["mode"] == m for t in truth) for m in ("C1", "S1", "T1")}
    assert stats["signal_s"] == pytest.approx(path.stat().st_size / 2 / 2.4e6, abs=1e-3)
    for mode, candidates in stats["candidates"].items():  # each candidate counted once
        accounted = stats["frames"].get(mode, 0) + sum(
            sum(stats[kind].get(mode, {}).values()) for kind in ("failures", "rejections")
        )
        assert candidates == accounted
    assert stats["frames"] == stats["telegrams"]  # noise-free: every frame decodes


def test_bad_files_are_reported_and_good_ones_decoded(sim, tmp_path: Path) -> None:
    path, truth = sim
    empty = tmp_path / "empty_868.625M_2400k.cu8"
    empty.touch()
    cut = tmp_path / "cut_868.625M_2400k.cu8"  # a partial last sample
    cut.write_bytes(path.read_bytes() + b"\x80")
    nameless = tmp_path / "capture.cu8"  # no rate or centre in the name
    shutil.copy(path, nameless)
    run = wmbus("decode", path, tmp_path / "missing.cu8", empty, nameless, cut, "--json")
    assert run.returncode == 2
    # Telegrams of the files before and after the bad ones are all there.
    assert [r["file"] for r in json_lines(run.stdout)] == [str(path)] * len(truth) + [
        str(cut)
    ] * len(truth)
    errors = [line for line in run.stderr.splitlines() if "error:" in line]
    assert len(errors) == 3
    assert "no such file" in errors[0] and "empty" in errors[1] and "--rate" in errors[2]
    assert "partial last sample" in run.stderr and "Traceback" not in run.stderr


def test_flags_give_rate_and_centre_text_output_and_table(sim, tmp_path: Path) -> None:
    path, truth = sim
    nameless = tmp_path / "capture.cu8"
    shutil.copy(path, nameless)
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(200_000) + 1j * rng.standard_normal(200_000)) * 0.1
    write_iq(tmp_path / "noise.cu8", noise, "cu8")
    run = wmbus(
        "decode",
        nameless,
        tmp_path / "noise.cu8",
        "--rate",
        "2M4",
        "--center",
        "868.625M",
        "--stats",
    )
    assert run.returncode == 0, run.stderr  # noise only is not an error
    for t in truth:
        assert f"mode {t['mode']}" in run.stdout
    assert run.stdout.count("file=") == len(truth)
    table = run.stdout[run.stdout.index("s of signal") :].splitlines()
    header = table[1].split()
    assert header[:4] == ["mode", "telegrams", "candidates", "frames"]
    counts = table[2 : next((i for i, line in enumerate(table) if line.endswith(":")), None)]
    rows = {line.split()[0]: line.split() for line in counts if line.split()[0] in MODES}
    sent = Counter(t["mode"] for t in truth)
    assert {mode: int(row[1]) for mode, row in rows.items() if int(row[1])} == sent


def test_uncovered_mode_is_reported_and_the_rest_decoded(tmp_path: Path) -> None:
    # 1 Msps centred on the S channel: T1/C1 at 868.95 MHz are outside the stream.
    out = tmp_path / "s_868.3M_1000k.cu8"
    assert wmbus("simulate", out, "--mode", "S1", "--count", "1", "--ecn0", "25").returncode == 0
    run = wmbus("decode", out, "--modes", "S1,T1", "--json")
    assert run.returncode == 0
    assert "T1" in run.stderr and "not decoded" in run.stderr
    assert [r["mode"] for r in json_lines(run.stdout)] == ["S1"]


def test_unknown_mode_is_a_one_line_error(sim) -> None:
    path, _ = sim
    run = wmbus("decode", path, "--modes", "X9")
    assert run.returncode == 2 and "unknown mode" in run.stderr
    assert run.stderr.count("\n") == 1 and run.stdout == ""


def test_a_glob_over_recordings_decodes_each_once_and_skips_the_rest(tmp_path: Path) -> None:
    # What `wmbus decode recordings/*` gets from the shell: both files of a SigMF pair, truth
    # files, a README, a directory.
    names = ["sim_t1sigmf_868.625M_2400k", "sim_c1a_868.625M_2400k"]
    for path in (REPO / "recordings").iterdir():
        if path.name.startswith(tuple(names)) or path.name == "README.md":
            shutil.copy(path, tmp_path)
    (tmp_path / "sub").mkdir()
    run = wmbus("decode", *sorted(tmp_path.iterdir()), "--json")
    assert run.returncode == 0, run.stderr
    got = Counter(Path(r["file"]).name for r in json_lines(run.stdout))
    truth = {
        name: len(json.loads((tmp_path / f"{name}.json").read_text())["telegrams"])
        for name in names
    }
    assert got == {f"{names[0]}.sigmf-meta": truth[names[0]], f"{names[1]}.cu8": truth[names[1]]}
    warnings = run.stderr.splitlines()
    assert len(warnings) == 4 and all("warning:" in w and "(skipped)" in w for w in warnings)
    assert {Path(w.split(": ")[2]).name for w in warnings} == {
        "README.md", f"{names[0]}.json", f"{names[1]}.json", "sub"
    }


def test_no_recording_among_the_paths_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{}")
    run = wmbus("decode", tmp_path / "x.json")
    assert run.returncode == 2
    assert run.stderr.splitlines()[-1] == "wmbus decode: error: none of the paths is a recording"


def test_hostile_sigmf_metadata_is_one_line_per_file(tmp_path: Path) -> None:
    paths = []
    for name, text in (
        ("nan", '{"global": {"core:datatype": "cu8", "core:sample_rate": NaN}, "captures": []}'),
        ("huge", '{"global": {"core:datatype": "cu8", "core:sample_rate": 1e300}}'),
        ("chans", '{"global": {"core:datatype": "cu8", "core:num_channels": 0}}'),
        ("deep", "[" * 100_000 + "]" * 100_000),
    ):
        (tmp_path / f"{name}.sigmf-meta").write_text(text)
        (tmp_path / f"{name}.sigmf-data").write_bytes(b"\x80" * 64)
        paths.append(tmp_path / f"{name}.sigmf-meta")
    run = wmbus("decode", *paths, "--center", "868.625M")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    errors = run.stderr.splitlines()
    assert [e.split(": ")[2] for e in errors] == [str(p) for p in paths]
    assert all(e.startswith("wmbus decode: error: ") for e in errors)


@pytest.mark.parametrize("rate", ["6M", "20M"])
def test_wideband_recordings_decode(tmp_path: Path, rate: str) -> None:
    # Airspy and HackRF rates: the filter bank had no plan for them (a traceback).
    out = tmp_path / "wide.cu8"
    made = wmbus("simulate", out, "--mode", "S1,T1,C1-B", "--count", "3", "--rate", rate)
    assert made.returncode == 0, made.stderr
    [path] = tmp_path.glob("wide_*.cu8")
    run = wmbus("decode", path, "--json")
    assert run.returncode == 0, run.stderr
    truth = json.loads(path.with_suffix(".json").read_text())["telegrams"]
    assert sorted(r["frame_hex"].lower() for r in json_lines(run.stdout)) == sorted(
        t["frame_hex"] for t in truth
    )


@pytest.fixture(scope="module")
def exchange_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A T1 meter that offers no access, then a T2 exchange: the meter's frame offering access,
    10 ms later the gateway's request (S physical layer, short preamble), 10 ms later the
    meter's reply."""
    meter = Address(0x2C2D, bytes.fromhex("99873476"), 0x1B, 0x16)
    other = Address(0x2C2D, bytes.fromhex("11223344"), 0x1B, 0x16)
    record = bytes.fromhex("041339300000")

    def meter_frame(address: Address, c_field: int, cw: int) -> bytes:
        tpl = TplSpec(ci=0x7A, acc=0x21, cw_flags=cw)
        return encode_telegram(TelegramSpec(address, c_field, tpl=tpl, payload=record))

    request = encode_telegram(
        TelegramSpec(meter, 0x5B, tpl=TplSpec(ci=0x80, acc=0x21, address=meter)))
    t1 = ModeFormat.of("T1", Direction.METER_TO_OTHER)
    t2_meter = ModeFormat.of("T2", Direction.METER_TO_OTHER)
    t2_gateway = ModeFormat.of("T2", Direction.OTHER_TO_METER)
    bursts = [BurstSpec(t1, meter_frame(other, 0x44, 0)),
              BurstSpec(t2_meter, meter_frame(meter, 0x44, 0xC000)),
              BurstSpec(t2_gateway, request),
              BurstSpec(t2_meter, meter_frame(meter, 0x08, 0))]
    rng = np.random.default_rng(5)
    settings = StreamSettings.for_modes([t1, t2_gateway], ecn0_db=30.0)
    iq = np.concatenate([s for s, _ in render_stream(bursts, settings, rng, gap_s=(0.01, 0.01))])
    path = tmp_path_factory.mktemp("exchange") / "exchange_868.625M_2400k.cu8"
    write_iq(path, iq, "cu8")
    return path


def test_conversations_prints_only_exchanges_as_groups(exchange_recording: Path) -> None:
    everything = wmbus("decode", exchange_recording, "--json")
    assert everything.returncode == 0, everything.stderr
    rows = json_lines(everything.stdout)
    assert [(r["mode"], r["c_name"], r["direction"]) for r in rows] == [
        ("T1", "SND_NR", "meter_to_other"),
        ("T2", "SND_NR", "meter_to_other"),
        ("T2", "REQ_UD2", "other_to_meter"),
        ("T2", "RSP_UD", "meter_to_other"),
    ]
    opener, request, reply = rows[1:]
    assert "exchange" not in rows[0]
    assert opener["exchange"] == request["exchange"] == reply["exchange"] == opener["start_sample"]
    assert request["reply_to"] == opener["start_sample"]
    assert reply["reply_to"] == request["start_sample"]
    # 10 ms of silence plus the answer's preamble before its sync word, inside 2-50 ms.
    assert 10.0 < request["response_delay_ms"] < 11.5 and request["in_window"] is True
    assert 10.0 < reply["response_delay_ms"] < 11.5 and reply["in_window"] is True
    # Whatever the chunk size.
    small = wmbus("decode", exchange_recording, "--json", "--chunk-samples", "997")
    assert small.stdout == everything.stdout
    only = wmbus("decode", exchange_recording, "--json", "--conversations")
    assert json_lines(only.stdout) == rows[1:]
    text = wmbus("decode", exchange_recording, "--conversations")
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"file={exchange_recording}  exchange T2 with meter KAM 76348799")
    assert all(line.startswith("    ") for line in lines[1:])
    assert sum("exchange T2: answers the frame at t=" in line for line in lines) == 2
    assert "OUTSIDE" not in text.stdout and "11223344" not in text.stdout
