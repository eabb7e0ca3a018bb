"""Decode one sync candidate into a Frame, a DecodeFailure, or a Rejection (a chance match).

Runs only where the sync search fired: chip grid acquired on the known template chips, CFO
and deviation from them (data-aided), chip timing tracked over the whole burst, soft chips
(coherent, with the carrier phase carried along the continuous-phase path; Manchester pairs
as one symbol; C2's GFSK chips matched to their Gaussian pulse), soft line decoding, CRC-aided
correction. On the 868.95 MHz channel one ``543D`` match can be T1, C1 format A or C1 format B
(docs/protocol.md §1.4); each plausible reading is decoded and the CRCs decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dsp.bandplan import SYNC_WORD_CHIPS
from dsp.correction import correct
from dsp.demod import (
    ChipTiming,
    ToneCorrelations,
    ToneIntegrals,
    acquire_timing,
    fit_timing,
    frequency_offset,
    gfsk_soft,
    lag_chip_sums,
    manchester_metrics,
    refine_carrier,
    tone_correlations,
)
from dsp.sync import SyncCandidate
from protocol.coding import (
    CHIPS_PER_BYTE,
    SoftDecision,
    decode_bits_soft,
    decode_soft,
    manchester_violations,
)
from protocol.framing import block_spans, on_air_length, strip_crcs
from protocol.modes import (
    C1_MARKER_FORMAT_A,
    C1_MARKER_FORMAT_B,
    FrameFormat,
    LineCode,
    ModeSpec,
)
from protocol.types import Burst, DecodeFailure, FailureReason, Frame

MIN_DATA_BYTES = 11  # L C M A CI: a frame without CI has no payload and only one CRC block
PREAMBLE_HOPS = 4  # acquisitions further on when a candidate sits deep in a long preamble
MAX_SYNC_ERRORS = 3  # of the 32-40 template chips; the preamble two chips early has 4
MAX_MARKER_ERRORS = 2  # C1 format marker: 16 chips, a random match has ~0.2 % chance
MAX_VIOLATION_RATIO = 0.2  # coding violations per code word above which it is not a burst
CREDIBLE_VIOLATION_RATIO = 0.1  # below this a failed burst is reported as a failure
STRONG_SYNC_SCORE = 0.85  # a sync this clean is a burst even when its coding is bad
CREDIBLE_MARKER_ERRORS = 1
_MARKER = len(C1_MARKER_FORMAT_B)
_MAX_SNR = 1e6  # reported for a burst without measurable noise (60 dB)
# How far a reading got before it was rejected, first stage first: of a candidate that every
# reading rejects, the one that got furthest names the reason (and the mode).
_READING_STAGES = (
    FailureReason.MARKER_ERRORS,
    FailureReason.LENGTH,
    FailureReason.TRUNCATED,
    FailureReason.BAD_CODING,
    FailureReason.CRC,
)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A candidate taken for a chance match of noise, of a preamble or of a burst's data.

    Chance matches are many (noise matches the sync template every few seconds), so they are
    counted by the receiver but never reported as a DecodeFailure.
    """

    reason: FailureReason


Outcome = Frame | DecodeFailure | Rejection


@dataclass(frozen=True, slots=True)
class Reading:
    """One way to read the chips after a sync match."""

    mode: ModeSpec
    frame_format: FrameFormat
    marker: str  # chips expected between the template and the data
    shift: int  # chips by which the template actually ended earlier (C1 B: marker == sync)
    check: str  # known chips to verify (the marker, or the sync word before a B marker)
    check_at: int  # chip index of ``check`` relative to the (shifted) template start


