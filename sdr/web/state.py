"""What the live view shows, fed from the receiver's thread and read by the web server's: the
meters heard, the last telegrams, spectrum rows and the radio's health.

Memory is bounded for an endless stream: the telegram log is a ring of ``max_telegrams``, the
meter table holds the ``max_meters`` heard most recently (older ones are evicted and counted),
the waterfall the last ``max_rows`` rows. Every telegram gets a sequence number from 1, so a
reader asks for what came after the last one it saw (``since``) and learns how many it missed.
Field names are the JSON lines' (``protocol.report.telegram_to_dict``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from dsp.bandplan import covered_modes, modes_by_channel, occupied_half_width_hz
from dsp.types import IQChunk
from protocol.modes import ModeSpec
from protocol.report import telegram_summary, telegram_to_dict
from protocol.telegram import Telegram
from sdr.web.spectrum import SpectrumMeter, SpectrumRow

MAX_TELEGRAMS = 1000
MAX_METERS = 5000
MAX_ROWS = 150  # 30 s of waterfall at 0.2 s a row
MAX_SINCE_DIGITS = 18  # below 2**63: any count a session reaches, and no huge-int parsing


def parse_since(text: str | None) -> int:
    """The ``since`` query value: a sequence number (absent: 0); ValueError with the reason."""
    if text is None or text == "":
        return 0
    if not (text.isascii() and text.isdigit()):
        raise ValueError("since must be a whole number of 0 or more")
    if len(text) > MAX_SINCE_DIGITS:
        raise ValueError(f"since must have at most {MAX_SINCE_DIGITS} digits")
    return int(text)


def _reading(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The meter's main value with its unit: the first reading of its meter family (whose name
    ends with the unit, ``total_m3``), else the first current record with a number."""
    first = next(iter((entry.get("readings") or {}).items()), None)
    if first is not None:
        name, value = first
        return {"name": name, "value": value, "unit": name.rsplit("_", 1)[-1]}
    for record in entry.get("records", ()):
        if record["storage"] == 0 and isinstance(record["value"], int | float):
            return {"name": record["quantity"], "value": record["value"], "unit": record["unit"]}
    return None


def _meter_row(old: dict[str, Any] | None, entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "M": entry["M"],
        "meter_id": entry["meter_id"],
        "manufacturer": entry["manufacturer"],
        "device_type": entry["device_type"],
        "mode": entry["mode"],
        "security": entry["security"],
        "telegrams": 1 if old is None else old["telegrams"] + 1,
        "reading": _reading(entry) or (None if old is None else old["reading"]),
        "rssi_dbfs": entry.get("rssi_dbfs"),
        "snr_db": entry.get("snr_db"),
        "time_s": entry.get("time_s"),
        "seq": entry["seq"],
    }


def _row_dict(row: SpectrumRow, sample_rate_hz: float) -> dict[str, Any]:
    return {
        "index": row.index,
        "time_s": round(row.start_sample / sample_rate_hz, 3),
        # float64 first: a float32 rounded to 0.1 prints with 17 digits.
        "mean_dbfs": np.round(row.mean_dbfs.astype(np.float64), 1).tolist(),
        "peak_dbfs": np.round(row.peak_dbfs.astype(np.float64), 1).tolist(),
    }


def _channels(
    sample_rate_hz: float, center_freq_hz: float, modes: Iterable[ModeSpec]
) -> list[dict[str, Any]]:
    """The band plan's channels inside the stream, for the spectrum's markers."""
    inside = covered_modes(sample_rate_hz, center_freq_hz, modes)
    return [
        {
            "modes": [m.name for m in group],
            "freq_hz": freq,
            "half_width_hz": max(occupied_half_width_hz(m) for m in group),
        }
        for freq, group in modes_by_channel(inside).items()
    ]


def _channel_floors(row: SpectrumRow, stream: dict[str, Any]) -> dict[str, float]:
    """Each channel's noise floor in dBFS per bin: the median of its bins' averaged power, which
    a burst in a few of the row's segments hardly moves."""
    bins = len(row.mean_dbfs)
    rate, center = stream["sample_rate_hz"], stream["center_freq_hz"]
    out = {}
    for channel in stream["channels"]:
        low, high = (
            round(((channel["freq_hz"] + side * channel["half_width_hz"] - center) / rate + 0.5)
                  * bins)
            for side in (-1, 1)
        )
        inside = row.mean_dbfs[max(0, low) : min(bins, high + 1)]
        if len(inside):
            out["/".join(channel["modes"])] = round(float(np.median(inside)), 1)
    return out


