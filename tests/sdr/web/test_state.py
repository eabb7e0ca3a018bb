"""The live view's state: bounded log and meter table, field names of the JSON lines, the
layers text of `wmbus telegram`, hostile `since` values."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.types import IQChunk
from protocol.modes import C1, S1, T1
from protocol.report import telegram_to_dict
from sdr.web.state import MAX_SINCE_DIGITS, LiveView, parse_since
from tests.sdr.live_support import wmbus
from tests.sdr.web.support import meter_telegrams


@pytest.mark.parametrize(
    "text", ["-1", "+1", "1e3", "0x10", " 1", "1.0", "١٢", "NaN", "9" * (MAX_SINCE_DIGITS + 1)]
)
def test_hostile_since_values_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match="since must"):
        parse_since(text)


@pytest.mark.parametrize(("text", "value"), [(None, 0), ("", 0), ("0", 0), ("0042", 42)])
def test_since_values(text: str | None, value: int) -> None:
    assert parse_since(text) == value


def test_the_log_keeps_the_last_telegrams_and_counts_what_a_reader_missed() -> None:
    telegrams = meter_telegrams(8)
    view = LiveView((T1,), max_telegrams=5)
    for telegram in telegrams:
        view.on_telegram(telegram)
    log = view.telegrams(0)
    assert [t["seq"] for t in log["telegrams"]] == [4, 5, 6, 7, 8]
    assert log["missed"] == 3 and log["last_seq"] == 8
    assert view.telegrams(6) == {"last_seq": 8, "missed": 0, "telegrams": log["telegrams"][3:]}
    assert view.telegrams(8)["telegrams"] == []


def test_the_meter_table_keeps_the_meters_heard_last() -> None:
    telegrams = meter_telegrams(6)
    view = LiveView((T1,), max_meters=4)
    for telegram in [*telegrams, telegrams[2]]:
        view.on_telegram(telegram)
    ids = [m["meter_id"] for m in view.meters()]
    # Meters 0 and 1 were evicted; meter 2, heard again, is now the most recent.
    assert ids == [t.meter_id for t in (telegrams[3], telegrams[4], telegrams[5], telegrams[2])]
    assert view.meters_evicted == 2
    assert view.meters()[-1]["telegrams"] == 2
    assert [m["meter_id"] for m in view.meters(since=6)] == [telegrams[2].meter_id]


def test_entries_carry_the_json_line_fields_and_the_layers_of_wmbus_telegram() -> None:
    [telegram] = meter_telegrams(1, seed=9)
    view = LiveView((T1,))
    view.on_telegram(telegram)
    [entry] = view.telegrams()["telegrams"]
    assert {k: v for k, v in entry.items() if k not in ("seq", "layers")} == telegram_to_dict(
        telegram
    )
    hex_frame = telegram.frame.data.hex()
    done = wmbus("telegram", hex_frame)
    assert done.returncode == 0, done.stderr
    assert entry["layers"] == done.stdout.rstrip("\n")
    [meter] = view.meters()
    line = telegram_to_dict(telegram)
    for key in ("M", "meter_id", "manufacturer", "device_type", "mode", "security"):
        assert meter[key] == line[key]
    name, value = next(iter(line["readings"].items()))
    assert meter["reading"] == {"name": name, "value": value, "unit": name.rsplit("_", 1)[-1]}


def test_health_counts_samples_and_drops_and_takes_the_providers_fields() -> None:
    view = LiveView((S1, T1, C1), health=lambda: {"overflows": 3, "samples_dropped": 7})
    chunks = [IQChunk(np.zeros(1000, np.complex64), start, 2.4e6, 868.625e6)
              for start in (0, 1000, 2500)]
    assert len(list(view.observe(iter(chunks)))) == 3
    health = view.health()
    assert health["samples"] == 3000 and health["sample_rate_hz"] == 2.4e6
    assert health["overflows"] == 3 and health["samples_dropped"] == 7  # the provider's
    assert LiveView((T1,)).health()["samples_dropped"] == 0
    no_provider = LiveView((T1,))
    list(no_provider.observe(iter(chunks)))
    assert no_provider.health()["samples_dropped"] == 500  # counted from the gap


def test_the_spectrum_names_the_channels_of_the_band_plan() -> None:
    view = LiveView((S1, T1, C1))
    rate = 2.4e6
    n = 3 * 96_000 * 5  # 3 rows of 0.2 s
    chunks = [IQChunk(np.full(96_000, 0.01, np.complex64), i * 96_000, rate, 868.625e6)
              for i in range(n // 96_000)]
    list(view.observe(iter(chunks)))
    spectrum = view.spectrum()
    assert [c["modes"] for c in spectrum["channels"]] == [["S1"], ["T1", "C1"]]
    assert [c["freq_hz"] for c in spectrum["channels"]] == [S1.center_freq_hz, T1.center_freq_hz]
    assert [r["index"] for r in spectrum["rows"]] == [0, 1, 2]
    assert [r["index"] for r in view.spectrum(since_index=1)["rows"]] == [2]
    assert len(spectrum["rows"][0]["mean_dbfs"]) == spectrum["bins"]
    assert set(view.health()["channel_noise_floor_dbfs"]) == {"S1", "T1/C1"}
