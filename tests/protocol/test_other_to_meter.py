"""Frames a gateway sends to a meter: C-field names and directions, the other->meter CIs with
their headers, records where they carry them, and security modes 5 and 7 with the meter's key."""

from __future__ import annotations

import pytest

from protocol.decoder import Decoder
from protocol.direction import frame_direction, known_direction
from protocol.encoder import AflSpec, TelegramSpec, TplSpec, encode_telegram
from protocol.modes import Direction, FrameFormat
from protocol.report import telegram_to_dict
from protocol.security import KEY_CHECKED_BY_2F2F_ONLY, mode5_iv
from protocol.telegram import Address, HeaderKind, Telegram, c_field_direction, c_field_name
from protocol.transport import TO_METER_CI, TPL_CI, ci_direction
from protocol.types import FailureReason, Frame, SecurityStatus

M2O, O2M = Direction.METER_TO_OTHER, Direction.OTHER_TO_METER
METER = Address(0x2C2D, bytes.fromhex("99873476"), 0x1B, 0x16)  # KAM 76348799
GATEWAY = Address(0x4DEE, bytes.fromhex("01000090"), 0x01, 0x31)  # a communication controller
KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
SET_VOLUME = bytes.fromhex("041339300000")  # 12.345 m3, a record to write


# docs/protocol.md §2.3: every value of the table, its name and who sends it.
C_FIELDS = [
    (0x44, "SND_NR", M2O), (0x46, "SND_IR", M2O), (0x47, "ACC_NR", M2O), (0x48, "ACC_DMD", M2O),
    (0x08, "RSP_UD", M2O), (0x18, "RSP_UD", M2O), (0x28, "RSP_UD", M2O), (0x38, "RSP_UD", M2O),
    (0x00, "ACK", None), (0x10, "ACK", None), (0x20, "ACK", None), (0x30, "ACK", None),
    (0x01, "NACK", M2O), (0x40, "SND_NKE", O2M), (0x53, "SND_UD", O2M), (0x73, "SND_UD", O2M),
    (0x43, "SND_UD2", O2M), (0x5A, "REQ_UD1", O2M), (0x7A, "REQ_UD1", O2M),
    (0x5B, "REQ_UD2", O2M), (0x7B, "REQ_UD2", O2M), (0x06, "CNF_IR", O2M),
    (0x45, "SND_UD3", O2M), (0x55, "SND_UD3", O2M), (0x65, "SND_UD3", O2M),
]


@pytest.mark.parametrize(("c_field", "name", "direction"), C_FIELDS)
def test_c_field_names_and_directions(c_field: int, name: str, direction: Direction) -> None:
    assert c_field_name(c_field) == name
    assert c_field_direction(c_field) is direction


def test_direction_by_channel_first_then_c_field_then_ci() -> None:
    # 868.95 MHz carries meters only, 869.525 MHz gateways only, whatever the C-field says.
    assert known_direction(0x5B, "T1", None) is M2O
    assert known_direction(0x44, "C2", None) is O2M
    # 868.3 MHz carries both: the C-field decides, and for an ACK the CI when one side owns it.
    assert known_direction(0x5B, "S1", None) is O2M
    assert known_direction(0x00, "S1", 0x80) is O2M
    assert known_direction(0x00, "S1", 0x8A) is M2O
    assert known_direction(0x00, "S1", 0xA2) is None  # manufacturer CI: either side
    assert frame_direction(0x00, "S1", None) is M2O  # a lone ACK is the meter's
    assert frame_direction(0x00, None, None) is M2O


def test_ci_directions_follow_the_table() -> None:
    # "to device" in docs/protocol.md §5.1; everything else known is from the meter.
    for ci, info in TPL_CI.items():
        expected = O2M if ci in TO_METER_CI else M2O
        assert ci_direction(ci) is expected, (hex(ci), info.name)
    assert {ci for ci in TO_METER_CI if ci not in TPL_CI} == set()
    assert ci_direction(None) is ci_direction(0x10) is ci_direction(0xA5) is None


