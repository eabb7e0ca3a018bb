"""Decryption and authentication: ELL AES-CTR, TPL modes 5 (AES-CBC) and 7 (KDF, CMAC, AES-CBC).

docs/protocol.md §3, §6. All cryptography comes from ``cryptography``. Every function that sees
a key returns values that do not contain it; a wrong key yields a status, never plaintext guesses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from protocol.crc import crc16
from protocol.telegram import Address, AflHeader, EllHeader, TplHeader
from protocol.types import DecodeFailure, FailureReason, SecurityStatus

AES_BLOCK = 16
DES_BLOCK = 8
FILLER = b"\x2f\x2f"  # every correctly decrypted TPL payload starts with two fill bytes
CMAC_AUTH_TYPES = range(3, 8)  # AFL MCL authentication types using AES-CMAC (8 is GMAC)
KDF_PADDING = b"\x07" * 7
# Key derivation constants (DC) of docs/protocol.md §6.3.
DC_ENC_FROM_METER, DC_MAC_FROM_METER = 0x00, 0x01
PLAINTEXT_MARKED_ENCRYPTED = "plaintext_marked_encrypted"
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


def open_ell(ell: EllHeader, sn: bytes, region: bytes, link: Address, key: bytes | None) -> Opened:
    """Check (and decrypt) the ELL region that starts with the payload CRC.

    Returns the bytes after the payload CRC. Encrypted telegrams whose CRC already matches on
    the raw bytes are plaintext despite the ENC flag (replayed or pre-decrypted telegrams).
    """
    if len(region) < 2:
        return _failed(SecurityStatus.NONE, b"", FailureReason.TRUNCATED, "ELL payload CRC missing")

    def crc_ok(plain: bytes) -> bool:
        return int.from_bytes(plain[:2], "little") == crc16(plain[2:])

    if ell.encryption == 0:
        flags = () if crc_ok(region) else ("ell_payload_crc_mismatch",)
        return Opened(SecurityStatus.NONE, region[2:], flags)
    if ell.encryption != 1:
        return _failed(SecurityStatus.UNSUPPORTED, region, FailureReason.UNSUPPORTED_SECURITY,
                       f"ELL encryption {ell.encryption}")
    if key is not None and len(key) == AES_BLOCK:
        plain = aes_ctr(key, ell_counter(link, ell.cc, sn), region)
        if crc_ok(plain):
            return Opened(SecurityStatus.DECRYPTED, plain[2:])
    if crc_ok(region):
        return Opened(SecurityStatus.NONE, region[2:], (PLAINTEXT_MARKED_ENCRYPTED,))
    if key is None:
        return _failed(SecurityStatus.NO_KEY, region, FailureReason.NO_KEY,
                       f"ELL AES-CTR, no key for {link.id}")
    return _failed(SecurityStatus.WRONG_KEY, region, FailureReason.WRONG_KEY,
                   "ELL payload CRC wrong after decryption")


def _open_cbc(
    decrypt: Callable[[bytes], bytes], payload: bytes, blocks: int, block_size: int, what: str
) -> Opened:
    """Decrypt N 16-byte blocks (N = 0: all whole cipher blocks) and check the 2F2F fill bytes.

    N counts 16-byte units whatever the cipher (DES decrypts them as pairs of 8-byte blocks).
    """
    whole = len(payload) // block_size * block_size
    size = whole if blocks == 0 else min(blocks * AES_BLOCK, whole)
    head = decrypt(payload[:size])
    if head.startswith(FILLER):
        flags = ("ciphertext_truncated",) if blocks * AES_BLOCK > whole else ()
        return Opened(SecurityStatus.DECRYPTED, head + payload[size:], flags)
    if payload.startswith(FILLER):
        return Opened(SecurityStatus.NONE, payload, (PLAINTEXT_MARKED_ENCRYPTED,))
    return _failed(SecurityStatus.WRONG_KEY, payload, FailureReason.WRONG_KEY,
                   f"{what}: decrypted payload does not start with 2F2F")


def open_tpl(
    tpl: TplHeader,
    afl: AflHeader | None,
    tpl_bytes: bytes,
    payload: bytes,
    meter: Address,
    key: bytes | None,
) -> Opened:
    """Decrypt the TPL payload according to the CW security mode.

    ``tpl_bytes`` are the bytes from the TPL CI to the end (what the AFL MAC covers),
    ``payload`` the bytes after the TPL header, ``meter`` the address whose M/A enter IV and KDF
    (the long-header address when present, else the link address).
    """
    mode = tpl.security_mode
    if mode == 0:
        return Opened(SecurityStatus.NONE, payload)
    if mode not in KEYED_MODES:
        return _failed(SecurityStatus.UNSUPPORTED, payload, FailureReason.UNSUPPORTED_SECURITY,
                       f"security mode {mode}")
    if key is None:
        if payload.startswith(FILLER):
            return Opened(SecurityStatus.NONE, payload, (PLAINTEXT_MARKED_ENCRYPTED,))
        return _failed(SecurityStatus.NO_KEY, payload, FailureReason.NO_KEY,
                       f"security mode {mode}, no key for {meter.id}")
    if mode == 5:
        if len(key) != AES_BLOCK:
            return _failed(SecurityStatus.WRONG_KEY, payload, FailureReason.WRONG_KEY,
                            "mode 5 needs a 16-byte AES key")
        iv = mode5_iv(meter, tpl.acc or 0)
        return _open_cbc(partial(aes_cbc_decrypt, key, iv), payload, tpl.encrypted_blocks,
                         AES_BLOCK, "mode 5")
    if mode == 7:
        return _open_mode7(tpl, afl, tpl_bytes, payload, meter, key)
    if len(key) != DES_BLOCK:
        return _failed(SecurityStatus.WRONG_KEY, payload, FailureReason.WRONG_KEY,
                       "mode 2 needs an 8-byte DES key")
    return _open_cbc(partial(des_cbc_decrypt, key, bytes(DES_BLOCK)), payload,
                     tpl.encrypted_blocks, DES_BLOCK, "mode 2")


def _open_mode7(
    tpl: TplHeader,
    afl: AflHeader | None,
    tpl_bytes: bytes,
    payload: bytes,
    meter: Address,
    key: bytes,
) -> Opened:
    if afl is None or afl.mcr is None:
        return _failed(SecurityStatus.UNSUPPORTED, payload, FailureReason.UNSUPPORTED_SECURITY,
                       "mode 7 without an AFL message counter")
    if tpl.cwe is not None and (tpl.cwe >> 4) & 3 != 1:
        return _failed(SecurityStatus.UNSUPPORTED, payload, FailureReason.UNSUPPORTED_SECURITY,
                       f"mode 7 key derivation {(tpl.cwe >> 4) & 3}")
    if len(key) != AES_BLOCK:
        return _failed(SecurityStatus.WRONG_KEY, payload, FailureReason.WRONG_KEY,
                       "mode 7 needs a 16-byte AES key")
    if afl.mac is not None:
        if afl.auth_type not in CMAC_AUTH_TYPES:
            return _failed(SecurityStatus.UNSUPPORTED, payload, FailureReason.UNSUPPORTED_SECURITY,
                           f"AFL authentication type {afl.auth_type}")
        kmac = mode7_key(key, DC_MAC_FROM_METER, afl.mcr, meter.id_bytes)
        expected = aes_cmac(kmac, afl_mac_input(afl, tpl_bytes))[: len(afl.mac)]
        if expected != afl.mac:
            if payload.startswith(FILLER):
                return Opened(SecurityStatus.NONE, payload, (PLAINTEXT_MARKED_ENCRYPTED,))
            return _failed(SecurityStatus.BAD_MAC, payload, FailureReason.BAD_MAC,
                           "AFL MAC does not match (wrong key or altered telegram)")
    kenc = mode7_key(key, DC_ENC_FROM_METER, afl.mcr, meter.id_bytes)
    return _open_cbc(partial(aes_cbc_decrypt, kenc, bytes(AES_BLOCK)), payload,
                     tpl.encrypted_blocks, AES_BLOCK, "mode 7")
