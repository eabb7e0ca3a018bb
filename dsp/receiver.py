"""Streaming receiver: IQ chunks in, CRC-valid link frames (and decode failures) out.

One channelizer pass serves every channel; S1 has its own channel, T1 and C1 share 868.95 MHz,
and C2's gateways have 869.525 MHz, fitted into the meters' filter bank (``bank_decimations``)
so that S1, T1 and C1 come out exactly as without it.
Per channel an energy gate (block power against the channel's noise floor) marks where
something is on the air; the sync search runs only there, the per-burst work only where the
search fired. An idle channel then costs little more than its filter.
A candidate is decoded once the channel buffer holds the longest burst that could follow it,
so every decision sees the same samples whatever the chunking, and memory stays bounded.
Every candidate is counted with its fate (``Receiver.counts``); chance matches of noise are
only counted, never output.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from dsp.bandplan import (
    channel_offset_hz,
    covered_modes,
    filter_half_width_hz,
    fitted_channel,
    modes_by_channel,
)
from dsp.burst import BurstDecoder, ChannelGeometry, Outcome, Rejection
from dsp.channelizer import Channelizer, ChannelPlan, bank_decimations, fast_decimation
from dsp.noise_floor import NoiseFloor, exceedance_threshold
from dsp.sync import SyncCandidate, SyncDetector
from dsp.types import IQChunk
from protocol.coding import CHIPS_PER_BYTE
from protocol.modes import T1, ModeSpec
from protocol.types import DecodeFailure, FailureReason, Frame

MAX_CFO_HZ = 90e3
# C2's senders are gateways, mains-powered, with better crystals than battery meters: ±60 kHz
# (a gateway's ±20 ppm plus a 50-ppm dongle) keeps their channel's filter narrower, and with it
# the noise in the sync search's lag products, its weak point at the sensitivity limit.
_MAX_CFO_HZ: dict[str, float] = {"C2": 60e3}
_PREAMBLE_CHIPS = "01" * 8  # preamble chips in front of each mode's sync_chips in the template
_MAX_ON_AIR_BYTES = 290
_MARKER_CHIPS = 16
# The slowest chip rate, as a share of nominal, whose bursts the buffers are sized for
# (docs/protocol.md §1.1; sdr.pipeline bounds the receiver's delivery time with it).
SLOWEST_CHIP_RATE = 0.85
_THRESHOLD = 0.6
# C2's search finds more weak bursts at a lower threshold (at 8 dB Ec/N0 a quarter more), for
# about 4 noise candidates a second when every sample is searched (benchmarks/false_frames.py;
# under 1 at 0.6): its channel carries few frames, the energy gate keeps the search off idle
# air, and every candidate still needs its sync word, format marker and CRCs.
_THRESHOLDS: dict[str, float] = {"C2": 0.55}
_T1_RATES = (0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15)
# S1 and C1: ±2 %. Steps of 1 %: with 1.5 % steps S1 lost 0.9 dB at ±2 % (its long template
# drifts by half a chip), and behind the energy gate the extra rates cost little.
_NARROW_RATES = (0.98, 0.99, 1.0, 1.01, 1.02)
_GATE_BLOCK_CHIPS = 40
_GATE_SEGMENT_S = 0.5  # noise-floor update period
_GATE_FIRST_SEGMENT_S = 0.1  # the search runs everywhere until the first floor
# The floor holds while 1 % of a segment's blocks are free of signal: a channel can be
# that busy (a long S1 telegram every few milliseconds) before weak signals go unsearched.
_GATE_NOISE_QUANTILE = 0.01
# A noise-only block opens the gate this often. A signal at the sensitivity limit (in-channel
# SNR around -4 dB for S1, 0 dB for T1/C1) raises a block's power well above the threshold
# (+0.8 dB for 40 chips), and the search looks at every block near a template.
_GATE_FALSE_OPEN = 1e-5

Result = Frame | DecodeFailure


@dataclass(frozen=True, slots=True)
class CandidateCounts:
    """What became of a receiver's sync candidates (``Receiver.counts``).

    Keys are mode names; a candidate rejected before its mode could be told (on the channel that
    T1 and C1 share) counts under the channel's modes joined by "/", "T1/C1". Each candidate
    ends up in exactly one place: a decoded frame (``frames``), a failure reported in the
    output (``failures``), or a chance match that is only counted (``rejections``: noise, a
    preamble, a second peak inside a frame already decoded). So for every key,
    ``candidates[key]`` is ``frames[key]`` plus the key's failures and rejections of any reason.
    """

    candidates: Counter[str] = field(default_factory=Counter)
    frames: Counter[str] = field(default_factory=Counter)
    failures: Counter[tuple[str, FailureReason]] = field(default_factory=Counter)
    rejections: Counter[tuple[str, FailureReason]] = field(default_factory=Counter)

    def copy(self) -> CandidateCounts:
        return CandidateCounts(
            Counter(self.candidates),
            Counter(self.frames),
            Counter(self.failures),
            Counter(self.rejections),
        )


class _EnergyGate:
    """Which blocks of a channel hold more power than noise alone would.

    Blocks sit on a fixed grid of absolute channel samples and each is judged against the floor
    of the segments before it, so the verdicts do not depend on how the stream is chunked. Until
    the first floor is known (a short first segment) every block counts as on the air.
    """

    def __init__(self, block_len: int, first_blocks: int, segment_blocks: int) -> None:
        self.block_len = block_len
        self._first_blocks = first_blocks
        self._segment_blocks = segment_blocks
        self._threshold = exceedance_threshold(block_len, _GATE_FALSE_OPEN)
        self._floor = NoiseFloor(block_len, _GATE_NOISE_QUANTILE)
        self.reset()

    def reset(self) -> None:
        self._floor.reset()
        self._segment: list[np.ndarray] = []
        self._segment_count = 0
        self.next_block = 0  # first block not judged yet
        self._hot = np.zeros(0, dtype=bool)
        self._hot_base = 0  # block index of _hot[0]

    def advance(self, buf: np.ndarray, base: int, final: bool) -> None:
        """Judge the blocks complete in ``buf`` (channel samples from ``base``); at the end of
        the stream also the last, partial one."""
        n = self.block_len
        end = base + len(buf)
        last = -(-end // n) if final else end // n
        if last <= self.next_block:
            return
        seg = buf[self.next_block * n - base : min(last * n, end) - base]
        short = (last - self.next_block) * n - len(seg)
        if short:  # the stream's last, partial block
            seg = np.concatenate([seg, np.zeros(short, dtype=seg.dtype)])
        iq = seg.view(np.float32).reshape(-1, 2 * n)
        power = np.einsum("ij,ij->i", iq, iq).astype(np.float64) / n
        verdicts = []
        while len(power):
            floor = self._floor.power
            wanted = self._first_blocks if np.isnan(floor) else self._segment_blocks
            take = min(len(power), wanted - self._segment_count)
            verdicts.append(
                np.ones(take, dtype=bool)
                if np.isnan(floor)
                else power[:take] > floor * self._threshold
            )
            self._segment.append(power[:take])
            self._segment_count += take
            power = power[take:]
            if self._segment_count == wanted:
                self._floor.update(np.concatenate(self._segment))
                self._segment, self._segment_count = [], 0
        self._hot = np.concatenate([self._hot, *verdicts])
        self.next_block = last

    def live_runs(
        self, q_lo: int, q_hi: int, step: int, reach: int, ahead: int
    ) -> list[tuple[int, int]]:
        """Runs [a, b) of grid points q in [q_lo, q_hi) (template end at channel sample q*step)
        for which a judged block on the air overlaps samples [q*step - reach, q*step + ahead]."""
        n = self.block_len
        blocks = self._hot_base + np.flatnonzero(self._hot)
        # Block k overlaps the window when k*n - ahead <= q*step <= (k+1)*n - 1 + reach.
        starts = np.maximum(-((ahead - blocks * n) // step), q_lo)
        ends = np.minimum(((blocks + 1) * n - 1 + reach) // step + 1, q_hi)
        keep = starts < ends
        starts, ends = starts[keep], ends[keep]
        if not len(starts):
            return []
        reach_end = np.maximum.accumulate(ends)
        new = np.concatenate([[True], starts[1:] > reach_end[:-1]])
        firsts = np.flatnonzero(new)
        lasts = np.concatenate([firsts[1:], [len(starts)]]) - 1
        return [
            (int(a) - q_lo, int(b) - q_lo)
            for a, b in zip(starts[firsts], reach_end[lasts], strict=True)
        ]

    def trim(self, sample: int) -> None:
        """Forget blocks that end before channel sample ``sample``."""
        drop = min(sample // self.block_len - self._hot_base, len(self._hot))
        if drop > 0:
            self._hot = self._hot[drop:]
            self._hot_base += drop


@dataclass(slots=True)
class _Channel:
    modes: tuple[ModeSpec, ...]
    detector: SyncDetector
    decoder: BurstDecoder
    geometry: ChannelGeometry
    before: int  # channel samples needed before a candidate's end
    after: int  # ... and after it (longest possible burst)
    gate: _EnergyGate | None
    reach: int  # channel samples before a template's end in which its signal must show
    buf: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.complex64))
    base: int = 0
    next_q: int = 0
    pending: list[SyncCandidate] = field(default_factory=list)
    busy_until: float = -np.inf
    busy_key: str = ""  # mode of the frame that ends at busy_until

    def reset(self) -> None:
        self.buf = np.zeros(0, dtype=np.complex64)
        self.base = 0
        self.next_q = -(-self.detector.history // self.detector.step) + self.detector.peak_distance
        self.pending = []
        self.busy_until = -np.inf
        self.busy_key = ""
        if self.gate is not None:
            self.gate.reset()


def _channel_rate(mode: ModeSpec) -> float:
    """Lowest channel sample rate that keeps the signal at the largest carrier offset."""
    cfo = _MAX_CFO_HZ.get(mode.name, MAX_CFO_HZ)
    return max(5 * mode.chip_rate_hz, 2 * filter_half_width_hz(mode, cfo))


def _shift(result: Result, samples: int) -> Result:
    if isinstance(result, DecodeFailure):
        if result.start_sample is None:
            return result
        return replace(result, start_sample=result.start_sample + samples)
    burst = result.burst
    if burst is None:
        return result
    moved = replace(
        burst, start_sample=burst.start_sample + samples, end_sample=burst.end_sample + samples
    )
    return replace(result, burst=moved)


class Receiver:
    """All requested modes from one IQ stream; ``process``/``flush``/``reset``; ``counts``."""

    def __init__(
        self,
        sample_rate_hz: float,
        center_freq_hz: float,
        modes: Sequence[ModeSpec] | None = None,
        energy_gate: bool = True,
    ) -> None:
        """``modes=None`` takes every mode whose channel fits; a requested mode that does not
        fit raises ValueError naming it. ``energy_gate=False`` searches every sample (slower;
        for measuring the sync search itself)."""
        self.energy_gate = energy_gate
        self.sample_rate_hz = float(sample_rate_hz)
        self.center_freq_hz = float(center_freq_hz)
        if modes is None:
            modes = covered_modes(sample_rate_hz, center_freq_hz)
            if not modes:
                raise ValueError(
                    f"no wM-Bus channel inside a stream of {sample_rate_hz / 1e6:g} Msps centred "
                    f"at {center_freq_hz / 1e6:.3f} MHz"
                )
        for mode in modes:
            channel_offset_hz(mode, sample_rate_hz, center_freq_hz)
        self.covered_modes: tuple[ModeSpec, ...] = tuple(dict.fromkeys(modes))
        self._counts = CandidateCounts()
        groups = modes_by_channel(self.covered_modes)
        limits = [
            int(sample_rate_hz // max(_channel_rate(m) for m in group)) for group in groups.values()
        ]
        fitted = [fitted_channel(group) for group in groups.values()]
        # Each channel's filter is the one its own decimation gives: a fitted channel's is not
        # widened with its rate.
        specs = [
            (freq - center_freq_hz, decimation, 0.42 * (sample_rate_hz / fast_decimation(limit)))
            for freq, decimation, limit in zip(
                groups, bank_decimations(limits, fitted), limits, strict=True
            )
        ]
        self._channelizer = Channelizer(sample_rate_hz, specs, fitted)
        self._channels = [
            self._make_channel(group, plan)
            for group, plan in zip(groups.values(), self._channelizer.plans, strict=True)
        ]
        self.reset()

    def _make_channel(self, modes: tuple[ModeSpec, ...], plan: ChannelPlan) -> _Channel:
        rate = plan.output_rate_hz(self.sample_rate_hz)
        lead = modes[0]
        template = _PREAMBLE_CHIPS + lead.sync_chips
        # The 868.95 MHz channel carries most traffic and the widest rate bank: search it on a
        # coarser grid (2 points per chip) to save time; per-burst acquisition recovers timing.
        rates, grid = _NARROW_RATES, 3.0
        if any(m.name == T1.name for m in modes):
            rates, grid = _T1_RATES, 2.0
        threshold = _THRESHOLDS.get(lead.name, _THRESHOLD)
        detector = SyncDetector(
            template, rate, lead.chip_rate_hz, lead.deviation_hz, rates, threshold, grid
        )
        geometry = ChannelGeometry(
            sample_rate_hz=rate,
            decimation=plan.decimation,
            delay_samples=plan.delay_samples,
            residual_hz=plan.actual_offset_hz - plan.offset_hz,
            cutoff_hz=plan.cutoff_hz,
        )
        slow_chip = rate / lead.chip_rate_hz / SLOWEST_CHIP_RATE
        longest = max(CHIPS_PER_BYTE[m.line_code] for m in modes) * _MAX_ON_AIR_BYTES
        block_len = max(1, round(_GATE_BLOCK_CHIPS * rate / lead.chip_rate_hz))
        gate = (
            _EnergyGate(
                block_len,
                max(1, round(_GATE_FIRST_SEGMENT_S * rate / block_len)),
                max(1, round(_GATE_SEGMENT_S * rate / block_len)),
            )
            if self.energy_gate
            else None
        )
        return _Channel(
            modes=modes,
            detector=detector,
            decoder=BurstDecoder(modes, template, geometry),
            geometry=geometry,
            before=int((len(template) + _MARKER_CHIPS + 8) * slow_chip) + detector.history,
            after=int((_MARKER_CHIPS + longest + 8) * slow_chip),
            gate=gate,
            reach=int(len(template) * slow_chip) + block_len,
        )

    def reset(self) -> None:
        """Back to the state of a new receiver: the counts start again from zero."""
        self._restart()
        self._counts = CandidateCounts()

    def _restart(self) -> None:
        self._channelizer.reset()
        for ch in self._channels:
            ch.reset()
        self._next_sample: int | None = None  # where the next chunk must start; None: anywhere
        self._origin = 0  # stream sample of the channelizer's first input sample

    def counts(self) -> CandidateCounts:
        """A copy of the counts since the receiver was made or last reset (``flush`` keeps them:
        they add up over the streams fed in between)."""
        return self._counts.copy()

    def _count(self, key: str, outcome: Outcome) -> None:
        counts = self._counts
        counts.candidates[key] += 1
        if isinstance(outcome, Frame):
            counts.frames[key] += 1
        elif isinstance(outcome, DecodeFailure):
            counts.failures[(key, outcome.reason)] += 1
        else:
            counts.rejections[(key, outcome.reason)] += 1

    def process(self, chunk: IQChunk) -> list[Result]:
        if (
            chunk.sample_rate_hz != self.sample_rate_hz
            or chunk.center_freq_hz != self.center_freq_hz
        ):
            raise ValueError(
                f"chunk at {chunk.sample_rate_hz:g} sps / {chunk.center_freq_hz:g} Hz fed to a "
                f"receiver for {self.sample_rate_hz:g} sps / {self.center_freq_hz:g} Hz"
            )
        results: list[Result] = []
        if self._next_sample is not None and chunk.start_sample != self._next_sample:
            if chunk.start_sample < self._next_sample:
                raise ValueError(
                    f"chunk at sample {chunk.start_sample} overlaps the stream, which has reached "
                    f"sample {self._next_sample}"
                )
            # A gap: what was on the air before it ends there, as at the end of a stream.
            results = self.flush()
        if self._next_sample is None:
            self._origin = chunk.start_sample
        self._next_sample = chunk.end_sample
        return results + self._shifted(
            self._run(self._channelizer.process(chunk.samples), final=False)
        )

    def flush(self) -> list[Result]:
        """Decode what is still buffered (bursts cut off by the end of the stream fail); the
        next chunk may start anywhere, as a new stream."""
        results = self._shifted(self._run(self._channelizer.flush(), final=True))
        self._restart()
        return results

    def _shifted(self, results: list[Result]) -> list[Result]:
        """Results numbered from the stream start rather than from the stretch after a gap."""
        if not self._origin:
            return results
        return [_shift(result, self._origin) for result in results]

    def _run(self, outputs: list[np.ndarray], final: bool) -> list[Result]:
        keyed: list[tuple[int, int, str, Result]] = []
        for ch, new in zip(self._channels, outputs, strict=True):
            ch.buf = np.concatenate([ch.buf, new]) if len(ch.buf) else new
            self._search(ch, final)
            keyed += self._decode_ready(ch, final)
            self._trim(ch)
        keyed.sort(key=lambda item: (item[0], item[1]))
        return [result for _, _, _, result in keyed]

    def _search(self, ch: _Channel, final: bool) -> None:
        det = ch.detector
        end = ch.base + len(ch.buf)
        q_hi = (end - 1) // det.step + 1
        # A grid point is searched when a block from its template's start to a template length
        # after its end is on the air (a burst goes on after its sync word): the gate must have
        # judged those blocks, and peaks look a template length further.
        ahead = det.peak_distance * det.step
        if ch.gate is not None:
            ch.gate.advance(ch.buf, ch.base, final)
            judged = ch.gate.next_block * ch.gate.block_len
            q_hi = min(q_hi, (judged - ahead - 1) // det.step + det.lead + 1)
        q_final = q_hi - det.peak_distance
        if q_final <= ch.next_q:
            return
        q_lo = ch.next_q - det.peak_distance
        if ch.gate is None:
            score, which = det.scores(ch.buf, ch.base, q_lo, q_hi)
        else:
            score = np.zeros(q_hi - q_lo, dtype=np.float32)
            which = np.zeros(q_hi - q_lo, dtype=np.int8)
            runs = ch.gate.live_runs(
                q_lo - det.lead, q_hi - det.lead, det.step, ch.reach, ahead
            )
            for a, b in runs:
                score[a:b], which[a:b] = det.scores(ch.buf, ch.base, q_lo + a, q_lo + b)
        for i in det.peaks(score):
            q = q_lo + int(i)
            if ch.next_q <= q < q_final:
                ch.pending.append(
                    SyncCandidate(
                        end=float((q - det.lead) * det.step),
                        chip_samples=det.chip_samples[which[i]],
                        score=float(score[i]),
                    )
                )
        ch.next_q = q_final

    def _decode_ready(self, ch: _Channel, final: bool) -> list[tuple[int, int, str, Result]]:
        out = []
        end = ch.base + len(ch.buf)
        while ch.pending and (final or ch.pending[0].end + ch.after <= end):
            cand = ch.pending.pop(0)
            if cand.end - len(ch.detector.template) * cand.chip_samples < ch.busy_until:
                self._count(ch.busy_key, Rejection(FailureReason.INSIDE_FRAME))
                continue
            lo = max(ch.base, int(cand.end) - ch.before)
            hi = min(end, int(cand.end) + ch.after)
            mode, result = ch.decoder.decode(cand, ch.buf[lo - ch.base : hi - ch.base], lo)
            self._count(mode, result)
            if isinstance(result, Rejection):
                continue
            if isinstance(result, Frame) and result.burst is not None:
                geo = ch.geometry
                ch.busy_until = result.burst.end_sample / geo.decimation + geo.delay_samples
                ch.busy_key = mode
            ready = ch.geometry.input_sample(cand.end + ch.after)
            start = result.burst.start_sample if isinstance(result, Frame) else result.start_sample
            out.append((ready, start or 0, mode, result))
        return out

    def _trim(self, ch: _Channel) -> None:
        det = ch.detector
        # Keep what the search still needs and what a candidate found next will decode from.
        keep = min(
            (ch.next_q - det.peak_distance) * det.step - det.history,
            (ch.next_q - det.peak_distance - det.lead) * det.step - ch.before,
        )
        if ch.pending:
            keep = min(keep, int(ch.pending[0].end) - ch.before)
        drop = keep - ch.base
        if drop > 0:
            ch.buf = ch.buf[drop:]
            ch.base += drop
        if ch.gate is not None:
            q_lo = ch.next_q - det.peak_distance
            ch.gate.trim((q_lo - det.lead) * det.step - ch.reach)
