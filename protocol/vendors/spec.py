"""Meter families as data: how a family is recognised and where each of its readings comes from.

A reading is named as wmbusmeters names it, its unit being the last part of the name
(``total_m3``, ``target_energy_kwh``, ``current_consumption_hca``), so that a Home Assistant set-up
moves over without renaming. Three kinds of field say where a reading comes from:

- ``Rec``: a data record, matched on quantity, storage, tariff, subunit, function and combinable
  VIFEs as a driver declares it (or on exact DIF/VIF bytes for manufacturer-specific records);
  the record's value is converted to the unit of the name (Wh or J to kWh, m3/min to m3/h, ...).
- ``Raw``: bytes at an offset of a proprietary payload, with their encoding and scale.
- a family's ``decode`` function, for formats that need logic (bit fields, histories, ciphers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction

from protocol.telegram import Telegram
from protocol.types import DecodeFailure, Reading, Record, RecordFunction

Number = int | float
Readings = dict[str, Number]
ONE = Fraction(1)

_KWH = {"Wh": Fraction(1, 1000), "J": Fraction(1, 3_600_000)}
_HOURS = {"s": Fraction(1, 3600), "min": Fraction(1, 60), "h": ONE, "d": Fraction(24)}
# Units a reading can have (the last part of its name), and the factor from each record unit
# (docs/protocol.md §7.5: records are in one unit per quantity family) to it. A reading whose
# unit is not listed here takes a unitless record's number as it is (counters, raw values).
UNITS: dict[str, dict[str, Fraction]] = {
    "kwh": _KWH,
    "mwh": {u: f / 1000 for u, f in _KWH.items()},
    "gj": {"Wh": Fraction(36, 10**10), "J": Fraction(1, 10**9)},
    "mj": {"Wh": Fraction(36, 10**4), "J": Fraction(1, 10**6)},
    "m3": {"m3": ONE},
    "l": {"m3": Fraction(1000)},
    "kw": {"W": Fraction(1, 1000), "J/h": Fraction(1, 3_600_000)},
    "w": {"W": ONE, "J/h": Fraction(1, 3600)},
    "m3h": {"m3/h": ONE, "m3/min": Fraction(60), "m3/s": Fraction(3600)},
    "c": {"C": ONE, "K": ONE},
    "k": {"K": ONE},
    "h": _HOURS,
    "s": {u: f * 3600 for u, f in _HOURS.items()},
    "d": {u: f / 24 for u, f in _HOURS.items()},
    "y": {u: f / 24 / Fraction("365.2425") for u, f in _HOURS.items()},  # Gregorian years
    "hca": {"": ONE},
    "v": {"V": ONE},
    "a": {"A": ONE},
    "bar": {"bar": ONE},
    "rh": {"%": ONE},
    "pct": {"%": ONE},
    "dbm": {"dBm": ONE},
    "kvarh": {"": ONE},
    "kvah": {"": ONE},
    "hz": {"": ONE},
}


def unit_of(name: str) -> str:
    """The unit of a reading: the last part of its name when it is a unit, else ``""``."""
    last = name.rsplit("_", 1)[-1]
    return last if "_" in name and last in UNITS else ""


def number(value: Fraction) -> Number:
    """An exact value as JSON shows it: an int when whole, else the nearest float."""
    return int(value) if value.denominator == 1 else float(value)


def exact(value: Number) -> Fraction:
    """A record's value as the exact decimal it stands for (floats are the nearest to it)."""
    return Fraction(str(value)) if isinstance(value, float) else Fraction(value)


def convert(record: Record, name: str, scale: Fraction = ONE, *,
            units: bool = True) -> Number | None:
    """A record's value in the unit of the reading ``name`` (times ``scale``); None when it is
    not a number or its unit cannot be converted to that one. Without ``units`` the record's
    number is taken as it is (a driver that names exact DIF/VIF bytes says what they hold)."""
    value = record.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    factors = UNITS.get(unit_of(name))
    if units and record.unit and factors is not None:
        factor = factors.get(record.unit)
        if factor is None:
            return None
        return number(exact(value) * factor * scale)
    return number(exact(value) * scale)


@dataclass(frozen=True, slots=True)
class View:
    """What a family reads: the decoded telegram, and the user's key for the meter (vendor
    ciphers), never shown anywhere."""

    telegram: Telegram
    key: bytes | None = field(default=None, repr=False)
    extra: tuple[Record, ...] = ()  # records a family rebuilt from its proprietary data

    @property
    def records(self) -> tuple[Record, ...]:
        return self.telegram.records + self.extra

    @property
    def payload(self) -> bytes:
        """What follows the TPL header (plaintext when it was decrypted)."""
        return self.telegram.payload


ANY_STORAGE = range(1 << 40)