# The other->meter CIs (docs/protocol.md §5.1) with their headers and what follows.
TO_METER_FRAMES = [
    (0x53, 0x5A, HeaderKind.SHORT, True),  # SND_UD command, short header: records to set
    (0x73, 0x5B, HeaderKind.LONG, True),  # the same with the long header
    (0x43, 0x53, HeaderKind.LONG, False),  # SND_UD2 application reset / select
    (0x53, 0x52, HeaderKind.NONE, False),  # selection of a device
    (0x53, 0x5C, HeaderKind.NONE, False),  # synchronise action
    (0x53, 0x6C, HeaderKind.LONG, False),  # clock synchronisation, absolute
    (0x53, 0x6D, HeaderKind.LONG, False),  # clock synchronisation, relative
    (0x5B, 0x80, HeaderKind.LONG, False),  # REQ_UD2, TPL only
    (0x40, 0x80, HeaderKind.LONG, False),  # SND_NKE, TPL only
    (0x53, 0x82, HeaderKind.SHORT, False),  # network management
    (0x53, 0x83, HeaderKind.NONE, False),
    (0x53, 0xC3, HeaderKind.LONG, False),  # security information transfer to the meter
    (0x53, 0x51, HeaderKind.NONE, True),  # command to device (wired M-Bus layout)
]


@pytest.mark.parametrize(("c_field", "ci", "header", "records"), TO_METER_FRAMES)
def test_other_to_meter_cis_decode_with_their_headers(
    c_field: int, ci: int, header: HeaderKind, records: bool
) -> None:
    long = header is HeaderKind.LONG
    payload = SET_VOLUME if records else bytes.fromhex("0102A5")
    spec = TelegramSpec(METER, c_field, tpl=TplSpec(ci=ci, acc=0x42, address=METER if long
                                                    else None), payload=payload)
    t = Decoder().decode_frame(Frame(encode_telegram(spec), FrameFormat.A, "S1"))
    assert isinstance(t, Telegram) and t.error is None, t
    assert t.tpl is not None and (t.tpl.ci, t.tpl.kind) == (ci, header)
    assert t.direction is O2M and t.mode == "S2"
    assert (t.tpl.acc == 0x42) is (header is not HeaderKind.NONE)
    assert t.meter_id == "76348799"
    if records:
        assert [(r.quantity, r.value) for r in t.records] == [("volume", 12.345)]
    else:
        assert t.payload == payload and telegram_to_dict(t)["payload_hex"] == "0102A5"


def test_replies_of_the_meter() -> None:
    for c_field, ci in ((0x08, 0x7A), (0x00, 0x8A), (0x01, 0x8A), (0x47, 0x7A), (0x48, 0x7A)):
        spec = TelegramSpec(METER, c_field, tpl=TplSpec(ci=ci, acc=0x42), payload=b"")
        t = Decoder().decode_frame(Frame(encode_telegram(spec), FrameFormat.A, "S1"))
        assert isinstance(t, Telegram) and t.error is None
        assert t.direction is M2O and t.mode == "S1", hex(c_field)


def test_an_unknown_ci_to_a_meter_keeps_its_bytes_and_a_reason() -> None:
    data = encode_telegram(TelegramSpec(METER, 0x53, tpl=None, payload=bytes.fromhex("1F0102")))
    t = Decoder().decode_frame(Frame(data, FrameFormat.A, "C2"))
    assert isinstance(t, Telegram) and t.direction is O2M
    assert t.error is not None and t.error.reason is FailureReason.UNKNOWN_CI
    assert telegram_to_dict(t)["payload_hex"] == "1F0102"


def _command(mode: int, ci: int, link: Address, afl: AflSpec | None = None) -> bytes:
    tpl = TplSpec(ci=ci, acc=0x42, security_mode=mode, address=METER if ci == 0x5B else None)
    return encode_telegram(TelegramSpec(link, 0x73, afl=afl, tpl=tpl, payload=SET_VOLUME), KEY)


