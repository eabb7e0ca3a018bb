"""Per-meter reception statistics of one location: received, expected, ratio, signal levels.

Input is a list of receptions (one per decoded telegram) built from ``telegram_to_dict`` output,
so a recording decoded now and a JSON-lines log of ``wmbus decode``/``listen`` take the same path.
A meter's statistics count the frames it sends on its own schedule; its answers to a gateway
(which repeat an access number) and the frames a gateway sent it are the gateways' statistics
(``sdr.survey.gateways``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from protocol.modes import OMS_PHY, Direction, ModeSpec

# Ec/N0 (dB) our receiver needs for 10% packet errors per mode (40-byte link frames), as measured
# by `python3 -m benchmarks --only sensitivity` (200 telegrams per 1-dB point): T1 7.8, C1 frame A
# 8.6 and frame B 9.8 (C1 takes the worse of the two formats), S1 7.8. Link margin = median SNR -
# this value, so the receiver's snr_db must be the same Ec/N0 quantity (chip energy over noise
# density, input-referred; tests/dsp/test_receiver.py checks it). Re-measure and update when the
# receiver changes.
REQUIRED_ECN0_DB: Mapping[str, float] = {"S1": 7.8, "T1": 7.8, "C1": 9.8}

ACCESS_MODULO = 256
# Telegrams of one meter closer than this are the same transmission heard twice (e.g. a repeat
# decoded in two modes, or a log with duplicates).
SAME_TRANSMISSION_S = 0.05


@dataclass(frozen=True, slots=True)
class Reception:
    """One decoded telegram at one location."""

    meter_id: str
    manufacturer: str
    mode: str
    time_s: float
    access_number: int | None
    rssi_dbfs: float | None
    snr_db: float | None
    cfo_hz: float | None
    freq_hz: float | None
    frame_bytes: int | None = None  # link frame without CRCs (L + 1)
    frame_format: str | None = None
    # The exchange fields of docs/json-schema.md; a log without them is of meters' frames.
    direction: str = Direction.METER_TO_OTHER
    c_name: str = ""
    start_sample: int | None = None
    exchange: int | None = None  # start_sample of the exchange's first frame
    reply_to: int | None = None
    in_window: bool | None = None
    gateway: str | None = None  # "M id" of the sender of a frame to a meter, when it says

    @property
    def from_meter(self) -> bool:
        return self.direction == Direction.METER_TO_OTHER

    @property
    def scheduled(self) -> bool:
        """Sent by the meter on its own, not in answer to a gateway."""
        return self.from_meter and self.reply_to is None


@dataclass(frozen=True, slots=True)
class Spread:
    median: float
    p10: float
    p90: float

    def to_dict(self) -> dict[str, float]:
        return {"median": round(self.median, 2), "p10": round(self.p10, 2),
                "p90": round(self.p90, 2)}


@dataclass(frozen=True, slots=True)
class MissingTransmission:
    """A transmission the meter must have sent (access-number gap or interval) but we missed."""

    time_s: float  # predicted
    tolerance_s: float  # how far the real time may be from the prediction


@dataclass(frozen=True, slots=True)
class MeterStats:
    meter_id: str
    manufacturer: str
    mode: str
    freq_hz: float | None
    received: int
    expected: int
    interval_s: float | None
    times_s: tuple[float, ...]
    missing: tuple[MissingTransmission, ...]
    rssi_dbfs: Spread | None
    snr_db: Spread | None
    cfo_hz: Spread | None
    frame_bytes: int | None
    frame_format: str | None

    @property
    def reception_ratio(self) -> float:
        return self.received / self.expected if self.expected else 0.0

    @property
    def phy(self) -> ModeSpec | None:
        """The physical layer the meter sends on (a T2 meter's is T1's), None if unknown."""
        return OMS_PHY.get((self.mode, Direction.METER_TO_OTHER))

    @property
    def link_margin_db(self) -> float | None:
        required = REQUIRED_ECN0_DB.get(self.phy.name) if self.phy is not None else None
        if self.snr_db is None or required is None:
            return None
        return self.snr_db.median - required


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _station(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return None
    return f"{value.get('M', '')} {value.get('id', '')}"


def reception_from_dict(obj: Mapping[str, Any]) -> Reception | None:
    """A reception from one ``telegram_to_dict``/JSON-lines object; None for non-telegrams
    (decode failures, statistics lines) and telegrams without a time."""
    meter_id = obj.get("meter_id")
    time_s = _number(obj.get("time_s"))
    if not isinstance(meter_id, str) or time_s is None:
        return None
    access = obj.get("AC")
    frame_hex = obj.get("frame_hex")
    frame_format = obj.get("frame_format")
    if access is None and isinstance(obj.get("ell"), Mapping):
        access = obj["ell"].get("acc")
    direction = obj.get("direction")
    in_window = obj.get("in_window")
    return Reception(
        meter_id=meter_id,
        manufacturer=str(obj.get("manufacturer") or obj.get("M") or ""),
        mode=str(obj.get("mode") or ""),
        time_s=time_s,
        access_number=access if isinstance(access, int) and not isinstance(access, bool) else None,
        rssi_dbfs=_number(obj.get("rssi_dbfs")),
        snr_db=_number(obj.get("snr_db")),
        cfo_hz=_number(obj.get("cfo_hz")),
        freq_hz=_number(obj.get("freq_hz")),
        frame_bytes=len(frame_hex) // 2 if isinstance(frame_hex, str) else None,
        frame_format=frame_format if isinstance(frame_format, str) else None,
        direction=Direction.OTHER_TO_METER if direction == Direction.OTHER_TO_METER
        else Direction.METER_TO_OTHER,
        c_name=str(obj.get("c_name") or ""),
        start_sample=_integer(obj.get("start_sample")),
        exchange=_integer(obj.get("exchange")),
        reply_to=_integer(obj.get("reply_to")),
        in_window=in_window if isinstance(in_window, bool) else None,
        gateway=_station(obj.get("gateway")),
    )


def spread(values: Iterable[float | None]) -> Spread | None:
    data = np.array([v for v in values if v is not None], dtype=float)
    if len(data) == 0:
        return None
    p10, median, p90 = np.percentile(data, [10, 50, 90])
    return Spread(float(median), float(p10), float(p90))


def _distinct(receptions: Sequence[Reception]) -> list[Reception]:
    """One reception per transmission, in time order."""
    out: list[Reception] = []
    for r in sorted(receptions, key=lambda r: r.time_s):
        if out and r.time_s - out[-1].time_s < SAME_TRANSMISSION_S and (
            r.access_number == out[-1].access_number
        ):
            continue
        out.append(r)
    return out


def transmission_steps(
    times_s: Sequence[float], access: Sequence[int | None]
) -> tuple[list[int], float | None]:
    """Transmissions between consecutive receptions (1 = none missed) and the mean interval.

    The access number counts transmissions modulo 256; the observed interval resolves the
    wrap-around. Where the access number is missing, the interval alone gives the step.
    """
    dts = np.diff(np.asarray(times_s, dtype=float))
    if len(dts) == 0:
        return [], None
    ac_steps = [
        (b - a) % ACCESS_MODULO if a is not None and b is not None else None
        for a, b in pairwise(access)
    ]
    per_step = [dt / n for dt, n in zip(dts, ac_steps, strict=True) if n]
    # Without usable access numbers the shortest gaps are single steps (losses only lengthen).
    first_guess = float(np.median(per_step)) if per_step else float(np.percentile(dts, 25))
    if first_guess <= 0:
        return [1] * len(dts), None
    steps = []
    for dt, n in zip(dts, ac_steps, strict=True):
        if n:
            wraps = max(0, round((dt / first_guess - n) / ACCESS_MODULO))
            steps.append(n + wraps * ACCESS_MODULO)
        else:
            steps.append(max(1, round(dt / first_guess)))
    interval = float(dts.sum() / sum(steps))
    return steps, interval


def meter_stats(
    receptions: Sequence[Reception], duration_s: float, interval_hint_s: float | None = None
) -> MeterStats:
    """Statistics of one meter's receptions over a recording of ``duration_s`` seconds.

    ``interval_hint_s`` (the meter's interval seen at other locations) stands in when these
    receptions alone cannot give the interval (a single telegram).
    """
    heard = _distinct(receptions)
    times = [r.time_s for r in heard]
    steps, interval = transmission_steps(times, [r.access_number for r in heard])
    if interval is None:
        interval = interval_hint_s
    missing: list[MissingTransmission] = []
    if interval is not None:
        single = [
            dt for dt, n in zip(np.diff(times), steps, strict=True) if n == 1
        ]
        jitter = float(np.std(single)) if len(single) > 1 else 0.1 * interval
        for t0, t1, n in zip(times[:-1], times[1:], steps, strict=True):
            for j in range(1, n):
                distance = min(j, n - j)
                missing.append(
                    MissingTransmission(t0 + j * (t1 - t0) / n, 3 * jitter * math.sqrt(distance))
                )
        # Transmissions before the first and after the last reception, inside the recording.
        before = int(times[0] // interval)
        after = max(0, math.ceil((duration_s - times[-1]) / interval) - 1)
        missing += [
            MissingTransmission(times[0] - j * interval, 3 * jitter * math.sqrt(j))
            for j in range(before, 0, -1)
        ]
        missing += [
            MissingTransmission(times[-1] + j * interval, 3 * jitter * math.sqrt(j))
            for j in range(1, after + 1)
        ]
    first = heard[0]
    freqs = [r.freq_hz for r in heard if r.freq_hz is not None]
    sizes = [r.frame_bytes for r in heard if r.frame_bytes]
    return MeterStats(
        meter_id=first.meter_id,
        manufacturer=first.manufacturer,
        mode=max({r.mode for r in heard}, key=[r.mode for r in heard].count),
        freq_hz=freqs[0] if freqs else None,
        received=len(heard),
        expected=len(heard) + len(missing),
        interval_s=interval,
        times_s=tuple(times),
        missing=tuple(sorted(missing, key=lambda m: m.time_s)),
        rssi_dbfs=spread(r.rssi_dbfs for r in heard),
        snr_db=spread(r.snr_db for r in heard),
        cfo_hz=spread(r.cfo_hz for r in heard),
        frame_bytes=max(sizes) if sizes else None,
        frame_format=first.frame_format,
    )


def by_meter(receptions: Iterable[Reception]) -> dict[str, list[Reception]]:
    """Each meter's scheduled frames (not its answers, nor what a gateway sent it)."""
    out: dict[str, list[Reception]] = {}
    for r in receptions:
        if r.scheduled:
            out.setdefault(r.meter_id, []).append(r)
    return out


def meter_intervals(locations: Iterable[Sequence[Reception]]) -> dict[str, float]:
    """Each meter's transmit interval from the location that heard it most often."""
    best: dict[str, tuple[int, float]] = {}
    for receptions in locations:
        for meter_id, heard in by_meter(receptions).items():
            distinct = _distinct(heard)
            _, interval = transmission_steps([r.time_s for r in distinct],
                                             [r.access_number for r in distinct])
            if interval is not None and len(distinct) > best.get(meter_id, (0, 0.0))[0]:
                best[meter_id] = (len(distinct), interval)
    return {meter_id: interval for meter_id, (_, interval) in best.items()}


def meters_of(
    receptions: Iterable[Reception],
    duration_s: float,
    interval_hints_s: Mapping[str, float] | None = None,
) -> list[MeterStats]:
    """Statistics for every meter heard, ordered by meter id."""
    hints = interval_hints_s or {}
    groups = by_meter(receptions)
    return [meter_stats(groups[m], duration_s, hints.get(m)) for m in sorted(groups)]
