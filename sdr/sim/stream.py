"""Bursts rendered into a noisy stream at a stated Ec/N0: the signal source of tests, benchmarks
and ``wmbus simulate``. ``render_stream`` turns a sequence of ``BurstSpec`` into noisy IQ segments
plus, for each telegram, where it was sent. At RTL-SDR rates the bursts pass the RTL2832U's
decimation filter first (``sdr.sim.frontend``), which matters near the band edge only."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from dsp.bandplan import DEFAULT_CENTER_FREQ_HZ, DEFAULT_SAMPLE_RATE_HZ, SHORT_PREAMBLE_CHIPS
from dsp.modulate import add_noise, modulate, noise_variance
from protocol.framing import add_crcs
from protocol.modes import OMS_MODES, OMS_PHY, S1, Direction, FrameFormat, ModeSpec
from sdr.errors import UserError
from sdr.sim.frontend import RTL2832_MAX_RATE_HZ, rtl2832_rolloff
from sdr.sim.telegrams import gateway_telegram, random_telegram

# RMS of signal plus noise in the written file, as a fraction of full scale: low enough that
# Gaussian noise peaks rarely clip in 8-bit formats, high enough to keep quantisation noise
# far below the noise added.
FILE_RMS = 0.35
GAP_S = (1e-3, 5e-3)  # random silence (noise only) before each telegram and at the end


@dataclass(frozen=True, slots=True)
class ModeFormat:
    """What to send: a physical layer and frame format, and the OMS mode and direction it
    carries (S2's gateway frames use S1's physical layer with a short preamble)."""

    mode: ModeSpec  # the physical layer
    frame_format: FrameFormat
    oms_mode: str = ""  # "": the physical layer's name
    direction: Direction = Direction.METER_TO_OTHER
    preamble_chips: int | None = None  # None: the physical layer's minimum

    def __post_init__(self) -> None:
        # The OMS mode and direction name the physical layer (C2's own is the gateways').
        if OMS_PHY.get((self.name, self.direction)) is not self.mode:
            raise ValueError(
                f"mode {self.name} {self.direction} is not sent on {self.mode.name}'s channel; "
                "ModeFormat.of gives the right one"
            )

    @classmethod
    def of(
        cls, oms_mode: str, direction: Direction, frame_format: FrameFormat = FrameFormat.A
    ) -> ModeFormat:
        """The OMS mode ``oms_mode`` sent in ``direction``; ValueError naming an impossible
        pair. The S physical layer carries S2 and T2's gateway frames with the short preamble
        ("short header", as S2 meters send too)."""
        phy = OMS_PHY.get((oms_mode, direction))
        if phy is None:
            raise ValueError(f"mode {oms_mode} has no {direction} direction")
        if frame_format not in phy.frame_formats:
            raise ValueError(f"mode {oms_mode} {direction} has no frame format {frame_format}")
        short = phy is S1 and oms_mode != S1.name
        preamble = SHORT_PREAMBLE_CHIPS if short else None
        return cls(phy, frame_format, oms_mode, direction, preamble)

    @property
    def name(self) -> str:
        """The OMS mode: what truth files call the mode."""
        return self.oms_mode or self.mode.name

    @property
    def label(self) -> str:
        return (
            f"{self.name}-{self.frame_format}" if len(self.mode.frame_formats) > 1 else self.name
        )


def default_direction(oms_mode: str) -> Direction:
    """S1, T1 and C1 go from meters; S2, T2 and C2 are named for their gateways' frames."""
    return (
        Direction.OTHER_TO_METER
        if (oms_mode, Direction.OTHER_TO_METER) in OMS_PHY
        else Direction.METER_TO_OTHER
    )


def parse_mode_formats(
    text: str,
    default_format: FrameFormat = FrameFormat.A,
    direction: Direction | None = None,
) -> list[ModeFormat]:
    """``"S1,T1,C1-A,C2-B"`` -> modes with frame formats; plain ``C1`` takes ``default_format``.
    Every mode is sent in ``direction``, by default the one ``default_direction`` names."""
    out: list[ModeFormat] = []
    for part in (p.strip().upper() for p in text.split(",") if p.strip()):
        name, _, fmt_text = part.partition("-")
        if name not in OMS_MODES:
            raise UserError(f"unknown mode {name!r}; choose from {', '.join(OMS_MODES)}")
        fmt = FrameFormat(fmt_text) if fmt_text in ("A", "B") else None
        if fmt_text and fmt is None:
            raise UserError(f"unknown frame format in {part!r}; use -A or -B")
        way = direction or default_direction(name)
        if fmt is None:
            phy = OMS_PHY.get((name, way))
            fmt = default_format if phy and default_format in phy.frame_formats else FrameFormat.A
        try:
            out.append(ModeFormat.of(name, way, fmt))
        except ValueError as exc:
            raise UserError(str(exc)) from exc
    if not out:
        raise UserError("no mode given")
    return out


