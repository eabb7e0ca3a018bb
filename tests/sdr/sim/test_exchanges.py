"""Scenario gateways: exchanges (meter frame offering access, gateway request, meter reply) in
the schedule and truth, decoded by ``wmbus decode --conversations`` and surveyed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sdr.errors import UserError
from sdr.sim.building import simulate
from sdr.sim.scenario import parse_scenario
from tests.conftest import REPO

# A T2 gateway whose meter replies 70 ms after the request (outside T2's 2-50 ms window) and a
# C2 gateway with the fast (100 ms) response; both meters send until a frame's exchange no
# longer fits, so the recording ends with frames that nobody answered.
SCENARIO = """
name = "gateways"
duration_s = 0.8
seed = 4

[[meters]]
id = "31000001"
manufacturer = "KAM"
mode = "T1"
interval_s = 0.3
length = 40

[[meters]]
id = "31000002"
manufacturer = "DME"
mode = "C1"
interval_s = 0.3
length = 36

[[gateways]]
id = "90000001"
manufacturer = "SON"
mode = "T2"
meters = ["31000001"]
reply_delay_ms = 70
path_loss_db = { hall = 90 }

[[gateways]]
id = "90000002"
manufacturer = "SON"
mode = "C2"
response = "fast"
request = "SND_UD"
meters = ["31000002"]
path_loss_db = { hall = 92 }

[[locations]]
name = "hall"
cfo_spread_hz = 10000
path_loss_db = { "31000001" = 95, "31000002" = 97 }
"""


def wmbus(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sdr.cli", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_exchanges_in_the_truth_are_decoded_paired_and_surveyed(tmp_path) -> None:
    truth = simulate(parse_scenario(SCENARIO, "gateways.toml"), tmp_path)
    rows = truth["transmissions"]
    windows = {g["gateway_id"]: g["window_ms"] for g in truth["gateways"]}
    ours = [r for r in rows if r["gateway_id"] is not None]
    outside = [r for r in ours
               if r["reply_to"] is not None
               and not windows[r["gateway_id"]][0] <= r["response_delay_ms"]
               <= windows[r["gateway_id"]][1]]
    # The premises: exchanges of both modes, late replies, unanswered frames, no collisions.
    assert {r["mode"] for r in ours} == {"T2", "C2"}
    assert {r["mode"] for r in outside} == {"T2"} and len(outside) == 2
    assert [r["mode"] for r in rows if r["gateway_id"] is None] == ["C1", "T1"]
    assert not any(r["overlaps"] for r in rows)
    recording = str(tmp_path / truth["locations"][0]["file"])
    decode = wmbus("decode", recording, "--json", "--conversations")
    survey = wmbus("survey", recording, "--json")
    decoded_out, errors = decode.communicate(timeout=60)
    assert decode.returncode == 0, errors
    survey_out, errors = survey.communicate(timeout=60)
    assert survey.returncode == 0, errors

    decoded = {r["frame_hex"].upper(): r for r in map(json.loads, decoded_out.splitlines())}
    assert sorted(decoded) == sorted(r["frame_hex"] for r in ours)  # exchanges only
    flagged = 0
    for r in ours:
        got = decoded[r["frame_hex"]]
        assert (got["mode"], got["direction"]) == (r["mode"], r["direction"])
        if r["reply_to"] is None:
            assert got.get("reply_to") is None
            continue
        assert got["reply_to"] == decoded[rows[r["reply_to"]]["frame_hex"]]["start_sample"]
        # Measured to the sync word: the truth's delay plus postamble and preamble (< 1 ms).
        assert 0 < got["response_delay_ms"] - r["response_delay_ms"] < 1
        assert got["in_window"] is (r not in outside)
        flagged += not got["in_window"]
    assert flagged == len(outside)

    [location] = json.loads(survey_out)["locations"]
    expected = []
    for g in truth["gateways"]:
        requests = [r for r in ours if r["gateway_id"] == g["gateway_id"]
                    and r["direction"] == "other_to_meter"]
        late = sum(r["gateway_id"] == g["gateway_id"] for r in outside)
        expected.append({
            "gateway": f"{g['manufacturer']} {g['gateway_id']}", "frames": len(requests),
            "modes": [g["mode"]],
            "meters": [{"meter_id": m, "exchanges": len(requests), "completed": len(requests),
                        "outside_window": late} for m in g["meters"]],
        })
    assert location["gateways"] == expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('mode = "C2"', 'mode = "T2"'), "a T2 gateway answers T1 meters"),
        (('meters = ["31000001"]', 'meters = ["31000009"]'), "unknown meter"),
        (("[[locations]]", '[[gateways]]\nid = 3\nmode = "C2"\nmeters = ["31000002"]\n'
                           "[[locations]]"), "one gateway at most"),
        (('id = "90000001"', 'id = "31000001"'), "differ from meter ids"),
        (("reply_delay_ms = 70", 'response = "slow"'), "C2 gateways only"),
        (('request = "SND_UD"', 'request = "SND_NKE"'), "request must be one of"),
        (("reply_delay_ms = 70", "reply_delay_ms = nan"), "from 0 to 60000"),
        (("{ hall = 90 }", "{ attic = 90 }"), "unknown location 'attic'"),
    ],
)
def test_bad_gateways_are_one_line_errors(change, message) -> None:
    with pytest.raises(UserError, match=message):
        parse_scenario(SCENARIO.replace(*change, 1), "gateways.toml")
