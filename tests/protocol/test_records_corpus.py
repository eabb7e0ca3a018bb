"""Records of every wireless telegram in the corpus against what wmbusmeters reads.

The corpus lists, per telegram, every data record wmbusmeters' generic parser found, with its
DIF/VIF bytes, storage/tariff/subunit/function, data bytes, and value in wmbusmeters' default
units (kWh, MJ, m3, hours, C). Its ``offset`` is the position of the record's data in the
CRC-less (and decrypted) frame, except for DIF 0F where it is the DIF itself. Compact frames
(CI 79/73) list the records of the rebuilt frame; there ``offset`` points into the compact data.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from protocol.crc import crc16
from protocol.framing import strip_crcs
from protocol.modes import FrameFormat
from protocol.records import expand_compact, parse_records
from protocol.types import Record
from tests.protocol.corpus import on_air_records, record_rows

COMPACT_CIS = ("79", "73")

# Our (unit) -> factor into wmbusmeters' unit, per wmbusmeters unit name.
TO_WMBUSMETERS: dict[str, dict[str, float]] = {
    "kwh": {"Wh": 1e-3, "J": 1 / 3.6e6},
    "mj": {"J": 1e-6, "Wh": 3.6e-3},
    "m3": {"m3": 1.0},
    "kw": {"W": 1e-3, "J/h": 1 / 3.6e6},
    "mjh": {"J/h": 1e-6, "W": 3.6e-3},
    "m3h": {"m3/h": 1.0, "m3/min": 60.0, "m3/s": 3600.0},
    "c": {"C": 1.0, "K": 1.0},
    "h": {"s": 1 / 3600, "min": 1 / 60, "h": 1.0, "d": 24.0},
    "d": {"d": 1.0, "h": 1 / 24},
    "v": {"V": 1.0},
    "a": {"A": 1.0},
    "bar": {"bar": 1.0},
    "rh": {"%": 1.0},
    "hca": {"": 1.0},
    "counter": {"": 1.0},
}


def _link_bytes(row: dict[str, Any]) -> bytes:
    text = row["decrypted_frame_hex"] or row["hex"]
    # One source test string lost its last digit (qwaterv2 "yetanoter"): drop the lone nibble.
    frame = bytes.fromhex(text[: len(text) & ~1])
    if row["has_crc"] and not row["decrypted_frame_hex"]:
        frame = strip_crcs(frame, FrameFormat(row["frame_format"])).data
    return frame


def _record_start(expected: dict[str, Any], frame: bytes) -> int:
    """Where the first listed record's DIF is, from wmbusmeters' data offset."""
    if expected["dif"] in ("0F", "1F"):
        return expected["offset"]
    lvar = 1 if int(expected["dif"], 16) & 0x0F == 0x0D else 0
    return expected["offset"] - len(expected["difvif"]) // 2 - lvar


def _record_area(row: dict[str, Any]) -> tuple[bytes, list[str]]:
    """The uncompressed record area of a telegram, and problems met while rebuilding it."""
    frame = _link_bytes(row)
    first = row["records"][0]
    if row["tpl_ci"] not in COMPACT_CIS:
        return frame[_record_start(first, frame) :], []
    data_start = first["offset"]
    signature = int.from_bytes(frame[data_start - 4 : data_start - 2], "little")
    full_crc = int.from_bytes(frame[data_start - 2 : data_start], "little")
    fmt = bytes.fromhex("".join(r["difvif"] for r in row["records"]))
    problems = []
    if crc16(fmt) != signature:
        problems.append(f"format signature {crc16(fmt):04X} != {signature:04X}")
    area = expand_compact(fmt, frame[data_start:])
    if crc16(area) != full_crc:
        problems.append(f"full-frame CRC {crc16(area):04X} != {full_crc:04X}")
    return area, problems


# Documented deviations: where wmbusmeters' reading contradicts docs/protocol.md, we follow it.
BCD_HEX_DIGITS = ("docs/protocol.md §7.3: BCD holding hex digits A-E is kept as its raw digit "
                  "string; wmbusmeters turns it into a number")
COUNTER_SIGN = ("docs/protocol.md §7.3/§7.7: FD08 access number is a type C counter (unsigned); "
                "wmbusmeters reads it as signed (-97 for 9F)")
MONTH_ZERO = "docs/protocol.md §7.9: month 0 is out of range -> None; wmbusmeters prints 2000-00-00"
NO_DATA = ("docs/protocol.md §7.1: DIF data field 0 carries no data; wmbusmeters prints a date "
           "made of nothing")
LVAR_BINARY = ("docs/protocol.md §7.4: LVAR E0-EF is binary of LVAR-E0 bytes; wmbusmeters takes "
               "the LVAR byte as a length and swallows the following records")
DURATION_VIFE = ("docs/protocol.md §7.8: VIFE 50-67 makes the value a duration in the VIFE's "
                 "time unit; wmbusmeters keeps the VIF's unit (raw numbers compared instead)")
DATE_VIFE = ("docs/protocol.md §7.8: VIFE 6B makes the value a date (unit ''); wmbusmeters "
             "ignores the VIFE (sim-broken-heat, a deliberately broken telegram)")
BCD12_RAW = ("wmbusmeters' raw_number of a 12-digit BCD identifier is not the reading of its "
             "digits (1.8e19 for 187103002300); the digits are compared with its data instead")
TRUNCATED_LAST = ("the last record runs past the end of the telegram: we stop with a TRUNCATED "
                  "failure, wmbusmeters lists a partial record")
VOTTEN = "xmq-kamwater-votten-606604a2"
FFCRC_VOTTEN = ("xmq-kamwater-votten: the format signature matches and every value agrees, but the "
                "meter's full-frame CRC is not the CRC of the rebuilt area (unknown rule)")

FUNCTION_NAMES = {"Instantaneous": "instantaneous", "Maximum": "maximum",
                  "Minimum": "minimum", "AtError": "error"}
BCD_FIELDS = (0x9, 0xA, 0xB, 0xC, 0xE)


def _compare_value(mine: Record, exp: dict[str, Any]) -> tuple[str | None, str | None]:
    """(problem, deviation) for one record's value; both None when equal or nothing to compare."""
    unit, field = exp["unit"], mine.dif[0] & 0x0F
    if unit in ("date", "datetime"):
        theirs = exp.get("date")
        if field == 0:
            return (None, NO_DATA) if mine.value is None else ("data field 0 with a value", None)
        if theirs is None:
            return None, None
        if theirs.startswith("2000-00-"):
            return (None, MONTH_ZERO) if mine.value is None else ("month 0 not None", None)
        # wmbusmeters prints minutes only, and the periodic year 127 as 2127
        # (docs/protocol.md §7.9).
        ours = mine.value[:16].replace("T", " ") if isinstance(mine.value, str) else mine.value
        theirs = theirs.replace("2127-", "XXXX-")
        return (None if ours == theirs else f"date {ours!r} != {theirs!r}"), None
    raw = exp.get("raw_number")
    if isinstance(mine.value, str) and field in BCD_FIELDS and not mine.value.isdigit():
        return None, BCD_HEX_DIGITS
    if unit == "txt":
        if raw is None:
            return None, None
        if isinstance(mine.value, str):
            if field == 0xE and raw >= 2**63:
                ok = bytes.fromhex(exp["data_hex"])[::-1].hex().upper() == mine.value
                return (None if ok else f"digits {mine.value}"), BCD12_RAW
            ours = int(mine.value, 10 if field in BCD_FIELDS else 16)
        else:
            ours = mine.value
        # raw_number is a double: 64-bit identifiers only match to double precision.
        same = math.isclose(ours, raw, rel_tol=1e-15)
        return (None if same else f"value {ours!r} != raw {raw!r}"), None
    if unit is None or exp["value"] is None:
        return None, None
    if mine.quantity == "access_number" and raw is not None and raw < 0:
        return (None if mine.value == raw % 256 else f"access {mine.value}"), COUNTER_SIGN
    factor = TO_WMBUSMETERS[unit].get(mine.unit)
    if factor is None and any(e.startswith("duration_of_") for e in mine.extensions):
        return (None if mine.value == raw else f"duration {mine.value} != {raw}"), DURATION_VIFE
    if factor is None and any(e.endswith("_date") for e in mine.extensions):
        return None, DATE_VIFE
    if factor is None or not isinstance(mine.value, int | float):
        return f"value {mine.value!r} {mine.unit} vs {exp['value']!r} {unit}", None
    # real32 values are float32: compare to float32 precision.
    tolerance = 1e-6 if field == 0x5 else 1e-9
    if math.isclose(mine.value * factor, exp["value"], rel_tol=tolerance, abs_tol=1e-12):
        return None, None
    return f"value {mine.value * factor!r} != {exp['value']!r} {unit}", None


