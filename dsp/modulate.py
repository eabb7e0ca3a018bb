"""Synthetic wM-Bus bursts: the receiver's mirror, for tests, benchmarks and ``wmbus simulate``.

Continuous-phase rectangular 2-FSK, or GFSK for a mode with a Gaussian pulse (C2), chip 1 =
upper frequency (docs/protocol.md §1.2), placed at the mode's channel offset from the stream's
centre frequency.
"""

from __future__ import annotations

import numpy as np

from dsp.bandplan import POSTAMBLE, burst_samples, channel_offset_hz, chip_duration_s, header_chips
from dsp.gfsk import gaussian_phase
from protocol.coding import encode
from protocol.modes import FrameFormat, ModeSpec


def burst_chips(
    raw_on_air: bytes,
    mode: ModeSpec,
    frame_format: FrameFormat,
    preamble_chips: int | None = None,
) -> np.ndarray:
    """All chips of one burst: preamble, sync (+ C1 format marker), line-coded bytes, postamble
    (their count is ``dsp.bandplan.burst_chip_count``)."""
    text = header_chips(mode, frame_format, preamble_chips)
    sync = np.frombuffer(text.encode(), dtype=np.uint8) - ord("0")
    post = np.frombuffer(POSTAMBLE.encode(), dtype=np.uint8) - ord("0")
    return np.concatenate([sync, encode(raw_on_air, mode.line_code), post])


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
    chip_s = chip_duration_s(mode, chip_rate_error)
    n = burst_samples(
        mode,
        frame_format,
        len(raw_on_air),
        sample_rate_hz,
        preamble_chips=preamble_chips,
        chip_rate_error=chip_rate_error,
    )
    t = np.arange(n) / sample_rate_hz
    signs = 2.0 * chips - 1.0
    if mode.gaussian_bt is None:
        k = np.minimum((t / chip_s).astype(np.int64), len(chips) - 1)
        # Exact continuous phase: accumulated chip phases plus the linear part inside the chip.
        chip_start_phase = np.concatenate([[0.0], np.cumsum(signs)[:-1]]) * chip_s
        path = chip_start_phase[k] + signs[k] * (t - k * chip_s)  # seconds at full deviation
    else:
        path = chip_s * gaussian_phase(t / chip_s, signs, mode.gaussian_bt)
    fm_phase = 2 * np.pi * mode.deviation_hz * path
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
