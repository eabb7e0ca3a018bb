"""Property test: random telegrams (formats A/B, ELL, AFL, modes 0/5/7, random records) survive
encode -> add_crcs -> decode with every field and record intact."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from protocol.decoder import Decoder
from protocol.encoder import TelegramSpec, encode_telegram
from protocol.framing import add_crcs
from protocol.modes import FrameFormat
from protocol.records import parse_records
from protocol.telegram import Telegram, c_field_direction
from protocol.types import SecurityStatus
from tests.protocol.strategies import specs


@settings(max_examples=250, deadline=None)
@given(specs(), st.sampled_from(list(FrameFormat)), st.binary(min_size=16, max_size=16))
def test_encode_then_decode(spec: TelegramSpec, frame_format: FrameFormat, key: bytes) -> None:
    try:
        link_bytes = encode_telegram(spec, key)
    except ValueError:
        assume(False)  # more than 255 bytes or 15 blocks: not a telegram
        raise
    assert spec.tpl is not None
    keys = {spec.address.id: key}
    if spec.tpl.address is not None:
        keys[spec.tpl.address.id] = key
    t = Decoder(keys).decode_bytes(add_crcs(link_bytes, frame_format))
    assert isinstance(t, Telegram)
    assert t.error is None, t.error
    assert t.frame_format is frame_format and t.frame.data == link_bytes
    assert (t.link.c_field, t.link.address) == (spec.c_field, spec.address)
    assert t.direction is c_field_direction(spec.c_field)
    if spec.ell is None:
        assert t.ell is None
    else:
        assert t.ell is not None
        assert (t.ell.ci, t.ell.cc, t.ell.acc) == (spec.ell.ci, spec.ell.cc, spec.ell.acc)
        assert t.ell.address2 == (spec.ell.address2 if spec.ell.ci in (0x8E, 0x8F) else None)
        if t.ell.session_number is not None:
            assert t.ell.session_number & (2**29 - 1) == spec.ell.session_number
            assert t.ell.encryption == spec.ell.encrypt
    if spec.afl is None:
        assert t.afl is None
    else:
        assert t.afl is not None
        assert (t.afl.mcr, t.afl.mcl, t.afl.ki, t.afl.ml) == (
            spec.afl.mcr, spec.afl.mcl, spec.afl.ki, spec.afl.ml)
    assert t.tpl is not None and t.tpl.ci == spec.tpl.ci and t.tpl.address == spec.tpl.address
    if spec.tpl.ci != 0x78:
        assert (t.tpl.acc, t.tpl.status, t.tpl.security_mode) == (
            spec.tpl.acc, spec.tpl.status, spec.tpl.security_mode)
        assert t.tpl.cw is not None and t.tpl.cw & 0xE00F == spec.tpl.cw_flags
    encrypted = spec.tpl.security_mode != 0 or (spec.ell is not None and spec.ell.encrypt)
    assert t.security is (SecurityStatus.DECRYPTED if encrypted else SecurityStatus.NONE)
    expected = parse_records(spec.payload + spec.tpl.clear_tail)
    assert t.records == expected.records


@settings(max_examples=60, deadline=None)
@given(specs(), st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16))
def test_wrong_key_never_gives_records(spec: TelegramSpec, key: bytes, other: bytes) -> None:
    tpl = spec.tpl
    assert tpl is not None
    encrypted = tpl.security_mode != 0 or (spec.ell is not None and spec.ell.encrypt)
    assume(key != other and encrypted and spec.payload)
    try:
        link_bytes = encode_telegram(spec, key)
    except ValueError:
        assume(False)
        raise
    keys = {spec.address.id: other}
    if tpl.address is not None:
        keys[tpl.address.id] = other
    t = Decoder(keys).decode_bytes(link_bytes)
    assert isinstance(t, Telegram)
    assert t.security in (SecurityStatus.WRONG_KEY, SecurityStatus.BAD_MAC)
    assert t.records == ()
