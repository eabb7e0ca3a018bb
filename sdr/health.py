"""Radio health of a live session: ADC clipping, the wideband noise floor, the dongle's
frequency error, and the ``--gain auto`` loop that acts on the first two.

Clipping is counted on the raw integers (``clipped_offset_binary``: cu8, and cs8 through it)
or, for sources that hand over floats converted from integers, against the converted full scale
(``clipped_float``). Seconds are seconds of the stream, by absolute sample index, so what is
reported does not depend on chunk sizes or on how fast the decoder runs. ``HealthMonitor``
is fed by the session's thread and read through ``snapshot`` from any thread.
"""

from __future__ import annotations

import math
import statistics
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from dsp.noise_floor import NoiseFloor
from protocol.telegram import Telegram

# A second with more of its samples at full scale than this is clipped (issue 13).
CLIP_WARN_SHARE = 1e-3
# While clipping persists, the warning is repeated after this much stream time, not every second.
CLIP_REMIND_S = 60.0
# The dongle's error is estimated once this many telegrams carry a carrier offset.
MIN_PPM_TELEGRAMS = 5
PPM_TELEGRAMS = 1000  # the median is over the last this many carrier offsets
RECENT_CFOS = 32  # carrier offsets in the snapshot
# The wideband noise floor: the quietest 1 % of blocks of 1024 samples in each second (the
# blocks are on a grid of whole seconds, so the floor does not depend on the chunking).
NOISE_BLOCK_SAMPLES = 1024
NOISE_QUANTILE = 0.01
# An 8-bit ADC whose noise is below 2 LSB rms per component resolves it poorly: the gain can go
# up. One LSB is 1/127.5 of full scale in cu8; the power is that of a complex sample.
QUANTISATION_FLOOR_DBFS = 10 * math.log10(2 * (2.0 / 127.5) ** 2)
# --gain auto steps: down fast (clipping loses every telegram), up carefully.
GAIN_STEP_DOWN_DB = 5.0
GAIN_STEP_UP_DB = 3.0
# After a gain change, samples the device may still have delivered at the old gain (the
# server's and the network's buffers) before the next second is judged.
GAIN_SETTLE_S = 0.25


def clipped_offset_binary(raw: np.ndarray) -> np.ndarray | None:
    """Per complex sample of interleaved unsigned bytes (cu8), whether I or Q sits at 0 or 255;
    None when none does. cs8 is the same test on ``raw ^ 0x80``."""
    if len(raw) == 0 or (raw.max() < 255 and raw.min() > 0):
        return None  # the usual case, found by two reductions at a tenth of the mask's cost
    # In uint8 arithmetic 0 wraps to 255 and 255 becomes 254: one comparison finds both ends.
    ends = (raw - np.uint8(1)) >= np.uint8(254)
    return ends[0::2] | ends[1::2]


def clipped_float(samples: np.ndarray, full_scale: float) -> np.ndarray | None:
    """Per complex sample converted from integers of ``full_scale`` (SoapySDR's CF32 of a CS8
    or CS16 device), whether I or Q reached the largest magnitude the integers give; None
    when none did."""
    limit = np.float32(1.0 - 1.0 / full_scale) if full_scale > 1 else np.float32(1.0)
    flat = samples.view(np.float32)
    if len(flat) == 0 or (flat.max() < limit and flat.min() > -limit):
        return None
    iq = np.abs(flat) >= limit
    return iq[0::2] | iq[1::2]


@dataclass(frozen=True, slots=True)
class SecondReport:
    """One second of the stream (samples ``index * rate`` onwards) once it is complete."""

    index: int
    start_sample: int  # where the second starts (index * samples per second)
    samples: int  # delivered in this second (drops excluded)
    clipped: int
    noise_floor_dbfs: float | None  # None: too few samples for a block

    @property
    def clipped_share(self) -> float:
        return self.clipped / self.samples if self.samples else 0.0

    @property
    def clipping(self) -> bool:
        return self.clipped_share > CLIP_WARN_SHARE


