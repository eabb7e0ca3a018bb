"""Meter keys: the ``WMBUS_KEYS`` environment variable, a key file (``--keys FILE``) and
``ID=KEY`` items (``--key``).

The key file is plain text, one meter per line: the 8-character meter id, white space, and the
key as hex (32 digits for AES-128, 16 for the deprecated DES of security mode 2). Blank lines
and everything after ``#`` are ignored::

    # building A
    76348799  28F64A24988064A079AA2C807D6102AE
    20096221  BEDB81B52C29B5C143388CBB0D15A051   # flat 3

``WMBUS_KEYS`` holds ``ID=KEY`` items separated by commas or white space. Command-line
arguments are visible to every user in the process list; a file and the environment are not.

Error messages name the line or item and what is wrong, never the value: a value in the wrong
place (columns swapped, ``KEY=ID``) may be a key. Warnings (a key file that others may read, a
meter given twice in one source) go to the caller's ``warn``.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Iterator, Sequence

from sdr.errors import UserError
from sdr.limited_file import read_limited

KEY_SIZES = (16, 8)  # AES-128, DES
ID_LENGTH = 8
KEYS_ENV = "WMBUS_KEYS"
# 10,000 meters take 420 kB; anything bigger is the wrong file (``--keys /dev/zero``).
MAX_FILE_BYTES = 1 << 20

Warn = Callable[[str], None]
Entry = tuple[str, str, str]  # where (line or item), meter id text, key text


def _meter_id(text: str, where: str) -> str:
    meter_id = text.strip().upper()
    if len(meter_id) != ID_LENGTH:
        hint = " (a key? the meter id comes first)" if len(meter_id) in (
            2 * size for size in KEY_SIZES) else ""
        raise UserError(
            f"{where}: meter id must be 8 digits (or hex digits), got {len(meter_id)} "
            f"characters{hint}"
        )
    if any(c not in string.hexdigits for c in meter_id):
        raise UserError(f"{where}: meter id must be 8 digits (or hex digits), got other characters")
    return meter_id


def _key(text: str, meter_id: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise UserError(f"{where}: key of meter {meter_id} is not hex") from None
    if len(key) not in KEY_SIZES:
        raise UserError(
            f"{where}: key of meter {meter_id} has {len(key)} bytes, "
            "expected 16 (32 hex digits; 8 for DES)"
        )
    return key


def _collect(entries: Iterable[Entry], warn: Warn) -> dict[str, bytes]:
    """The keys of one source; a meter given again is warned about, and its last key counts."""
    keys: dict[str, bytes] = {}
    first: dict[str, str] = {}
    for where, id_text, key_text in entries:
        meter_id = _meter_id(id_text, where)
        keys[meter_id] = _key(key_text, meter_id, where)
        if meter_id in first:
            warn(f"{where}: meter {meter_id} was given before ({first[meter_id]}); "
                 "the later key is used")
        first.setdefault(meter_id, where)
    return keys


def _items(items: Iterable[str], name: str) -> Iterator[Entry]:
    for number, item in enumerate(items, start=1):
        where = f"{name} #{number}"
        if "=" not in item:
            raise UserError(f"{where}: expected ID=KEY")
        meter_id, key_hex = item.split("=", 1)
        yield where, meter_id, key_hex


def _lines(path: str, text: str) -> Iterator[Entry]:
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"--keys {path} line {number}"
        if len(fields) != 2:
            raise UserError(f"{where}: expected 'ID KEY', got {len(fields)} fields")
        yield where, fields[0], fields[1]


def _read_file(path: str, warn: Warn) -> str:
    """The text of a key file, read up to its size limit (pipes such as ``<(pass show …)`` and
    devices work too; only a regular file's permissions mean anything)."""
    data = read_limited("--keys", path, MAX_FILE_BYTES, "a key file", warn_shared=warn)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"--keys {path}: not a text file") from None


def load_keys(
    key_file: str | None,
    key_items: Sequence[str] = (),
    *,
    env_text: str | None = None,
    warn: Warn,
) -> dict[str, bytes]:
    """Keys of ``env_text`` (the value of ``WMBUS_KEYS``), then of ``key_file``, then of the
    ``ID=KEY`` items: for the same meter the later source wins."""
    keys = _collect(_items((env_text or "").replace(",", " ").split(), f"{KEYS_ENV} item"), warn)
    if key_file:
        keys.update(_collect(_lines(key_file, _read_file(key_file, warn)), warn))
    keys.update(_collect(_items(key_items, "--key"), warn))
    return keys