def readings_for(modes: Sequence[ModeSpec], template: str) -> list[Reading]:
    out: list[Reading] = []
    for mode in modes:
        if mode.line_code is LineCode.NRZ:
            n = len(template)
            out += [
                Reading(mode, FrameFormat.A, C1_MARKER_FORMAT_A, 0, C1_MARKER_FORMAT_A, n),
                Reading(mode, FrameFormat.B, C1_MARKER_FORMAT_B, 0, C1_MARKER_FORMAT_B, n),
                # The B marker repeats the sync word; the search may lock onto it instead.
                Reading(mode, FrameFormat.B, "", -_MARKER, mode.sync_chips[-_MARKER:], n - _MARKER),
            ]
        else:
            out.append(Reading(mode, FrameFormat.A, "", 0, "", 0))
    return out


@dataclass(frozen=True, slots=True)
class ChannelGeometry:
    """How channel sample times map back to the input stream."""

    sample_rate_hz: float  # channel rate
    decimation: int
    delay_samples: int
    residual_hz: float  # bin-aligned channel centre minus nominal channel centre
    cutoff_hz: float  # of the channel filter, which passes this much of the band's noise

    @property
    def noise_share(self) -> float:
        """Share of white noise's power (over the channel's sample rate) the filter passes."""
        return min(1.0, 2 * self.cutoff_hz / self.sample_rate_hz)

    def input_sample(self, channel_time: float) -> int:
        return round((channel_time - self.delay_samples) * self.decimation)


def _stage(reason: FailureReason) -> int:
    return _READING_STAGES.index(reason)


def _chips(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), dtype=np.uint8) - ord("0")