def compare(row: dict[str, Any]) -> tuple[list[str], int, list[str]]:
    """Mismatches with wmbusmeters, values it gives that were compared, deviations met."""
    area, problems = _record_area(row)
    deviations = []
    if row["id"] == VOTTEN and problems[-1:] and "full-frame" in problems[-1]:
        problems.pop()
        deviations.append(FFCRC_VOTTEN)
    result = parse_records(area)
    ours = list(result.records)
    expected = on_air_records(row)
    compared = 0
    if len(ours) < len(expected):
        truncated = result.failure is not None and result.failure.reason == "truncated"
        if truncated and len(expected) - len(ours) == 1:
            deviations.append(TRUNCATED_LAST)
        else:
            problems.append(f"{len(ours)} records < {len(expected)}; failure {result.failure}")
    for i, (mine, exp) in enumerate(zip(ours, expected, strict=False)):
        where = f"record {i} {exp['difvif']}"
        if (mine.dif + mine.vif).hex().upper() != exp["difvif"].upper():
            problems.append(f"{where}: difvif {(mine.dif + mine.vif).hex().upper()}")
            continue
        fields = {"storage": mine.storage, "tariff": mine.tariff, "subunit": mine.subunit,
                  "function": str(mine.function)}
        wanted = {"storage": exp["storage"], "tariff": exp["tariff"], "subunit": exp["subunit"],
                  "function": FUNCTION_NAMES[exp["measurement_type"]]}
        if mine.dif[0] in (0x0F, 0x1F):
            wanted["function"] = "instantaneous"  # the function bits of 0F/1F mean nothing
        if fields != wanted:
            problems.append(f"{where}: {fields} != {wanted}")
        lvar = mine.data[:1] if mine.dif[0] & 0x0F == 0x0D else b""
        data = mine.data[len(lvar):]
        if data.hex().upper() != exp["data_hex"].upper():
            if lvar and 0xE0 <= lvar[0] <= 0xEF and exp["data_hex"].startswith(data.hex().upper()):
                deviations.append(LVAR_BINARY)
                break
            problems.append(f"{where}: data {data.hex().upper()} != {exp['data_hex']}")
        problem, deviation = _compare_value(mine, exp)
        given = (exp["value"], exp.get("date"), exp.get("raw_number"))
        compared += any(v is not None for v in given)
        if problem:
            problems.append(f"{where}: {problem}")
        if deviation:
            deviations.append(deviation)
    return problems, compared, deviations