@dataclass(frozen=True, slots=True)
class BurstSpec:
    """One telegram to transmit."""

    kind: ModeFormat
    frame: bytes  # CRC-less link frame (L = len - 1)
    cfo_hz: float = 0.0
    chip_rate_error: float = 0.0


@dataclass(frozen=True, slots=True)
class SentTelegram:
    """Truth about one simulated telegram (one row of the truth file)."""

    mode: str  # the OMS mode
    frame_format: str
    frame_hex: str
    start_sample: int
    end_sample: int
    ecn0_db: float | None
    cfo_hz: float
    chip_rate_error: float
    direction: str = Direction.METER_TO_OTHER

    @property
    def phy(self) -> ModeSpec:
        """The physical layer it was sent on."""
        return OMS_PHY[(self.mode, Direction(self.direction))]

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "direction": str(self.direction),
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
    # The RTL2832U's decimation filter on the bursts (``sdr.sim.frontend``; Ec/N0 is then
    # what reaches the dongle). None: on at the rates an RTL-SDR delivers, up to 3.2 Msps,
    # off at wider ones (other SDRs, whose filters are not modelled).
    rolloff: bool | None = None

    @property
    def models_rolloff(self) -> bool:
        if self.rolloff is not None:
            return self.rolloff
        return self.sample_rate_hz <= RTL2832_MAX_RATE_HZ

    @classmethod
    def for_modes(
        cls,
        mode_formats: Sequence[ModeFormat],
        sample_rate_hz: float = DEFAULT_SAMPLE_RATE_HZ,
        center_freq_hz: float = DEFAULT_CENTER_FREQ_HZ,
        ecn0_db: float | None = None,
        rolloff: bool | None = None,
    ) -> StreamSettings:
        """Settings whose loudest bursts (the fastest mode's) have amplitude 1."""
        fastest = max(mf.mode.chip_rate_hz for mf in mode_formats)
        return cls(sample_rate_hz, center_freq_hz, ecn0_db, fastest, rolloff)

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
        kind = spec.kind
        raw = add_crcs(spec.frame, kind.frame_format)
        iq = modulate(
            raw,
            kind.mode,
            kind.frame_format,
            fs,
            settings.center_freq_hz,
            amplitude=settings.amplitude(kind.mode),
            cfo_hz=spec.cfo_hz,
            chip_rate_error=spec.chip_rate_error,
            preamble_chips=kind.preamble_chips,
            start_phase_rad=float(rng.uniform(0, 2 * np.pi)),
        )
        if settings.models_rolloff:
            iq = rtl2832_rolloff(iq, fs)
        gap = int(rng.uniform(*gap_s) * fs)
        start = position + gap
        sent = SentTelegram(
            mode=kind.name,
            frame_format=str(kind.frame_format),
            frame_hex=spec.frame.hex(),
            start_sample=start,
            end_sample=start + len(iq),
            ecn0_db=settings.ecn0_db,
            cfo_hz=spec.cfo_hz,
            chip_rate_error=spec.chip_rate_error,
            direction=kind.direction,
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
    cfo_hz: float | Sequence[float] = 0.0,
    chip_rate_error: float = 0.0,
) -> list[BurstSpec]:
    """``count`` realistic telegrams (random meters and readings, or gateways' commands to
    them), modes taken in turn; a sequence of carrier offsets is taken in turn as well."""
    offsets = [cfo_hz] if isinstance(cfo_hz, int | float) else list(cfo_hz)
    out = []
    for i in range(count):
        mf = mode_formats[i % len(mode_formats)]
        if mf.direction is Direction.OTHER_TO_METER:
            try:
                frame = gateway_telegram(rng, length=length)
            except ValueError as exc:
                raise UserError(f"frame length {length}: {exc}") from exc
        else:
            frame = random_telegram(rng, length=length)
        out.append(BurstSpec(mf, frame, offsets[i % len(offsets)], chip_rate_error))
    return out
