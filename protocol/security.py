"""Decryption and authentication: ELL AES-CTR, TPL modes 5 (AES-CBC) and 7 (KDF, CMAC, AES-CBC).

docs/protocol.md §3, §6. All cryptography comes from ``cryptography``. Every function that sees
a key returns values that do not contain it; a wrong key yields a status, never plaintext guesses.

What decides "decrypted" (docs/protocol.md §6.5): the ELL payload CRC plus the caller's check of
the layers above it; the AFL MAC (8 bytes or more) in mode 7; in modes 2 and 5 the fill bytes
``2F 2F`` plus records that fill the decrypted blocks, because ``2F 2F`` alone lets one wrong key
in 65,536 through.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from protocol.crc import crc16
from protocol.modes import Direction
from protocol.records import parse_records
from protocol.telegram import Address, AflHeader, EllHeader, TplHeader
from protocol.types import DecodeFailure, FailureReason, SecurityStatus

AES_BLOCK = 16
DES_BLOCK = 8
FILLER = b"\x2f\x2f"  # every correctly decrypted TPL payload starts with two fill bytes
CMAC_AUTH_TYPES = range(3, 8)  # AFL MCL authentication types using AES-CMAC (8 is GMAC)
# OMS mode 7 authenticates with AT 5, an 8-byte CMAC; the longer CMACs (AT 6, 7) are no weaker,
# a 2- or 4-byte one (AT 3, 4) would be forged by chance once in 65,536 or 2^32 tries.
MODE7_MIN_MAC_BYTES = 8
KDF_PADDING = b"\x07" * 7
# Key derivation constants (DC) of docs/protocol.md §6.3: a gateway encrypts and authenticates
# what it sends to a meter with keys of its own direction, derived from the meter's key.
DC_ENC_FROM_METER, DC_MAC_FROM_METER = 0x00, 0x01
DC_ENC_TO_METER, DC_MAC_TO_METER = 0x10, 0x11
MODE7_DCS: dict[Direction, tuple[int, int]] = {  # (Kenc, Kmac) by the frame's direction
    Direction.METER_TO_OTHER: (DC_ENC_FROM_METER, DC_MAC_FROM_METER),
    Direction.OTHER_TO_METER: (DC_ENC_TO_METER, DC_MAC_TO_METER),
}
PLAINTEXT_MARKED_ENCRYPTED = "plaintext_marked_encrypted"
# Decrypted in mode 2 or 5, but what follows 2F 2F has no layout that can be checked (compact
# and format frames, opaque CIs, meters with a proprietary payload): 1 wrong key in 65,536 passes.
KEY_CHECKED_BY_2F2F_ONLY = "key_checked_by_2f2f_only"
KEYED_MODES = (2, 5, 7)  # DES-CBC (deprecated), AES-CBC with IV, AES-CBC with KDF and MAC


@dataclass(frozen=True, slots=True)
class Opened:
    """Outcome of opening one layer: its payload (plaintext when decrypted) and a status."""

    status: SecurityStatus
    payload: bytes
    flags: tuple[str, ...] = ()
    failure: DecodeFailure | None = None


def _failed(status: SecurityStatus, payload: bytes, reason: FailureReason, detail: str) -> Opened:
    return Opened(status, payload, (), DecodeFailure("security", reason, detail))


# --- primitives -------------------------------------------------------------------------------


def aes_ctr(key: bytes, counter: bytes, data: bytes) -> bytes:
    """AES-128-CTR (same operation for encryption and decryption)."""
    cipher = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
    return cipher.update(data) + cipher.finalize()


def aes_cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return cipher.update(data) + cipher.finalize()


def aes_cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return cipher.update(data) + cipher.finalize()


def des_cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    # Triple DES with K1 = K2 = K3 is single DES.
    cipher = Cipher(TripleDES(key * 3), modes.CBC(iv)).decryptor()
    return cipher.update(data) + cipher.finalize()


def aes_cmac(key: bytes, data: bytes) -> bytes:
    mac = CMAC(algorithms.AES(key))
    mac.update(data)
    return mac.finalize()


# --- IVs, key derivation, MAC -----------------------------------------------------------------


def ell_counter(address: Address, cc: int, sn: bytes) -> bytes:
    """Initial CTR block of ELL encryption: M A CC(H, R cleared) SN FN=0 BC=0.

    docs/protocol.md §3.
    """
    return address.link_order_bytes() + bytes([cc & ~0x12 & 0xFF]) + sn + b"\x00\x00\x00"


def mode5_iv(address: Address, acc: int) -> bytes:
    """Mode 5 IV: M A of the meter (long header when present) and the TPL ACC 8 times."""
    return address.link_order_bytes() + bytes([acc]) * 8


def mode7_key(key: bytes, dc: int, mcr: int, id_bytes: bytes) -> bytes:
    """Ephemeral key of mode 7: AES-CMAC(K, DC MCR ID 07x7) (docs/protocol.md §6.3)."""
    return aes_cmac(key, bytes([dc]) + mcr.to_bytes(4, "little") + id_bytes + KDF_PADDING)


def afl_mac_input(afl: AflHeader, tpl_bytes: bytes) -> bytes:
    """What the AFL MAC covers: MCL MCR [ML] and everything from the TPL CI to the end."""
    out = bytes([afl.mcl or 0])
    if afl.mcr is not None:
        out += afl.mcr.to_bytes(4, "little")
    if afl.ml is not None:
        out += afl.ml.to_bytes(2, "little")
    return out + tpl_bytes


# --- layers -----------------------------------------------------------------------------------


def open_ell(
    ell: EllHeader,
    sn: bytes,
    region: bytes,
    link: Address,
    key: bytes | None,
    reads_above: Callable[[bytes], bool],
) -> Opened:
    """Check (and decrypt) the ELL region that starts with the payload CRC.

    Returns the bytes after the payload CRC. Encrypted telegrams whose CRC already matches on
    the raw bytes are plaintext despite the ENC flag (replayed or pre-decrypted telegrams).
    ``reads_above(rest)`` says whether the bytes after a matching CRC read as the layers above:
    a 16-bit CRC also matches one wrong key's output (or one ciphertext) in 65,536.
    """
    if len(region) < 2:
        return _failed(SecurityStatus.NONE, b"", FailureReason.TRUNCATED, "ELL payload CRC missing")

    def crc_ok(plain: bytes) -> bool:
        return int.from_bytes(plain[:2], "little") == crc16(plain[2:])

    def accepted(plain: bytes) -> bool:
        return crc_ok(plain) and reads_above(plain[2:])

    if ell.encryption == 0:
        flags = () if crc_ok(region) else ("ell_payload_crc_mismatch",)
        return Opened(SecurityStatus.NONE, region[2:], flags)
    if ell.encryption != 1:
        return _failed(SecurityStatus.UNSUPPORTED, region, FailureReason.UNSUPPORTED_SECURITY,
                       f"ELL encryption {ell.encryption}")
    if key is not None and len(key) == AES_BLOCK:
        plain = aes_ctr(key, ell_counter(link, ell.cc, sn), region)
        if accepted(plain):
            return Opened(SecurityStatus.DECRYPTED, plain[2:])
    if accepted(region):
        return Opened(SecurityStatus.NONE, region[2:], (PLAINTEXT_MARKED_ENCRYPTED,))
    if key is None:
        return _failed(SecurityStatus.NO_KEY, region, FailureReason.NO_KEY,
                       f"ELL AES-CTR, no key for {link.id}")
    return _failed(SecurityStatus.WRONG_KEY, region, FailureReason.WRONG_KEY,
                   "ELL payload CRC wrong after decryption, or what it covers does not parse")


def _reads_as_plaintext(data: bytes, records: bool, cut: bool = False) -> bool:
    """``2F 2F``, and when ``records`` are announced, records up to the end of ``data`` (a DIF
    0F/1F manufacturer tail and 2F fill bytes count). ``cut``: ``data`` ends where the frame
    ended, not at a block boundary, so its last record may be incomplete.

    A wrong key's plaintext is random: 2F 2F passes once in 65,536, and random bytes read as
    records to their end about once in ten (docs/protocol.md §6.5, ``benchmarks.wrong_keys``).
    """
    if not data.startswith(FILLER):
        return False
    if not records:
        return True
    failure = parse_records(data).failure
    return failure is None or (cut and failure.reason is FailureReason.TRUNCATED)


def _encrypted_region(payload: bytes, blocks: int, block_size: int) -> tuple[int, bool]:
    """Size of the region N announces (N 16-byte units; N = 0: every whole cipher block), and
    whether the frame ended before the N units did (then only whole cipher blocks count)."""
    whole = len(payload) // block_size * block_size
    size = whole if blocks == 0 else min(blocks * AES_BLOCK, whole)
    return size, blocks * AES_BLOCK > whole


def _as_plaintext(payload: bytes, blocks: int, block_size: int, records: bool) -> Opened | None:
    """An encrypted-flagged payload that is plaintext already (replayed or pre-decrypted): the
    region that would be encrypted passes the check a decrypted one must pass."""
    size, cut = _encrypted_region(payload, blocks, block_size)
    if _reads_as_plaintext(payload[:size], records, cut):
        return Opened(SecurityStatus.NONE, payload, (PLAINTEXT_MARKED_ENCRYPTED,))
    return None


def _open_cbc(
    decrypt: Callable[[bytes], bytes],
    payload: bytes,
    blocks: int,
    block_size: int,
    what: str,
    records: bool,
    authenticated: bool = False,
) -> Opened:
    """Decrypt N 16-byte blocks (N = 0: all whole cipher blocks) and check the plaintext.

    N counts 16-byte units whatever the cipher (DES decrypts them as pairs of 8-byte blocks).
    ``records``: the payload is announced as records, which the decrypted blocks must hold;
    ``authenticated``: a MAC already proved the key, 2F 2F is only a sanity check.
    """
    size, cut = _encrypted_region(payload, blocks, block_size)
    head = decrypt(payload[:size])
    if _reads_as_plaintext(head, records and not authenticated, cut):
        flags = ("ciphertext_truncated",) if cut else ()
        if not (records or authenticated):
            flags += (KEY_CHECKED_BY_2F2F_ONLY,)
        return Opened(SecurityStatus.DECRYPTED, head + payload[size:], flags)
    plaintext = _as_plaintext(payload, blocks, block_size, records)
    if plaintext is not None:
        return plaintext
    problem = "is not records up to its end" if head.startswith(FILLER) else (
        "does not start with 2F2F")
    return _failed(SecurityStatus.WRONG_KEY, payload, FailureReason.WRONG_KEY,
                   f"{what}: decrypted payload {problem}")


def open_tpl(
    tpl: TplHeader,
    afl: AflHeader | None,
    tpl_bytes: bytes,
    payload: bytes,
    meter: Address,
    key: bytes | None,
    *,
    records: bool,
    direction: Direction,
) -> Opened:
    """Decrypt the TPL payload according to the CW security mode.

    ``tpl_bytes`` are the bytes from the TPL CI to the end (what the AFL MAC covers),
    ``payload`` the bytes after the TPL header, ``meter`` the address whose M/A enter IV and KDF
    (the long-header address when present, else the link address: the meter in both directions,
    docs/protocol.md §6.2). ``records``: the payload is EN 13757-3 records (by its CI, and the
    meter is not known to send a proprietary layout), so a plaintext must read as records.
    ``direction`` selects mode 7's derived keys (§6.3).
    """
    mode = tpl.security_mode
    if mode == 0:
        return Opened(SecurityStatus.NONE, payload)
    if mode not in KEYED_MODES:
        return _failed(SecurityStatus.UNSUPPORTED, payload, FailureReason.UNSUPPORTED_SECURITY,
                       f"security mode {mode}")
    if key is None:
        block_size = DES_BLOCK if mode == 2 else AES_BLOCK
        return _as_plaintext(payload, tpl.encrypted_blocks, block_size, records) or _failed(
            SecurityStatus.NO_KEY, payload, FailureReason.NO_KEY,
            f"security mode {mode}, no key for {meter.id}")
    if mode == 5:
        if len(key) != AES_BLOCK:
            return _failed(SecurityStatus.WRONG_KEY, payload, FailureReason.WRONG_KEY,
                            "mode 5 needs a 16-byte AES key")
        iv = mode5_iv(meter, tpl.acc or 0)
        return _open_cbc(partial(aes_cbc_decrypt, key, iv), payload, tpl.encrypted_blocks,
                         AES_BLOCK, "mode 5", records)
    if mode == 7:
        return _open_mode7(tpl, afl, tpl_bytes, payload, meter, key, records, direction)
    if len(key) != DES_BLOCK:
        return _failed(SecurityStatus.WRONG_KEY, payload, FailureReason.WRONG_KEY,
                       "mode 2 needs an 8-byte DES key")
    return _open_cbc(partial(des_cbc_decrypt, key, bytes(DES_BLOCK)), payload,
                     tpl.encrypted_blocks, DES_BLOCK, "mode 2", records)


def _open_mode7(
    tpl: TplHeader,
    afl: AflHeader | None,
    tpl_bytes: bytes,
    payload: bytes,
    meter: Address,
    key: bytes,
    records: bool,
    direction: Direction,
) -> Opened:
    """Mode 7: the AFL MAC decides; without one of at least 8 bytes nothing is decrypted."""
    if afl is None or afl.mcr is None:
        return _failed(SecurityStatus.UNSUPPORTED, payload, FailureReason.UNSUPPORTED_SECURITY,
                       "mode 7 without an AFL message counter")
    if tpl.cwe is not None and (tpl.cwe >> 4) & 3 != 1:
        return _failed(SecurityStatus.UNSUPPORTED, payload, FailureReason.UNSUPPORTED_SECURITY,
                       f"mode 7 key derivation {(tpl.cwe >> 4) & 3}")
    if len(key) != AES_BLOCK:
        return _failed(SecurityStatus.WRONG_KEY, payload, FailureReason.WRONG_KEY,
                       "mode 7 needs a 16-byte AES key")
    if afl.mac is not None and afl.auth_type not in CMAC_AUTH_TYPES:
        return _failed(SecurityStatus.UNSUPPORTED, payload, FailureReason.UNSUPPORTED_SECURITY,
                       f"AFL authentication type {afl.auth_type}")
    if afl.mac is None or len(afl.mac) < MODE7_MIN_MAC_BYTES:
        problem = f"mode 7 needs an AFL MAC of {MODE7_MIN_MAC_BYTES} bytes or more, " + (
            "none sent" if afl.mac is None else f"got {len(afl.mac)}")
    else:
        dc_enc, dc_mac = MODE7_DCS[direction]
        kmac = mode7_key(key, dc_mac, afl.mcr, meter.id_bytes)
        expected = aes_cmac(kmac, afl_mac_input(afl, tpl_bytes))[: len(afl.mac)]
        # Constant time: how many leading MAC bytes matched must not show in the timing.
        if hmac.compare_digest(expected, afl.mac):
            kenc = mode7_key(key, dc_enc, afl.mcr, meter.id_bytes)
            return _open_cbc(partial(aes_cbc_decrypt, kenc, bytes(AES_BLOCK)), payload,
                             tpl.encrypted_blocks, AES_BLOCK, "mode 7", records,
                             authenticated=True)
        problem = "AFL MAC does not match (wrong key or altered telegram)"
    return _as_plaintext(payload, tpl.encrypted_blocks, AES_BLOCK, records) or _failed(
        SecurityStatus.BAD_MAC, payload, FailureReason.BAD_MAC, problem)
