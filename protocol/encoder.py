"""Build telegrams: the mirror of the decoder (for round-trip tests and the simulator).

``encode_telegram(spec, key)`` returns CRC-less link bytes (L = length that follows);
``protocol.framing.add_crcs`` then adds the block CRCs of format A or B.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol.afl import AFL_CI, FCL_KI, FCL_MAC, FCL_MCL, FCL_MCR, FCL_ML, MAC_BYTES
from protocol.crc import crc16
from protocol.direction import frame_direction
from protocol.ell import ELL_LENGTHS
from protocol.modes import Direction
from protocol.security import (
    AES_BLOCK,
    FILLER,
    MODE7_DCS,
    aes_cbc_encrypt,
    aes_cmac,
    aes_ctr,
    afl_mac_input,
    ell_counter,
    mode5_iv,
    mode7_key,
)
from protocol.telegram import Address, AflHeader, HeaderKind
from protocol.transport import MODE_7, ci_info

MAX_ENCRYPTED_BLOCKS = 15  # N is a 4-bit field of CW
CWE_KDF_1 = 0x10
ELL_ENC_CTR = 1 << 29


@dataclass(frozen=True, slots=True)
class EllSpec:
    ci: int = 0x8C  # 8C, 8D, 8E or 8F
    cc: int = 0x20
    acc: int = 0
    address2: Address | None = None  # 8E/8F
    session_number: int = 0  # 8D/8F: counter and time bits; ENC is set from ``encrypt``
    encrypt: bool = False  # AES-CTR (8D/8F only, needs the key)


@dataclass(frozen=True, slots=True)
class AflSpec:
    mcr: int = 0
    mcl: int = 0x25  # AT 5 (8-byte CMAC), MCR in message
    ki: int | None = None
    ml: int | None = None
    mac: bool = True  # compute and include the MAC (needs the key)


@dataclass(frozen=True, slots=True)
class TplSpec:
    ci: int = 0x7A  # a CI with no, short or long header (see protocol.transport.TPL_CI)
    acc: int = 0
    status: int = 0
    security_mode: int = 0  # 0, 5 or 7 (7 needs an AflSpec)
    cw_flags: int = 0  # CW bits 15-13 (B, A, S) and 3-0; mode and N are filled in
    address: Address | None = None  # long header: the meter
    clear_tail: bytes = b""  # modes 5/7: records sent unencrypted after the encrypted blocks


@dataclass(frozen=True, slots=True)
class TelegramSpec:
    """Everything needed to build one telegram; ``payload`` is the plaintext record area.

    ``direction`` picks mode 7's derived keys; None: the direction the C-field and CI show
    (``protocol.direction``), which is what the decoder uses for frames not from the radio.
    """

    address: Address
    c_field: int = 0x44
    ell: EllSpec | None = None
    afl: AflSpec | None = None
    tpl: TplSpec | None = field(default_factory=TplSpec)
    payload: bytes = b""
    direction: Direction | None = None

    @property
    def mode7_dcs(self) -> tuple[int, int]:
        """Key derivation constants (Kenc, Kmac) of mode 7 for this telegram's direction."""
        ci = self.tpl.ci if self.tpl is not None else None
        return MODE7_DCS[self.direction or frame_direction(self.c_field, None, ci)]


def _need(key: bytes | None, what: str) -> bytes:
    if key is None or len(key) != AES_BLOCK:
        raise ValueError(f"{what} needs a 16-byte AES key")
    return key


def _tpl_bytes(spec: TelegramSpec, key: bytes | None) -> tuple[bytes, AflHeader | None]:
    """TPL CI, header and (encrypted) payload, and the AFL header it requires."""
    tpl = spec.tpl
    if tpl is None:
        return spec.payload, None
    info = ci_info(tpl.ci)
    if info is None:
        raise ValueError(f"CI 0x{tpl.ci:02X} is not a transport-layer CI")
    payload = spec.payload
    blocks = 0
    if tpl.security_mode in (5, MODE_7):
        plain = FILLER + payload
        plain += FILLER[:1] * (-len(plain) % AES_BLOCK)
        blocks = len(plain) // AES_BLOCK
        if blocks > MAX_ENCRYPTED_BLOCKS:
            raise ValueError(f"{blocks} blocks to encrypt, CW allows {MAX_ENCRYPTED_BLOCKS}")
    elif tpl.security_mode != 0:
        raise ValueError(f"cannot encode security mode {tpl.security_mode}")
    header = bytes([tpl.ci])
    if info.header is HeaderKind.NONE:
        if tpl.security_mode:
            raise ValueError(f"CI 0x{tpl.ci:02X} has no header to carry a security mode")
    else:
        if info.header is HeaderKind.LONG:
            if tpl.address is None:
                raise ValueError(f"CI 0x{tpl.ci:02X} has a long header: TplSpec.address needed")
            a = tpl.address
            header += a.id_bytes + a.m_field.to_bytes(2, "little") + bytes((a.version,
                                                                            a.device_type))
        cw = (tpl.cw_flags & 0xE00F) | tpl.security_mode << 8 | blocks << 4
        header += bytes((tpl.acc, tpl.status)) + cw.to_bytes(2, "little")
        if tpl.security_mode == MODE_7:
            header += bytes([CWE_KDF_1])
    meter = tpl.address or spec.address
    if tpl.security_mode == 5:
        body = aes_cbc_encrypt(_need(key, "mode 5"), mode5_iv(meter, tpl.acc), plain)
        return header + body + tpl.clear_tail, None
    if tpl.security_mode == MODE_7:
        if spec.afl is None:
            raise ValueError("mode 7 needs an AflSpec (message counter)")
        k = _need(key, "mode 7")
        dc_enc, dc_mac = spec.mode7_dcs
        kenc = mode7_key(k, dc_enc, spec.afl.mcr, meter.id_bytes)
        tpl_part = header + aes_cbc_encrypt(kenc, bytes(AES_BLOCK), plain) + tpl.clear_tail
        return tpl_part, _afl_header(spec.afl, tpl_part, meter, k, dc_mac)
    return header + payload, None


