"""The rtl_tcp wire format (sans-IO parts) against the layout rtl_tcp.c uses."""

from __future__ import annotations

import struct

import pytest

from sdr.io.rtltcp import (
    COMMAND_BYTES,
    Command,
    CommandParser,
    DongleInfo,
    pack_command,
    signed_param,
)


def test_greeting_layout_is_magic_and_two_big_endian_words() -> None:
    packed = DongleInfo(tuner_type=5, gain_count=29).pack()
    assert packed == b"RTL0" + bytes([0, 0, 0, 5]) + bytes([0, 0, 0, 29])
    assert DongleInfo.unpack(packed) == DongleInfo(5, 29)


@pytest.mark.parametrize("bad", [b"RTL0\0\0\0\5", b"RTL1" + bytes(8), b""])
def test_bad_greeting_is_rejected(bad: bytes) -> None:
    with pytest.raises(ValueError):
        DongleInfo.unpack(bad)


def test_command_numbers_match_rtl_tcp() -> None:
    # rtl_tcp.c's command_worker switch: 0x01 frequency ... 0x0e bias tee.
    assert [c.value for c in Command] == list(range(1, 15))
    assert Command.SET_AGC_MODE == 0x08 and Command.SET_FREQ_CORRECTION == 0x05


def test_command_is_one_byte_and_big_endian_parameter() -> None:
    assert pack_command(Command.SET_FREQUENCY, 868_950_000) == b"\x01" + struct.pack(
        ">I", 868_950_000
    )
    # ppm corrections are negative: two's complement on the wire, signed again on the server.
    wire = pack_command(Command.SET_FREQ_CORRECTION, -12)
    assert wire == b"\x05\xff\xff\xff\xf4"
    assert signed_param(struct.unpack(">I", wire[1:])[0]) == -12


def test_parser_splits_commands_whatever_the_segmentation() -> None:
    commands = [(Command.SET_SAMPLE_RATE, 2_400_000), (Command.SET_GAIN, 197), (0x42, 7)]
    stream = b"".join(pack_command(c, p) if c != 0x42 else b"\x42" + struct.pack(">I", p)
                      for c, p in commands)
    for step in (1, 2, 3, COMMAND_BYTES, 7, len(stream)):
        parser = CommandParser()
        got = []
        for i in range(0, len(stream), step):
            got += parser.feed(stream[i : i + step])
        assert got == [(int(c), p) for c, p in commands]
