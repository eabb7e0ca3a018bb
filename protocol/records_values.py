"""EN 13757-3 data types: integers, BCD, real32, LVAR and date/time types F, G, I, J.

Each decoder has its encoder next to it so that ``encode(decode(x)) == x`` is easy to see.
Scaling by powers of ten is exact (``decimal``): 106 × 10^-3 is 0.106, never 0.10600000000000001.

Date/time values are ISO 8601 strings: G ``YYYY-MM-DD``, F ``YYYY-MM-DDTHH:MM``, I
``YYYY-MM-DDTHH:MM:SS``, J ``HH:MM:SS``. A periodic ("every") field is written with ``X``
digits as ISO 8601-2 does for unspecified digits (year 127 -> ``XXXX``, month 15, day 0, hour 31,
minute/second 63 -> ``XX``). The year is 2000 + the 7-bit year field; the hundred-year bits and
the summer-time flag are ignored (docs/protocol.md §7.9). So is the IV (invalid) flag of types
F and I: real meters set it on valid times (Waterstarm, docs/protocol.md §9, R10: ``B32E3438`` =
2025-08-20 14:51, which wmbusmeters and the meter's own software show). All-FF bytes (type G
``FFFF``: unset) and fields out of range (month 13, hour 24, ...) decode to None; the raw bytes
stay in ``Record.data``.
"""

from __future__ import annotations

import contextlib
import math
import re
import struct
from decimal import Context, Decimal

Number = int | float
# Room for the longest number a record holds (LVAR BCD: 30 digits) so that scaling never rounds.
EXACT = Context(prec=64)


# ---- integers and scaling -------------------------------------------------------------------

def scale(raw: int | Decimal, exponent: int) -> Number:
    """``raw`` × 10^exponent, exact: an int when raw is an int and exponent >= 0, else a float."""
    if isinstance(raw, int) and exponent >= 0:
        return raw * 10**exponent
    return float(Decimal(raw).scaleb(exponent, EXACT))


