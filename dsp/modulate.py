"""Synthetic wM-Bus bursts: the receiver's mirror, for tests, benchmarks and ``wmbus simulate``.

Continuous-phase rectangular 2-FSK, chip 1 = upper frequency (SPEC.md §1.2), placed at the
mode's channel offset from the stream's centre frequency.
"""

from __future__ import annotations

import numpy as np

from protocol.coding import encode
from protocol.modes import C1_MARKER_FORMAT_A, C1_MARKER_FORMAT_B, FrameFormat, LineCode, ModeSpec

# Minimum preamble length in chips ("01" repeated n times, SPEC.md §1.1).
MIN_PREAMBLE_CHIPS: dict[str, int] = {"S1": 2 * 279, "T1": 2 * 19, "C1": 2 * 16}
POSTAMBLE = "0101"
_PREAMBLE_TAIL = 6  # chips of the preamble already contained in ModeSpec.sync_chips


def burst_chips(
    raw_on_air: bytes,
    mode: ModeSpec,
    frame_format: FrameFormat,
    preamble_chips: int | None = None,
) -> np.ndarray:
    """All chips of one burst: preamble, sync (+ C1 format marker), line-coded bytes, postamble."""
    if frame_format not in mode.frame_formats:
        raise ValueError(f"mode {mode.name} has no frame format {frame_format}")
    n_pre = MIN_PREAMBLE_CHIPS.get(mode.name, 32) if preamble_chips is None else preamble_chips
    if n_pre < _PREAMBLE_TAIL:
        raise ValueError(
            f"preamble of {n_pre} chips is shorter than the {_PREAMBLE_TAIL}-chip tail"
        )
    # The preamble ends with "...0101" right before the sync word, so it starts with "1" when odd.
    head = ("01" * (n_pre // 2 + 1))[-(n_pre - _PREAMBLE_TAIL) :] if n_pre > _PREAMBLE_TAIL else ""
    text = head + mode.sync_chips
    if mode.line_code is LineCode.NRZ:
        text += C1_MARKER_FORMAT_A if frame_format is FrameFormat.A else C1_MARKER_FORMAT_B
    sync = np.frombuffer(text.encode(), dtype=np.uint8) - ord("0")
    post = np.frombuffer(POSTAMBLE.encode(), dtype=np.uint8) - ord("0")
    return np.concatenate([sync, encode(raw_on_air, mode.line_code), post])


def channel_offset_hz(mode: ModeSpec, sample_rate_hz: float, center_freq_hz: float) -> float:
    """Offset of the mode's channel from the stream centre; ValueError when it is not inside."""
    offset = mode.center_freq_hz - center_freq_hz
    half_band = mode.deviation_hz + mode.chip_rate_hz
    if abs(offset) + half_band > sample_rate_hz / 2:
        raise ValueError(
            f"mode {mode.name} channel at {mode.center_freq_hz / 1e6:.3f} MHz "
            f"(±{half_band / 1e3:.0f} kHz) is outside a stream of {sample_rate_hz / 1e6:g} Msps "
            f"centred at {center_freq_hz / 1e6:.3f} MHz"
        )
    return offset


def modulate(
    raw_on_air: bytes,
    mode: ModeSpec,
    frame_format: FrameFormat,
    sample_rate_hz: float,
    center_freq_hz: float,
    *,
    amplitude: float = 1.0,
    cfo_hz: float = 0.0,
    chip_rate_error: float = 0.0,
    preamble_chips: int | None = None,
    start_phase_rad: float = 0.0,
) -> np.ndarray:
    """One burst of ``raw_on_air`` (bytes with CRCs: ``framing.add_crcs`` output) as complex64."""
    offset = channel_offset_hz(mode, sample_rate_hz, center_freq_hz)
    chips = burst_chips(raw_on_air, mode, frame_format, preamble_chips)
    chip_s = 1.0 / (mode.chip_rate_hz * (1.0 + chip_rate_error))
    n = int(np.ceil(len(chips) * chip_s * sample_rate_hz))
    t = np.arange(n) / sample_rate_hz
    k = np.minimum((t / chip_s).astype(np.int64), len(chips) - 1)
    signs = 2.0 * chips - 1.0
    # Exact continuous phase: accumulated chip phases plus the linear part inside the chip.
    chip_start_phase = np.concatenate([[0.0], np.cumsum(signs)[:-1]]) * chip_s
    fm_phase = 2 * np.pi * mode.deviation_hz * (chip_start_phase[k] + signs[k] * (t - k * chip_s))
    phase = start_phase_rad + 2 * np.pi * (offset + cfo_hz) * t + fm_phase
    return (amplitude * np.exp(1j * phase)).astype(np.complex64)


def noise_variance(
    ecn0_db: float, chip_rate_hz: float, sample_rate_hz: float, amplitude: float = 1.0
) -> float:
    """Complex noise variance per sample σ² giving Ec/N0 = A²·fs / (σ²·chip_rate) = ``ecn0_db``."""
    return amplitude**2 * sample_rate_hz / (chip_rate_hz * 10 ** (ecn0_db / 10))


def add_noise(
    iq: np.ndarray,
    ecn0_db: float,
    chip_rate_hz: float,
    sample_rate_hz: float,
    rng: np.random.Generator,
    amplitude: float = 1.0,
) -> np.ndarray:
    """Add complex white Gaussian noise such that Ec/N0 = A²·fs / (σ²·chip_rate) is ``ecn0_db``."""
    variance = noise_variance(ecn0_db, chip_rate_hz, sample_rate_hz, amplitude)
    noise = rng.standard_normal((2, len(iq))) * np.sqrt(variance / 2)
    return (iq + (noise[0] + 1j * noise[1])).astype(np.complex64)
