"""Property tests: encode/parse round trips for every data type, and parsing never raises."""

from __future__ import annotations

import contextlib
import dataclasses
import struct
from datetime import datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.records import (
    encode_record,
    encode_records,
    expand_compact,
    format_signature_bytes,
    parse_records,
)
from protocol.types import Record
from tests.protocol.strategies import FIXED_SIZES, LATIN1, difs, raw_records

EXAMPLES = settings(max_examples=300, deadline=None)

# ---- round trips --------------------------------------------------------------------------

def single(payload: bytes) -> Record:
    result = parse_records(payload)
    assert result.failure is None, (payload.hex(), result.failure)
    (record,) = result.records
    return record


@EXAMPLES
@given(raw_records())
def test_any_record_reencodes_to_the_same_reading(raw: bytes) -> None:
    """parse(encode(r)) == r for every record any header and data bytes can make."""
    record = single(raw)
    again = single(encode_record(record.dif, record.vif, record.value))
    assert again == dataclasses.replace(record, data=again.data)
    # The encoding is canonical: encoding the re-read record gives the same bytes.
    assert encode_records([again]) == record.dif + record.vif + again.data


def check_value(dif: bytes, vif: bytes, value: object) -> Record:
    record = single(encode_record(dif, vif, value))
    assert record.value == value and type(record.value) is type(value)
    return record


@EXAMPLES
@given(st.sampled_from([1, 2, 3, 4, 6, 7]), st.integers(-(2**63), 2**63 - 1), difs)
def test_signed_integers(field: int, raw: int, dif: bytes) -> None:
    size = FIXED_SIZES[field]
    raw = raw >> (64 - 8 * size)  # keep the sign, fit the size
    dif = bytes([dif[0] & 0xF0 | field]) + dif[1:]
    record = check_value(dif, b"\x03", raw)  # energy, Wh x 1
    assert record.data == raw.to_bytes(size, "little", signed=True)


@EXAMPLES
@given(st.integers(-(10**15) + 1, 10**15 - 1), st.sampled_from([0x10, 0x13, 0x58, 0x68]))
def test_scaled_integers_are_exact_decimals(raw: int, vif: int) -> None:
    exponent = {0x10: -6, 0x13: -3, 0x58: -3, 0x68: -3}[vif]
    value = float(f"{raw}e{exponent}")
    record = check_value(b"\x07", bytes([vif]), value)
    assert int.from_bytes(record.data, "little", signed=True) == raw


@EXAMPLES
@given(st.sampled_from([0x9, 0xA, 0xB, 0xC, 0xE]), st.integers(0, 10**12 - 1), st.booleans())
def test_bcd_including_negative(field: int, magnitude: int, negative: bool) -> None:
    digits = 2 * FIXED_SIZES[field]
    value = -(magnitude % 10 ** (digits - 1)) if negative else magnitude % 10**digits
    record = check_value(bytes([field]), b"\x06", value * 1000)  # kWh -> Wh
    assert record.data[::-1].hex().upper().startswith("F") == (value < 0)


@EXAMPLES
@given(st.text("0123456789ABCDEF", min_size=8, max_size=8))
def test_bcd_with_hex_digits_keeps_the_digits(digits: str) -> None:
    record = single(bytes.fromhex("0C13") + bytes.fromhex(digits)[::-1])
    if digits.isdigit() or (digits[0] == "F" and digits[1:].isdigit()):
        assert isinstance(record.value, float)
    else:
        assert record.value == digits
        assert check_value(b"\x0c", b"\x13", digits).data == bytes.fromhex(digits)[::-1]


@EXAMPLES
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_real32(value: float) -> None:
    """The value read is the shortest decimal naming the same float32 (0.1, not 0.100000001)."""
    record = single(encode_record(b"\x05", b"\x03", value))
    assert struct.pack("<f", record.value) == struct.pack("<f", value) == record.data
    assert len(Decimal(repr(record.value)).normalize().as_tuple().digits) <= 9


