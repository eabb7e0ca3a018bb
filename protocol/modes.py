"""Physical-layer constants of the 868 MHz wM-Bus modes we receive (docs/protocol.md §1), and
which of them carries each OMS mode in each direction."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LineCode(StrEnum):
    MANCHESTER = "manchester"
    THREE_OF_SIX = "3of6"
    NRZ = "nrz"


class FrameFormat(StrEnum):
    A = "A"
    B = "B"


@dataclass(frozen=True, slots=True)
class ModeSpec:
    name: str
    center_freq_hz: float
    chip_rate_hz: float
    deviation_hz: float
    line_code: LineCode
    # Chips the correlator looks for, in time order: the tail of the preamble plus the sync word.
    sync_chips: str
    frame_formats: tuple[FrameFormat, ...]
    # Gaussian frequency pulse of bandwidth-time product ``gaussian_bt`` (GFSK); None: the
    # rectangular pulse of plain 2-FSK.
    gaussian_bt: float | None = None


S1 = ModeSpec(
    name="S1",
    center_freq_hz=868.300e6,
    chip_rate_hz=32_768.0,
    deviation_hz=50e3,
    line_code=LineCode.MANCHESTER,
    sync_chips="010101" + "000111011010010110",
    frame_formats=(FrameFormat.A,),
)

T1 = ModeSpec(
    name="T1",
    center_freq_hz=868.950e6,
    chip_rate_hz=100_000.0,
    deviation_hz=50e3,
    line_code=LineCode.THREE_OF_SIX,
    sync_chips="010101" + "0000111101",
    frame_formats=(FrameFormat.A,),
)

C1 = ModeSpec(
    name="C1",
    center_freq_hz=868.950e6,
    chip_rate_hz=100_000.0,
    deviation_hz=45e3,
    line_code=LineCode.NRZ,
    # Sync word followed by the format marker; the marker (54CD = A, 543D = B) decides the format.
    sync_chips="0101010000111101",
    frame_formats=(FrameFormat.A, FrameFormat.B),
)

# C2 other->meter: the gateways' channel of the bidirectional C mode. Same sync word and format
# markers as C1, at half the chip rate, GFSK (docs/protocol.md §1.1).
C2 = ModeSpec(
    name="C2",
    center_freq_hz=869.525e6,
    chip_rate_hz=50_000.0,
    deviation_hz=25e3,
    line_code=LineCode.NRZ,
    sync_chips=C1.sync_chips,
    frame_formats=(FrameFormat.A, FrameFormat.B),
    gaussian_bt=0.5,
)

C1_MARKER_FORMAT_A = "0101010011001101"  # 0x54CD
C1_MARKER_FORMAT_B = "0101010000111101"  # 0x543D

# The physical layers the receiver knows, by name. C2 names the 869.525 MHz channel, which only
# gateways use; C2 meters answer on C1's channel.
MODES: dict[str, ModeSpec] = {m.name: m for m in (S1, T1, C1, C2)}


class Direction(StrEnum):
    METER_TO_OTHER = "meter_to_other"
    OTHER_TO_METER = "other_to_meter"


# The physical layer that carries each OMS mode in each direction (docs/protocol.md §1.1): the
# bidirectional modes' meters send as S1, T1 and C1 do; S2 and T2 gateways use the S physical
# layer (with a short preamble), C2 gateways their own channel.
OMS_PHY: dict[tuple[str, Direction], ModeSpec] = {
    ("S1", Direction.METER_TO_OTHER): S1,
    ("S2", Direction.METER_TO_OTHER): S1,
    ("S2", Direction.OTHER_TO_METER): S1,
    ("T1", Direction.METER_TO_OTHER): T1,
    ("T2", Direction.METER_TO_OTHER): T1,
    ("T2", Direction.OTHER_TO_METER): S1,
    ("C1", Direction.METER_TO_OTHER): C1,
    ("C2", Direction.METER_TO_OTHER): C1,
    ("C2", Direction.OTHER_TO_METER): C2,
}
OMS_MODES: tuple[str, ...] = tuple(dict.fromkeys(name for name, _ in OMS_PHY))


def parse_modes(text: str) -> tuple[ModeSpec, ...]:
    """Parse a comma-separated list like ``"S1,T1"``; raises ValueError naming unknown modes."""
    names = [part.strip().upper() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in MODES]
    if unknown or not names:
        raise ValueError(
            f"unknown mode(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(MODES)}"
        )
    return tuple(dict.fromkeys(MODES[n] for n in names))
