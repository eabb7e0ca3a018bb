"""Bursts rendered into a noisy stream at a stated Ec/N0: the signal source of tests, benchmarks
and ``wmbus simulate``. ``render_stream`` turns a sequence of ``BurstSpec`` into noisy IQ segments
plus, for each telegram, where it was sent."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from dsp.bandplan import DEFAULT_CENTER_FREQ_HZ, DEFAULT_SAMPLE_RATE_HZ
from dsp.modulate import add_noise, modulate, noise_variance
from protocol.framing import add_crcs
from protocol.modes import MODES, FrameFormat, ModeSpec
from sdr.errors import UserError
from sdr.sim.telegrams import random_telegram

# RMS of signal plus noise in the written file, as a fraction of full scale: low enough that
# Gaussian noise peaks rarely clip in 8-bit formats, high enough to keep quantisation noise
# far below the noise added.
FILE_RMS = 0.35
GAP_S = (1e-3, 5e-3)  # random silence (noise only) before each telegram and at the end


@dataclass(frozen=True, slots=True)
class ModeFormat:
    mode: ModeSpec
    frame_format: FrameFormat

    @property
    def label(self) -> str:
        return (
            f"{self.mode.name}-{self.frame_format}"
            if len(self.mode.frame_formats) > 1
            else (self.mode.name)
        )


def parse_mode_formats(text: str, default_format: FrameFormat = FrameFormat.A) -> list[ModeFormat]:
    """``"S1,T1,C1-A,C1-B"`` -> modes with frame formats; plain ``C1`` takes ``default_format``."""
    out: list[ModeFormat] = []
    for part in (p.strip().upper() for p in text.split(",") if p.strip()):
        name, _, fmt_text = part.partition("-")
        mode = MODES.get(name)
        if mode is None:
            raise UserError(f"unknown mode {name!r}; choose from {', '.join(MODES)}")
        fmt = FrameFormat(fmt_text) if fmt_text in ("A", "B") else None
        if fmt_text and fmt is None:
            raise UserError(f"unknown frame format in {part!r}; use -A or -B")
        fmt = fmt or (default_format if default_format in mode.frame_formats else FrameFormat.A)
        if fmt not in mode.frame_formats:
            raise UserError(f"mode {mode.name} has no frame format {fmt}")
        out.append(ModeFormat(mode, fmt))
    if not out:
        raise UserError("no mode given")
    return out


@dataclass(frozen=True, slots=True)
class BurstSpec:
    """One telegram to transmit."""

    mode: ModeSpec
    frame_format: FrameFormat
    frame: bytes  # CRC-less link frame (L = len - 1)
    cfo_hz: float = 0.0
    chip_rate_error: float = 0.0


@dataclass(frozen=True, slots=True)
class SentTelegram:
    """Truth about one simulated telegram (one row of the truth file)."""

    mode: str
    frame_format: str
    frame_hex: str
    start_sample: int
    end_sample: int
    ecn0_db: float | None
    cfo_hz: float
    chip_rate_error: float

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "frame_format": self.frame_format,
            "frame_hex": self.frame_hex,
            "start_sample": self.start_sample,
            "end_sample": self.end_sample,
            "ecn0_db": self.ecn0_db,
            "cfo_hz": self.cfo_hz,
            "chip_rate_error": self.chip_rate_error,
        }


@dataclass(frozen=True, slots=True)
class StreamSettings:
    sample_rate_hz: float = DEFAULT_SAMPLE_RATE_HZ
    center_freq_hz: float = DEFAULT_CENTER_FREQ_HZ
    ecn0_db: float | None = None  # None: no noise
    # The fastest mode in the stream has amplitude 1; slower modes are scaled to equal Ec/N0.
    reference_chip_rate_hz: float = 100e3

    @classmethod
    def for_modes(
        cls,
        mode_formats: Sequence[ModeFormat],
        sample_rate_hz: float = DEFAULT_SAMPLE_RATE_HZ,
        center_freq_hz: float = DEFAULT_CENTER_FREQ_HZ,
        ecn0_db: float | None = None,
    ) -> StreamSettings:
        """Settings whose loudest bursts (the fastest mode's) have amplitude 1."""
        fastest = max(mf.mode.chip_rate_hz for mf in mode_formats)
        return cls(sample_rate_hz, center_freq_hz, ecn0_db, fastest)

    @property
    def file_scale(self) -> float:
        """Factor that brings signal plus noise to ``FILE_RMS``."""
        if self.ecn0_db is None:
            return FILE_RMS
        noise_var = noise_variance(self.ecn0_db, self.reference_chip_rate_hz, self.sample_rate_hz)
        return FILE_RMS / float(np.sqrt(1.0 + noise_var))

    def amplitude(self, mode: ModeSpec) -> float:
        """Burst amplitude giving the stream's Ec/N0 for ``mode`` over the common noise floor."""
        return float(np.sqrt(mode.chip_rate_hz / self.reference_chip_rate_hz))


def render_stream(
    bursts: Iterable[BurstSpec],
    settings: StreamSettings,
    rng: np.random.Generator,
    gap_s: tuple[float, float] = GAP_S,
) -> Iterator[tuple[np.ndarray, SentTelegram | None]]:
    """Consecutive segments of the stream: random gap + one burst each, then a closing gap.

    Every segment carries noise of the same density; each burst's amplitude is chosen so that its
    mode sees ``settings.ecn0_db``. Segments are scaled by ``settings.file_scale``.
    """
    fs = settings.sample_rate_hz
    scale = settings.file_scale
    position = 0

    def segment(burst_iq: np.ndarray, gap: int) -> np.ndarray:
        x = np.concatenate([np.zeros(gap, np.complex64), burst_iq])
        if settings.ecn0_db is not None:
            x = add_noise(x, settings.ecn0_db, settings.reference_chip_rate_hz, fs, rng)
        return (x * np.float32(scale)).astype(np.complex64)

    for spec in bursts:
        raw = add_crcs(spec.frame, spec.frame_format)
        iq = modulate(
            raw,
            spec.mode,
            spec.frame_format,
            fs,
            settings.center_freq_hz,
            amplitude=settings.amplitude(spec.mode),
            cfo_hz=spec.cfo_hz,
            chip_rate_error=spec.chip_rate_error,
            start_phase_rad=float(rng.uniform(0, 2 * np.pi)),
        )
        gap = int(rng.uniform(*gap_s) * fs)
        start = position + gap
        sent = SentTelegram(
            mode=spec.mode.name,
            frame_format=str(spec.frame_format),
            frame_hex=spec.frame.hex(),
            start_sample=start,
            end_sample=start + len(iq),
            ecn0_db=settings.ecn0_db,
            cfo_hz=spec.cfo_hz,
            chip_rate_error=spec.chip_rate_error,
        )
        out = segment(iq, gap)
        position += len(out)
        yield out, sent
    tail = segment(np.zeros(0, np.complex64), int(rng.uniform(*gap_s) * fs))
    yield tail, None


def random_bursts(
    mode_formats: Sequence[ModeFormat],
    count: int,
    rng: np.random.Generator,
    length: int | None = None,
    cfo_hz: float = 0.0,
    chip_rate_error: float = 0.0,
) -> list[BurstSpec]:
    """``count`` realistic telegrams (random meters and readings), modes taken in turn."""
    out = []
    for i in range(count):
        mf = mode_formats[i % len(mode_formats)]
        frame = random_telegram(rng, length=length)
        out.append(BurstSpec(mf.mode, mf.frame_format, frame, cfo_hz, chip_rate_error))
    return out

