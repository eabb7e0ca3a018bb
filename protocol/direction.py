"""Which way a frame went, from what one frame shows (docs/json-schema.md, "Direction and mode").

In order: the channel, where only one side transmits (868.95 MHz carries meters only, 869.525 MHz
gateways only); the C-field's function (docs/protocol.md §2.3); for an ACK, which both sides
send, the TPL CI when it is one that only one side sends (§5.1). An ACK that none of these
settles is ``meter_to_other`` (the rule for a lone ACK) unless its exchange shows otherwise
(``protocol.conversation``).
"""

from __future__ import annotations

from protocol.modes import OMS_PHY, Direction
from protocol.telegram import c_field_direction
from protocol.transport import ci_direction


def _one_way_channels() -> dict[str, Direction]:
    """The receiver's modes (channels) that carry a single direction, from ``OMS_PHY``."""
    seen: dict[str, set[Direction]] = {}
    for (_, direction), phy in OMS_PHY.items():
        seen.setdefault(phy.name, set()).add(direction)
    return {name: directions.pop() for name, directions in seen.items() if len(directions) == 1}


ONE_WAY_CHANNELS = _one_way_channels()


def known_direction(c_field: int, channel: str | None, ci: int | None) -> Direction | None:
    """The direction one frame shows by itself: by its channel (the receiver's mode name, None
    for frames that did not come from the radio), C-field or TPL CI; None when it shows none."""
    by_channel = ONE_WAY_CHANNELS.get(channel) if channel is not None else None
    return by_channel or c_field_direction(c_field) or ci_direction(ci)


def frame_direction(c_field: int, channel: str | None, ci: int | None) -> Direction:
    """``known_direction``, and ``meter_to_other`` for a frame that shows none (a lone ACK)."""
    return known_direction(c_field, channel, ci) or Direction.METER_TO_OTHER


def contradicts_channel(c_field: int, channel: str | None) -> bool:
    """Whether the C-field names a sender that never transmits on the frame's channel."""
    by_channel = ONE_WAY_CHANNELS.get(channel) if channel is not None else None
    by_c = c_field_direction(c_field)
    return by_channel is not None and by_c is not None and by_c is not by_channel