def _afl_header(
    afl: AflSpec, tpl_part: bytes, meter: Address, key: bytes | None, dc_mac: int
) -> AflHeader:
    mac_len = MAC_BYTES.get(afl.mcl & 0x0F, 0) if afl.mac else 0
    fcl = FCL_MCL | FCL_MCR
    fcl |= (FCL_KI if afl.ki is not None else 0) | (FCL_ML if afl.ml is not None else 0)
    header = AflHeader(0, fcl, afl.mcl, afl.ki, afl.mcr, None, afl.ml)
    mac = None
    if mac_len:
        k = _need(key, "AFL MAC")
        kmac = mode7_key(k, dc_mac, afl.mcr, meter.id_bytes)
        mac = aes_cmac(kmac, afl_mac_input(header, tpl_part))[:mac_len]
        fcl |= FCL_MAC
    afll = 2 + 1 + (2 if afl.ki is not None else 0) + 4 + mac_len + (2 if afl.ml is not None else 0)
    return AflHeader(afll, fcl, afl.mcl, afl.ki, afl.mcr, mac, afl.ml)


def _afl_bytes(afl: AflHeader) -> bytes:
    out = bytes([AFL_CI, afl.afll]) + afl.fcl.to_bytes(2, "little") + bytes([afl.mcl or 0])
    if afl.ki is not None:
        out += afl.ki.to_bytes(2, "little")
    out += (afl.mcr or 0).to_bytes(4, "little") + (afl.mac or b"")
    if afl.ml is not None:
        out += afl.ml.to_bytes(2, "little")
    return out


def _ell_bytes(ell: EllSpec, link: Address, rest: bytes, key: bytes | None) -> bytes:
    if ell.ci not in ELL_LENGTHS:
        raise ValueError(f"CI 0x{ell.ci:02X} is not an ELL CI (8C-8F)")
    out = bytes((ell.ci, ell.cc, ell.acc))
    if ell.ci in (0x8E, 0x8F):
        if ell.address2 is None:
            raise ValueError(f"ELL CI 0x{ell.ci:02X} needs EllSpec.address2")
        out += ell.address2.link_order_bytes()
    if ell.ci in (0x8C, 0x8E):
        if ell.encrypt:
            raise ValueError(f"ELL CI 0x{ell.ci:02X} has no session number to announce ENC")
        return out + rest
    sn_value = (ell.session_number & (ELL_ENC_CTR - 1)) | (ELL_ENC_CTR if ell.encrypt else 0)
    sn = sn_value.to_bytes(4, "little")
    region = crc16(rest).to_bytes(2, "little") + rest
    if ell.encrypt:
        region = aes_ctr(_need(key, "ELL encryption"), ell_counter(link, ell.cc, sn), region)
    return out + sn + region


def encode_telegram(spec: TelegramSpec, key: bytes | None = None) -> bytes:
    """CRC-less link bytes of the telegram; raises ValueError for an impossible spec."""
    tpl_part, afl = _tpl_bytes(spec, key)
    if spec.afl is not None and afl is None:
        meter = (spec.tpl.address if spec.tpl else None) or spec.address
        afl = _afl_header(spec.afl, tpl_part, meter, key, spec.mode7_dcs[1])
    rest = (_afl_bytes(afl) if afl is not None else b"") + tpl_part
    if spec.ell is not None:
        rest = _ell_bytes(spec.ell, spec.address, rest, key)
    body = bytes([spec.c_field]) + spec.address.link_order_bytes() + rest
    if len(body) > 255:
        raise ValueError(f"telegram of {len(body)} bytes after L does not fit the L field")
    return bytes([len(body)]) + body
