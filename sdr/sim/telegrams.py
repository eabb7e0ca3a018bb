"""Realistic random meter telegrams for simulated streams: typical meters' records, random
addresses and readings, optionally padded to an exact frame length."""

from __future__ import annotations

import numpy as np

from protocol.encoder import TelegramSpec, TplSpec, encode_telegram
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


def random_telegram(rng: np.random.Generator, length: int | None = None) -> bytes:
    """A plaintext meter telegram (CI 7A) with random address and readings, CRC-less.

    With ``length``, records are dropped or 2F fillers added to make exactly that many bytes.
    """
    device_type, records = METER_KINDS[int(rng.integers(len(METER_KINDS)))]
    digits = int(rng.integers(10**8))
    address = Address(
        m_field=manufacturer_code(MANUFACTURERS[int(rng.integers(len(MANUFACTURERS)))]),
        id_bytes=bytes.fromhex(f"{digits:08d}")[::-1],
        version=int(rng.integers(256)),
        device_type=device_type,
    )
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