@dataclass(frozen=True, slots=True)
class Rec:
    """A reading taken from the first data record that matches, as a driver declares it.

    ``storage`` is a number or a range of them; ``function`` None matches any; ``extensions``
    None matches any combinable VIFEs, else the record must have exactly these.
    """

    name: str
    quantity: str | None = None  # Record.quantity; None with ``difvif``
    storage: int | range = 0
    tariff: int = 0
    subunit: int = 0
    function: RecordFunction | None = RecordFunction.INSTANTANEOUS
    extensions: tuple[str, ...] | None = ()
    difvif: str | None = None  # exact DIF/DIFE/VIF/VIFE bytes (hex), e.g. "04FF07"
    scale: Fraction = ONE  # applied to unitless (manufacturer-specific) numbers
    index: int = 0  # the n-th matching record (0: the first)

    def matches(self, r: Record) -> bool:
        if self.difvif is not None:
            return (r.dif + r.vif).hex().upper() == self.difvif
        storages = self.storage if isinstance(self.storage, range) else (self.storage,)
        return (
            r.quantity == self.quantity
            and r.storage in storages
            and (r.tariff, r.subunit) == (self.tariff, self.subunit)
            and (self.function is None or r.function is self.function)
            and (self.extensions is None or set(r.extensions) == set(self.extensions))
        )

    def read(self, view: View) -> Number | None:
        found = [r for r in view.records if self.matches(r)]
        if len(found) <= self.index:
            return None
        return convert(found[self.index], self.name, self.scale, units=self.difvif is None)


def series(base: Rec, attribute: str, numbers: Iterable[int], offset: int = 0) -> tuple[Rec, ...]:
    """One ``Rec`` per number n: ``base.name`` formatted with n, and ``attribute`` (storage,
    tariff or subunit) set to ``n + offset`` (``consumption_at_set_date_{}_hca`` is storage n;
    ``consumption_{}_months_ago_m3`` storage n + 1)."""
    return tuple(replace(base, name=base.name.format(n), **{attribute: n + offset})
                 for n in numbers)


def read_int(data: bytes, offset: int, size: int, *, signed: bool = False) -> int | None:
    """The little-endian integer in ``data[offset:offset+size]``; None when the bytes are not
    all there."""
    chunk = data[offset : offset + size]
    if offset < 0 or len(chunk) != size:
        return None
    return int.from_bytes(chunk, "little", signed=signed)


@dataclass(frozen=True, slots=True)
class Raw:
    """A reading from bytes of a proprietary payload (after the TPL header), or of the
    manufacturer data after DIF 0F/1F."""

    name: str
    offset: int  # little-endian integer of ``size`` bytes
    size: int
    scale: Fraction = ONE
    manufacturer_data: bool = False

    def read(self, view: View) -> Number | None:
        data = view.telegram.manufacturer_data if self.manufacturer_data else view.payload
        raw = read_int(data, self.offset, self.size)
        return None if raw is None else number(raw * self.scale)


Field = Rec | Raw
Decoded = Mapping[str, Number] | DecodeFailure  # a failure: no key, wrong key, cut short
Decode = Callable[[View], Decoded]
Detection = tuple[str, int | None, int]  # manufacturer, version (None: any), device type ("mvt")


@dataclass(frozen=True, slots=True)
class Family:
    """A meter family: the meters it covers, and its readings.

    ``name`` is wmbusmeters' driver name; ``detect`` lists (manufacturer, version, device type)
    of the meters it reads. ``expand`` may rebuild standard records from proprietary data first;
    readings come from ``fields`` in their order, then from ``decode`` (logic); the first field
    that finds a value for a name gives it.
    """

    name: str
    meters: str  # what it covers, for docs/meters.md
    detect: tuple[Detection, ...]
    fields: tuple[Field, ...] = ()
    decode: Decode | None = None
    expand: Callable[[View], tuple[Record, ...]] | None = None  # records from proprietary data
    aliases: tuple[str, ...] = ()  # other wmbusmeters driver names for the same meters
    compact_formats: tuple[str, ...] = ()  # record layouts (hex) of its compact frames
    proprietary: bool = False  # its payload is not records, whatever its CI says

    def readings(self, view: View) -> tuple[Readings, DecodeFailure | None]:
        """The readings found, and why ``decode`` could not read the payload (if it could not)."""
        out: Readings = {}
        if self.expand is not None:
            view = replace(view, extra=self.expand(view))
        for f in self.fields:
            if f.name not in out:
                value = f.read(view)
                if value is not None:
                    out[f.name] = value
        decoded = self.decode(view) if self.decode is not None else {}
        if isinstance(decoded, DecodeFailure):
            return out, decoded
        for name, value in decoded.items():
            out.setdefault(name, value)
        return out, None


def as_readings(values: Readings) -> tuple[Reading, ...]:
    return tuple(Reading(name, value) for name, value in values.items())
