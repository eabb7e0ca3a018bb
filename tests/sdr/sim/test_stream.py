"""What the simulator sends for each OMS mode and direction: the physical layer, the preamble,
and gateway telegrams for the other->meter direction (docs/protocol.md §1.1, §2.3, §5)."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.bandplan import SHORT_PREAMBLE_CHIPS
from protocol.decoder import Decoder
from protocol.framing import add_crcs
from protocol.modes import C1, C2, S1, T1, Direction, FrameFormat
from protocol.telegram import Telegram
from sdr.errors import UserError
from sdr.sim.stream import StreamSettings, parse_mode_formats, random_bursts, render_stream
from sdr.sim.telegrams import GATEWAY_COMMANDS, GATEWAY_REQUESTS, gateway_telegram

O2M, M2O = Direction.OTHER_TO_METER, Direction.METER_TO_OTHER


def test_each_oms_mode_goes_on_its_physical_layer() -> None:
    # S2, T2 and C2 are named for their gateways' frames unless told otherwise.
    kinds = parse_mode_formats("S1,S2,T2,C2-B,C1")
    assert [(k.name, k.direction, k.mode, k.frame_format, k.preamble_chips) for k in kinds] == [
        ("S1", M2O, S1, FrameFormat.A, None),
        ("S2", O2M, S1, FrameFormat.A, SHORT_PREAMBLE_CHIPS),
        ("T2", O2M, S1, FrameFormat.A, SHORT_PREAMBLE_CHIPS),
        ("C2", O2M, C2, FrameFormat.B, None),
        ("C1", M2O, C1, FrameFormat.A, None),
    ]
    meters = parse_mode_formats("S2,T2,C2", FrameFormat.B, M2O)
    assert [(k.name, k.mode, k.frame_format, k.preamble_chips) for k in meters] == [
        ("S2", S1, FrameFormat.A, SHORT_PREAMBLE_CHIPS),  # S has format A only
        ("T2", T1, FrameFormat.A, None),
        ("C2", C1, FrameFormat.B, None),
    ]
    assert [k.label for k in kinds] == ["S1", "S2", "T2", "C2-B", "C1-A"]


@pytest.mark.parametrize(
    ("text", "direction", "message"),
    [("S1", O2M, "S1 has no other_to_meter"), ("T1", O2M, "T1 has no"), ("X2", None, "X2"),
     ("C2-C", None, "-A or -B")],
)
def test_impossible_modes_are_user_errors(text: str, direction, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_mode_formats(text, direction=direction)


def test_gateway_telegrams_address_a_meter_with_a_command_or_request() -> None:
    rng = np.random.default_rng(3)
    decoder = Decoder()
    seen = set()
    for length in [None] * 12 + [40, 29, 21]:
        frame = gateway_telegram(rng, length)
        assert length is None or len(frame) == length
        telegram = decoder.decode_bytes(add_crcs(frame, FrameFormat.A))
        assert isinstance(telegram, Telegram) and telegram.error is None
        kind = (telegram.link.c_field, telegram.tpl.ci)
        assert kind in GATEWAY_COMMANDS + (GATEWAY_REQUESTS if length is None else ())
        seen.add(kind)
        # A long header names the meter the link layer addresses.
        if telegram.tpl.address is not None:
            assert telegram.tpl.address == telegram.link.address
    assert seen == set(GATEWAY_COMMANDS + GATEWAY_REQUESTS)
    with pytest.raises(ValueError, match="at least 21 bytes"):
        gateway_telegram(rng, 20)


def test_truth_rows_carry_the_oms_mode_and_direction() -> None:
    kinds = parse_mode_formats("S2,C2-A,T1")
    rng = np.random.default_rng(4)
    bursts = random_bursts(kinds, 3, rng, 40, cfo_hz=(15e3, -15e3))
    assert [b.cfo_hz for b in bursts] == [15e3, -15e3, 15e3]
    sent = [t for _, t in render_stream(bursts, StreamSettings.for_modes(kinds), rng) if t]
    rows = [t.to_dict() for t in sent]
    assert [(r["mode"], r["direction"]) for r in rows] == [
        ("S2", "other_to_meter"), ("C2", "other_to_meter"), ("T1", "meter_to_other"),
    ]
    assert [t.phy for t in sent] == [S1, C2, T1]
    # Gateway frames carry other->meter C fields; the meter's its own.
    c_fields = [bytes.fromhex(r["frame_hex"])[1] for r in rows]
    gateway = {c for c, _ in GATEWAY_COMMANDS}
    assert c_fields[0] in gateway and c_fields[1] in gateway and c_fields[2] == 0x44