class SecondMeter:
    """Splits the stream at whole seconds and reports each one's clipping and noise floor;
    the same seconds whatever the chunking (``add`` per chunk, ``flush`` at the end)."""

    def __init__(self, sample_rate_hz: float) -> None:
        self.second_samples = max(1, round(sample_rate_hz))
        self._floor = NoiseFloor(NOISE_BLOCK_SAMPLES, NOISE_QUANTILE)
        self._index: int | None = None
        self._samples = 0
        self._clipped = 0
        self._powers: list[np.ndarray] = []
        self._block = np.zeros(0, np.complex64)  # the unfinished block of this second

    def add(
        self, start: int, samples: np.ndarray, clipped: np.ndarray | None
    ) -> list[SecondReport]:
        """``clipped``: per sample, whether it was at full scale; None: none was."""
        out: list[SecondReport] = []
        pos = 0
        while pos < len(samples):
            index = (start + pos) // self.second_samples
            if index != self._index:
                if self._index is not None:
                    out.append(self._close())
                self._index = index
            end = min(len(samples), (index + 1) * self.second_samples - start)
            self._samples += end - pos
            if clipped is not None:
                self._clipped += int(np.count_nonzero(clipped[pos:end]))
            self._blocks(samples[pos:end])
            pos = end
        return out

    def flush(self) -> list[SecondReport]:
        return [self._close()] if self._index is not None and self._samples else []

    def _blocks(self, samples: np.ndarray) -> None:
        data = np.concatenate([self._block, samples]) if len(self._block) else samples
        whole = len(data) - len(data) % NOISE_BLOCK_SAMPLES
        if whole:
            iq = data[:whole].view(np.float32).reshape(-1, 2 * NOISE_BLOCK_SAMPLES)
            self._powers.append(np.einsum("ij,ij->i", iq, iq) / NOISE_BLOCK_SAMPLES)
        self._block = data[whole:].copy()

    def _close(self) -> SecondReport:
        floor: float | None = None
        if self._powers:
            # Each second on its own: the estimator's memory of quieter seconds would hide a
            # gain just raised from the gain loop for several seconds.
            self._floor.reset()
            self._floor.update(np.concatenate(self._powers))
            power = self._floor.power
            floor = 10 * math.log10(power) if power > 0 else -math.inf
        assert self._index is not None
        start = self._index * self.second_samples
        report = SecondReport(self._index, start, self._samples, self._clipped, floor)
        self._samples = self._clipped = 0
        self._powers = []
        self._block = np.zeros(0, np.complex64)  # a block never spans two seconds
        return report


def ppm_error(cfos_hz: Sequence[tuple[float, float]]) -> float | None:
    """The receiver's frequency error in ppm from (carrier offset, carrier frequency) pairs of
    decoded telegrams: the median, so that meters with poor crystals do not pull it; None with
    fewer than ``MIN_PPM_TELEGRAMS``. A receiver whose oscillator runs fast by e ppm sees every
    carrier ``-e`` ppm low."""
    if len(cfos_hz) < MIN_PPM_TELEGRAMS:
        return None
    return -statistics.median(cfo / freq for cfo, freq in cfos_hz) * 1e6


def centring_ppm(error_ppm: float, ppm_setting: int) -> int:
    """The ``--ppm`` that would centre the carriers: the residual error measured with
    ``ppm_setting`` applied, added to it."""
    return round(ppm_setting + error_ppm)


