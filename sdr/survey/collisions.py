"""Channel statistics from the signal and why telegrams were lost: collision or weak signal.

Collisions come from ``dsp.occupancy`` (two transmitters overlapping on one channel, seen in the
signal's envelope). A transmission a meter must have sent but that we did not decode is "lost to
a collision" when a detected collision on the meter's channel lies where that transmission must
have been; otherwise it is "lost to weak signal" (the meter was too weak, or faded, at that time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dsp.bandplan import airtime_s as burst_airtime_s
from dsp.bandplan import chip_duration_s, sync_word_chip
from dsp.occupancy import ChannelBurst
from protocol.framing import add_crcs
from protocol.modes import FrameFormat
from sdr.survey.stats import MeterStats

# When the frame length is unknown: a typical 50-byte T1 telegram lasts about 7 ms.
DEFAULT_AIRTIME_S = 0.007


@dataclass(frozen=True, slots=True)
class TimeSpan:
    start_s: float
    end_s: float

    def to_dict(self) -> dict[str, float]:
        return {"start_s": round(self.start_s, 6), "end_s": round(self.end_s, 6)}


@dataclass(frozen=True, slots=True)
class ChannelStats:
    """What one channel looked like at one location; None where the input had no signal."""

    freq_hz: float
    occupancy: float | None
    bursts: int | None
    collisions: tuple[TimeSpan, ...] | None
    noise_dbfs: float | None


def channel_stats(
    bursts: Iterable[ChannelBurst],
    occupancy: Mapping[float, float],
    noise_dbfs: Mapping[float, float],
) -> list[ChannelStats]:
    """Per channel: share of time busy, energy bursts, and the spans where bursts overlapped."""
    by_freq: dict[float, list[ChannelBurst]] = {freq: [] for freq in occupancy}
    for burst in bursts:
        by_freq.setdefault(burst.freq_hz, []).append(burst)
    out = []
    for freq in sorted(by_freq):
        found = sorted(by_freq[freq], key=lambda b: b.start_sample)
        spans = tuple(
            TimeSpan(o.start_sample / b.sample_rate_hz, o.end_sample / b.sample_rate_hz)
            for b in found
            for o in b.overlaps
        )
        out.append(ChannelStats(freq, occupancy.get(freq, 0.0), len(found), spans,
                                noise_dbfs.get(freq)))
    return out


def meter_channel(meter: MeterStats) -> float | None:
    if meter.freq_hz is not None:
        return meter.freq_hz
    return None if meter.phy is None else meter.phy.center_freq_hz


def collided_missing(
    meter: MeterStats, channels: Sequence[ChannelStats], airtime_s: float
) -> tuple[bool, ...] | None:
    """For each of the meter's missing transmissions, whether a detected collision explains it;
    None when collisions are unknown (a log without signal)."""
    freq = meter_channel(meter)
    mine = [c for c in channels if c.freq_hz == freq and c.collisions is not None]
    if not mine:
        return None
    spans = [span for channel in mine for span in channel.collisions or ()]
    # A telegram's time is its sync word's; its preamble (the shortest one) came before.
    mode = meter.phy
    lead = 0.0 if mode is None else sync_word_chip(mode) * chip_duration_s(mode)
    return tuple(
        any(
            span.start_s <= m.time_s - lead + m.tolerance_s + airtime_s
            and span.end_s >= m.time_s - lead - m.tolerance_s
            for span in spans
        )
        for m in meter.missing
    )


def airtime_s(meter: MeterStats) -> float:
    """On-air duration of the meter's longest telegram (preamble to postamble)."""
    mode = meter.phy
    if mode is None or not meter.frame_bytes:
        return DEFAULT_AIRTIME_S
    fmt = FrameFormat(meter.frame_format) if meter.frame_format else mode.frame_formats[0]
    size = min(meter.frame_bytes, 256)
    return burst_airtime_s(mode, fmt, len(add_crcs(bytes([size - 1]) + bytes(size - 1), fmt)))
