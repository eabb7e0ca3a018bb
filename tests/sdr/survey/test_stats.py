"""Per-meter reception statistics: expected transmissions from access numbers and intervals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sdr.errors import UserError
from sdr.survey.analysis import build_survey
from sdr.survey.collisions import ChannelStats, TimeSpan, collided_missing
from sdr.survey.inputs import LocationInput, read_log
from sdr.survey.stats import (
    REQUIRED_ECN0_DB,
    Reception,
    meter_stats,
    reception_from_dict,
    spread,
    transmission_steps,
)


def _schedule(rng, interval, jitter, duration, first_access):
    t = rng.uniform(0, interval)
    times, access = [], []
    a = first_access
    while t < duration:
        times.append(t)
        access.append(a)
        t += interval + rng.uniform(-jitter, jitter)
        a = (a + 1) % 256
    return times, access


def _receptions(times, access, keep, meter_id="12345678", mode="T1"):
    return [
        Reception(meter_id, "KAM", mode, t, a, -30.0 + i % 3, 20.0 + i % 5, 1000.0, 868.95e6, 40,
                  "A")
        for i, (t, a) in enumerate(zip(times, access, strict=True))
        if keep[i]
    ]


def test_access_number_gaps_count_missed_transmissions_across_the_wrap():
    steps, interval = transmission_steps([0.0, 1.0, 4.0, 5.0], [254, 255, 2, 3])
    assert steps == [1, 3, 1]
    assert interval == pytest.approx(1.0)


def test_interval_resolves_gaps_longer_than_the_access_counter():
    # 300 transmissions missed: the counter moved by 301 mod 256 = 45.
    times = [0.0, 1.0, 2.0, 303.0, 304.0]
    steps, interval = transmission_steps(times, [10, 11, 12, (12 + 301) % 256, (13 + 301) % 256])
    assert steps == [1, 1, 301, 1]
    assert interval == pytest.approx(1.0)


def test_without_access_numbers_the_interval_gives_the_steps():
    steps, _ = transmission_steps([0.0, 2.0, 4.1, 9.9, 12.0], [None] * 5)
    assert steps == [1, 1, 3, 1]


@pytest.mark.parametrize("seed", range(5))
def test_expected_equals_the_schedule_when_some_telegrams_are_lost(seed):
    rng = np.random.default_rng(seed)
    times, access = _schedule(rng, 8.0, 0.8, 900.0, int(rng.integers(256)))
    keep = rng.random(len(times)) < 0.7
    keep[[0, -1]] = True  # edges are estimated separately below
    stats = meter_stats(_receptions(times, access, keep), 900.0)
    assert stats.received == keep.sum()
    assert stats.expected == len(times)
    assert stats.interval_s == pytest.approx(8.0, rel=0.02)
    lost_times = np.array(times)[~keep]
    predicted = np.array([m.time_s for m in stats.missing])
    assert np.all(np.abs(predicted - lost_times) <= [m.tolerance_s for m in stats.missing])


def test_lost_transmissions_before_the_first_and_after_the_last_reception_are_counted():
    times = [float(t) for t in np.arange(0.5, 100, 10.0)]  # 10 transmissions
    keep = np.array([False, False, True, True, True, True, True, True, False, False])
    stats = meter_stats(_receptions(times, list(range(10)), keep), 100.0)
    assert (stats.received, stats.expected) == (6, 10)
    assert stats.reception_ratio == pytest.approx(0.6)


def test_same_transmission_heard_twice_counts_once():
    r = _receptions([1.0, 1.01, 2.0], [5, 5, 6], [True, True, True])
    assert meter_stats(r, 2.5).received == 2


def test_spread_and_link_margin():
    s = spread([float(v) for v in range(1, 101)])
    assert (s.median, s.p10, s.p90) == pytest.approx((50.5, 10.9, 90.1))
    times = [float(t) for t in range(10)]
    stats = meter_stats(_receptions(times, list(range(10)), [True] * 10), 10.0)
    # SNR values 20..24 (median 22) against what our receiver needs in T1.
    assert stats.link_margin_db == pytest.approx(22.0 - REQUIRED_ECN0_DB["T1"])
    assert spread([None, None]) is None


def test_reception_from_decoder_json():
    line = {"meter_id": "00012345", "manufacturer": "KAM", "mode": "C1", "time_s": 1.5,
            "ell": {"acc": 17}, "rssi_dbfs": -40.1, "snr_db": 12.0, "cfo_hz": -2000.0,
            "freq_hz": 868.95e6, "frame_hex": "0A44" + "00" * 9, "frame_format": "B"}
    r = reception_from_dict(line)
    assert (r.access_number, r.frame_bytes, r.frame_format) == (17, 11, "B")
    assert reception_from_dict({"model": "Wireless-MBus", "error": {"reason": "crc"}}) is None
    assert reception_from_dict({"stats": {}}) is None
    assert reception_from_dict({"meter_id": "1", "time_s": "soon"}) is None


def test_missing_transmissions_in_a_collision_are_lost_to_collision():
    times = [float(t) for t in range(0, 20, 2)]
    keep = [True] * 10
    keep[4] = keep[7] = False
    stats = meter_stats(_receptions(times, list(range(10)), keep), 20.0)
    channel = ChannelStats(868.95e6, 0.01, 12, (TimeSpan(8.002, 8.004),), -40.0)
    assert collided_missing(stats, [channel], 0.006) == (True, False)
    log_channel = ChannelStats(868.95e6, None, None, None, None)
    assert collided_missing(stats, [log_channel], 0.006) is None


def test_a_collision_in_the_preamble_before_the_sync_word_counts():
    # A telegram's time is its sync word's: S1's shortest preamble lasts 17 ms before it, T1's
    # 0.4 ms, so a collision 10-20 ms before the predicted time hits S1's preamble only.
    times = [float(t) for t in range(0, 20, 2)]
    keep = [True] * 10
    keep[4] = False
    channel = ChannelStats(868.95e6, 0.01, 12, (TimeSpan(7.980, 7.990),), -40.0)
    for mode, airtime, collided in (("S1", 0.04, True), ("T1", 0.006, False)):
        stats = meter_stats(_receptions(times, list(range(10)), keep, mode=mode), 20.0)
        assert collided_missing(stats, [channel], airtime) == (collided,), mode


def test_logs_give_counts_but_no_collisions(tmp_path):
    times = [0.3 + 2.0 * k for k in range(10)]
    lines = [json.dumps({"meter_id": "12345678", "manufacturer": "KAM", "mode": "T1",
                         "time_s": t, "AC": k, "rssi_dbfs": -50.0, "snr_db": 15.0,
                         "freq_hz": 868.95e6})
             for k, t in enumerate(times) if k != 4]
    log = tmp_path / "attic.jsonl"
    log.write_text("\n".join([*lines, "not json", json.dumps({"stats": {}})]) + "\n")
    data = read_log(log, "attic")
    assert data.skipped_lines == 1 and data.channels is None
    survey = build_survey([data]).to_dict()
    loc = survey["locations"][0]
    meter = loc["meters"][0]
    assert (meter["received"], meter["expected"]) == (9, 10)
    assert meter["lost_to_collision"] is None and meter["lost_to_weak_signal"] is None
    assert loc["collisions_available"] is False
    assert loc["channels"] == [{"freq_hz": 868.95e6, "occupancy": None, "bursts": None,
                                "noise_dbfs": None, "collisions": None}]


def test_placement_ranks_the_location_that_hears_more_meters_first():
    def loc(label, meters):
        receptions = []
        for meter_id, ratio in meters.items():
            n = 20
            keep = np.arange(n) < round(ratio * n)
            keep[0] = True
            receptions += _receptions([1.0 + k for k in range(n)], list(range(n)),
                                      np.roll(keep, 0), meter_id=meter_id)
        return LocationInput(label, label, "log", 21.0, tuple(receptions), None)

    survey = build_survey([
        loc("cellar", {"11111111": 1.0}),
        loc("hall", {"11111111": 1.0, "22222222": 1.0}),
        loc("roof", {"11111111": 0.5, "22222222": 1.0}),
    ])
    assert [p.label for p in survey.placement] == ["hall", "roof", "cellar"]
    assert survey.placement[0].meters_reliable == 2
    assert survey.best_location("22222222") in ("hall", "roof")


def test_a_log_mixing_recordings_is_refused(tmp_path):
    lines = [json.dumps({"meter_id": "12345678", "time_s": 1.0, "AC": 1, "file": name})
             for name in ("a.cu8", "b.cu8")]
    log = tmp_path / "mixed.jsonl"
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match="give one log per location"):
        read_log(log, "mixed")
