"""--dedupe: the same frame within the window counts once, in stream time."""

from __future__ import annotations

import json

import pytest

from protocol.decoder import Decoder
from protocol.telegram import Telegram
from sdr.sinks.dedupe import Deduper, dedupe_key
from tests.conftest import CORPUS
from tests.sdr.live_support import ISSUE48, expected_telegrams

ELL_CORPUS_ID = "sh-analyze-vatten-5c369951"  # CI 8D: ELL with a CC byte


def decode(hex_text: str) -> Telegram:
    telegram = Decoder().decode_bytes(bytes.fromhex(hex_text))
    assert isinstance(telegram, Telegram)
    return telegram


@pytest.fixture(scope="module")
def t1() -> Telegram:
    return decode(expected_telegrams(ISSUE48)[0]["frame_hex"])


def test_repeat_within_window_is_dropped_and_counted(t1: Telegram) -> None:
    dedupe = Deduper(2.0)
    assert [dedupe.accept(t1, t) for t in (10.0, 10.5, 11.9)] == [True, False, False]
    assert dedupe.dropped == 2
    # Measured from the first reception: a meter repeating itself forever is still heard.
    assert dedupe.accept(t1, 12.1)


def test_different_frames_are_kept(t1: Telegram) -> None:
    other = bytearray(t1.frame.data)
    other[-1] ^= 0xFF
    dedupe = Deduper(5.0)
    assert dedupe.accept(t1, 0.0)
    assert dedupe.accept(decode(other.hex()), 0.1)


def test_zero_window_keeps_only_exact_simultaneous_repeats_out(t1: Telegram) -> None:
    dedupe = Deduper(0.0)
    assert dedupe.accept(t1, 1.0) and not dedupe.accept(t1, 1.0) and dedupe.accept(t1, 1.001)


def test_repeater_bits_of_the_ell_do_not_make_a_new_telegram() -> None:
    rows = CORPUS.read_text().splitlines()
    row = next(r for r in map(json.loads, rows) if r["id"] == ELL_CORPUS_ID)
    direct = bytes.fromhex(row["hex"])
    relayed = bytearray(direct)
    relayed[11] |= 0x10 | 0x02  # CC after the ELL CI: hop count and repeated access set
    a, b = decode(direct.hex()), decode(relayed.hex())
    assert a.ell is not None and b.ell is not None and a.ell.cc != b.ell.cc
    assert dedupe_key(a) == dedupe_key(b)
    dedupe = Deduper(1.0)
    assert dedupe.accept(a, 0.0) and not dedupe.accept(b, 0.2)


def test_negative_window_is_a_caller_error() -> None:
    with pytest.raises(ValueError):
        Deduper(-1)
