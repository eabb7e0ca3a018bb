"""The encoder rebuilds the public reference telegrams byte for byte (docs/protocol.md §9)."""

from __future__ import annotations

import pytest

from protocol.crc import crc16
from protocol.decoder import Decoder
from protocol.encoder import AflSpec, EllSpec, TelegramSpec, TplSpec, encode_telegram
from protocol.framing import add_crcs
from protocol.link import parse_address, parse_long_address
from protocol.modes import FrameFormat
from protocol.telegram import Telegram
from protocol.types import FailureReason
from tests.protocol.spec_vectors import R1, R1_KEY, R3, R3_KEY, R4, R4_KEY, R5, R5_KEY, R7


def test_r1_ell_ctr() -> None:
    raw = bytes.fromhex(R1)
    spec = TelegramSpec(
        address=parse_address(raw[2:10]),
        ell=EllSpec(ci=0x8D, cc=0x20, acc=0x91, session_number=0x21AC7CD3, encrypt=True),
        tpl=TplSpec(ci=0x78),
        payload=bytes.fromhex("02FF207100041308190000441308190000615B7F616713"),
    )
    assert encode_telegram(spec, R1_KEY) == raw


def test_r3_mode5_with_clear_tail() -> None:
    raw = bytes.fromhex(R3)
    spec = TelegramSpec(
        address=parse_address(raw[2:10]),
        tpl=TplSpec(ci=0x7A, acc=0x36, security_mode=5, cw_flags=0x2000,
                    clear_tail=bytes.fromhex("03FD0C08000002FD0B0011")),
        payload=bytes.fromhex("046D282A9E2704136A00000002FD17000004933C00000000"),
    )
    assert encode_telegram(spec, R3_KEY) == raw


def test_r4_long_header_mode5() -> None:
    raw = bytes.fromhex(R4)
    plain = Decoder({"61070071": R4_KEY}).decode_hex(R4)
    assert isinstance(plain, Telegram)
    spec = TelegramSpec(
        address=parse_address(raw[2:10]),
        tpl=TplSpec(ci=0x72, acc=0xB5, security_mode=5, address=parse_long_address(raw[11:19])),
        payload=plain.payload[2:].rstrip(b"\x2f"),
    )
    assert encode_telegram(spec, R4_KEY) == raw


def test_r5_mode7_afl_mac_and_format_b_crcs() -> None:
    raw = bytes.fromhex(R5)
    decoded = Decoder({"43054304": R5_KEY}).decode_bytes(raw)
    assert isinstance(decoded, Telegram)
    tail = bytes.fromhex("03FD0C05010002FD0B2111")
    assert decoded.payload.endswith(tail)
    spec = TelegramSpec(
        address=parse_address(decoded.frame.data[2:10]),
        ell=EllSpec(ci=0x8C, cc=0x20, acc=0x0E),
        afl=AflSpec(mcr=155273, mcl=0x25),
        tpl=TplSpec(ci=0x7A, acc=0x0E, security_mode=7, clear_tail=tail),
        payload=decoded.payload[2 : -len(tail)].rstrip(b"\x2f"),
    )
    assert add_crcs(encode_telegram(spec, R5_KEY), FrameFormat.B) == raw


def test_unencrypted_r7() -> None:
    raw = bytes.fromhex(R7)
    spec = TelegramSpec(address=parse_address(raw[2:10]),
                        tpl=TplSpec(ci=0x7A, acc=0x8E), payload=raw[15:])
    assert encode_telegram(spec, None) == raw


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TelegramSpec(parse_address(bytes(8)), tpl=TplSpec(security_mode=5)), "16-byte AES key"),
        (TelegramSpec(parse_address(bytes(8)), tpl=TplSpec(ci=0x78, security_mode=5)),
         "no header"),
        (TelegramSpec(parse_address(bytes(8)), tpl=TplSpec(security_mode=7)), "AflSpec"),
        (TelegramSpec(parse_address(bytes(8)), tpl=TplSpec(ci=0x72)), "long header"),
        (TelegramSpec(parse_address(bytes(8)), ell=EllSpec(ci=0x8C, encrypt=True)), "session"),
        (TelegramSpec(parse_address(bytes(8)), payload=bytes(250)), "does not fit"),
        (TelegramSpec(parse_address(bytes(8)), tpl=TplSpec(ci=0x4F)), "not a transport"),
    ],
)
def test_impossible_specs_raise(spec: TelegramSpec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_telegram(spec, None)


def test_compact_frame_needs_its_full_frame_first() -> None:
    address = parse_address(bytes.fromhex("2D2C998734761B16"))
    records = bytes.fromhex("0413081900000259D409")
    full = encode_telegram(TelegramSpec(address, tpl=TplSpec(ci=0x78), payload=records))
    signature = bytes.fromhex("04130259")
    compact_payload = (crc16(signature).to_bytes(2, "little") + crc16(records).to_bytes(2, "little")
                       + bytes.fromhex("08190000D409"))
    compact = encode_telegram(TelegramSpec(address, tpl=TplSpec(ci=0x79), payload=compact_payload))
    decoder = Decoder()
    alone = decoder.decode_bytes(compact)
    assert isinstance(alone, Telegram) and alone.error is not None
    assert alone.error.reason is FailureReason.UNKNOWN_FORMAT
    assert alone.link.address.id == "76348799"
    decoder.decode_bytes(full)
    later = decoder.decode_bytes(compact)
    assert isinstance(later, Telegram) and later.error is None
    reference = decoder.decode_bytes(full)
    assert isinstance(reference, Telegram) and later.records == reference.records
    broken = bytearray(compact)
    broken[-1] ^= 1
    bad = decoder.decode_bytes(bytes(broken))
    assert isinstance(bad, Telegram) and bad.error is not None
    assert bad.error.reason is FailureReason.CRC and bad.records == ()