@pytest.mark.parametrize("ci", [0x5A, 0x5B])
def test_mode_5_to_the_meter_uses_the_meters_key_and_address(ci: int) -> None:
    """Short header: the link address is the meter's and enters the IV. Long header (OMS): the
    link address is the gateway's, the long-header address (the meter's) enters the IV
    (docs/protocol.md §6.2) and names the key."""
    link = METER if ci == 0x5A else GATEWAY
    t = Decoder({"76348799": KEY}).decode_frame(Frame(_command(5, ci, link), FrameFormat.A, "S1"))
    assert isinstance(t, Telegram) and t.error is None, t.error
    assert t.security is SecurityStatus.DECRYPTED and t.direction is O2M
    assert [(r.quantity, r.value) for r in t.records] == [("volume", 12.345)]
    assert t.gateway_address == (None if ci == 0x5A else GATEWAY)
    if ci == 0x5B:
        assert telegram_to_dict(t)["gateway"] == {"M": "SON", "id": "90000001"}
        assert mode5_iv(METER, 0x42) != mode5_iv(GATEWAY, 0x42)
        # A key given for the gateway's id (the link address) is tried, but the meter's opens it.
        other = Decoder({"90000001": KEY[::-1]}).decode_frame(
            Frame(_command(5, ci, link), FrameFormat.A, "S1"))
        assert isinstance(other, Telegram) and other.security is SecurityStatus.WRONG_KEY


def test_mode_5_tpl_only_request_is_checked_by_its_fill_bytes() -> None:
    spec = TelegramSpec(GATEWAY, 0x5B, tpl=TplSpec(ci=0x80, acc=9, security_mode=5,
                                                   address=METER))
    t = Decoder({"76348799": KEY}).decode_bytes(encode_telegram(spec, KEY))
    assert isinstance(t, Telegram) and t.security is SecurityStatus.DECRYPTED
    assert KEY_CHECKED_BY_2F2F_ONLY in t.flags


def test_mode_7_to_the_meter_derives_the_other_to_meter_keys() -> None:
    afl = AflSpec(mcr=0x1234)
    to_meter = _command(7, 0x5B, GATEWAY, afl)
    t = Decoder({"76348799": KEY}).decode_frame(Frame(to_meter, FrameFormat.A, "C2"))
    assert isinstance(t, Telegram) and t.error is None, t.error
    assert t.security is SecurityStatus.DECRYPTED and t.direction is O2M and t.mode == "C2"
    assert [(r.quantity, r.value) for r in t.records] == [("volume", 12.345)]
    # The same frame as a meter would send it (keys derived with DC 00/01) is another frame,
    # and the gateway's MAC does not check with the meter's keys.
    spec_m2o = TelegramSpec(GATEWAY, 0x73, afl=afl, tpl=TplSpec(
        ci=0x5B, acc=0x42, security_mode=7, address=METER), payload=SET_VOLUME, direction=M2O)
    assert encode_telegram(spec_m2o, KEY) != to_meter
    heard_as_meter = Decoder({"76348799": KEY}).decode_frame(
        Frame(to_meter, FrameFormat.A, "T1"))
    assert isinstance(heard_as_meter, Telegram)
    assert heard_as_meter.security is SecurityStatus.BAD_MAC
    assert "c_field_contradicts_channel" in heard_as_meter.flags


def test_a_command_to_the_meter_gives_no_readings_of_the_meter() -> None:
    """The volume a gateway sets is a command, not the meter's reading."""
    spec = TelegramSpec(METER, 0x53, tpl=TplSpec(ci=0x5A, acc=1), payload=SET_VOLUME)
    t = Decoder().decode_frame(Frame(encode_telegram(spec), FrameFormat.A, "S1"))
    assert isinstance(t, Telegram) and t.records and t.readings == ()
    reading = Decoder().decode_frame(Frame(encode_telegram(
        TelegramSpec(METER, 0x44, tpl=TplSpec(ci=0x7A, acc=1), payload=SET_VOLUME)),
        FrameFormat.A, "S1"))
    assert isinstance(reading, Telegram) and reading.readings
