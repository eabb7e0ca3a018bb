"""What decides "decrypted" (docs/protocol.md §6.5): wrong keys, MACs, plaintext by chance.

Everything goes through the real decoder and real cryptography; the reference telegrams are
those of docs/protocol.md §9.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from protocol.crc import crc16
from protocol.decoder import Decoder
from protocol.security import (
    FILLER,
    KEY_CHECKED_BY_2F2F_ONLY,
    aes_cbc_decrypt,
    mode5_iv,
)
from protocol.telegram import Telegram
from protocol.types import FailureReason, SecurityStatus
from tests.protocol.corpus import keys_of, wireless_rows
from tests.protocol.r5_variants import r5_cmac, r5_with_afl
from tests.protocol.spec_vectors import R1, R1_KEY, R3, R3_KEY, R4, R5, R5_KEY

READABLE = (SecurityStatus.DECRYPTED, SecurityStatus.NONE)
R1_ID, R3_ID, R4_ID, R5_ID = "76348799", "20096221", "61070071", "43054304"


def decode(hex_or_bytes: str | bytes, keys: dict[str, bytes] | None = None) -> Telegram:
    decoder = Decoder(keys)
    t = (decoder.decode_hex(hex_or_bytes) if isinstance(hex_or_bytes, str)
         else decoder.decode_bytes(hex_or_bytes))
    assert isinstance(t, Telegram), t
    return t


def starts_with_2f2f(hex_text: str, key: bytes) -> bool:
    """Whether ``key`` passes the old check alone: the first plaintext bytes of mode 5."""
    t = decode(hex_text)
    assert t.tpl is not None and t.tpl.acc is not None
    iv = mode5_iv(t.meter_address, t.tpl.acc)
    return aes_cbc_decrypt(key, iv, t.payload[:16]).startswith(FILLER)


# --- mode 5: 2F 2F is not proof -----------------------------------------------------------


def test_the_wrong_key_of_the_issue_is_wrong_key_not_readings() -> None:
    key = bytes.fromhex("C173CBADD6B89DD65541B8E87C4A37C7")
    assert starts_with_2f2f(R3, key)  # what made it "decrypted", with a pressure of 85120.3 bar
    t = decode(R3, {R3_ID: key})
    assert t.security is SecurityStatus.WRONG_KEY and t.records == ()
    assert t.error is not None and t.error.reason is FailureReason.WRONG_KEY
    assert "not records" in t.error.detail


# Keys that pass 2F 2F, found by trying random keys (seeded searches, about 65,536 tries each);
# their plaintext after 2F 2F does not read as records.
PASSING_2F2F = [
    (R3, R3_ID, "893D03C4E86DF2E7C668CA3AD029030F"),
    (R3, R3_ID, "F4B08A30CAA328CABEECFE7835CDE263"),
    (R3, R3_ID, "8FB4ABCAC30BBB2F74C4818737846A44"),
    (R3, R3_ID, "1A3C471B4B02278AB0573B45985B6FBB"),
    (R4, R4_ID, "85B071681C49D3AEE3BD2A7ED36FFF4D"),
    (R4, R4_ID, "35171ABC8683C3537D995C2B6B4B0EA9"),
    (R4, R4_ID, "A93030D4FFC5A9E250725C768D77FFBA"),
]


@pytest.mark.parametrize(("telegram", "meter_id", "key_hex"), PASSING_2F2F)
def test_wrong_keys_that_pass_2f2f_are_wrong_key(telegram: str, meter_id: str,
                                                 key_hex: str) -> None:
    key = bytes.fromhex(key_hex)
    assert starts_with_2f2f(telegram, key)
    t = decode(telegram, {meter_id: key})
    assert t.security is SecurityStatus.WRONG_KEY and t.records == ()


@pytest.mark.parametrize(("telegram", "meter_id"), [(R3, R3_ID), (R4, R4_ID), (R1, R1_ID)])
def test_random_wrong_keys_are_never_taken(telegram: str, meter_id: str) -> None:
    # Bound: a wrong key passes the 16-bit marker (2F 2F, or R1's payload CRC) with probability
    # 2^-16, so 20,000 keys would give 0.31 passes with the marker alone. The check after it
    # lets through 10-14 % of random plaintexts (benchmarks.wrong_keys, test below), so the
    # expected number of accepted keys here is about 0.04; with these seeds it is 0.
    rng = random.Random(f"wrong keys {meter_id}")
    taken = [key.hex() for key in (rng.randbytes(16) for _ in range(20_000))
             if decode(telegram, {meter_id: key}).security in READABLE]
    assert taken == []


def test_random_plaintext_after_2f2f_rarely_reads_as_records() -> None:
    """The share of random plaintexts that pass the check after 2F 2F, through the decoder's
    path for payloads that are plaintext despite the mode (same check as after decryption)."""
    raw = bytes.fromhex(R3)
    at = len(raw) - len(decode(R3).payload)  # the 32 encrypted bytes (N = 2) start here
    rng = random.Random("plaintext after 2F2F")
    samples = 20_000
    passed = sum(
        decode(raw[:at] + FILLER + rng.randbytes(30) + raw[at + 32 :]).security in READABLE
        for _ in range(samples)
    )
    # Measured 11 % (benchmarks.wrong_keys); well above that, the check has become weaker.
    assert passed / samples < 0.15


def test_ciphertext_starting_with_2f2f_is_not_taken_for_plaintext() -> None:
    raw = bytearray(bytes.fromhex(R3))
    at = len(raw) - len(decode(R3).payload)
    raw[at : at + 3] = FILLER + b"\x3f"  # 2F 2F by chance, then a reserved DIF
    assert decode(bytes(raw)).security is SecurityStatus.NO_KEY
    assert decode(bytes(raw), {R3_ID: R3_KEY}).security is SecurityStatus.WRONG_KEY


def test_truncated_ciphertext_keeps_what_it_has() -> None:
    raw = bytes.fromhex(R3)
    at = len(raw) - len(decode(R3).payload)
    cut = raw[: at + 16]  # one of the two encrypted blocks; the third record is cut in two
    t = decode(bytes([len(cut) - 1]) + cut[1:], {R3_ID: R3_KEY})
    assert t.security is SecurityStatus.DECRYPTED and "ciphertext_truncated" in t.flags
    assert [r.quantity for r in t.records] == ["date_time", "volume"]
    assert t.error is not None and t.error.reason is FailureReason.TRUNCATED


def test_meter_with_a_proprietary_payload_is_checked_by_2f2f_only() -> None:
    """Apator 162 sends its own layout after 2F 2F (wmbusmeters' apator162 driver)."""
    (row,) = [r for r in wireless_rows() if r["id"] == "sim-serial_aes-apwater-360efc1f"]
    t = decode(row["hex"], keys_of(row))
    assert t.security is SecurityStatus.DECRYPTED and KEY_CHECKED_BY_2F2F_ONLY in t.flags
    other = bytearray(bytes.fromhex(row["hex"]))
    other[9] = 0x16  # another device type: its records are checked, and they are not records
    assert decode(bytes(other), keys_of(row)).security is SecurityStatus.WRONG_KEY


# --- ELL AES-CTR: the payload CRC and what it covers ------------------------------------------


def test_ell_crc_matching_by_chance_is_not_plaintext() -> None:
    raw = bytes.fromhex(R1)
    at = len(raw) - len(decode(R1).payload)  # the payload CRC, then CI 78 and the records
    rest = b"\x00" + bytes(range(1, 24))  # CI 00 is no CI, whatever follows
    forged = raw[:at] + crc16(rest).to_bytes(2, "little") + rest
    assert decode(forged).security is SecurityStatus.NO_KEY
    assert decode(forged, {R1_ID: R1_KEY}).security is SecurityStatus.WRONG_KEY
    assert decode(R1, {R1_ID: R1_KEY}).security is SecurityStatus.DECRYPTED


# --- mode 7: the MAC decides, and it must be there --------------------------------------------


def test_r5_rebuilt_with_its_own_mac_decrypts() -> None:
    assert r5_with_afl(0x25, r5_cmac(0x25)[:8]) == bytes.fromhex(R5)
    assert decode(bytes.fromhex(R5), {R5_ID: R5_KEY}).security is SecurityStatus.DECRYPTED


@pytest.mark.parametrize(
    ("mcl", "mac", "detail"),
    [
        # AT 5 announced, but FCL says no MAC follows: the MAC was removed.
        (0x25, lambda: None, "none sent"),
        # AT 3 and 4 with the right CMAC prefix, which a forger hits once in 65,536 (2^32) tries.
        (0x23, lambda: r5_cmac(0x23)[:2], "got 2"),
        (0x24, lambda: r5_cmac(0x24)[:4], "got 4"),
        (0x25, lambda: r5_cmac(0x25)[:7] + bytes([r5_cmac(0x25)[7] ^ 1]), "does not match"),
    ],
)
def test_mode7_without_a_full_mac_is_bad_mac(mcl: int, mac: Callable[[], bytes | None],
                                             detail: str) -> None:
    frame = r5_with_afl(mcl, mac())
    t = decode(frame, {R5_ID: R5_KEY})
    assert t.security is SecurityStatus.BAD_MAC and t.records == ()
    assert t.error is not None and detail in t.error.detail
    assert decode(frame).security is SecurityStatus.NO_KEY
