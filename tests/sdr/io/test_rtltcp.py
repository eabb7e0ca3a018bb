"""The rtl_tcp wire format (sans-IO parts) against the layout rtl_tcp.c uses."""

from __future__ import annotations

import struct

import pytest

from sdr.io.rtltcp import (
    COMMAND_BYTES,
    Command,
    CommandParser,
    DongleInfo,
    RateLimitedLog,
    pack_command,
    rtl2832_rate,
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


def test_rate_limited_log_counts_every_line_it_holds_back() -> None:
    now = [0.0]
    lines: list[str] = []
    log = RateLimitedLog(lines.append, 3, clock=lambda: now[0])
    for i in range(10):
        log(f"line {i}")
    now[0] = 1.0
    log("next second")
    log.close()
    assert lines == ["line 0", "line 1", "line 2", "… 7 more line(s) suppressed", "next second"]
    log("a")
    log("b")
    log("c")
    log("d")
    log.close()
    # Still the second that began with "next second": c and d are held, reported at close.
    assert lines[-3:] == ["a", "b", "… 2 more line(s) suppressed"]


def test_chained_limiters_count_each_line_once() -> None:
    lines: list[str] = []
    server = RateLimitedLog(lines.append, 4, clock=lambda: 0.0)
    clients = [RateLimitedLog(lambda line, c=c: server(f"{c}: {line}"), 3, clock=lambda: 0.0)
               for c in "ab"]
    for client in clients:
        for i in range(5):
            client(str(i))
    for client in clients:
        client.close()
    server.close()
    # a passes 3 and holds 2; b passes 1 before the server is full; the server holds the rest.
    assert lines == ["a: 0", "a: 1", "a: 2", "b: 0", "… 4 more line(s) suppressed"]


def test_sample_rates_an_rtl2832_accepts() -> None:
    # librtlsdr's rtlsdr_set_sample_rate: 225001-300000 and 900001-3200000 Hz.
    assert [rtl2832_rate(r) for r in (225_000, 225_001, 300_000, 300_001, 900_000, 900_001,
                                      2_400_000, 3_200_000, 3_200_001)] == [
        False, True, True, False, False, True, True, True, False]
