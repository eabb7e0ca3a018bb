"""A building survey: per-location meter and channel statistics, and gateway placement ranking.

``Survey.to_dict()`` is the stable ``wmbus survey --json`` schema (docs/survey.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sdr.survey.collisions import ChannelStats, airtime_s, collided_missing, meter_channel
from sdr.survey.gateways import GatewayStats, gateways_of
from sdr.survey.stats import MeterStats, meter_intervals, meters_of

if TYPE_CHECKING:
    from sdr.survey.inputs import LocationInput

SCHEMA = "wmbus-survey/1"
# A meter counts as reliably heard at a location from this reception ratio on.
RELIABLE_RATIO = 0.9


@dataclass(frozen=True, slots=True)
class MeterReport:
    stats: MeterStats
    collided: tuple[bool, ...] | None  # per missing transmission; None: collisions unknown
    airtime_s: float

    @property
    def lost_to_collision(self) -> int | None:
        return None if self.collided is None else sum(self.collided)

    @property
    def lost_to_weak_signal(self) -> int | None:
        return None if self.collided is None else len(self.collided) - sum(self.collided)

    def to_dict(self) -> dict[str, Any]:
        s = self.stats
        margin = s.link_margin_db
        return {
            "meter_id": s.meter_id,
            "manufacturer": s.manufacturer,
            "mode": s.mode,
            "freq_hz": meter_channel(s),
            "received": s.received,
            "expected": s.expected,
            "lost": s.expected - s.received,
            "reception_ratio": round(s.reception_ratio, 4),
            "interval_s": None if s.interval_s is None else round(s.interval_s, 3),
            "rssi_dbfs": None if s.rssi_dbfs is None else s.rssi_dbfs.to_dict(),
            "snr_db": None if s.snr_db is None else s.snr_db.to_dict(),
            "cfo_hz": None if s.cfo_hz is None else s.cfo_hz.to_dict(),
            "link_margin_db": None if margin is None else round(margin, 2),
            "lost_to_collision": self.lost_to_collision,
            "lost_to_weak_signal": self.lost_to_weak_signal,
        }


@dataclass(frozen=True, slots=True)
class LocationReport:
    label: str
    path: str
    source: str
    duration_s: float
    meters: tuple[MeterReport, ...]
    channels: tuple[ChannelStats, ...]
    collisions_available: bool
    gateways: tuple[GatewayStats, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "path": self.path,
            "source": self.source,
            "duration_s": round(self.duration_s, 3),
            "collisions_available": self.collisions_available,
            "meters": [m.to_dict() for m in self.meters],
            "channels": [
                {
                    "freq_hz": c.freq_hz,
                    "occupancy": None if c.occupancy is None else round(c.occupancy, 5),
                    "bursts": c.bursts,
                    "noise_dbfs": None if c.noise_dbfs is None else round(c.noise_dbfs, 2),
                    "collisions": None
                    if c.collisions is None
                    else [span.to_dict() for span in c.collisions],
                }
                for c in self.channels
            ],
            "gateways": [g.to_dict() for g in self.gateways],
        }

    def meter(self, meter_id: str) -> MeterReport | None:
        return next((m for m in self.meters if m.stats.meter_id == meter_id), None)


@dataclass(frozen=True, slots=True)
class Placement:
    rank: int
    label: str
    meters_heard: int
    meters_reliable: int
    meters_total: int
    mean_reception_ratio: float  # over every meter heard anywhere (0 where not heard)
    median_link_margin_db: float | None

    def to_dict(self) -> dict[str, Any]:
        margin = self.median_link_margin_db
        return {
            "rank": self.rank,
            "label": self.label,
            "meters_heard": self.meters_heard,
            "meters_reliable": self.meters_reliable,
            "meters_total": self.meters_total,
            "mean_reception_ratio": round(self.mean_reception_ratio, 4),
            "median_link_margin_db": None if margin is None else round(margin, 2),
        }


@dataclass(frozen=True, slots=True)
class Survey:
    locations: tuple[LocationReport, ...]
    placement: tuple[Placement, ...]

    def meter_ids(self) -> list[str]:
        return sorted({m.stats.meter_id for loc in self.locations for m in loc.meters})

    def best_location(self, meter_id: str) -> str | None:
        """Where the meter is heard most reliably (ties: the stronger median SNR)."""
        scored = [
            (m.stats.reception_ratio, m.stats.snr_db.median if m.stats.snr_db else -np.inf,
             loc.label)
            for loc in self.locations
            if (m := loc.meter(meter_id)) is not None
        ]
        return max(scored)[2] if scored else None

    def to_dict(self) -> dict[str, Any]:
        meters = []
        for meter_id in self.meter_ids():
            heard = [(loc.label, loc.meter(meter_id)) for loc in self.locations]
            first = next(m for _, m in heard if m is not None)
            meters.append({
                "meter_id": meter_id,
                "manufacturer": first.stats.manufacturer,
                "mode": first.stats.mode,
                "best_location": self.best_location(meter_id),
                "reception_ratio": {
                    label: round(m.stats.reception_ratio, 4) if m else 0.0 for label, m in heard
                },
            })
        return {
            "schema": SCHEMA,
            "locations": [loc.to_dict() for loc in self.locations],
            "placement": [p.to_dict() for p in self.placement],
            "meters": meters,
        }


def location_report(
    data: LocationInput, interval_hints_s: Mapping[str, float] | None = None
) -> LocationReport:
    channels = data.channels
    reports = []
    for stats in meters_of(data.receptions, data.duration_s, interval_hints_s):
        airtime = airtime_s(stats)
        reports.append(MeterReport(stats, collided_missing(stats, channels or (), airtime),
                                   airtime))
    if channels is None:
        freqs = sorted({f for m in reports if (f := meter_channel(m.stats)) is not None})
        channels = tuple(ChannelStats(f, None, None, None, None) for f in freqs)
    return LocationReport(data.label, data.path, data.source, data.duration_s, tuple(reports),
                          tuple(channels), data.channels is not None,
                          gateways_of(data.receptions))


def rank_placement(locations: Sequence[LocationReport]) -> tuple[Placement, ...]:
    """Locations ordered by meters heard reliably, then mean reception ratio, then margin."""
    all_meters = sorted({m.stats.meter_id for loc in locations for m in loc.meters})
    rows = []
    for loc in locations:
        ratios = [(m.stats.reception_ratio if (m := loc.meter(i)) else 0.0) for i in all_meters]
        margins = [x for m in loc.meters if (x := m.stats.link_margin_db) is not None]
        rows.append((
            loc.label,
            len(loc.meters),
            sum(r >= RELIABLE_RATIO for r in ratios),
            float(np.mean(ratios)) if ratios else 0.0,
            float(np.median(margins)) if margins else None,
        ))
    rows.sort(key=lambda r: (-r[2], -r[3], -(r[4] if r[4] is not None else -np.inf)))
    return tuple(
        Placement(rank, label, heard, reliable, len(all_meters), mean, margin)
        for rank, (label, heard, reliable, mean, margin) in enumerate(rows, start=1)
    )


def build_survey(inputs: Sequence[LocationInput]) -> Survey:
    # A meter's interval is its own, wherever it is heard: a location that caught a single
    # telegram still learns how many it missed from where the meter is heard well.
    hints = meter_intervals(data.receptions for data in inputs)
    locations = tuple(location_report(data, hints) for data in inputs)
    return Survey(locations, rank_placement(locations))
