"""EN 13757-3 application layer: data records (DIF/DIFE/VIF/VIFE + data), sans-IO.

Decoding: ``parse_records(payload)`` walks the record area after the TPL header (after
decryption) and returns every record it could read, plus a ``DecodeFailure`` (stage "records")
for the first problem; it never raises. ``record_to_dict`` makes a record JSON-ready.
Encoding is the mirror: ``make_dif`` + ``encode_record`` / ``encode_records`` build record bytes
that ``parse_records`` reads back to the same values. Compact frames (docs/protocol.md §8):
``format_signature_bytes`` and ``expand_compact``.

Values (``Record.value``):
- numbers are the raw number × the VIF's power of ten, in the unit named by ``Record.unit``. One
  unit per quantity family, never a prefixed one: energy in "Wh" (VIF 06, kWh, reads 9341 as
  9341000 Wh) or "J", volume "m3" (VIF 13, litres, reads 106 as 0.106 m3), mass "kg", power "W" or
  "J/h", flows "m3/h" (also "m3/min", "m3/s" as the VIF says), "kg/h", temperatures "C" (FB table:
  "F"), differences "K", pressure "bar", voltage "V", current "A", humidity "%", HCA units and
  dimensionless "". Durations keep the VIF's time unit: "s", "min", "h", "d", "month", "year".
  Scaling is exact decimal arithmetic: an int when the multiplier is >= 1, else the float nearest
  to the exact decimal (0.106, not 0.10600000000000001). Measured values (type B) are signed;
  counters are unsigned; bit fields (error flags, digital I/O, ...) are unsigned ints.
- identifiers (fabrication number, enhanced id, versions, parameter set, customer, ...) are
  strings: BCD digits or the hex digits of the little-endian integer, most significant first
  (``03 FD0C 080000`` -> "000008"), or the text of an LVAR field.
- BCD with hex digits other than a leading F (minus sign) is kept as the raw digit string.
- LVAR text is a str (last character first on air), LVAR BCD a number, LVAR binary ``bytes``.
- dates are ISO 8601 strings (see ``protocol.records_values``); invalid dates are None.
- real32 NaN/inf, no data (data field 0 or 8) -> None.
- manufacturer-specific VIF 7F/FF: quantity "manufacturer_specific", the number read per DIF
  unscaled (``05 FF2D 0000803F`` -> 1.0). A combinable VIFE 7F adds the extension
  "manufacturer_specific" and the VIFEs after it are not interpreted; the value keeps the VIF's
  quantity, unit and scale, as meters use it (``04 A9FF01`` is a power per phase).
- DIF 0F/1F: a record with quantity "manufacturer_data", empty VIF and the remaining bytes as a
  ``bytes`` value; the same bytes are in ``RecordsResult.manufacturer_data``.

``Record.data`` holds the data field exactly as on air, the LVAR byte included; ``Record.vif``
holds the VIF, the plain-text unit (length and characters) of VIF 7C/FC, and every VIFE.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from protocol import records_values as rv
from protocol.records_vif import (
    COMBINABLE,
    COMBINABLE_ESCAPE,
    COMBINABLE_EXTENSION,
    EXTENSION_FB,
    EXTENSION_FD,
    MANUFACTURER_VIFE,
    PRIMARY,
    RESERVED,
    Combinable,
    ValueKind,
    VifInfo,
)
from protocol.types import DecodeFailure, FailureReason, Record, RecordFunction

FILLER = 0x2F
MANUFACTURER_DIFS = (0x0F, 0x1F)  # 1F: more records follow in the next telegram
MORE_RECORDS_FOLLOW = 0x1F
LVAR = 0x0D
REAL32 = 0x05
NO_DATA_FIELDS = (0x00, 0x08)  # no data / selection for readout
BCD_FIELDS = (0x09, 0x0A, 0x0B, 0x0C, 0x0E)
FIXED_SIZES = {0x0: 0, 0x1: 1, 0x2: 2, 0x3: 3, 0x4: 4, 0x5: 4, 0x6: 6, 0x7: 8,
               0x8: 0, 0x9: 1, 0xA: 2, 0xB: 3, 0xC: 4, 0xE: 6}
MAX_EXTENSIONS = 10  # DIFEs per record, and VIFEs after the VIF
PLAIN_TEXT_VIF = 0x7C
EXTENSION_TABLES = {0xFB: EXTENSION_FB, 0xFD: EXTENSION_FD, 0xEF: {}}
FUNCTIONS = (RecordFunction.INSTANTANEOUS, RecordFunction.MAXIMUM, RecordFunction.MINIMUM,
             RecordFunction.ERROR)
STAGE = "records"
REAL32_NAN = bytes.fromhex("0000C07F")  # how None (invalid) is encoded in a real32 field
LVAR_EMPTY_BCD = 0xC0  # how None is encoded in an LVAR field (BCD without digits)


@dataclass(frozen=True, slots=True)
class RecordsResult:
    """Every record decoded, and the first problem (records before it are kept)."""

    records: tuple[Record, ...]
    failure: DecodeFailure | None = None
    manufacturer_data: bytes = b""
    more_records_follow: bool = False


@dataclass(frozen=True, slots=True)
class _Header:
    """DIF/DIFE/VIF/VIFE of one record and what they mean."""

    dif: bytes
    vif: bytes
    storage: int
    tariff: int
    subunit: int
    quantity: str
    unit: str
    exponent: int
    kind: ValueKind
    extensions: tuple[str, ...]

    @property
    def data_field(self) -> int:
        return self.dif[0] & 0x0F

    @property
    def function(self) -> RecordFunction:
        return FUNCTIONS[(self.dif[0] >> 4) & 3]


def _failure(reason: FailureReason, detail: str) -> DecodeFailure:
    return DecodeFailure(STAGE, reason, detail)


def _truncated(what: str, start: int) -> DecodeFailure:
    return _failure(FailureReason.TRUNCATED, f"record at byte {start}: {what} missing")


def _chain_end(buf: bytes, pos: int, extended: int, start: int, what: str) -> int | DecodeFailure:
    """End of the DIFE/VIFE chain at ``pos``, which exists when ``extended`` (bit 7) is set."""
    end = pos
    while extended:
        if end - pos == MAX_EXTENSIONS:
            return _failure(FailureReason.MALFORMED,
                            f"record at byte {start}: over {MAX_EXTENSIONS} {what}s")
        if end >= len(buf):
            return _truncated(what, start)
        extended = buf[end] & 0x80
        end += 1
    return end


def _read_vif(buf: bytes, pos: int, start: int) -> tuple[VifInfo, int, int] | DecodeFailure:
    """The VIF at ``pos`` (with its table VIFE or plain-text unit): info, end, extension bit."""
    if pos >= len(buf):
        return _truncated("VIF", start)
    vif = buf[pos]
    if vif in EXTENSION_TABLES:
        if pos + 1 >= len(buf):
            return _truncated("extension VIFE", start)
        code = buf[pos + 1]
        return EXTENSION_TABLES[vif].get(code & 0x7F, RESERVED), pos + 2, code & 0x80
    if vif & 0x7F == PLAIN_TEXT_VIF:
        size = buf[pos + 1] if pos + 1 < len(buf) else 0
        end = pos + 2 + size
        if end > len(buf):
            return _truncated("plain-text unit", start)
        text = buf[pos + 2 : end][::-1].decode("latin-1")
        return VifInfo("plain_text", text), end, vif & 0x80
    return PRIMARY.get(vif & 0x7F, RESERVED), pos + 1, vif & 0x80


def _combinables(vifes: bytes, manufacturer: bool) -> list[Combinable]:
    """Meanings of the combinable VIFEs; none after a manufacturer-specific marker."""
    found: list[Combinable] = []
    escaped = False
    for code in (b & 0x7F for b in vifes):
        if manufacturer:
            break
        if escaped:
            found.append(COMBINABLE_EXTENSION.get(code) or Combinable(f"extension_{code:02x}"))
        elif code != COMBINABLE_ESCAPE:
            found.append(COMBINABLE.get(code) or Combinable(f"vife_{code:02x}"))
            manufacturer = code == MANUFACTURER_VIFE
        escaped = code == COMBINABLE_ESCAPE and not escaped
    return found


def _read_header(buf: bytes, start: int) -> tuple[_Header, int] | DecodeFailure:
    """Parse DIF, DIFEs, VIF, VIFEs of the record at ``start`` (not a filler or 0F/1F)."""
    dif = buf[start]
    if dif & 0x0F == 0x0F:
        return _failure(FailureReason.MALFORMED,
                        f"reserved DIF {dif:02X} at byte {start}; {len(buf) - start} bytes left")
    dif_end = _chain_end(buf, start + 1, dif & 0x80, start, "DIFE")
    if isinstance(dif_end, DecodeFailure):
        return dif_end
    storage, tariff, subunit = (dif >> 6) & 1, 0, 0
    for k, dife in enumerate(buf[start + 1 : dif_end]):
        storage |= (dife & 0x0F) << (1 + 4 * k)
        tariff |= ((dife >> 4) & 3) << (2 * k)
        subunit |= ((dife >> 6) & 1) << k
    vif = _read_vif(buf, dif_end, start)
    if isinstance(vif, DecodeFailure):
        return vif
    info, pos, extended = vif
    end = _chain_end(buf, pos, extended, start, "VIFE")
    if isinstance(end, DecodeFailure):
        return end
    unit, exponent, kind = info.unit, info.exponent, info.kind
    combinables = _combinables(buf[pos:end], kind is ValueKind.RAW)
    for combinable in combinables:
        unit = unit if combinable.unit is None else combinable.unit
        exponent = (0 if combinable.reset_exponent else exponent) + combinable.exponent_delta
        kind = combinable.kind or kind
    header = _Header(buf[start:dif_end], buf[dif_end:end], storage, tariff, subunit,
                     info.quantity, unit, exponent, kind, tuple(c.name for c in combinables))
    return header, end


def _data_size(data_field: int, buf: bytes, pos: int, start: int) -> int | DecodeFailure:
    """Bytes of the data field at ``pos`` (the LVAR byte included)."""
    if data_field != LVAR:
        return FIXED_SIZES[data_field]
    if pos >= len(buf):
        return _truncated("LVAR", start)
    size = rv.lvar_size(buf[pos])
    if size is None:
        return _failure(FailureReason.MALFORMED,
                        f"record at byte {start}: reserved LVAR {buf[pos]:02X}")
    return 1 + size


def _decode_lvar(header: _Header, data: bytes) -> Any:
    lvar, body = data[0], data[1:]
    if lvar < 0xC0:
        return body[::-1].decode("latin-1")
    if lvar >= 0xE0:
        return bytes(body)
    if not body:
        return None
    if header.kind is ValueKind.ID:
        return rv.digits_of(body)
    number = rv.decode_bcd(body)
    if isinstance(number, str):
        return number
    return rv.scale(number if lvar < 0xD0 else -number, header.exponent)


def _decode_value(header: _Header, data: bytes) -> Any:
    field, kind = header.data_field, header.kind
    if field in NO_DATA_FIELDS:
        return None
    if field == LVAR:
        return _decode_lvar(header, data)
    if field == REAL32:
        real = rv.decode_real32(data)
        return None if real is None else rv.scale(real, header.exponent)
    if kind is ValueKind.ID or (kind is ValueKind.DATE and len(data) not in rv.DATE_SIZES):
        return rv.digits_of(data)
    if field in BCD_FIELDS:
        number = rv.decode_bcd(data)
        return number if isinstance(number, str) else rv.scale(number, header.exponent)
    if kind is ValueKind.DATE:
        return rv.decode_date(data)
    signed = kind in (ValueKind.NUMBER, ValueKind.RAW)
    return rv.scale(int.from_bytes(data, "little", signed=signed), header.exponent)


def _manufacturer_record(payload: bytes, pos: int) -> Record:
    data = payload[pos + 1 :]
    return Record(payload[pos : pos + 1], b"", data, 0, 0, 0, RecordFunction.INSTANTANEOUS,
                  "manufacturer_data", "", data)


def _read_record(buf: bytes, start: int) -> tuple[Record, int] | DecodeFailure:
    parsed = _read_header(buf, start)
    if isinstance(parsed, DecodeFailure):
        return parsed
    header, pos = parsed
    size = _data_size(header.data_field, buf, pos, start)
    if isinstance(size, DecodeFailure):
        return size
    if pos + size > len(buf):
        return _truncated(f"{pos + size - len(buf)} of {size} data bytes", start)
    data = buf[pos : pos + size]
    record = Record(header.dif, header.vif, data, header.storage, header.tariff, header.subunit,
                    header.function, header.quantity, header.unit,
                    _decode_value(header, data), header.extensions)
    return record, pos + size


def parse_records(payload: bytes) -> RecordsResult:
    """Decode the record area of an application payload (after the TPL header, decrypted)."""
    payload = bytes(payload)
    records: list[Record] = []
    pos = 0
    while pos < len(payload):
        dif = payload[pos]
        if dif == FILLER:
            pos += 1
            continue
        if dif in MANUFACTURER_DIFS:
            records.append(_manufacturer_record(payload, pos))
            return RecordsResult(tuple(records), None, payload[pos + 1 :],
                                 dif == MORE_RECORDS_FOLLOW)
        step = _read_record(payload, pos)
        if isinstance(step, DecodeFailure):
            return RecordsResult(tuple(records), step)
        record, pos = step
        records.append(record)
    return RecordsResult(tuple(records))


def format_signature_bytes(payload: bytes) -> bytes:
    """DIF/DIFE/VIF/VIFE bytes of every record in order: the input of the compact-frame FS.

    Fillers and DIF 0F/1F manufacturer data are left out, as wmbusmeters does (docs/protocol.md §8).
    """
    return b"".join(r.dif + r.vif for r in parse_records(payload).records if r.vif)


def expand_compact(format_bytes: bytes, data: bytes) -> bytes:
    """Rebuild a full record area from cached format bytes and a compact frame's data bytes.

    Trailing 2F fillers after the last record (padding of an encrypted payload) are dropped.
    Raises ValueError when the format bytes cannot be parsed or the data bytes do not fill the
    format exactly (too few, or other bytes left over); the caller checks the result against FFCRC.
    """
    out = bytearray()
    fpos = dpos = 0
    while fpos < len(format_bytes):
        parsed = _read_header(format_bytes, fpos)
        if isinstance(parsed, DecodeFailure):
            raise ValueError(f"format bytes: {parsed.detail}")
        header, fpos = parsed
        size = _data_size(header.data_field, data, dpos, dpos)
        if isinstance(size, DecodeFailure):
            raise ValueError(f"compact data: {size.detail}")
        if dpos + size > len(data):
            raise ValueError(f"compact data ends inside record {(header.dif + header.vif).hex()}")
        out += header.dif + header.vif + data[dpos : dpos + size]
        dpos += size
    if data[dpos:].strip(bytes([FILLER])):
        raise ValueError(f"{len(data) - dpos} compact data bytes left over after the format")
    return bytes(out)


# ---- encoding ------------------------------------------------------------------------------

def make_dif(data_field: int, *, storage: int = 0, tariff: int = 0, subunit: int = 0,
             function: RecordFunction = RecordFunction.INSTANTANEOUS) -> bytes:
    """DIF and the fewest DIFEs that carry ``storage``, ``tariff`` and ``subunit``."""
    if not 0 <= data_field <= 0x0E or min(storage, tariff, subunit) < 0:
        raise ValueError("data field must be 0..0x0E; storage, tariff, subunit >= 0")
    dif = data_field | FUNCTIONS.index(function) << 4 | (storage & 1) << 6
    difes = []
    storage >>= 1
    while storage or tariff or subunit:
        difes.append((storage & 0x0F) | (tariff & 3) << 4 | (subunit & 1) << 6)
        storage, tariff, subunit = storage >> 4, tariff >> 2, subunit >> 1
    if len(difes) > MAX_EXTENSIONS:
        raise ValueError("storage/tariff/subunit need more than 10 DIFEs")
    chain = [dif, *difes]
    return bytes(b | 0x80 for b in chain[:-1]) + bytes(chain[-1:])


def _encode_value(header: _Header, value: Any) -> bytes:
    field, kind = header.data_field, header.kind
    size = FIXED_SIZES.get(field, 0)
    if field in NO_DATA_FIELDS:
        if value is not None:
            raise ValueError(f"data field {field:X} carries no data, got {value!r}")
        return b""
    if field == LVAR:
        if value is None:
            return bytes([LVAR_EMPTY_BCD])
        if isinstance(value, bytes):
            return rv.encode_lvar_binary(value)
        if isinstance(value, str):
            return rv.encode_lvar_text(value)
        return rv.encode_lvar_bcd(rv.raw_integer(value, header.exponent))
    if field == REAL32:
        return REAL32_NAN if value is None else rv.encode_real32(value, header.exponent)
    if kind is ValueKind.DATE and field not in BCD_FIELDS and size in rv.DATE_SIZES:
        return rv.encode_date(value, size)
    if isinstance(value, str):
        return rv.encode_digits(value, size)
    if field in BCD_FIELDS:
        return rv.encode_bcd(rv.raw_integer(value, header.exponent), size)
    signed = kind in (ValueKind.NUMBER, ValueKind.RAW)
    return rv.encode_int(value, header.exponent, size, signed)


def encode_record(dif: bytes, vif: bytes, value: Any) -> bytes:
    """Record bytes: ``dif`` (DIF + DIFEs, e.g. from ``make_dif``), ``vif`` (VIF + VIFEs) and the
    data field holding ``value`` in the representation ``parse_records`` returns.

    For DIF 0F/1F pass ``vif=b""`` and the manufacturer bytes as ``value``. Raises ValueError
    when the header is not one record header or the value cannot be represented.
    """
    dif, vif = bytes(dif), bytes(vif)
    if len(dif) == 1 and dif[0] in MANUFACTURER_DIFS and not vif:
        if not isinstance(value, bytes):
            raise ValueError("manufacturer data (DIF 0F/1F) must be bytes")
        return dif + value
    if not dif:
        raise ValueError("a record needs a DIF")
    parsed = _read_header(dif + vif, 0)
    if isinstance(parsed, DecodeFailure):
        raise ValueError(f"bad record header {(dif + vif).hex()}: {parsed.detail}")
    header, end = parsed
    if header.dif != dif or end != len(dif) + len(vif):
        raise ValueError(f"{dif.hex()} / {vif.hex()} is not one DIF chain and one VIF chain")
    return dif + vif + _encode_value(header, value)


def encode_records(records: Iterable[Record]) -> bytes:
    """The record area holding ``records`` (their dif, vif and value)."""
    return b"".join(encode_record(r.dif, r.vif, r.value) for r in records)


# ---- JSON -----------------------------------------------------------------------------------

def _json_value(value: Any) -> Any:
    return value.hex().upper() if isinstance(value, bytes) else value


def record_to_dict(r: Record) -> dict[str, Any]:
    """JSON-ready dict of one record (binary values and raw bytes as uppercase hex)."""
    out: dict[str, Any] = {
        "quantity": r.quantity,
        "unit": r.unit,
        "value": _json_value(r.value),
        "storage": r.storage,
        "tariff": r.tariff,
        "subunit": r.subunit,
        "function": str(r.function),
        "dif": r.dif.hex().upper(),
        "vif": r.vif.hex().upper(),
        "data": r.data.hex().upper(),
    }
    if r.extensions:
        out["extensions"] = list(r.extensions)
    return out
