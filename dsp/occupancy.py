"""Channel occupancy: energy bursts per wM-Bus channel, and where two transmitters overlap.

Each channel is mixed to baseband, low-pass filtered and decimated (``upfirdn``), then cut into
short blocks aligned to absolute sample indices. Per block we keep the mean power and the
normalised variance of the instantaneous power, ``var(|y|²) / mean(|y|²)²``. wM-Bus uses
continuous-phase 2-FSK, a constant-envelope signal: alone in the channel it only shows the
envelope ripple that noise adds, about ``(2·s + 1) / (s + 1)²`` at block SNR ``s``. A second
transmitter at power ratio ``r`` beats against the first and adds about ``2·r / (1 + r)²``, so a
collision is visible in the signal itself, not guessed from missing telegrams.

The noise floor is estimated per channel from the quietest blocks of each half-second segment
(``dsp.noise_floor``), so that a busy segment or a long transmission does not raise it.
Decisions are made per complete segment, so results do not depend on how the stream is chunked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from dsp.bandplan import (
    ALL_MODES,
    filter_half_width_hz,
    fitted_channel,
    inside_stream,
    modes_by_channel,
)
from dsp.channelizer import Channelizer, bank_decimations
from dsp.noise_floor import NoiseFloor, exceedance_threshold
from dsp.types import IQChunk
from protocol.modes import ModeSpec

# Carrier offsets of cheap meters and dongles together; the channel filter keeps them inside.
CFO_MARGIN_HZ = 40e3
BLOCK_CHIPS = 10  # block length in chips of the channel's slowest mode
SEGMENT_S = 0.5  # noise-floor update period
NOISE_QUANTILE = 0.1
# A noise-only block exceeds the detection threshold with this probability.
FALSE_ALARM_PROBABILITY = 1e-6
HANG_BLOCKS = 2  # gaps this short inside a burst do not end it
MIN_BURST_S = 1e-3  # shorter energy (impulses, clicks) is not a telegram
# Longer energy (a jammer, a stuck transmitter) is reported in pieces, which bounds the memory
# held for a burst still in progress; the longest wM-Bus telegram (S1) lasts about 0.2 s.
MAX_BURST_S = 1.0
EDGE_BLOCKS = 1  # blocks at a burst's ends straddle the ramp and look like a power change
# Overlap test: the excess envelope variance, averaged over a few blocks, must exceed both
# COLLISION_Z standard deviations of its single-signal scatter (about sqrt(2/K) times the expected
# ripple for K samples per block, measured on simulated FSK) and an absolute floor that covers
# the filter's own ripple at high SNR. Chosen from simulated single and overlapping FSK bursts;
# benchmarks/survey_accuracy.py measures recall and false detections.
COLLISION_Z = 5.0
COLLISION_MIN_EXCESS = 0.03
SMOOTH_BLOCKS = 3
MIN_OVERLAP_S = 0.5e-3  # shorter excess is a power step between back-to-back bursts
MIN_OVERLAP_BLOCKS = 4
STEP_DB = 1.0
# Below this burst SNR the envelope statistics of noise dominate (and real front ends' noise is
# not quite Gaussian): no overlap is claimed there.
MIN_OVERLAP_SNR_DB = 4.0
OVERLAP_BRIDGE_BLOCKS = 10  # one collision's beat can fade briefly; bridge such gaps


@dataclass(frozen=True, slots=True)
class Channel:
    """A radio channel to watch: centre frequency, filter bandwidth and block length."""

    freq_hz: float
    bandwidth_hz: float
    block_s: float
    fitted: bool = False  # fitted into the others' filter bank (``dsp.bandplan.fitted_channel``)


@dataclass(frozen=True, slots=True)
class SampleSpan:
    start_sample: int
    end_sample: int


@dataclass(frozen=True, slots=True)
class ChannelBurst:
    """Energy above the noise floor on one channel; ``overlaps`` are spans with two transmitters."""

    freq_hz: float
    start_sample: int
    end_sample: int
    sample_rate_hz: float
    power_dbfs: float
    noise_dbfs: float
    overlaps: tuple[SampleSpan, ...]

    @property
    def start_s(self) -> float:
        return self.start_sample / self.sample_rate_hz

    @property
    def end_s(self) -> float:
        return self.end_sample / self.sample_rate_hz

    @property
    def snr_db(self) -> float:
        """Burst power (signal plus noise) over the noise floor."""
        return self.power_dbfs - self.noise_dbfs


def default_channels(modes: Iterable[ModeSpec] = ALL_MODES) -> tuple[Channel, ...]:
    """One channel per distinct centre frequency of ``modes``, wide enough for all of them."""
    out = []
    for freq, group in sorted(modes_by_channel(modes).items()):
        # The filter keeps the FSK sidelobes (``dsp.bandplan``): a filter that clips them
        # makes a lone burst's envelope ripple like a weak second transmitter.
        half_width = max(filter_half_width_hz(m, CFO_MARGIN_HZ) for m in group)
        block_s = BLOCK_CHIPS / min(m.chip_rate_hz for m in group)
        out.append(Channel(freq, 2 * half_width, block_s, fitted_channel(group)))
    return tuple(out)


def _to_db(power: float) -> float:
    return float(10 * np.log10(max(power, 1e-30)))


class _ChannelTrack:
    """Block features, noise floor and burst/overlap detection for one channelizer output."""

    def __init__(self, channel: Channel, sample_rate_hz: float, decimation: int,
                 delay_out: int) -> None:
        self.channel = channel
        self.sample_rate_hz = sample_rate_hz
        self.decimation = decimation
        self._delay_out = delay_out  # output j describes input sample (j - delay_out) * decimation
        rate = sample_rate_hz / decimation
        self.block_len = max(4, round(channel.block_s * rate))
        self.block_samples = self.block_len * decimation
        self.segment_blocks = max(1, round(SEGMENT_S / (self.block_samples / sample_rate_hz)))
        self._noise = NoiseFloor(self.block_len, NOISE_QUANTILE)
        self._threshold = exceedance_threshold(self.block_len, FALSE_ALARM_PROBABILITY)
        self.min_burst_blocks = max(
            1, math.ceil(MIN_BURST_S * sample_rate_hz / self.block_samples)
        )
        self.max_burst_blocks = math.ceil(MAX_BURST_S * sample_rate_hz / self.block_samples)
        self.min_overlap_blocks = max(
            MIN_OVERLAP_BLOCKS, math.ceil(MIN_OVERLAP_S * sample_rate_hz / self.block_samples)
        )
        self.reset()

    def reset(self) -> None:
        self._skip = self._delay_out  # outputs that describe time before the stream started
        self._partial = np.zeros(0, dtype=np.complex64)  # decimated samples of an open block
        self._seg_power: list[np.ndarray] = []
        self._seg_cm: list[np.ndarray] = []
        self._seg_count = 0
        self._noise.reset()
        self._first_block = 0  # absolute block index of the first buffered segment block
        # Blocks of a burst that may continue into the next segment: index, power, cm, noise.
        self._open = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0))
        self.active_blocks = 0
        self.blocks = 0
        self.outputs = 0  # decimated samples taken in, each describing one input position

    @property
    def noise_power(self) -> float:
        return self._noise.power

    def process(self, y: np.ndarray) -> list[ChannelBurst]:
        skip = min(self._skip, len(y))
        self._skip -= skip
        self.outputs += len(y) - skip
        return self._add_decimated(y[skip:])

    def _add_decimated(self, y: np.ndarray) -> list[ChannelBurst]:
        y = np.concatenate([self._partial, y.astype(np.complex64, copy=False)])
        whole = len(y) // self.block_len * self.block_len
        self._partial = y[whole:]
        if whole == 0:
            return []
        inst = (np.abs(y[:whole]) ** 2).reshape(-1, self.block_len).astype(np.float64)
        power = inst.mean(axis=1)
        cm = inst.var(axis=1) / np.maximum(power, 1e-30) ** 2
        return self._add_blocks(power, cm)

    def _add_blocks(self, power: np.ndarray, cm: np.ndarray) -> list[ChannelBurst]:
        found: list[ChannelBurst] = []
        while len(power):
            take = min(len(power), self.segment_blocks - self._seg_count)
            self._seg_power.append(power[:take])
            self._seg_cm.append(cm[:take])
            self._seg_count += take
            power, cm = power[take:], cm[take:]
            if self._seg_count == self.segment_blocks:
                found += self._close_segment(final=False)
        return found

    def flush(self, y: np.ndarray, input_samples: int) -> list[ChannelBurst]:
        """``y``: the channelizer's flush output, which runs past the end on zero padding."""
        wanted = -(-input_samples // self.decimation) - self.outputs + self._skip
        found = self.process(y[: max(0, wanted)])
        return found + (self._close_segment(final=True) if self._seg_count else self._close_open())

    def _close_segment(self, *, final: bool) -> list[ChannelBurst]:
        power = np.concatenate(self._seg_power)
        cm = np.concatenate(self._seg_cm)
        self._seg_power, self._seg_cm, self._seg_count = [], [], 0
        self._noise.update(power)
        index = self._first_block + np.arange(len(power), dtype=np.int64)
        self._first_block += len(power)
        self.blocks += len(power)
        noise = np.full(len(power), self.noise_power)
        open_index, open_power, open_cm, open_noise = self._open
        index = np.concatenate([open_index, index])
        power = np.concatenate([open_power, power])
        cm = np.concatenate([open_cm, cm])
        noise = np.concatenate([open_noise, noise])
        return self._bursts(index, power, cm, noise, final=final)

    def _close_open(self) -> list[ChannelBurst]:
        index, power, cm, noise = self._open
        return self._bursts(index, power, cm, noise, final=True)

    def _bursts(
        self, index: np.ndarray, power: np.ndarray, cm: np.ndarray, noise: np.ndarray, *,
        final: bool,
    ) -> list[ChannelBurst]:
        active = np.flatnonzero(power > noise * self._threshold)
        self._open = (index[:0], power[:0], cm[:0], noise[:0])
        if len(active) == 0:
            return []
        splits = np.flatnonzero(np.diff(active) > HANG_BLOCKS + 1) + 1
        groups = np.split(active, splits)
        if (
            not final
            and groups[-1][-1] >= len(index) - 1 - HANG_BLOCKS
            and len(index) - groups[-1][0] < self.max_burst_blocks
        ):
            lo = groups[-1][0]
            self._open = (index[lo:], power[lo:], cm[lo:], noise[lo:])
            groups = groups[:-1]
        bursts = []
        for group in groups:
            lo, hi = group[0], group[-1] + 1
            if hi - lo < self.min_burst_blocks:
                continue
            self.active_blocks += hi - lo
            bursts.append(self._burst(index[lo:hi], power[lo:hi], cm[lo:hi], noise[lo:hi]))
        return bursts

    def _burst(
        self, index: np.ndarray, power: np.ndarray, cm: np.ndarray, noise: np.ndarray
    ) -> ChannelBurst:
        snr = np.maximum(power / noise - 1.0, 1e-3)
        ripple = (2 * snr + 1) / (snr + 1) ** 2
        excess = cm - ripple
        # A block where the power steps from one level to another (one burst ending as the next
        # begins) has a high envelope variance without two transmitters at once.
        level = 10 * np.log10(np.maximum(power, 1e-30))
        rise, fall = np.diff(level)[:-1], np.diff(level)[1:]
        step = (np.abs(rise + fall) > STEP_DB) & (rise * fall >= 0)
        excess[1:-1][step] = 0.0
        excess[:EDGE_BLOCKS] = 0.0
        excess[len(excess) - EDGE_BLOCKS :] = 0.0
        kernel = np.full(SMOOTH_BLOCKS, 1.0 / SMOOTH_BLOCKS)
        smooth = np.convolve(excess, kernel, mode="same")
        scatter = np.convolve(ripple, kernel, mode="same") * np.sqrt(
            2.0 / (self.block_len * SMOOTH_BLOCKS)
        )
        hot = smooth > np.maximum(COLLISION_Z * scatter, COLLISION_MIN_EXCESS)
        mean_noise = float(noise.mean())
        if float(power.mean()) < mean_noise * 10 ** (MIN_OVERLAP_SNR_DB / 10):
            hot[:] = False
        overlaps = tuple(
            self._span(index[run[0]], index[run[-1]] + 1)
            for run in _runs(np.flatnonzero(hot))
            if int(hot[run[0] : run[-1] + 1].sum()) >= self.min_overlap_blocks
        )
        return ChannelBurst(
            freq_hz=self.channel.freq_hz,
            start_sample=self._span(index[0], index[-1] + 1).start_sample,
            end_sample=self._span(index[0], index[-1] + 1).end_sample,
            sample_rate_hz=self.sample_rate_hz,
            power_dbfs=_to_db(float(power.mean())),
            noise_dbfs=_to_db(mean_noise),
            overlaps=overlaps,
        )

    def _span(self, first_block: int, end_block: int) -> SampleSpan:
        return SampleSpan(int(first_block) * self.block_samples,
                          int(end_block) * self.block_samples)


def _runs(indices: np.ndarray) -> list[np.ndarray]:
    """Runs of sorted block ``indices``, gaps up to OVERLAP_BRIDGE_BLOCKS bridged."""
    if len(indices) == 0:
        return []
    return np.split(indices, np.flatnonzero(np.diff(indices) > OVERLAP_BRIDGE_BLOCKS + 1) + 1)


class OccupancyDetector:
    """Streaming energy/overlap detector for several channels of one IQ stream.

    ``process(chunk)`` returns the bursts that ended so far (per channel, in time order),
    ``flush()`` the rest. ``occupancy()`` gives each channel's share of time above the noise.
    Channels are split out by the receiver's filter bank (``dsp.channelizer``).
    """

    def __init__(
        self,
        sample_rate_hz: float,
        center_freq_hz: float,
        channels: Sequence[Channel] | None = None,
    ) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.center_freq_hz = center_freq_hz
        self.channels = tuple(channels) if channels is not None else default_channels()
        for c in self.channels:
            if not inside_stream(c.freq_hz, c.bandwidth_hz / 2, sample_rate_hz, center_freq_hz):
                raise ValueError(
                    f"channel {c.freq_hz / 1e6:.3f} MHz is outside the stream "
                    f"({center_freq_hz / 1e6:.3f} MHz ± {sample_rate_hz / 2e6:.3f} MHz)"
                )
        fitted = [c.fitted for c in self.channels]
        decimations = bank_decimations(
            [int(sample_rate_hz // c.bandwidth_hz) for c in self.channels], fitted
        )
        self._bank = Channelizer(
            sample_rate_hz,
            [
                (c.freq_hz - center_freq_hz, d, c.bandwidth_hz / 2)
                for c, d in zip(self.channels, decimations, strict=True)
            ],
            fitted,
        )
        self._tracks = [
            _ChannelTrack(c, sample_rate_hz, plan.decimation, plan.delay_samples)
            for c, plan in zip(self.channels, self._bank.plans, strict=True)
        ]
        self._next_sample = 0

    @classmethod
    def for_stream(
        cls, sample_rate_hz: float, center_freq_hz: float, modes: Iterable[ModeSpec]
    ) -> OccupancyDetector:
        """A detector for those channels of ``modes`` that fit inside the stream."""
        inside = [
            c for c in default_channels(modes)
            if inside_stream(c.freq_hz, c.bandwidth_hz / 2, sample_rate_hz, center_freq_hz)
        ]
        return cls(sample_rate_hz, center_freq_hz, inside)

    def process(self, chunk: IQChunk) -> list[ChannelBurst]:
        if chunk.sample_rate_hz != self.sample_rate_hz:
            raise ValueError("chunk sample rate differs from the detector's")
        if chunk.start_sample != self._next_sample:
            raise ValueError(
                f"chunk starts at sample {chunk.start_sample}, expected {self._next_sample}"
            )
        self._next_sample = chunk.end_sample
        found: list[ChannelBurst] = []
        for track, y in zip(self._tracks, self._bank.process(chunk.samples), strict=True):
            found += track.process(y)
        return found

    def flush(self) -> list[ChannelBurst]:
        found: list[ChannelBurst] = []
        for track, y in zip(self._tracks, self._bank.flush(), strict=True):
            found += track.flush(y, self._next_sample)
        return found

    def reset(self) -> None:
        self._bank.reset()
        self._next_sample = 0
        for track in self._tracks:
            track.reset()

    def occupancy(self) -> dict[float, float]:
        """Share of each channel's blocks inside a burst, over the stream so far."""
        return {
            t.channel.freq_hz: float(t.active_blocks / t.blocks if t.blocks else 0.0)
            for t in self._tracks
        }

    def noise_dbfs(self) -> dict[float, float]:
        """Current noise-floor estimate per channel (power in the channel bandwidth)."""
        return {t.channel.freq_hz: _to_db(t.noise_power) for t in self._tracks}
