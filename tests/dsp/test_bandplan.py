"""The band plan: occupied bandwidth, which modes a stream covers, burst airtime."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.bandplan import (
    DEFAULT_CENTER_FREQ_HZ,
    DEFAULT_SAMPLE_RATE_HZ,
    airtime_s,
    burst_chip_count,
    burst_samples,
    channel_offset_hz,
    covered_modes,
    filter_half_width_hz,
    fitted_channel,
    modes_by_channel,
    occupied_half_width_hz,
)
from dsp.modulate import burst_chips, modulate
from dsp.receiver import Receiver
from protocol.framing import add_crcs
from protocol.modes import C1, C2, S1, T1, FrameFormat
from tests.dsp.streams import make_stream, matched, run

RAW = add_crcs(bytes([0x0A]) + bytes(range(10)), FrameFormat.A)


def test_occupied_bandwidth_is_carsons_rule() -> None:
    assert occupied_half_width_hz(S1) == 50e3 + 16_384
    assert occupied_half_width_hz(T1) == 100e3
    assert occupied_half_width_hz(C1) == 95e3
    assert occupied_half_width_hz(C2) == 50e3
    # Filters keep the first sidelobes (half a chip rate more) and the carrier offset.
    assert filter_half_width_hz(T1, 40e3) == 100e3 + 50e3 + 40e3


def test_the_default_stream_covers_every_mode() -> None:
    assert covered_modes(DEFAULT_SAMPLE_RATE_HZ, DEFAULT_CENTER_FREQ_HZ) == (S1, T1, C1, C2)
    assert channel_offset_hz(S1, DEFAULT_SAMPLE_RATE_HZ, DEFAULT_CENTER_FREQ_HZ) == -325e3
    assert channel_offset_hz(T1, DEFAULT_SAMPLE_RATE_HZ, DEFAULT_CENTER_FREQ_HZ) == 325e3
    # C2's gateway channel near the band's edge: 950 kHz of the 1200 kHz half band.
    assert channel_offset_hz(C2, DEFAULT_SAMPLE_RATE_HZ, DEFAULT_CENTER_FREQ_HZ) == 900e3


def test_c2_needs_a_stream_that_reaches_869_525_mhz() -> None:
    # rtl-wmbus's 1.6 Msps at 868.625 MHz ends at 869.425 MHz; 1.2 Msps at 869.2 MHz holds it.
    assert covered_modes(1.6e6, DEFAULT_CENTER_FREQ_HZ) == (S1, T1, C1)
    assert covered_modes(1.2e6, 869.2e6) == (T1, C1, C2)
    # Only C2's channel is fitted into the meters' filter bank.
    assert [fitted_channel(g) for g in modes_by_channel([S1, T1, C1, C2]).values()] == [
        False, False, True,
    ]


def test_a_mode_is_covered_while_its_occupied_band_is_inside() -> None:
    fs = 1.2e6
    fc = T1.center_freq_hz - (fs / 2 - occupied_half_width_hz(T1))  # T1's band ends at the edge
    assert T1 in covered_modes(fs, fc)
    assert T1 not in covered_modes(fs, fc - 1.0)
    with pytest.raises(ValueError, match="T1"):
        channel_offset_hz(T1, fs, fc - 1.0)
    # Order of the request kept, repeats dropped, modes outside left out.
    assert covered_modes(1.2e6, 868.95e6, [C1, S1, T1, C1]) == (C1, T1)


def test_a_burst_whose_band_touches_the_stream_edge_decodes() -> None:
    # Why the occupied band (not a wider one) decides coverage: the receiver gets such bursts.
    fs = 1.2e6
    fc = T1.center_freq_hz - (fs / 2 - occupied_half_width_hz(T1) - 1e3)
    receiver = Receiver(fs, fc, [T1, C1])
    bursts = [(T1, FrameFormat.A), (C1, FrameFormat.A), (C1, FrameFormat.B)]
    rng = np.random.default_rng(41)
    samples, sent = make_stream(bursts, 14.0, rng, sample_rate_hz=fs, center_freq_hz=fc)
    assert matched(run(receiver, samples, 65536), sent) == sent


def test_modes_by_channel() -> None:
    assert modes_by_channel([T1, S1, C1, T1]) == {868.95e6: (T1, C1), 868.3e6: (S1,)}


@pytest.mark.parametrize(
    ("mode", "fmt"), [(S1, FrameFormat.A), (T1, FrameFormat.A), (C1, FrameFormat.A),
                      (C1, FrameFormat.B), (C2, FrameFormat.B)]
)
@pytest.mark.parametrize("preamble_chips", [None, 101])
def test_airtime_is_what_the_modulator_sends(mode, fmt, preamble_chips) -> None:
    raw = add_crcs(bytes([0x0A]) + bytes(range(10)), fmt)
    count = burst_chip_count(mode, fmt, len(raw), preamble_chips)
    assert count == len(burst_chips(raw, mode, fmt, preamble_chips))
    assert airtime_s(mode, fmt, len(raw), preamble_chips=preamble_chips) == pytest.approx(
        count / mode.chip_rate_hz
    )
    for fs, error in ((2.4e6, 0.0), (1.0e6, 0.07)):
        x = modulate(raw, mode, fmt, fs, mode.center_freq_hz, chip_rate_error=error,
                     preamble_chips=preamble_chips)
        assert len(x) == burst_samples(mode, fmt, len(raw), fs, preamble_chips=preamble_chips,
                                       chip_rate_error=error)


def test_t1_airtime_by_hand() -> None:
    # 38 preamble chips (19 "01" pairs), 10 sync chips, 12 chips a byte, 4 postamble chips.
    assert burst_chip_count(T1, FrameFormat.A, len(RAW)) == 38 + 10 + 12 * len(RAW) + 4
    assert airtime_s(T1, FrameFormat.A, len(RAW)) == pytest.approx(
        (52 + 12 * len(RAW)) / 100e3
    )
    with pytest.raises(ValueError, match="frame format"):
        airtime_s(T1, FrameFormat.B, len(RAW))
