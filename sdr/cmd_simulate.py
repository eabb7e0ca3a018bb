"""``wmbus simulate``: synthetic recordings with a truth file, made with the project's modulator.

The generation functions are also the benchmarks' signal source: ``render_stream`` turns a
sequence of ``BurstSpec`` into noisy IQ segments plus, for each telegram, where it was sent.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsp.modulate import add_noise, channel_offset_hz, modulate, noise_variance
from protocol.encoder import TelegramSpec, TplSpec, encode_telegram
from protocol.framing import add_crcs
from protocol.manufacturers import manufacturer_code
from protocol.modes import MODES, FrameFormat, ModeSpec
from protocol.records import encode_record
from protocol.telegram import Address
from sdr.errors import UserError
from sdr.iqfile import (
    SAMPLE_FORMATS,
    Annotation,
    IQWriter,
    SigMFWriter,
    output_sample_format,
    parse_name_tokens,
    quantity_arg,
)

DEFAULT_RATE_HZ = 2.4e6
DEFAULT_CENTER_HZ = 868.625e6
# RMS of signal plus noise in the written file, as a fraction of full scale: low enough that
# Gaussian noise peaks rarely clip in 8-bit formats, high enough to keep quantisation noise
# far below the noise added.
FILE_RMS = 0.35
GAP_S = (1e-3, 5e-3)  # random silence (noise only) before each telegram and at the end


MANUFACTURERS = ("KAM", "DME", "TCH", "ITW", "SEN", "APA", "LAS", "EFE", "QDS", "BMT")
# (device type, records as (DIF, VIF, largest raw value, unit of the raw value)) of typical meters.
METER_KINDS = (
    (
        0x07,
        (
            (b"\x04", b"\x13", 10**8, 1e-3),
            (b"\x44", b"\x13", 10**8, 1e-3),
            (b"\x01", b"\xfd\x17", 0, 1),
        ),
    ),
    (
        0x16,
        (
            (b"\x04", b"\x13", 10**8, 1e-3),
            (b"\x02", b"\x5b", 30, 1),
            (b"\x44", b"\x13", 10**8, 1e-3),
        ),
    ),
    (
        0x04,
        (
            (b"\x04", b"\x06", 10**6, 1e3),
            (b"\x04", b"\x13", 10**8, 1e-3),
            (b"\x02", b"\x5b", 90, 1),
            (b"\x02", b"\x5f", 60, 1),
        ),
    ),
    (0x03, ((b"\x04", b"\x13", 10**8, 1e-3), (b"\x44", b"\x13", 10**8, 1e-3))),
)
FILLER = 0x2F  # idle filler DIF: pads a record area to an exact length
SHORT_TPL_LEN = 15  # link header (10) + CI 7A, ACC, ST, CW (5)


def random_telegram(rng: np.random.Generator, length: int | None = None) -> bytes:
    """A plaintext meter telegram (CI 7A) with random address and readings, CRC-less.

    With ``length``, records are dropped or 2F fillers added to make exactly that many bytes.
    """
    device_type, records = METER_KINDS[int(rng.integers(len(METER_KINDS)))]
    digits = int(rng.integers(10**8))
    address = Address(
        m_field=manufacturer_code(MANUFACTURERS[int(rng.integers(len(MANUFACTURERS)))]),
        id_bytes=bytes.fromhex(f"{digits:08d}")[::-1],
        version=int(rng.integers(256)),
        device_type=device_type,
    )
    area = b""
    for dif, vif, top, unit in records:
        raw = int(rng.integers(top + 1))
        record = encode_record(dif, vif, raw / round(1 / unit) if unit < 1 else raw * int(unit))
        if length is not None and SHORT_TPL_LEN + len(area) + len(record) > length:
            break
        area += record
    if length is not None:
        area += bytes([FILLER]) * (length - SHORT_TPL_LEN - len(area))
    tpl = TplSpec(ci=0x7A, acc=int(rng.integers(256)))
    return encode_telegram(TelegramSpec(address=address, tpl=tpl, payload=area))


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
    sample_rate_hz: float = DEFAULT_RATE_HZ
    center_freq_hz: float = DEFAULT_CENTER_HZ
    ecn0_db: float | None = None  # None: no noise
    # The fastest mode in the stream has amplitude 1; slower modes are scaled to equal Ec/N0.
    reference_chip_rate_hz: float = 100e3

    @classmethod
    def for_modes(
        cls,
        mode_formats: Sequence[ModeFormat],
        sample_rate_hz: float = DEFAULT_RATE_HZ,
        center_freq_hz: float = DEFAULT_CENTER_HZ,
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


def truth_path(out: Path) -> Path:
    """``X.cu8`` -> ``X.json``; ``X.sigmf-meta`` -> ``X.json``."""
    return out.with_suffix(".json")


def write_recording(
    out: Path,
    bursts: Sequence[BurstSpec],
    settings: StreamSettings,
    rng: np.random.Generator,
    generator: dict | None = None,
) -> list[SentTelegram]:
    """Write the recording (format from the extension; SigMF with one annotation per telegram)
    and its truth file; returns the telegrams sent."""
    fmt = output_sample_format(out)
    if fmt is None:
        raise UserError(
            f"{out}: cannot tell the format from the extension; use .{', .'.join(SAMPLE_FORMATS)}"
            " or .sigmf-meta"
        )
    for spec in bursts:
        try:
            channel_offset_hz(spec.mode, settings.sample_rate_hz, settings.center_freq_hz)
        except ValueError as exc:
            raise UserError(str(exc)) from exc
    sent: list[SentTelegram] = []
    sigmf = fmt == "sigmf"
    writer: IQWriter | SigMFWriter = (
        SigMFWriter(
            out,
            settings.sample_rate_hz,
            settings.center_freq_hz,
            "cs16",
            description="wmbus simulate",
        )
        if sigmf
        else IQWriter(out, fmt)
    )
    with writer:
        for samples, telegram in render_stream(bursts, settings, rng):
            writer.write(samples)
            if telegram is None:
                continue
            sent.append(telegram)
            if isinstance(writer, SigMFWriter):
                mode = MODES[telegram.mode]
                half = mode.deviation_hz + mode.chip_rate_hz
                writer.annotate(
                    Annotation(
                        telegram.start_sample,
                        telegram.end_sample - telegram.start_sample,
                        f"{telegram.mode} frame {telegram.frame_format}",
                        comment=telegram.frame_hex,
                        freq_lower_edge_hz=mode.center_freq_hz + telegram.cfo_hz - half,
                        freq_upper_edge_hz=mode.center_freq_hz + telegram.cfo_hz + half,
                    )
                )
    name = (writer.meta_path if isinstance(writer, SigMFWriter) else out).name
    truth = {
        "file": name,
        "sample_rate_hz": settings.sample_rate_hz,
        "center_freq_hz": settings.center_freq_hz,
        "generator": generator or {},
        "telegrams": [t.to_dict() for t in sent],
    }
    truth_path(out).write_text(json.dumps(truth, indent=1) + "\n")
    return sent


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="make a synthetic recording with a truth file",
        description=(
            "Write OUT (.cu8, .cs8, .cs16, .cf32 or .sigmf-meta) with COUNT telegrams from the "
            "project's modulator in white noise, and OUT's .json truth file listing each "
            "telegram's frame and start sample. Rate and centre default to the file name's "
            "tokens (e.g. sim_868.625M_2400k.cu8), else 2.4 Msps at 868.625 MHz."
        ),
    )
    parser.add_argument("out", metavar="OUT", help="output recording (or directory, --scenario)")
    parser.add_argument(
        "--mode", default="T1", help="mode(s), comma separated: S1, T1, C1, C1-A, C1-B (default T1)"
    )
    parser.add_argument(
        "--ecn0", type=float, help="chip energy over noise density Ec/N0, dB (default: no noise)"
    )
    parser.add_argument("--count", type=int, default=10, help="number of telegrams (default 10)")
    parser.add_argument("--cfo", type=float, default=0.0, help="carrier offset, Hz")
    parser.add_argument("--rate-error", type=float, default=0.0, help="chip-rate error, fraction")
    parser.add_argument("--format", choices=("A", "B"), default="A", help="C1 frame format")
    parser.add_argument("--rate", type=quantity_arg, help="sample rate (default: name or 2.4M)")
    parser.add_argument("--center", type=quantity_arg, help="centre (default: name or 868.625M)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--length", type=int, help="link frame length in bytes without CRCs")
    parser.add_argument("--scenario", metavar="FILE.toml", help="building scenario (OUT = dir)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.scenario:
        from sdr.scenario import run_scenario  # the survey's scenario generator

        return int(run_scenario(args))
    if args.count < 0:
        raise UserError("--count must not be negative")
    if args.length is not None and not SHORT_TPL_LEN <= args.length <= 246:
        raise UserError(f"--length must be between {SHORT_TPL_LEN} and 246 bytes")
    out = Path(args.out)
    hints = parse_name_tokens(out.name)
    mode_formats = parse_mode_formats(args.mode, FrameFormat(args.format))
    settings = StreamSettings.for_modes(
        mode_formats,
        args.rate or hints.sample_rate_hz or DEFAULT_RATE_HZ,
        args.center or hints.center_freq_hz or DEFAULT_CENTER_HZ,
        args.ecn0,
    )
    rng = np.random.default_rng(args.seed)
    bursts = random_bursts(mode_formats, args.count, rng, args.length, args.cfo, args.rate_error)
    generator = {
        "command": "wmbus simulate",
        "mode": args.mode,
        "format": args.format,
        "ecn0_db": args.ecn0,
        "count": args.count,
        "cfo_hz": args.cfo,
        "rate_error": args.rate_error,
        "seed": args.seed,
        "length": args.length,
    }
    sent = write_recording(out, bursts, settings, rng, generator)
    print(f"wrote {out} ({len(sent)} telegrams) and {truth_path(out)}")
    if hints.sample_rate_hz is None or hints.center_freq_hz is None:
        print(
            f"note: the name does not say rate and centre; decode with --rate "
            f"{settings.sample_rate_hz:g} --center {settings.center_freq_hz:g}, or name it like "
            "sim_868.625M_2400k.cu8"
        )
    return 0
