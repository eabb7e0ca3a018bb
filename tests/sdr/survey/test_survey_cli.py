"""``wmbus survey`` end to end on a simulated building with known truth (accuracy targets of
issue 6), on JSON-lines logs, and its HTML report opened in headless Chromium."""

from __future__ import annotations

import csv
import json
import os
import pty
import subprocess
import sys
import tempfile

import matplotlib.image
import numpy as np
import pytest

from protocol.decoder import Decoder
from sdr.cli import main
from sdr.cli.survey import default_label
from sdr.sim.building import recording_name, simulate
from sdr.sim.scenario import random_scenario
from sdr.survey.truth import score_collisions, score_meters
from tests.conftest import REPO, require_program

SCHEMA_METER_KEYS = {"meter_id", "manufacturer", "mode", "received", "expected",
                     "reception_ratio", "rssi_dbfs", "snr_db", "lost_to_collision",
                     "lost_to_weak_signal"}


def wmbus(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sdr.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def building(tmp_path_factory):
    """A busy simulated building (6 meters, accelerated intervals, 2 spots), surveyed; and, in
    parallel, the first spot decoded by ``wmbus decode`` as an independent reference."""
    out = tmp_path_factory.mktemp("building")
    scenario = random_scenario(11, meters=6, locations=2, duration_s=12.0,
                               interval_s=(0.15, 0.3), ecn0_db=(6.0, 40.0))
    truth = simulate(scenario, out)
    recordings = [str(out / recording_name(scenario, loc)) for loc in scenario.locations]
    command = [sys.executable, "-m", "sdr.cli"]
    decode = subprocess.Popen([*command, "decode", recordings[0], "--json"], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = wmbus("survey", *recordings, "--json", "--html", str(out / "report.html"),
                 "--csv", str(out / "csv"))
    decoded, errors = decode.communicate(timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert decode.returncode == 0, errors
    (out / "spot1.jsonl").write_text(decoded)
    return out, truth, recordings, json.loads(proc.stdout)


def test_json_has_the_documented_schema(building):
    survey = building[3]
    assert survey["schema"] == "wmbus-survey/1"
    assert [loc["label"] for loc in survey["locations"]] == ["spot1", "spot2"]
    for loc in survey["locations"]:
        assert loc["duration_s"] == pytest.approx(12.0)
        assert loc["collisions_available"] is True
        for meter in loc["meters"]:
            assert set(meter) >= SCHEMA_METER_KEYS
            assert set(meter["rssi_dbfs"]) == {"median", "p10", "p90"}
            assert meter["lost_to_collision"] + meter["lost_to_weak_signal"] == meter["lost"]
        # The default modes include C2, whose gateway channel this building leaves idle.
        assert {c["freq_hz"] for c in loc["channels"]} == {868.3e6, 868.95e6, 869.525e6}
        idle = [c for c in loc["channels"] if c["freq_hz"] == 869.525e6]
        assert [(c["occupancy"], c["bursts"]) for c in idle] == [(0, 0)]
        for channel in (c for c in loc["channels"] if c not in idle):
            assert 0 < channel["occupancy"] < 1
            assert channel["bursts"] > 0
            assert all(c["start_s"] < c["end_s"] for c in channel["collisions"])
    assert [p["rank"] for p in survey["placement"]] == [1, 2]


def test_reception_ratio_is_within_3_points_of_the_truth(building):
    _, truth, _, survey = building
    scores = [s for loc in survey["locations"] for s in score_meters(loc, truth)]
    assert len(scores) >= 10
    worst = max(scores, key=lambda s: abs(s.ratio_error))
    assert abs(worst.ratio_error) <= 0.03, worst
    # The scenario has real losses to estimate, not only perfect reception.
    assert any(s.received < s.transmitted for s in scores)


def test_collisions_are_detected_from_the_signal(building):
    _, truth, _, survey = building
    total = None
    for loc in survey["locations"]:
        score = score_collisions(loc, truth, loc["label"])
        total = score if total is None else total + score
    assert total.detectable >= 10, total
    assert total.recall >= 0.9, total
    assert total.false_rate <= 0.05, total
    lost_to_collision = sum(m["lost_to_collision"] for loc in survey["locations"]
                            for m in loc["meters"])
    assert lost_to_collision > 0


def test_every_meter_decoded_appears_and_a_log_gives_the_same_counts(building):
    out, _, _, survey = building
    # One spot is enough here (decoding is the slow part); both spots run the same code.
    log = out / "spot1.jsonl"
    decoded = {json.loads(line)["meter_id"] for line in log.read_text().splitlines()}
    rec_loc = survey["locations"][0]
    assert decoded == {m["meter_id"] for m in rec_loc["meters"]}
    proc = wmbus("survey", str(log), "--json", "--label", "spot1")
    assert proc.returncode == 0, proc.stderr
    for log_loc in json.loads(proc.stdout)["locations"]:
        assert log_loc["source"] == "log" and log_loc["collisions_available"] is False
        assert all(c["collisions"] is None for c in log_loc["channels"])
        received = {m["meter_id"]: m["received"] for m in rec_loc["meters"]}
        assert {m["meter_id"]: m["received"] for m in log_loc["meters"]} == received
        assert all(m["lost_to_collision"] is None for m in log_loc["meters"])


def test_csv_tables_hold_one_row_per_meter_and_location(building):
    out, _, _, survey = building
    with open(out / "csv" / "meters.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == sum(len(loc["meters"]) for loc in survey["locations"])
    first = survey["locations"][0]["meters"][0]
    assert rows[0]["meter_id"] == first["meter_id"]
    assert float(rows[0]["reception_ratio"]) == pytest.approx(first["reception_ratio"])
    with open(out / "csv" / "placement.csv", newline="") as stream:
        assert [r["label"] for r in csv.DictReader(stream)] == [
            p["label"] for p in survey["placement"]]


def test_html_report_is_self_contained_and_renders(building):
    out, _, _, survey = building
    report = (out / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 5  # placement, RSSI, occupancy, timelines
    assert "src=\"http" not in report and "<script" not in report
    for loc in survey["locations"]:
        for meter in loc["meters"]:
            assert meter["meter_id"] in report
    chromium = require_program("chromium")
    shot = out / "report.png"
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={shot}",
             "--window-size=1200,2000", (out / "report.html").as_uri()],
            capture_output=True, text=True, timeout=120,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    image = matplotlib.image.imread(shot)
    assert image.shape[:2] == (2000, 1200)
    rgb = image[..., :3]
    not_white = np.any(rgb < 0.9, axis=-1).mean()
    assert 0.05 < not_white < 0.9  # text, tables and plots, not a blank or error page
    colours = np.unique((rgb * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50  # plots in colour, not just black text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{rec}", "--label", "a", "--label", "b"], "give one per input"),
        (["{tmp}/missing_868.625M_2400k.cu8"], "missing_868.625M_2400k.cu8"),
        (["{rec}", "{rec}"], "labels must differ"),
        (["{rec}", "--modes", "T9"], "unknown mode"),
    ],
)
def test_caller_mistakes_are_one_line_errors(tmp_path, building, capsys, args, message):
    _, _, recordings, _ = building
    argv = ["survey", *(a.format(rec=recordings[0], tmp=tmp_path) for a in args)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_log_line_nested_deeper_than_json_reads_is_a_one_line_error(tmp_path):
    log = tmp_path / "walk.jsonl"
    line = json.dumps({"meter_id": "12345678", "time_s": 1.0, "AC": 1})
    log.write_text(line + "\n" + "[" * 1000 + "]" * 1000 + "\n")
    done = wmbus("survey", str(log))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == f"wmbus survey: error: {log}: line 2: JSON nested too deeply\n"


def test_text_from_a_log_reaches_the_terminal_escaped(tmp_path):
    log = tmp_path / "walk.jsonl"
    rows = [
        {"meter_id": "\x1b[2J\x07", "manufacturer": "\x9b31m", "mode": "T1", "time_s": t,
         "AC": t}
        for t in range(3)
    ]
    log.write_text("".join(json.dumps(row) + "\n" for row in rows))
    done = wmbus("survey", str(log))
    assert done.returncode == 0, done.stderr
    assert "\\x1b[2J\\x07" in done.stdout and "\\x9b31m" in done.stdout
    controls = {c for c in done.stdout if ord(c) < 32 or 127 <= ord(c) < 160} - {"\n"}
    assert not controls


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("walk/basement_868.625M_2400k.cu8", "basement"),
        ("rtlsdr_868.625M_2M4_issue48.cu8", "rtlsdr_issue48"),
        ("attic.jsonl", "attic"),
        ("868.625M_2400k.cu8", "868.625M_2400k"),
    ],
)
def test_default_labels_come_from_the_file_name(path, label):
    assert default_label(path) == label


def test_a_progress_bar_is_drawn_on_a_terminal_only(tmp_path):
    recording = REPO / "recordings" / "sim_mixed_868.625M_2400k.cu8"
    # stderr on a pseudo-terminal: the bar is drawn; on a pipe (as everywhere above) it is not.
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "sdr.cli", "survey", str(recording)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the pty closes when the process exits
            break
        if not data:
            break
        chunks.append(data)
    out, _ = proc.communicate(timeout=120)
    os.close(leader)
    terminal = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0
    assert "sim_mixed_868.625M_2400k.cu8 [" in terminal and "%" in terminal
    assert "sim_mixed_868.625M_2400k.cu8 [" not in out.decode()  # never on stdout


def test_a_real_capture_is_surveyed(capsys):
    recording = REPO / "recordings" / "rtlsdr_868.625M_2M4_issue48.cu8"
    listed = json.loads(recording.with_suffix(".json").read_text())["telegrams"]
    meter_ids = {Decoder().decode_hex(t["frame_hex"]).meter_id for t in listed}
    assert main(["survey", str(recording), "--json"]) == 0
    (loc,) = json.loads(capsys.readouterr().out)["locations"]
    assert loc["label"] == "rtlsdr_issue48"
    assert meter_ids <= {m["meter_id"] for m in loc["meters"]}
    t1 = next(c for c in loc["channels"] if c["freq_hz"] == 868.95e6)
    assert t1["bursts"] >= 1 and t1["occupancy"] > 0