def _plaintext_stored(row: dict[str, Any]) -> bool:
    """False for the rows whose records wmbusmeters read from bytes the corpus does not hold."""
    first = row["records"][0]
    if row["tpl_ci"] in COMPACT_CIS:
        return True
    frame = _link_bytes(row)
    start = _record_start(first, frame)
    return frame[start : start + len(first["difvif"]) // 2].hex().upper() == first["difvif"]


ROWS = record_rows()


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_corpus_records_match_wmbusmeters(row: dict[str, Any]) -> None:
    if not _plaintext_stored(row):
        pytest.skip("records come from a decryption whose plaintext the corpus does not store")
    problems, _, _ = compare(row)
    assert not problems, "\n".join(problems)


def test_every_documented_deviation_occurs_and_most_values_agree() -> None:
    """Keeps the deviation list honest: each one is still needed, and they stay rare."""
    met: list[str] = []
    compared = 0
    for row in ROWS:
        if _plaintext_stored(row):
            _, count, deviations = compare(row)
            compared += count
            met += deviations
    documented = {BCD_HEX_DIGITS, COUNTER_SIGN, MONTH_ZERO, NO_DATA, LVAR_BINARY, DURATION_VIFE,
                  DATE_VIFE, BCD12_RAW, TRUNCATED_LAST, FFCRC_VOTTEN}
    assert set(met) == documented
    assert compared > 1600 and len(met) < 0.02 * compared