class AutoGain:
    """``--gain auto``: starts mid-range in ``gains_db`` (what the tuner offers), steps down
    while a second clips, up while the noise floor sits at the quantisation floor, and never
    back up to a gain that clipped. ``decide`` returns the next gain or None."""

    def __init__(self, gains_db: Sequence[float]) -> None:
        self.gains_db = tuple(sorted(set(gains_db)))
        if not self.gains_db:
            raise ValueError("the tuner offers no gains")
        self.gain_db = self.gains_db[len(self.gains_db) // 2]
        self._clipped_at = math.inf  # the lowest gain that clipped
        self._settled_from = 0  # seconds starting earlier may hold samples of an older gain

    def applied(self, device_sample: int, sample_rate_hz: float) -> None:
        """The last gain went to the device when it had delivered ``device_sample`` samples."""
        self._settled_from = device_sample + round(GAIN_SETTLE_S * sample_rate_hz)

    def decide(self, second: SecondReport) -> float | None:
        if second.start_sample < self._settled_from:
            return None
        if second.clipping:
            self._clipped_at = min(self._clipped_at, self.gain_db)
            lower = [g for g in self.gains_db if g <= self.gain_db - GAIN_STEP_DOWN_DB]
            step = lower[-1] if lower else self.gains_db[0]
        elif (
            second.noise_floor_dbfs is not None
            and second.noise_floor_dbfs < QUANTISATION_FLOOR_DBFS
        ):
            higher = [
                g for g in self.gains_db
                if self.gain_db + GAIN_STEP_UP_DB <= g < self._clipped_at
            ]
            step = higher[0] if higher else self.gain_db
        else:
            return None
        if step == self.gain_db:
            return None
        self.gain_db = step
        return step


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """The radio's health at one moment (``LiveSession.health``); ``to_dict`` is JSON-ready
    with the same names. ``wideband_noise_floor_dbfs`` is the whole stream's (the web view adds
    each channel's from its spectrum)."""

    sample_rate_hz: float
    samples: int  # delivered to the decoder
    overflows: int
    samples_dropped: int
    clipped_share_last_s: float  # of the last second judged
    clipped_share_total: float
    clipped_seconds: int  # seconds above CLIP_WARN_SHARE
    seconds: int  # seconds judged, the stream's last partial one included
    gain_db: float | None  # None: the tuner's own automatic gain
    wideband_noise_floor_dbfs: float | None
    cfo_hz_recent: tuple[float, ...] = ()
    ppm_estimate: float | None = None  # residual error with the current --ppm applied
    ppm_suggested: int | None = None  # the --ppm that would centre the carriers

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["cfo_hz_recent"] = list(self.cfo_hz_recent)
        floor = self.wideband_noise_floor_dbfs
        if floor is not None and not math.isfinite(floor):
            out["wideband_noise_floor_dbfs"] = None  # -inf is not JSON
        return out


@dataclass(frozen=True, slots=True)
class ClipWarning:
    """A second that clipped, when the user should hear about it."""

    second: SecondReport
    stream_time_s: float  # where the stream was when the second ended


class HealthMonitor:
    """Fed by the session's thread (``observe`` per chunk, ``telegram``), read by any thread
    (``snapshot``). ``observe`` returns the seconds completed, for the gain loop, and whether
    to warn about clipping (at most once per ``CLIP_REMIND_S`` of stream)."""

    def __init__(self, sample_rate_hz: float, ppm_setting: int, gain_db: float | None) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.ppm_setting = ppm_setting
        self.gain_db = gain_db
        self._meter = SecondMeter(sample_rate_hz)
        self._lock = threading.Lock()
        self._samples = 0
        self._clipped = 0
        self._seconds = 0
        self._clipped_seconds = 0
        self._last: SecondReport | None = None
        self._floor: float | None = None
        self._cfos: deque[tuple[float, float]] = deque(maxlen=PPM_TELEGRAMS)
        self._next_warning_s = -math.inf

    def observe(
        self, start: int, samples: np.ndarray, clipped: np.ndarray | None
    ) -> tuple[list[SecondReport], ClipWarning | None]:
        seconds = self._meter.add(start, samples, clipped)
        with self._lock:
            self._samples += len(samples)
            if clipped is not None:
                self._clipped += int(np.count_nonzero(clipped))
        return seconds, self._judge(seconds)

    def flush(self) -> tuple[list[SecondReport], ClipWarning | None]:
        seconds = self._meter.flush()
        return seconds, self._judge(seconds)

    def _judge(self, seconds: list[SecondReport]) -> ClipWarning | None:
        warning = None
        for second in seconds:
            with self._lock:
                self._seconds += 1
                self._clipped_seconds += second.clipping
                self._last = second
                if second.noise_floor_dbfs is not None:
                    self._floor = second.noise_floor_dbfs
            end_s = (second.start_sample + second.samples) / self.sample_rate_hz
            if second.clipping and end_s >= self._next_warning_s:
                self._next_warning_s = end_s + CLIP_REMIND_S
                warning = ClipWarning(second, end_s)
        return warning

    def telegram(self, telegram: Telegram) -> None:
        burst = telegram.frame.burst
        if burst is None:
            return
        with self._lock:
            self._cfos.append((burst.cfo_hz, burst.freq_hz))

    def set_gain(self, gain_db: float) -> None:
        with self._lock:
            self.gain_db = gain_db

    def snapshot(self, overflows: int, samples_dropped: int) -> HealthSnapshot:
        """The state now, with the source's counts of what it dropped."""
        with self._lock:
            error = ppm_error(list(self._cfos))
            last = self._last
            return HealthSnapshot(
                sample_rate_hz=self.sample_rate_hz,
                samples=self._samples,
                overflows=overflows,
                samples_dropped=samples_dropped,
                clipped_share_last_s=last.clipped_share if last is not None else 0.0,
                clipped_share_total=self._clipped / self._samples if self._samples else 0.0,
                clipped_seconds=self._clipped_seconds,
                seconds=self._seconds,
                gain_db=self.gain_db,
                wideband_noise_floor_dbfs=self._floor,
                cfo_hz_recent=tuple(cfo for cfo, _ in list(self._cfos)[-RECENT_CFOS:]),
                ppm_estimate=error,
                ppm_suggested=None if error is None else centring_ppm(error, self.ppm_setting),
            )