class LiveView:
    """``observe`` and ``on_telegram`` are ``LiveSession.run``'s hooks (receiver thread); the
    rest is for the server (any thread). ``health`` returns the radio's health as a dict."""

    def __init__(
        self,
        modes: Iterable[ModeSpec],
        health: Callable[[], dict[str, Any]] | None = None,
        *,
        max_telegrams: int = MAX_TELEGRAMS,
        max_meters: int = MAX_METERS,
        max_rows: int = MAX_ROWS,
    ) -> None:
        self._modes = tuple(modes)
        self._health = health
        self._max_meters = max_meters
        self._lock = threading.Lock()
        self._telegrams: deque[dict[str, Any]] = deque(maxlen=max_telegrams)
        self._meters: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._rows: deque[dict[str, Any]] = deque(maxlen=max_rows)
        self._seq = 0
        self.meters_evicted = 0
        self._stream: dict[str, Any] = {}
        self._meter: SpectrumMeter | None = None
        self._samples = 0
        self._dropped = 0
        self._next_sample = 0
        self._floors: dict[str, float] = {}

    # -- receiver side -------------------------------------------------------------------

    def observe(self, chunks: Iterator[IQChunk]) -> Iterator[IQChunk]:
        for chunk in chunks:
            self._spectrum(chunk)
            yield chunk
        if self._meter is not None:
            self._add_rows(self._meter.flush())

    def _spectrum(self, chunk: IQChunk) -> None:
        if self._meter is None:
            # The rate and centre the source settled on are known from its first chunk.
            rate, center = chunk.sample_rate_hz, chunk.center_freq_hz
            self._meter = SpectrumMeter(rate)
            with self._lock:
                self._stream = {
                    "sample_rate_hz": rate,
                    "center_freq_hz": center,
                    "bins": self._meter.fft_size,
                    "row_s": self._meter.row_samples / rate,
                    "channels": _channels(rate, center, self._modes),
                }
        self._dropped += max(0, chunk.start_sample - self._next_sample)
        self._next_sample = chunk.end_sample
        self._samples += len(chunk.samples)
        self._add_rows(self._meter.process(chunk))

    def _add_rows(self, rows: list[SpectrumRow]) -> None:
        if not rows:
            return
        rate = self._stream["sample_rate_hz"]
        converted = [_row_dict(row, rate) for row in rows]
        floors = _channel_floors(rows[-1], self._stream)
        with self._lock:
            self._rows.extend(converted)
            self._floors = floors

    def on_telegram(self, telegram: Telegram) -> None:
        entry = telegram_to_dict(telegram)
        entry["layers"] = telegram_summary(telegram)
        key = f"{entry['M']}.{entry['meter_id']}"
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._telegrams.append(entry)
            self._meters[key] = _meter_row(self._meters.pop(key, None), entry)
            if len(self._meters) > self._max_meters:
                self._meters.popitem(last=False)
                self.meters_evicted += 1

    # -- server side ---------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self._seq

    def meters(self, since: int = 0) -> list[dict[str, Any]]:
        """The meters heard by a telegram after ``since``, least recently heard first."""
        with self._lock:
            return [dict(row) for row in self._meters.values() if row["seq"] > since]

    def telegrams(self, since: int = 0) -> dict[str, Any]:
        """The telegrams after ``since`` still in the log, and how many of them are not."""
        with self._lock:
            first_kept = self._telegrams[0]["seq"] if self._telegrams else self._seq + 1
            kept = [t for t in self._telegrams if t["seq"] > since]
            return {
                "last_seq": self._seq,
                "missed": max(0, first_kept - 1 - since),
                "telegrams": kept,
            }

    def spectrum(self, since_index: int = -1) -> dict[str, Any]:
        """The stream's layout and the waterfall rows after row ``since_index``."""
        with self._lock:
            rows = [row for row in self._rows if row["index"] > since_index]
            return {**self._stream, "rows": rows}

    def health(self) -> dict[str, Any]:
        """The radio's health: the provider's, over what the view counted itself."""
        own: dict[str, Any] = {
            "sample_rate_hz": self._stream.get("sample_rate_hz"),
            "samples": self._samples,
            "samples_dropped": self._dropped,
            "meters_evicted": self.meters_evicted,
            "channel_noise_floor_dbfs": self._floors,
        }
        return {**own, **(self._health() if self._health is not None else {})}