def unscale(value: Number, exponent: int) -> Decimal:
    """Inverse of ``scale``: the raw number (exact decimal) that ``value`` was scaled from."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"cannot encode {value!r}")
    return Decimal(repr(value) if isinstance(value, float) else value).scaleb(-exponent, EXACT)


def raw_integer(value: Number, exponent: int, low: int | None = None,
                high: int | None = None) -> int:
    """The raw integer that scales to ``value``, within [low, high] when given.

    A float too large to hold every digit (a 64-bit count in litres) stands for the raw numbers
    it rounds from; the nearest one in range is taken.
    """
    raw = unscale(value, exponent)
    whole = int(raw.to_integral_value())
    if low is not None and high is not None:
        whole = min(max(whole, low), high)
    if whole != raw and not (isinstance(value, float) and scale(whole, exponent) == value):
        raise ValueError(f"{value!r} is not a whole multiple of 1e{exponent} in range")
    return whole


def encode_int(value: Number, exponent: int, size: int, signed: bool) -> bytes:
    low, high = (-(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1) if signed \
        else (0, (1 << (8 * size)) - 1)
    return raw_integer(value, exponent, low, high).to_bytes(size, "little", signed=signed)


# ---- BCD ------------------------------------------------------------------------------------

def digits_of(data: bytes) -> str:
    """Hex digits of a little-endian field, most significant first (22410100 -> "00014122")."""
    return data[::-1].hex().upper()


def decode_bcd(data: bytes) -> int | str:
    """BCD number; MSD F is a minus sign. Any other hex digit makes it a raw digit string."""
    digits = digits_of(data)
    if digits.isdigit():
        return int(digits)
    if digits[:1] == "F" and digits[1:].isdigit():
        return -int(digits[1:])
    return digits


def encode_bcd(raw: int, size: int) -> bytes:
    text = f"{raw:0{2 * size}d}" if raw >= 0 else f"F{-raw:0{2 * size - 1}d}"
    if len(text) != 2 * size:
        raise ValueError(f"{raw} does not fit in {2 * size} BCD digits")
    return bytes.fromhex(text)[::-1]


def encode_digits(digits: str, size: int) -> bytes:
    """Inverse of ``digits_of`` for a field of ``size`` bytes."""
    if len(digits) != 2 * size or not re.fullmatch(r"[0-9A-Fa-f]*", digits):
        raise ValueError(f"{digits!r} is not {2 * size} hex digits")
    return bytes.fromhex(digits)[::-1]


# ---- real32 ---------------------------------------------------------------------------------

def decode_real32(data: bytes) -> Decimal | None:
    """IEEE-754 single (LE) as the shortest decimal that reads back to the same float32."""
    (x,) = struct.unpack("<f", data)
    if not math.isfinite(x):
        return None
    for digits in range(1, 9):
        text = f"{x:.{digits}g}"
        with contextlib.suppress(OverflowError):  # rounded up past the largest float32
            if struct.unpack("<f", struct.pack("<f", float(text)))[0] == x:
                return Decimal(text)
    return Decimal(f"{x:.9g}")  # 9 significant digits always identify a float32


def encode_real32(value: Number, exponent: int) -> bytes:
    try:
        return struct.pack("<f", float(unscale(value, exponent)))
    except OverflowError:
        raise ValueError(f"{value!r} does not fit in a real32") from None


# ---- LVAR (data field D) --------------------------------------------------------------------

def lvar_size(lvar: int) -> int | None:
    """Bytes that follow an LVAR byte, or None for the reserved F7-FF (docs/protocol.md §7.4)."""
    if lvar < 0xC0:
        return lvar
    if lvar < 0xF0:
        return lvar & 0x0F
    if lvar <= 0xF4:
        return 4 * (lvar - 0xEC)
    return {0xF5: 48, 0xF6: 64}.get(lvar)


def encode_lvar_binary(blob: bytes) -> bytes:
    if len(blob) < 0x10:
        return bytes([0xE0 + len(blob)]) + blob
    codes = {16: 0xF0, 20: 0xF1, 24: 0xF2, 28: 0xF3, 32: 0xF4, 48: 0xF5, 64: 0xF6}
    if len(blob) not in codes:
        raise ValueError(f"no LVAR code for {len(blob)} binary bytes")
    return bytes([codes[len(blob)]]) + blob


def encode_lvar_text(text: str) -> bytes:
    try:
        body = text.encode("latin-1")[::-1]
    except UnicodeEncodeError:
        raise ValueError(f"{text!r} is not ISO-8859-1 text") from None
    if len(body) >= 0xC0:
        raise ValueError(f"LVAR text is limited to 191 characters, got {len(body)}")
    return bytes([len(body)]) + body


def encode_lvar_bcd(raw: int) -> bytes:
    digits = str(abs(raw))
    size = -(-len(digits) // 2)
    if size > 0x0F:
        raise ValueError(f"{raw} has too many digits for an LVAR BCD field")
    return bytes([(0xC0 if raw >= 0 else 0xD0) + size]) + encode_bcd(abs(raw), size)


# ---- dates and times (docs/protocol.md §7.9) -----------------------------------------------

# (name, every value, lowest, highest, ISO width)
_YEAR = ("year", 127, 0, 126, 4)
_MONTH = ("month", 15, 1, 12, 2)
_DAY = ("day", 0, 1, 31, 2)
_HOUR = ("hour", 31, 0, 23, 2)
_MINUTE = ("minute", 63, 0, 59, 2)
_SECOND = ("second", 63, 0, 59, 2)

# ISO layout per data length: G (2), J (3), F (4), I (6).
_LAYOUTS: dict[int, tuple[tuple[tuple[str, int, int, int, int], ...], str]] = {
    2: ((_YEAR, _MONTH, _DAY), "{}-{}-{}"),
    3: ((_HOUR, _MINUTE, _SECOND), "{}:{}:{}"),
    4: ((_YEAR, _MONTH, _DAY, _HOUR, _MINUTE), "{}-{}-{}T{}:{}"),
    6: ((_YEAR, _MONTH, _DAY, _HOUR, _MINUTE, _SECOND), "{}-{}-{}T{}:{}:{}"),
}
DATE_SIZES = frozenset(_LAYOUTS)


def _date_fields(b0: int, b1: int) -> dict[str, int]:
    """Type G layout, shared by the date part of F and I."""
    return {"day": b0 & 0x1F, "month": b1 & 0x0F, "year": (b0 >> 5) | ((b1 & 0xF0) >> 1)}


def _fields(data: bytes) -> dict[str, int]:
    """Raw fields of a date/time of type G, J, F or I."""
    if len(data) == 2:
        return _date_fields(data[0], data[1])
    if len(data) == 3:
        return {"second": data[0] & 0x3F, "minute": data[1] & 0x3F, "hour": data[2] & 0x1F}
    if len(data) == 4:
        fields = {"minute": data[0] & 0x3F, "hour": data[1] & 0x1F}
        return fields | _date_fields(data[2], data[3])
    fields = {"second": data[0] & 0x3F, "minute": data[1] & 0x3F, "hour": data[2] & 0x1F}
    return fields | _date_fields(data[3], data[4])


def decode_date(data: bytes) -> str | None:
    """Type G/J/F/I by length (2/3/4/6 bytes) as ISO 8601; None when unset or out of range."""
    if data == b"\xff" * len(data):
        return None
    fields = _fields(data)
    layout, template = _LAYOUTS[len(data)]
    parts = []
    for name, every, low, high, width in layout:
        value = fields[name]
        if value == every:
            parts.append("X" * width)
        elif low <= value <= high:
            parts.append(f"{value + 2000 if name == 'year' else value:0{width}d}")
        else:
            return None
    return template.format(*parts)


def encode_date(value: str | None, size: int) -> bytes:
    """Inverse of ``decode_date``; None encodes as all-FF (unset)."""
    if value is None:
        return b"\xff" * size
    layout, template = _LAYOUTS[size]
    pattern = re.escape(template).replace(r"\{\}", "{}").format(
        *(rf"(\d{{{width}}}|X{{{width}}})" for *_, width in layout)
    )
    match = re.fullmatch(pattern, value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a {template} date/time")
    f: dict[str, int] = {}
    for (name, every, low, high, _), text in zip(layout, match.groups(), strict=True):
        number = every if text[0] == "X" else int(text) - (2000 if name == "year" else 0)
        if number != every and not low <= number <= high:
            raise ValueError(f"{name} out of range in {value!r}")
        f[name] = number
    if size == 3:
        return bytes([f["second"], f["minute"], f["hour"]])
    date = bytes([(f["day"] | f["year"] << 5) & 0xFF, f["month"] | (f["year"] << 1) & 0xF0])
    if size == 4:
        out = bytes([f["minute"], f["hour"]]) + date
    elif size == 6:
        out = bytes([f["second"], f["minute"], f["hour"]]) + date + b"\x00"
    else:
        out = date
    if out == b"\xff" * size:
        raise ValueError(f"{value!r} collides with the unset marker (all FF)")
    return out
