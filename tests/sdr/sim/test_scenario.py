"""The building simulator: scenario parsing, schedule truth and signal levels in the recordings."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import pairwise

import numpy as np
import pytest

from protocol.decoder import Decoder
from sdr.errors import UserError
from sdr.io.files import probe_iq_file, read_iq_chunks
from sdr.sim.scenario import load_scenario, parse_scenario
from tests.conftest import REPO

SMALL = """
name = "two flats"
duration_s = 2.0
seed = 3

[[meters]]
id = "11110001"
manufacturer = "KAM"
mode = "T1"
interval_s = 0.1
jitter_s = 0.01
length = 30

[[meters]]
id = "11110002"
manufacturer = "DME"
mode = "C1"
frame_format = "B"
interval_s = 0.07
jitter_s = 0.005
length = 60
key = "000102030405060708090A0B0C0D0E0F"

[[meters]]
id = "11110003"
mode = "S1"
interval_s = 0.3
jitter_s = 0.02

[[locations]]
name = "flat-a"
noise_figure_db = 5
cfo_spread_hz = 10000
path_loss_db = { "11110001" = 90, "11110002" = 100, "11110003" = 95 }

[[locations]]
name = "flat-b"
noise_figure_db = 9
path_loss_db = { "11110001" = 105 }
"""


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenario")
    toml = out / "small.toml"
    toml.write_text(SMALL)
    proc = subprocess.run(
        [sys.executable, "-m", "sdr.cli", "simulate", "--scenario", str(toml), str(out / "rec")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return out / "rec", json.loads((out / "rec" / "truth.json").read_text())


def test_recordings_are_named_so_that_rate_and_centre_are_known(simulated):
    out, truth = simulated
    for loc in truth["locations"]:
        info = probe_iq_file(out / loc["file"])
        assert (info.sample_rate_hz, info.center_freq_hz) == (2.4e6, 868.625e6)
        assert info.num_samples == truth["num_samples"] == int(2.0 * 2.4e6)


def test_schedule_follows_interval_and_access_numbers(simulated):
    _, truth = simulated
    by_meter: dict[str, list[dict]] = {}
    for t in truth["transmissions"]:
        by_meter.setdefault(t["meter_id"], []).append(t)
    meters = {m["meter_id"]: m for m in truth["meters"]}
    for meter_id, sent in by_meter.items():
        starts = np.array([t["start_s"] for t in sent])
        gaps = np.diff(starts)
        m = meters[meter_id]
        assert np.all(np.abs(gaps - m["interval_s"]) <= m["jitter_s"] + 1e-6)
        access = [t["access_number"] for t in sent]
        assert all((b - a) % 256 == 1 for a, b in pairwise(access))
        assert all(t["end_sample"] <= truth["num_samples"] for t in sent)


def test_overlaps_are_exactly_the_pairs_sharing_time_and_channel(simulated):
    _, truth = simulated
    sent = truth["transmissions"]
    assert any(t["overlaps"] for t in sent), "the scenario is busy enough to collide"
    for t in sent:
        expected = [
            u["index"] for u in sent
            if u["index"] != t["index"] and u["freq_hz"] == t["freq_hz"]
            and u["start_sample"] < t["end_sample"] and t["start_sample"] < u["end_sample"]
        ]
        assert t["overlaps"] == expected


def test_frames_are_real_telegrams_of_their_meter(simulated):
    _, truth = simulated
    decoder = Decoder({"11110002": bytes.fromhex("000102030405060708090A0B0C0D0E0F")})
    for t in truth["transmissions"][:20]:
        telegram = decoder.decode_hex(t["frame_hex"])
        assert telegram.meter_id == t["meter_id"]
        assert telegram.tpl.acc == t["access_number"]
        assert telegram.error is None
        assert telegram.records[0].quantity == "volume"


def test_levels_in_the_recording_match_the_truth(simulated):
    out, truth = simulated
    for loc in truth["locations"]:
        x = np.concatenate([c.samples for c in read_iq_chunks(probe_iq_file(out / loc["file"]))])
        mine = [t for t in truth["transmissions"] if loc["name"] in t["locations"]]
        busy = np.zeros(len(x), bool)
        for t in mine:
            busy[t["start_sample"] : t["end_sample"]] = True
        # Noise: thermal (from the noise figure) plus the 8-bit quantisation of cu8.
        quant = 2 * (1 / 127.5) ** 2 / 12
        noise = np.mean(np.abs(x[~busy]) ** 2)
        assert 10 * np.log10(noise) == pytest.approx(
            10 * np.log10(10 ** (loc["noise_dbfs"] / 10) + quant), abs=0.2)
        alone = [t for t in mine if not t["overlaps"]][:10]
        assert alone
        for t in alone:
            power = np.mean(np.abs(x[t["start_sample"] : t["end_sample"]]) ** 2) - noise
            assert 10 * np.log10(power) == pytest.approx(t["locations"][loc["name"]]["rssi_dbfs"],
                                                         abs=0.3)


def test_meters_a_location_does_not_list_are_silent_there(simulated):
    _, truth = simulated
    for t in truth["transmissions"]:
        assert ("flat-b" in t["locations"]) == (t["meter_id"] == "11110001")
        heard = t["locations"]["flat-a"]
        assert abs(heard["cfo_hz"]) <= 10_000
        # Ec/N0 follows from received power, noise figure and chip rate (docs/survey.md).
        chip_rate = {"T1": 100e3, "C1": 100e3, "S1": 32768.0}[t["mode"]]
        noise = 10 ** ((-174 + 5 + 10 * np.log10(2.4e6) + 70) / 10) + 2 * (1 / 127.5) ** 2 / 12
        assert heard["ecn0_db"] == pytest.approx(
            heard["rssi_dbfs"] + 10 * np.log10(2.4e6 / (noise * chip_rate)), abs=0.01)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('mode = "T1"', 'mode = "X9"'), "unknown mode"),
        (('mode = "T1"', 'mode = "C2"'), "'C2' for a meter"),  # 869.525 MHz: gateways only
        (("interval_s = 0.1\n", ""), "'interval_s' is missing"),
        (('"11110001" = 105', '"99999999" = 105'), "unknown meter"),
        (('key = "000102030405060708090A0B0C0D0E0F"', 'key = "0001"'), "32 hex digits"),
        (('frame_format = "B"', 'frame_format = "C"'), "no frame format"),
        (("duration_s = 2.0", "duration_s = [1]"), "wrong type"),
        (("duration_s = 2.0", "duration_s = = 2"), "small.toml"),
    ],
)
def test_bad_scenarios_are_clear_errors(change, message):
    with pytest.raises(UserError, match=message):
        parse_scenario(SMALL.replace(*change, 1), "small.toml")


@pytest.mark.parametrize("path", sorted((REPO / "examples").glob("*.toml")), ids=lambda p: p.stem)
def test_example_scenarios_are_valid(path):
    scenario = load_scenario(path)
    assert scenario.meters and scenario.locations
    heard = {m for loc in scenario.locations for m in loc.path_loss_db}
    assert heard == {m.meter_id for m in scenario.meters}
