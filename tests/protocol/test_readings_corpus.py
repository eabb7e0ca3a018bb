"""Readings against wmbusmeters' driver output on the corpus (tests/data/corpus.jsonl).

For every wireless telegram whose wmbusmeters driver is a family we support, every numeric field
of the driver's output (``expected``, or ``oracle`` where the test gave none) must equal one of
our readings: same name, same value as wmbusmeters prints it (6 decimals), a unit prefix aside
(``_kwh`` against ``_mwh``). The share of fields matched must reach 95 %; the misses are listed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from protocol.telegram import Telegram
from protocol.vendors.registry import FAMILIES
from tests.protocol.corpus import decode_row, wireless_rows

TARGET_SHARE = 0.95
# Unit prefixes a reading may differ by: the name's unit -> (unit without prefix, factor).
PREFIXED = {"kwh": ("wh", 1e3), "mwh": ("wh", 1e6), "gj": ("j", 1e9), "mj": ("j", 1e6),
            "kw": ("w", 1e3), "mw": ("w", 1e6), "l": ("m3", 1e-3)}
SUPPORTED = {name for f in FAMILIES for name in (f.name, *f.aliases)}
# Fields of the receiver, not of the meter (the level a stick measured the telegram at).
RECEIVER_FIELDS = {"rssi_dbm"}


def driver_fields(row: dict[str, Any]) -> dict[str, float]:
    output = row["expected"] if row["expected"] is not None else row["oracle"]
    return {k: v for k, v in (output or {}).items()
            if isinstance(v, int | float) and not isinstance(v, bool) and k not in RECEIVER_FIELDS}


def _base(name: str) -> tuple[str, float]:
    """The name with its unit prefix removed, and the prefix's factor."""
    stem, _, unit = name.rpartition("_")
    base, factor = PREFIXED.get(unit, (unit, 1.0))
    return f"{stem}_{base}", factor


def misses_of(row: dict[str, Any]) -> tuple[int, list[str]]:
    """How many numeric fields wmbusmeters printed for the row, and those we do not match."""
    wanted = driver_fields(row)
    t = decode_row(row)
    ours = {r.name: r.value for r in t.readings} if isinstance(t, Telegram) else {}
    by_base = {}
    for name, value in ours.items():
        base, factor = _base(name)
        by_base[base] = value * factor
    misses = []
    for name, value in wanted.items():
        base, factor = _base(name)
        got = by_base.get(base)
        # wmbusmeters prints at most 6 decimals: equal means equal at that precision.
        if got is None or abs(got / factor - value) > 5e-7 + 1e-9 * abs(value):
            misses.append(f"{name}={value} (ours {ours.get(name, '-')})")
    return len(wanted), misses


def coverage(rows: Iterable[dict[str, Any]] | None = None,
             ) -> tuple[Counter[str], Counter[str], list[str]]:
    """Fields and matched fields per family (wmbusmeters' driver name), and every miss, over
    ``rows`` (the corpus' wireless telegrams by default)."""
    total: Counter[str] = Counter()
    matched: Counter[str] = Counter()
    misses: list[str] = []
    for row in wireless_rows() if rows is None else rows:
        family = row["driver_resolved"]
        if family not in SUPPORTED:
            continue
        n, missed = misses_of(row)
        total[family] += n
        matched[family] += n - len(missed)
        misses += [f"{family} {row['id']}: {m}" for m in missed]
    return total, matched, misses


def test_readings_match_wmbusmeters_drivers() -> None:
    total, matched, misses = coverage()
    share = sum(matched.values()) / sum(total.values())
    assert share >= TARGET_SHARE, f"{share:.1%} of fields matched; misses:\n" + "\n".join(misses)
