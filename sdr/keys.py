"""Meter keys: a key file and ``ID=KEY`` items (the ``--keys FILE`` and ``--key`` options).

The key file is plain text, one meter per line: the 8-character meter id, white space, and the
key as hex (32 digits for AES-128, 16 for the deprecated DES of security mode 2). Blank lines
and everything after ``#`` are ignored::

    # building A
    76348799  28F64A24988064A079AA2C807D6102AE
    20096221  BEDB81B52C29B5C143388CBB0D15A051   # flat 3

Error messages name the line or argument, never the key itself.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from pathlib import Path

from sdr.errors import UserError

KEY_SIZES = (16, 8)  # AES-128, DES
ID_LENGTH = 8


def _parse(meter_id: str, key_hex: str, where: str) -> tuple[str, bytes]:
    meter_id = meter_id.strip().upper()
    if len(meter_id) != ID_LENGTH or any(c not in string.hexdigits for c in meter_id):
        raise UserError(f"{where}: meter id must be 8 digits (or hex digits), got {meter_id!r}")
    key_hex = key_hex.strip()
    try:
        key = bytes.fromhex(key_hex)
    except ValueError:
        raise UserError(f"{where}: key of meter {meter_id} is not hex") from None
    if len(key) not in KEY_SIZES:
        raise UserError(
            f"{where}: key of meter {meter_id} has {len(key)} bytes, "
            "expected 16 (32 hex digits; 8 for DES)"
        )
    return meter_id, key


def _read_file(path: str) -> dict[str, bytes]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"--keys {path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UserError(f"--keys {path}: not a text file") from None
    keys: dict[str, bytes] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"--keys {path} line {number}"
        if len(fields) != 2:
            raise UserError(f"{where}: expected 'ID KEY', got {len(fields)} fields")
        meter_id, key = _parse(fields[0], fields[1], where)
        keys[meter_id] = key
    return keys


def load_keys(key_file: str | None, key_items: Sequence[str] = ()) -> dict[str, bytes]:
    """Keys of ``key_file`` and then of the ``ID=KEY`` items (which win for the same meter)."""
    keys = _read_file(key_file) if key_file else {}
    for number, item in enumerate(key_items, start=1):
        where = f"--key #{number}"
        if "=" not in item:
            raise UserError(f"{where}: expected ID=KEY")
        meter_id, key_hex = item.split("=", 1)
        meter_id, key = _parse(meter_id, key_hex, where)
        keys[meter_id] = key
    return keys
