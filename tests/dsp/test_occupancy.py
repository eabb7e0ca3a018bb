"""Channel energy detection and overlap (collision) detection from the signal."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.modulate import modulate
from dsp.occupancy import OccupancyDetector, default_channels
from dsp.types import IQChunk
from protocol.framing import add_crcs
from protocol.modes import C1, S1, T1, FrameFormat

FS = 2.4e6
FC = 868.625e6
NOISE_SIGMA = 0.02  # complex noise standard deviation per sample


def _frame(rng: np.random.Generator, length: int = 40) -> bytes:
    body = rng.integers(0, 256, length - 1, dtype=np.uint8).tobytes()
    return bytes([length - 1]) + body


def _burst(rng, mode, ecn0_db, cfo_hz=0.0, fmt=FrameFormat.A) -> np.ndarray:
    amplitude = np.sqrt(10 ** (ecn0_db / 10) * NOISE_SIGMA**2 * mode.chip_rate_hz / FS)
    raw = add_crcs(_frame(rng), fmt)
    return modulate(raw, mode, fmt, FS, FC, amplitude=amplitude, cfo_hz=cfo_hz,
                    start_phase_rad=float(rng.uniform(0, 2 * np.pi)))


def _stream(rng, seconds, bursts) -> np.ndarray:
    """Noise plus bursts given as (start_s, samples); overlapping bursts add up."""
    n = int(seconds * FS)
    x = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * NOISE_SIGMA / np.sqrt(2)
    for start_s, wave in bursts:
        s = int(start_s * FS)
        x[s : s + len(wave)] += wave
    return x.astype(np.complex64)


def _detect(x, chunk=262_144):
    det = OccupancyDetector(FS, FC)
    out = []
    for pos in range(0, len(x), chunk):
        out += det.process(IQChunk(x[pos : pos + chunk], pos, FS, FC))
    out += det.flush()
    return sorted(out, key=lambda b: (b.freq_hz, b.start_sample)), det


def test_noise_only_has_no_bursts_and_a_right_noise_floor():
    rng = np.random.default_rng(1)
    bursts, det = _detect(_stream(rng, 2.0, []))
    assert bursts == []
    assert all(v == 0.0 for v in det.occupancy().values())
    for channel in default_channels():
        # White noise of variance sigma² spread over FS: the channel holds its bandwidth's share
        # (the filter's noise bandwidth is close to its nominal bandwidth).
        expected = 10 * np.log10(NOISE_SIGMA**2 * channel.bandwidth_hz / FS)
        assert det.noise_dbfs()[channel.freq_hz] == pytest.approx(expected, abs=1.0)


def test_lone_bursts_are_found_where_they_are_without_overlaps():
    rng = np.random.default_rng(2)
    plan = [(0.6, T1, 20.0), (0.9, S1, 15.0), (1.2, C1, 12.0), (1.5, T1, 35.0)]
    waves = [(t, _burst(rng, mode, e, cfo_hz=rng.uniform(-20e3, 20e3))) for t, mode, e in plan]
    found, det = _detect(_stream(rng, 2.0, waves))
    assert len(found) == len(plan)
    for (start_s, wave), (_, mode, _) in zip(waves, plan, strict=True):
        match = [b for b in found if b.freq_hz == mode.center_freq_hz
                 and abs(b.start_s - start_s) < 0.5e-3]
        assert len(match) == 1, (start_s, mode.name)
        assert match[0].end_s == pytest.approx(start_s + len(wave) / FS, abs=0.5e-3)
        assert match[0].overlaps == ()
    busy = sum(len(w) for _, w in waves) / (2.0 * FS)
    assert sum(det.occupancy().values()) == pytest.approx(busy, rel=0.15)


@pytest.mark.parametrize("power_ratio_db", [0.0, -6.0])
def test_overlapping_bursts_on_one_channel_are_a_collision(power_ratio_db):
    rng = np.random.default_rng(3)
    first = _burst(rng, T1, 25.0, cfo_hz=5e3)
    second = _burst(rng, C1, 25.0 + power_ratio_db, cfo_hz=-8e3)
    start2 = 0.6 + 0.5 * len(first) / FS
    found, _ = _detect(_stream(rng, 1.5, [(0.6, first), (start2, second)]))
    tc = [b for b in found if b.freq_hz == T1.center_freq_hz]
    assert len(tc) == 1
    overlap_start, overlap_end = start2, 0.6 + len(first) / FS
    assert len(tc[0].overlaps) == 1
    span = tc[0].overlaps[0]
    assert span.start_sample / FS == pytest.approx(overlap_start, abs=0.6e-3)
    assert span.end_sample / FS == pytest.approx(overlap_end, abs=0.6e-3)


def test_simultaneous_bursts_on_different_channels_are_no_collision():
    rng = np.random.default_rng(4)
    found, _ = _detect(_stream(rng, 1.2, [(0.6, _burst(rng, T1, 25.0)),
                                          (0.6, _burst(rng, S1, 25.0))]))
    assert {b.freq_hz for b in found} == {S1.center_freq_hz, T1.center_freq_hz}
    assert all(b.overlaps == () for b in found)


def test_results_do_not_depend_on_chunk_size():
    rng = np.random.default_rng(5)
    first = _burst(rng, T1, 22.0)
    x = _stream(rng, 1.3, [(0.55, first), (0.55 + 0.3 * len(first) / FS, _burst(rng, T1, 20.0)),
                           (0.8, _burst(rng, S1, 18.0))])
    whole, det_whole = _detect(x, chunk=len(x))
    assert any(b.overlaps for b in whole)
    for chunk in (997, 65_536):
        found, det = _detect(x, chunk=chunk)
        assert found == whole
        assert det.occupancy() == det_whole.occupancy()
    det_whole.reset()
    again = det_whole.process(IQChunk(x, 0, FS, FC)) + det_whole.flush()
    assert sorted(again, key=lambda b: (b.freq_hz, b.start_sample)) == whole


def test_channel_outside_the_stream_is_refused_and_for_stream_skips_it():
    with pytest.raises(ValueError, match="outside"):
        OccupancyDetector(1.0e6, 868.95e6)
    det = OccupancyDetector.for_stream(1.0e6, 868.95e6, (S1, T1, C1))
    assert [c.freq_hz for c in det.channels] == [T1.center_freq_hz]


def test_a_continuous_carrier_is_reported_in_bounded_pieces():
    rng = np.random.default_rng(6)
    n = np.arange(int(3.5 * FS))
    carrier = 0.2 * np.exp(2j * np.pi * (T1.center_freq_hz - FC) * n / FS)
    x = _stream(rng, 3.5, [(0.25, carrier[: int(3.0 * FS)])])
    found, det = _detect(x)
    pieces = [b for b in found if b.freq_hz == T1.center_freq_hz]
    assert len(pieces) >= 3
    assert all(b.end_s - b.start_s <= 1.0 + 0.5 for b in pieces)
    assert sum(b.end_s - b.start_s for b in pieces) == pytest.approx(3.0, abs=0.01)
    assert det.occupancy()[T1.center_freq_hz] == pytest.approx(3.0 / 3.5, abs=0.01)
    assert all(b.overlaps == () for b in pieces)  # one constant-envelope transmitter
