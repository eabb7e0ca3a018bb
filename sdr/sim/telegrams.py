"""Realistic random telegrams for simulated streams: meters' (typical records, random addresses
and readings) and gateways' (commands and requests to a meter), optionally padded to an exact
frame length."""

from __future__ import annotations

import numpy as np

from protocol.encoder import EllSpec, TelegramSpec, TplSpec, encode_telegram
from protocol.manufacturers import manufacturer_code
from protocol.records import encode_record
from protocol.telegram import Address

MANUFACTURERS = ("KAM", "DME", "TCH", "ITW", "SEN", "APA", "LAS", "EFE", "QDS", "BMT")
# (device type, records as (DIF, VIF, largest raw value, unit of the raw value)) of typical meters.
METER_KINDS = (
    (
        0x07,
        (
            (b"\x04", b"\x13", 10**8, 1e-3),
            (b"\x44", b"\x13", 10**8, 1e-3),
            (b"\x01", b"\xfd\x17", 0, 1),
        ),
    ),
    (
        0x16,
        (
            (b"\x04", b"\x13", 10**8, 1e-3),
            (b"\x02", b"\x5b", 30, 1),
            (b"\x44", b"\x13", 10**8, 1e-3),
        ),
    ),
    (
        0x04,
        (
            (b"\x04", b"\x06", 10**6, 1e3),
            (b"\x04", b"\x13", 10**8, 1e-3),
            (b"\x02", b"\x5b", 90, 1),
            (b"\x02", b"\x5f", 60, 1),
        ),
    ),
    (0x03, ((b"\x04", b"\x13", 10**8, 1e-3), (b"\x44", b"\x13", 10**8, 1e-3))),
)
FILLER = 0x2F  # idle filler DIF: pads a record area to an exact length
SHORT_TPL_LEN = 15  # link header (10) + CI 7A, ACC, ST, CW (5)
VOLUME_DIF, VOLUME_VIF = b"\x04", b"\x13"  # 32-bit volume in litres
# What a gateway sends a meter, as (C field, CI) (docs/protocol.md §2.3, §5.1): SND_UD
# commands with a short or a long header (FCB clear or set), a REQ_UD2 data request and a
# SND_NKE link reset, both TPL-only with the long header.
GATEWAY_COMMANDS = ((0x53, 0x5A), (0x73, 0x5B))
GATEWAY_REQUESTS = ((0x5B, 0x80), (0x40, 0x80))


def _random_address(rng: np.random.Generator, device_type: int) -> Address:
    digits = int(rng.integers(10**8))
    return Address(
        m_field=manufacturer_code(MANUFACTURERS[int(rng.integers(len(MANUFACTURERS)))]),
        id_bytes=bytes.fromhex(f"{digits:08d}")[::-1],
        version=int(rng.integers(256)),
        device_type=device_type,
    )


def random_telegram(rng: np.random.Generator, length: int | None = None) -> bytes:
    """A plaintext meter telegram (CI 7A) with random address and readings, CRC-less.

    With ``length``, records are dropped or 2F fillers added to make exactly that many bytes.
    """
    device_type, records = METER_KINDS[int(rng.integers(len(METER_KINDS)))]
    address = _random_address(rng, device_type)
    area = b""
    for dif, vif, top, unit in records:
        raw = int(rng.integers(top + 1))
        record = encode_record(dif, vif, raw / round(1 / unit) if unit < 1 else raw * int(unit))
        if length is not None and SHORT_TPL_LEN + len(area) + len(record) > length:
            break
        area += record
    if length is not None:
        area += bytes([FILLER]) * (length - SHORT_TPL_LEN - len(area))
    tpl = TplSpec(ci=0x7A, acc=int(rng.integers(256)))
    return encode_telegram(TelegramSpec(address=address, tpl=tpl, payload=area))



def gateway_frame(meter: Address, acc: int, kind: tuple[int, int], command: bytes = b"", *,
                  sender: Address | None = None, ell: EllSpec | None = None,
                  filler: int = 0) -> bytes:
    """A gateway's CRC-less frame of ``kind`` (C field, CI: ``GATEWAY_COMMANDS`` or
    ``GATEWAY_REQUESTS``) to ``meter``: ``command`` records plus ``filler`` 2F bytes for a
    command, nothing for a TPL-only request. The link address is ``sender`` (OMS: the gateway's
    own) or else the meter's (EN 13757-4); a long header names the meter in the TPL too."""
    c_field, ci = kind
    tpl = TplSpec(ci=ci, acc=acc, address=meter if ci != 0x5A else None)
    area = b"" if ci == 0x80 else command + bytes([FILLER]) * filler
    return encode_telegram(
        TelegramSpec(address=sender or meter, c_field=c_field, ell=ell, tpl=tpl, payload=area))


def gateway_telegram(rng: np.random.Generator, length: int | None = None) -> bytes:
    """A plaintext gateway-to-meter telegram, CRC-less: a random meter's address (the one
    addressed) in the link layer and, for a long header, in the TPL too.

    Without ``length`` a SND_UD command (a volume record to set) or a TPL-only request; with
    ``length`` a command that fits, its record area padded with 2F fillers to exactly that many
    bytes (a request carries nothing to pad). ValueError when no command fits.
    """
    meter = _random_address(rng, METER_KINDS[int(rng.integers(len(METER_KINDS)))][0])
    acc = int(rng.integers(256))
    command = encode_record(VOLUME_DIF, VOLUME_VIF, int(rng.integers(10**8)) / 1000)
    if length is None:
        kinds = GATEWAY_COMMANDS + GATEWAY_REQUESTS
        return gateway_frame(meter, acc, kinds[int(rng.integers(len(kinds)))], command)
    sizes = {kind: len(gateway_frame(meter, acc, kind, command)) for kind in GATEWAY_COMMANDS}
    fitting = [kind for kind, size in sizes.items() if size <= length]
    if not fitting:
        raise ValueError(f"a gateway command needs at least {min(sizes.values())} bytes")
    kind = fitting[int(rng.integers(len(fitting)))]
    return gateway_frame(meter, acc, kind, command, filler=length - sizes[kind])
