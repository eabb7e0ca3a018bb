"""Spectrum rows of the live view: levels against theory, chunk-size invariance, gaps."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.types import IQChunk
from sdr.web.spectrum import SpectrumMeter

RATE = 2.4e6
CENTER = 868.625e6


def rows_of(meter: SpectrumMeter, x: np.ndarray, chunk: int, start: int = 0) -> list:
    rows = []
    for i in range(0, len(x), chunk):
        rows += meter.process(IQChunk(x[i : i + chunk], start + i, RATE, CENTER))
    return rows + meter.flush()


def test_a_tone_on_a_bin_reads_its_power_in_dbfs_at_its_frequency() -> None:
    meter = SpectrumMeter(RATE)
    bin_hz = RATE / meter.fft_size
    offset_hz = 69 * bin_hz  # on a bin centre: no scalloping loss
    n = 3 * meter.row_samples
    x = (0.5 * np.exp(2j * np.pi * offset_hz / RATE * np.arange(n))).astype(np.complex64)
    rows = rows_of(meter, x, 131072)
    assert [r.index for r in rows] == [0, 1, 2]
    for row in rows:
        peak = int(np.argmax(row.mean_dbfs))
        assert peak == meter.fft_size // 2 + 69
        # A tone of amplitude 0.5 has 20·log10(0.5) = -6.02 dB of a full-scale one's power.
        assert row.mean_dbfs[peak] == pytest.approx(20 * np.log10(0.5), abs=0.01)
        assert row.peak_dbfs[peak] == pytest.approx(row.mean_dbfs[peak], abs=0.01)


def test_white_noise_reads_its_density_per_bin() -> None:
    meter = SpectrumMeter(RATE)
    rng = np.random.default_rng(3)
    sigma = 0.1
    n = 5 * meter.row_samples
    x = (sigma / np.sqrt(2) * (rng.standard_normal(n) + 1j * rng.standard_normal(n))).astype(
        np.complex64
    )
    rows = rows_of(meter, x, 65536)
    window = np.hanning(meter.fft_size + 1)[:-1]  # scipy's periodic Hann
    # Noise power sigma² spread over the window's noise bandwidth: sigma²·sum(w²)/sum(w)² per bin.
    expected = 10 * np.log10(sigma**2 * np.sum(window**2) / np.sum(window) ** 2)
    level = np.median(np.concatenate([r.mean_dbfs for r in rows]))
    # The mean of 32 exponential powers has a median 0.05 dB below its mean.
    assert level == pytest.approx(expected, abs=0.3)


def test_rows_do_not_depend_on_the_chunk_size() -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    x = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
    x[6000:9000] *= 20  # a burst
    reference = rows_of(SpectrumMeter(RATE, fft_size=64, segments_per_row=8, row_s=0.0), x, n)
    # A row for every stretch of 512 samples holding a whole segment (its first, of 64).
    assert len(reference) == (n - 64) // (64 * 8) + 1
    for chunk in (1, 997, 4096):
        rows = rows_of(SpectrumMeter(RATE, fft_size=64, segments_per_row=8, row_s=0.0), x, chunk)
        assert [r.index for r in rows] == [r.index for r in reference]
        for got, want in zip(rows, reference, strict=True):
            np.testing.assert_array_equal(got.mean_dbfs, want.mean_dbfs)
            np.testing.assert_array_equal(got.peak_dbfs, want.peak_dbfs)


def test_samples_before_a_gap_are_not_joined_to_those_after_it() -> None:
    meter = SpectrumMeter(RATE, fft_size=64, segments_per_row=8, row_s=0.0)
    loud = np.ones(1000, np.complex64)
    rows = meter.process(IQChunk(loud, 0, RATE, CENTER))
    # 24 samples dropped: the next chunk starts at 1024, where a segment begins.
    after = np.zeros(4096, np.complex64)
    rows += meter.process(IQChunk(after, 1024, RATE, CENTER)) + meter.flush()
    by_index = {r.index: r for r in rows}
    # Row 2 (samples 1024-1535) holds only silence: no sample from before the gap leaked in.
    assert np.all(by_index[2].peak_dbfs < -150)
    assert by_index[0].peak_dbfs.max() > -1


def test_silence_gives_finite_levels() -> None:
    meter = SpectrumMeter(RATE)
    rows = rows_of(meter, np.zeros(meter.row_samples, np.complex64), 50_000)
    assert rows and all(np.isfinite(r.mean_dbfs).all() for r in rows)
