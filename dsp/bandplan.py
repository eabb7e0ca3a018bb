"""The band plan: where each wM-Bus mode sits in a stream, and how much spectrum and airtime a
burst takes. Written once, used by the receiver, the occupancy detector and the modulator here,
and by the simulator, the recorder and the survey in ``sdr``.

Occupied bandwidth. The modes are continuous-phase 2-FSK with rectangular chips (C2: GFSK, whose
Gaussian pulse only narrows the spectrum). Carson's rule,
``B = 2 (Δf + f_m)`` with ``f_m = chip_rate / 2`` (the fundamental of alternating chips), gives
the band within ``deviation + chip_rate / 2`` of the channel centre: S1 ±66.4 kHz, T1 ±100 kHz,
C1 ±95 kHz, C2 ±50 kHz (``occupied_half_width_hz``), which holds 96 % (S1) and 98 % (T1, C1)
of a burst's power (measured on modulated random frames). That is where a SigMF annotation puts the
signal's edges, and what must lie inside a stream for the stream to cover a mode
(``channel_offset_hz``, ``covered_modes``): the receiver decodes a burst whose occupied band
touches the stream's edge (tests/dsp/test_bandplan.py).

Filters pass more than the occupied band: ``filter_half_width_hz`` adds another half chip rate,
the FSK's first spectral sidelobes (99 % of the power and more; a filter that clips them makes a
lone burst's envelope ripple, which the occupancy detector would read as a second transmitter),
and the carrier offset to tolerate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from protocol.coding import CHIPS_PER_BYTE
from protocol.modes import (
    C1,
    C1_MARKER_FORMAT_A,
    C1_MARKER_FORMAT_B,
    C2,
    S1,
    T1,
    FrameFormat,
    LineCode,
    ModeSpec,
)

# The default stream: 868.625 MHz lies midway between S1 (868.30 MHz) and T1/C1 (868.95 MHz),
# so at 2.4 Msps both channels sit 325 kHz from the centre, away from the dongle's DC spike and
# from the band edges; C2's gateway channel (869.525 MHz) sits at +900 kHz, inside the band
# near its edge (docs/protocol.md §1.5).
DEFAULT_SAMPLE_RATE_HZ = 2.4e6
DEFAULT_CENTER_FREQ_HZ = 868.625e6
# The meters' channels, and with C2 every channel the receiver knows.
METER_MODES: tuple[ModeSpec, ...] = (S1, T1, C1)
ALL_MODES: tuple[ModeSpec, ...] = (*METER_MODES, C2)

# Minimum preamble length in chips ("01" repeated n times, docs/protocol.md §1.1); for C2 also
# what ST's wM-Bus library sends (4 bytes).
MIN_PREAMBLE_CHIPS: dict[str, int] = {"S1": 2 * 279, "T1": 2 * 19, "C1": 2 * 16, "C2": 2 * 16}
# S1-m, S2 and T2's other->meter frames: the S physical layer with the "short header".
SHORT_PREAMBLE_CHIPS = 2 * 15
# Chips of each mode's sync word (docs/protocol.md §1.1), the end of ModeSpec.sync_chips. C's
# 543D begins with "010101", which the preamble count above includes as well (header_chips).
SYNC_WORD_CHIPS: dict[str, int] = {"S1": 18, "T1": 10, "C1": 16, "C2": 16}
POSTAMBLE = "0101"
_PREAMBLE_TAIL = 6  # chips of the preamble already contained in ModeSpec.sync_chips


def occupied_half_width_hz(mode: ModeSpec) -> float:
    """Half the bandwidth a burst occupies (Carson's rule): deviation plus half the chip rate."""
    return mode.deviation_hz + mode.chip_rate_hz / 2


def filter_half_width_hz(mode: ModeSpec, cfo_hz: float = 0.0) -> float:
    """Half the passband a channel filter needs: the occupied band, the first FSK sidelobes
    (another half chip rate) and a carrier offset of up to ``cfo_hz`` either way."""
    return occupied_half_width_hz(mode) + mode.chip_rate_hz / 2 + cfo_hz


def inside_stream(
    freq_hz: float, half_width_hz: float, sample_rate_hz: float, center_freq_hz: float
) -> bool:
    """Whether ``freq_hz ± half_width_hz`` lies inside a complex stream of this rate and centre."""
    return abs(freq_hz - center_freq_hz) + half_width_hz <= sample_rate_hz / 2


def channel_offset_hz(mode: ModeSpec, sample_rate_hz: float, center_freq_hz: float) -> float:
    """Offset of the mode's channel from the stream centre; ValueError naming the mode when its
    occupied band is not inside the stream."""
    half_band = occupied_half_width_hz(mode)
    if not inside_stream(mode.center_freq_hz, half_band, sample_rate_hz, center_freq_hz):
        raise ValueError(
            f"mode {mode.name} channel at {mode.center_freq_hz / 1e6:.3f} MHz "
            f"(±{half_band / 1e3:.0f} kHz) is outside a stream of {sample_rate_hz / 1e6:g} Msps "
            f"centred at {center_freq_hz / 1e6:.3f} MHz"
        )
    return mode.center_freq_hz - center_freq_hz


def covered_modes(
    sample_rate_hz: float, center_freq_hz: float, modes: Iterable[ModeSpec] = ALL_MODES
) -> tuple[ModeSpec, ...]:
    """The ``modes`` (in their order, without repeats) whose channel lies inside the stream."""
    return tuple(
        mode
        for mode in dict.fromkeys(modes)
        if inside_stream(
            mode.center_freq_hz, occupied_half_width_hz(mode), sample_rate_hz, center_freq_hz
        )
    )


def modes_by_channel(modes: Iterable[ModeSpec]) -> dict[float, tuple[ModeSpec, ...]]:
    """The modes grouped by channel centre frequency, both in first-seen order (T1 and C1 share
    868.95 MHz)."""
    groups: dict[float, list[ModeSpec]] = {}
    for mode in dict.fromkeys(modes):
        groups.setdefault(mode.center_freq_hz, []).append(mode)
    return {freq: tuple(group) for freq, group in groups.items()}


def fitted_channel(modes: Iterable[ModeSpec]) -> bool:
    """Whether a channel carrying ``modes`` is fitted into a filter bank set by the meters'
    channels (``dsp.channelizer.bank_decimations``): C2's gateway channel, where frames are
    few, must not cost S1, T1 and C1 selectivity or change their results."""
    return not any(mode in METER_MODES for mode in modes)


def _preamble_chips(mode: ModeSpec, preamble_chips: int | None) -> int:
    return MIN_PREAMBLE_CHIPS.get(mode.name, 32) if preamble_chips is None else preamble_chips


def header_chips(
    mode: ModeSpec, frame_format: FrameFormat, preamble_chips: int | None = None
) -> str:
    """The chips of a burst before its data: preamble, sync word (and C's format marker).

    ``preamble_chips`` (default: the mode's minimum) counts the alternating chips in front of
    the sync word."""
    if frame_format not in mode.frame_formats:
        raise ValueError(f"mode {mode.name} has no frame format {frame_format}")
    n_pre = _preamble_chips(mode, preamble_chips)
    if n_pre < _PREAMBLE_TAIL:
        raise ValueError(
            f"preamble of {n_pre} chips is shorter than the {_PREAMBLE_TAIL}-chip tail"
        )
    # The preamble ends with "...0101" right before the sync word, so it starts with "1" when odd.
    head = ("01" * (n_pre // 2 + 1))[-(n_pre - _PREAMBLE_TAIL) :] if n_pre > _PREAMBLE_TAIL else ""
    text = head + mode.sync_chips
    if mode.line_code is LineCode.NRZ:
        text += C1_MARKER_FORMAT_A if frame_format is FrameFormat.A else C1_MARKER_FORMAT_B
    return text


def sync_word_chip(mode: ModeSpec, preamble_chips: int | None = None) -> int:
    """Index of the sync word's first chip in ``header_chips``: where a received burst's
    ``start_sample`` lies, since preambles differ from meter to meter."""
    n_pre = _preamble_chips(mode, preamble_chips)
    return n_pre - _PREAMBLE_TAIL + len(mode.sync_chips) - SYNC_WORD_CHIPS[mode.name]


def burst_chip_count(
    mode: ModeSpec,
    frame_format: FrameFormat,
    on_air_bytes: int,
    preamble_chips: int | None = None,
) -> int:
    """Chips of a burst carrying ``on_air_bytes`` (CRCs included): preamble to postamble."""
    header = header_chips(mode, frame_format, preamble_chips)
    return len(header) + on_air_bytes * CHIPS_PER_BYTE[mode.line_code] + len(POSTAMBLE)


def chip_duration_s(mode: ModeSpec, chip_rate_error: float = 0.0) -> float:
    """One chip's duration for a transmitter whose chip rate is off by ``chip_rate_error``."""
    return 1.0 / (mode.chip_rate_hz * (1.0 + chip_rate_error))


def airtime_s(
    mode: ModeSpec,
    frame_format: FrameFormat,
    on_air_bytes: int,
    *,
    preamble_chips: int | None = None,
    chip_rate_error: float = 0.0,
) -> float:
    """On-air duration of a burst carrying ``on_air_bytes`` (CRCs included; for a link frame
    of L field ``l``, ``protocol.framing.on_air_length(l, frame_format)``)."""
    n_chips = burst_chip_count(mode, frame_format, on_air_bytes, preamble_chips)
    return n_chips * chip_duration_s(mode, chip_rate_error)


def burst_samples(
    mode: ModeSpec,
    frame_format: FrameFormat,
    on_air_bytes: int,
    sample_rate_hz: float,
    *,
    preamble_chips: int | None = None,
    chip_rate_error: float = 0.0,
) -> int:
    """Samples of such a burst at ``sample_rate_hz``, exactly as ``dsp.modulate`` makes it."""
    duration = airtime_s(
        mode,
        frame_format,
        on_air_bytes,
        preamble_chips=preamble_chips,
        chip_rate_error=chip_rate_error,
    )
    return math.ceil(duration * sample_rate_hz)