@EXAMPLES
@given(st.datetimes(datetime(2000, 1, 1), datetime(2126, 12, 31)),
       st.sampled_from(["G", "F", "I", "J"]), st.booleans())
def test_dates(moment: datetime, kind: str, every_year: bool) -> None:
    dif, vif, text = {
        "G": (b"\x02", b"\x6c", moment.strftime("%Y-%m-%d")),
        "F": (b"\x04", b"\x6d", moment.strftime("%Y-%m-%dT%H:%M")),
        "I": (b"\x06", b"\x6d", moment.strftime("%Y-%m-%dT%H:%M:%S")),
        "J": (b"\x03", b"\x6d", moment.strftime("%H:%M:%S")),
    }[kind]
    if every_year and kind != "J":
        text = "XXXX" + text[4:]
    check_value(dif, vif, text)


@EXAMPLES
@given(st.text(LATIN1, max_size=60))
def test_lvar_text(text: str) -> None:
    record = check_value(b"\x0d", b"\x79", text)
    assert record.data[1:] == text.encode("latin-1")[::-1]


@EXAMPLES
@given(st.one_of(st.binary(max_size=15),
                 st.sampled_from([16, 20, 24, 28, 32, 48, 64]).flatmap(
                     lambda n: st.binary(min_size=n, max_size=n))))
def test_lvar_binary(blob: bytes) -> None:
    check_value(b"\x0d", b"\xfd\x3b", blob)


@EXAMPLES
@given(st.integers(-(10**29) + 1, 10**29 - 1))
def test_lvar_bcd(value: int) -> None:
    check_value(b"\x0d", b"\x03", value)


@EXAMPLES
@given(st.integers(0, 255), st.integers(0, 0xFFFF), st.text("0123456789", min_size=8,
                                                               max_size=8))
def test_counters_bit_fields_and_identifiers(counter: int, flags: int, digits: str) -> None:
    assert check_value(b"\x01", b"\xfd\x08", counter).quantity == "access_number"
    assert check_value(b"\x02", b"\xfd\x17", flags).quantity == "error_flags"
    assert check_value(b"\x0c", b"\x78", digits).quantity == "fabrication_number"
    assert check_value(b"\x04", b"\xfd\x0c", digits).data == bytes.fromhex(digits)[::-1]


@EXAMPLES
@given(st.lists(raw_records(), max_size=5), st.booleans())
def test_record_lists_and_compact_frames(raws: list[bytes], filler: bool) -> None:
    area = (b"\x2f" if filler else b"").join(raws)
    records = parse_records(area).records
    assert len(records) == len(raws)
    data = b"".join(r.data for r in records)
    assert expand_compact(format_signature_bytes(area), data) == b"".join(raws)


# ---- robustness ---------------------------------------------------------------------------

def never_raises(payload: bytes) -> None:
    result = parse_records(payload)
    assert result.failure is None or result.failure.stage == "records"
    for record in result.records:
        assert isinstance(record.value, int | float | str | bytes | type(None))
    fmt = format_signature_bytes(payload)
    with contextlib.suppress(ValueError):
        expand_compact(fmt, payload[: len(payload) // 2])


@EXAMPLES
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(payload: bytes) -> None:
    never_raises(payload)


@EXAMPLES
@given(st.lists(raw_records(), min_size=1, max_size=6), st.data())
def test_mutated_records_never_raise(raws: list[bytes], data: st.DataObject) -> None:
    payload = bytearray(b"".join(raws))
    for _ in range(data.draw(st.integers(1, 4))):
        where = data.draw(st.integers(0, len(payload)))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "insert" or where == len(payload):
            payload.insert(where, data.draw(st.integers(0, 255)))
        elif action == "flip":
            payload[where] ^= 1 << data.draw(st.integers(0, 7))
        else:
            del payload[where]
    never_raises(bytes(payload))