class BurstDecoder:
    """Decodes the sync candidates of one channel (S1; T1 and C1 on 868.95 MHz; or C2)."""

    def __init__(self, modes: Sequence[ModeSpec], template: str, geometry: ChannelGeometry) -> None:
        self.readings = readings_for(modes, template)
        # Whom a candidate is counted for before the readings tell its mode: "T1/C1".
        self.label = "/".join(dict.fromkeys(m.name for m in modes))
        # How far after the search's peak the template may end. T1/C1's sync differs from its
        # preamble in 4 of 16 chips: the search can peak anywhere in a T1/C1 preamble, up to 19
        # chips before the sync ends (T1: 38 preamble chips, 32 of them in the template, 10
        # sync chips). S1's differs in 8 of 24, yet at low SNR it can peak 8 chips early.
        manchester = modes[0].line_code is LineCode.MANCHESTER
        self.later = 12.5 if manchester else 22.5
        # Acquisitions further on when a candidate sits in a long preamble. S1's long preamble
        # (558 chips) yields a candidate every template length anyway.
        self.hops = 1 if manchester else PREAMBLE_HOPS
        self.template = _chips(template)
        # (first chip, count) covering the template and every reading's known chips.
        spans = [(r.check_at + r.shift, len(r.check)) for r in self.readings if r.check]
        first = min([0] + [at for at, _ in spans])
        stop = max([len(template)] + [at + n for at, n in spans])
        self._known = (first, stop - first)
        self._header_stop = max(
            len(template) + len(r.marker) + CHIPS_PER_BYTE[r.mode.line_code] + r.shift
            for r in self.readings
        )
        self._preamble = np.arange(len(template)) % 2 == 1  # "0101...": template-long preamble
        self.geometry = geometry
        # Lag (samples) at which the two tones are a quarter turn apart either way.
        self.lag = max(1, round(geometry.sample_rate_hz / (4 * modes[0].deviation_hz)))

    def decode(
        self,
        candidate: SyncCandidate,
        y: np.ndarray,
        base: int,
    ) -> tuple[str, Outcome]:
        """(mode name, outcome) of a candidate; for a rejection before the readings tell the mode
        apart, ``self.label`` instead of the mode name.

        ``y[i]`` is channel sample ``base + i``, covering the longest burst after the sync.
        """
        n_tmpl = len(self.template)
        first_mode = self.readings[0].mode
        dev_nominal = 2 * np.pi * first_mode.deviation_hz / self.geometry.sample_rate_hz
        t_end = candidate.end - base
        guess = ChipTiming(
            t0=t_end - n_tmpl * candidate.chip_samples, chip_samples=candidate.chip_samples
        )
        if self._inside_preamble(y, guess):
            return self.label, Rejection(FailureReason.INSIDE_PREAMBLE)
        cfo = frequency_offset(y, guess.t0, t_end)
        acquired = self._acquire(y, guess, (cfo, dev_nominal))
        if isinstance(acquired, FailureReason):
            return self.label, Rejection(acquired)
        timing = acquired
        carrier = refine_carrier(y, cfo, dev_nominal, timing, self.template, first_mode.gaussian_bt)
        tones = ToneIntegrals(y, *carrier)
        # One fit serves the template, the markers and every reading's length field.
        timing = fit_timing(tones, timing, 0, self._header_stop)
        # Chip decisions on the template itself and on the known chips the readings expect.
        decided = tone_correlations(tones, timing, self._known[0], self._known[1]).soft() > 0
        template = decided[-self._known[0] : n_tmpl - self._known[0]]
        # A preamble or noise match leaves many template chips wrong.
        if np.count_nonzero(template != self.template.astype(bool)) > MAX_SYNC_ERRORS:
            return self.label, Rejection(FailureReason.SYNC_ERRORS)
        best: tuple[float, str, DecodeFailure] | None = None
        rejected: dict[str, FailureReason] = {}  # per mode, the furthest reading's reason
        errors = [self._check_errors(r, decided) for r in self.readings]
        # Readings whose format marker is clearly there first: a C1 burst then costs no T1
        # attempt. Only the work changes, as at most one reading can pass the CRCs.
        order = sorted(
            range(len(self.readings)),
            key=lambda i: not (self.readings[i].check and errors[i] <= CREDIBLE_MARKER_ERRORS),
        )
        for i in order:
            reading = self.readings[i]
            result = self._decode_reading(reading, errors[i], tones, base, timing, candidate)
            name = reading.mode.name
            if isinstance(result, Frame):
                return name, result
            if isinstance(result, FailureReason):
                if name not in rejected or _stage(result) > _stage(rejected[name]):
                    rejected[name] = result
            elif best is None or result[0] < best[0]:
                best = (result[0], name, result[1])
        if best is not None:
            return best[1], best[2]
        furthest = max(_stage(reason) for reason in rejected.values())
        names = [name for name, reason in rejected.items() if _stage(reason) == furthest]
        # Two modes' readings got equally far: the mode is not known.
        key = names[0] if len(names) == 1 else self.label
        return key, Rejection(_READING_STAGES[furthest])

    def _inside_preamble(self, y: np.ndarray, guess: ChipTiming) -> bool:
        """Whether every chip the acquisition could reach is clearly preamble.

        S1's long preamble yields a candidate every template length; this rejects them at a
        fraction of the cost of an acquisition, and only when no sync can be in reach: a sync
        word there differs from the preamble in at least 4 chips, and at most 1 may differ.
        """
        count = len(self.template) + int(np.ceil(self.later))
        sums = lag_chip_sums(y, self.lag, guess.boundaries(0, count))
        pattern = np.arange(count) % 2 == 1
        match = sums @ np.where(pattern, 1.0, -1.0)
        decided = (sums * np.conj(match)).real > 0
        return np.count_nonzero(decided != pattern) <= 1

    def _acquire(
        self, y: np.ndarray, guess: ChipTiming, carrier: tuple[float, float]
    ) -> ChipTiming | FailureReason:
        """Chip grid of the template near ``guess``, or why there is none: NO_SYNC, or
        INSIDE_PREAMBLE when the candidate sits in a preamble longer than the hops reach.

        Tone correlations with the first (blind, at low SNR biased) CFO work best unless that
        CFO is far off, which matters for S1's long chips; lag products do not care.
        """
        for tones in (ToneIntegrals(y, *carrier), None):
            start = guess
            for _ in range(self.hops):
                timing, decided = acquire_timing(
                    y, start, self.template, self.later, tones, self.lag
                )
                errors = np.count_nonzero(decided != self.template.astype(bool))
                # The template placed wholly inside the preamble has 4 errors: tell it apart.
                if errors > 2 and np.count_nonzero(decided != self._preamble) <= 1:
                    start = timing.shifted(int(self.later))  # inside a long preamble: go on
                    continue
                if errors <= MAX_SYNC_ERRORS + 2:  # (slack: the carrier is not refined yet)
                    return timing
                break
            else:
                # Preamble all along: a later candidate will find the sync.
                return FailureReason.INSIDE_PREAMBLE
        return FailureReason.NO_SYNC

    def _check_errors(self, reading: Reading, decided: np.ndarray) -> int:
        """Chip errors in the known chips a reading expects after the template (0 if none),
        from the chip decisions over ``self._known``."""
        if not reading.check:
            return 0
        at = reading.check_at + reading.shift - self._known[0]
        chips = decided[at : at + len(reading.check)]
        return int(np.count_nonzero(chips != _chips(reading.check).astype(bool)))

    def _decode_reading(
        self,
        reading: Reading,
        check_errors: int,
        tones: ToneIntegrals,
        base: int,
        timing: ChipTiming,
        candidate: SyncCandidate,
    ) -> Frame | tuple[float, DecodeFailure] | FailureReason:
        """The frame; or a failure worth reporting, with its quality (lowest reported first);
        or the reason for taking the candidate for a chance match under this reading."""
        mode = reading.mode
        per_byte = CHIPS_PER_BYTE[mode.line_code]
        n_tmpl = len(self.template)
        if reading.shift:
            timing = timing.shifted(reading.shift)
        data_start = n_tmpl + len(reading.marker)
        # A burst starts at its sync word: the template ends with it, and preambles vary.
        sync_at = n_tmpl - SYNC_WORD_CHIPS[mode.name]
        start_sample = self._input_sample(base, timing, sync_at)

        def fail(reason: FailureReason, detail: str, quality: float) -> tuple[float, DecodeFailure]:
            return quality, DecodeFailure("phy", reason, f"{mode.name}: {detail}", start_sample)

        if check_errors > MAX_MARKER_ERRORS:
            return FailureReason.MARKER_ERRORS
        credible_marker = check_errors <= CREDIBLE_MARKER_ERRORS
        l_field = self._decide(reading, tones, timing, data_start, 1)[0].data[0]
        n_bytes = on_air_length(l_field, reading.frame_format)
        data_bytes = n_bytes - 2 * len(block_spans(n_bytes, reading.frame_format))
        if data_bytes < MIN_DATA_BYTES:
            if candidate.score < STRONG_SYNC_SCORE:
                return FailureReason.LENGTH
            return fail(FailureReason.LENGTH, f"L field {l_field} too short", 1.0)
        stop = data_start + n_bytes * per_byte
        timing = fit_timing(tones, timing, 0, stop, fitted=self._header_stop + reading.shift)
        if timing.boundaries(stop, 0)[0] > len(tones.y):
            if candidate.score < STRONG_SYNC_SCORE:
                return FailureReason.TRUNCATED
            return fail(FailureReason.TRUNCATED, "burst runs past the end of the stream", 0.5)
        decision, chips = self._decide(reading, tones, timing, data_start, n_bytes)
        words = n_bytes * (2 if mode.line_code is LineCode.THREE_OF_SIX else 8)
        ratio = decision.violations / words
        if ratio > MAX_VIOLATION_RATIO:
            if candidate.score < STRONG_SYNC_SCORE:
                return FailureReason.BAD_CODING
            return fail(FailureReason.BAD_CODING, f"{decision.violations} coding violations", ratio)
        fixed = correct(decision, reading.frame_format)
        if not fixed.ok:
            if ratio > CREDIBLE_VIOLATION_RATIO or not credible_marker:
                return FailureReason.CRC
            bad = [i for i, ok in enumerate(fixed.block_ok) if not ok]
            return fail(FailureReason.CRC, f"CRC failed in block(s) {bad}", ratio)
        deframed = strip_crcs(fixed.raw, reading.frame_format)
        return Frame(
            data=deframed.data,
            frame_format=reading.frame_format,
            mode=mode.name,
            burst=self._burst(mode, tones, base, timing, chips, sync_at, stop),
            corrected_errors=fixed.corrections,
        )

    def _input_sample(self, base: int, timing: ChipTiming, chip: int) -> int:
        """Input stream sample at the start of template chip ``chip``."""
        return self.geometry.input_sample(base + float(timing.time(np.float64(chip))))

    def _decide(
        self,
        reading: Reading,
        tones: ToneIntegrals,
        timing: ChipTiming,
        data_start: int,
        n_bytes: int,
    ) -> tuple[SoftDecision, ToneCorrelations]:
        """Soft decision of ``n_bytes`` bytes from chip ``data_start``, and the data chips'
        correlations."""
        line_code = reading.mode.line_code
        count = n_bytes * CHIPS_PER_BYTE[line_code]
        if line_code is LineCode.MANCHESTER:
            # Start at the template so the preamble pairs calibrate the phase across a pair.
            chips = tone_correlations(tones, timing, 0, data_start + count)
            metrics = manchester_metrics(chips, reference_pairs=11)[data_start // 2 :]
            data = chips.since(data_start)
            return decode_bits_soft(metrics, manchester_violations(data.soft())), data
        chips = tone_correlations(tones, timing, data_start, count)
        bt = reading.mode.gaussian_bt
        if bt is None:
            return decode_soft(chips.coherent_soft(), line_code), chips
        return decode_soft(gfsk_soft(tones, timing, data_start, count, bt), line_code), chips

    def _burst(
        self,
        mode: ModeSpec,
        tones: ToneIntegrals,
        base: int,
        timing: ChipTiming,
        chips: ToneCorrelations,
        sync_at: int,
        stop: int,
    ) -> Burst:
        """What the burst of data ``chips`` looked like: from its sync word's first chip,
        ``sync_at``, to the end of its data, before chip ``stop`` (the postamble that may follow
        carries nothing and its length varies)."""
        geometry = self.geometry
        # Ec/N0: per chip the sent tone's correlation holds the chip energy plus the noise of
        # one sample, the samples hold the chip energy plus all their noise, which the channel
        # filter has thinned to ``share`` of N0's (the noise in the tone, inside the passband,
        # is not). The energy in the other tone would do only where the tones are orthogonal
        # over a chip: T1 and S1, not C1, whose estimate would stop near 19 dB.
        strong = float(np.mean(np.maximum(np.abs(chips.upper), np.abs(chips.lower)) ** 2))
        lo, hi = (round(float(t)) for t in chips.edges[[0, -1]])
        lo, hi = max(lo, 0), min(hi, len(tones.y))
        per_chip = (hi - lo) / len(chips.upper)
        energy = float(np.vdot(tones.y[lo:hi], tones.y[lo:hi]).real) / len(chips.upper)
        share = self.geometry.noise_share
        noise = (energy - strong / per_chip) / (per_chip * share - 1)
        snr = min(strong / per_chip / noise - 1, _MAX_SNR) if noise > 0 else _MAX_SNR
        a, b = (int(v) for v in timing.boundaries(0, stop)[[0, -1]])
        power = float(np.mean(np.abs(tones.y[max(a, 0) : b]) ** 2))
        return Burst(
            mode=mode.name,
            start_sample=self._input_sample(base, timing, sync_at),
            end_sample=self._input_sample(base, timing, stop),
            sample_rate_hz=geometry.sample_rate_hz * geometry.decimation,
            freq_hz=mode.center_freq_hz,
            chip_rate_hz=geometry.sample_rate_hz / timing.chip_samples,
            cfo_hz=tones.cfo * geometry.sample_rate_hz / (2 * np.pi) + geometry.residual_hz,
            rssi_dbfs=10 * np.log10(max(power, 1e-20)),
            snr_db=10 * np.log10(max(snr, 1e-3)),
        )
