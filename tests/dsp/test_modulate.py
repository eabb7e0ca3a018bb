"""The modulator is the mirror of the receiver: check it against the physical-layer facts."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.gfsk import gaussian_phase, ramp
from dsp.modulate import add_noise, burst_chips, modulate
from protocol.coding import encode
from protocol.framing import add_crcs
from protocol.modes import C1, C1_MARKER_FORMAT_A, C1_MARKER_FORMAT_B, C2, S1, T1, FrameFormat

RAW = add_crcs(bytes([0x0A]) + bytes(range(10)), FrameFormat.A)


def test_burst_layout_preamble_sync_marker_data() -> None:
    chips = "".join(map(str, burst_chips(RAW, T1, FrameFormat.A)))
    coded = "".join(map(str, encode(RAW, T1.line_code)))
    assert chips.startswith("01" * 16)  # T1 preamble: at least 19 "01" pairs
    assert chips[38 : 38 + 10] == "0000111101"
    assert chips[48 : 48 + len(coded)] == coded
    for fmt, marker in ((FrameFormat.A, C1_MARKER_FORMAT_A), (FrameFormat.B, C1_MARKER_FORMAT_B)):
        c = "".join(map(str, burst_chips(RAW, C1, fmt, preamble_chips=40)))
        assert c[40 - 6 : 40 + 10] == C1.sync_chips
        assert c[50:66] == marker
    with pytest.raises(ValueError):
        burst_chips(RAW, T1, FrameFormat.B)


@pytest.mark.parametrize("mode", [S1, T1, C1], ids=lambda m: m.name)
def test_frequencies_follow_the_chips(mode) -> None:
    fs, fc = 2.4e6, 868.625e6
    x = modulate(RAW, mode, FrameFormat.A, fs, fc, cfo_hz=7e3)
    assert x.dtype == np.complex64
    assert np.allclose(np.abs(x), 1.0, atol=1e-5)
    freq = np.angle(x[1:] * np.conj(x[:-1])) * fs / (2 * np.pi)
    chips = burst_chips(RAW, mode, FrameFormat.A)
    spc = fs / mode.chip_rate_hz
    assert len(x) == pytest.approx(len(chips) * spc, abs=1)
    centres = ((np.arange(len(chips)) + 0.5) * spc).astype(int)
    expected = mode.center_freq_hz - fc + 7e3 + mode.deviation_hz * (2.0 * chips - 1.0)
    assert np.allclose(freq[centres], expected, atol=1.0)


def test_chip_rate_error_stretches_the_burst() -> None:
    fs = 1.2e6
    nominal = modulate(RAW, T1, FrameFormat.A, fs, T1.center_freq_hz)
    fast = modulate(RAW, T1, FrameFormat.A, fs, T1.center_freq_hz, chip_rate_error=0.1)
    assert len(fast) == pytest.approx(len(nominal) / 1.1, abs=2)


def test_channel_outside_the_stream_is_refused() -> None:
    with pytest.raises(ValueError, match="S1"):
        modulate(RAW, S1, FrameFormat.A, 1.0e6, 868.95e6)


def test_noise_has_the_issue_definition_of_ecn0() -> None:
    rng = np.random.default_rng(0)
    fs, rate, ecn0_db, amp = 2.4e6, 100e3, 10.0, 0.5
    noise = add_noise(np.zeros(200_000, np.complex64), ecn0_db, rate, fs, rng, amplitude=amp)
    variance = float(np.mean(np.abs(noise) ** 2))
    # Ec/N0 = A^2 fs / (sigma^2 chip_rate)
    assert 10 * np.log10(amp**2 * fs / (variance * rate)) == pytest.approx(ecn0_db, abs=0.05)
    assert abs(np.mean(noise.real * noise.imag)) < 0.01 * variance  # circular


def test_gfsk_phase_ramp_is_the_integral_of_a_gaussian_smoothed_chip() -> None:
    x = np.linspace(-3.0, 4.0, 7001)
    r = ramp(x, 0.5)
    assert np.all(np.diff(r) >= -1e-12)  # rising (to rounding)
    assert np.allclose(r[x <= -1.5], 0.0, atol=1e-9) and np.allclose(r[x >= 2.5], 1.0, atol=1e-9)
    # Symmetric about the chip's middle; at its edges, what the Gaussian (sigma 0.265 chip)
    # spills into the neighbour: sigma / sqrt(2 pi) = 0.106 of a turn.
    assert np.allclose(r + r[::-1], 1.0, atol=1e-9)
    assert ramp(np.array([0.0]), 0.5)[0] == pytest.approx(0.265 / np.sqrt(2 * np.pi), abs=1e-3)
    # A wide filter (large BT) leaves rectangular chips: the phase is piecewise linear.
    signs = np.array([1.0, 1.0, -1.0, 1.0, -1.0, -1.0])
    u = np.linspace(0.0, 6.0, 601)
    rect = np.interp(u, np.arange(7), np.concatenate([[0.0], np.cumsum(signs)]))
    assert np.max(np.abs(gaussian_phase(u, signs, 100.0) - rect)) < 1e-2


def test_c2_is_gfsk_with_full_deviation_in_runs_and_less_in_the_preamble() -> None:
    fs = 2.4e6
    x = modulate(RAW, C2, FrameFormat.A, fs, C2.center_freq_hz, cfo_hz=3e3)
    assert np.allclose(np.abs(x), 1.0, atol=1e-5)
    freq = np.angle(x[1:] * np.conj(x[:-1])) * fs / (2 * np.pi) - 3e3
    chips = burst_chips(RAW, C2, FrameFormat.A)
    spc = fs / C2.chip_rate_hz
    middle = ((np.arange(len(chips)) + 0.5) * spc).astype(int)
    signs = 2.0 * chips - 1.0
    # Chips amid three equal ones sit at the full deviation; in the alternating preamble the
    # Gaussian pulse cuts the peak (to 0.88 of it at BT 0.5); the phase path is continuous.
    runs = np.flatnonzero((signs[1:-1] == signs[:-2]) & (signs[1:-1] == signs[2:])) + 1
    assert np.allclose(freq[middle[runs]], 25e3 * signs[runs], rtol=2e-3)
    preamble = np.abs(freq[middle[4:20]]) / 25e3
    assert np.allclose(preamble, 0.881, atol=2e-3)
