"""Sample rate and centre frequency written as quantities (``2.4M``, ``1600k``, ``2M4``) and in
rtl_433-style file names (``..._868.625M_2400k.cu8``): parsing and formatting in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# A number with an SI scale and/or unit: 868.95M, 1600k, 2M4 (= 2.4 M), 868950000Hz, 2.4Msps.
_QUANTITY = r"(\d+(?:\.\d+)?)([kKmMgG]?)(\d*)(hz|sps)?"
_NAME_TOKEN = re.compile(rf"(?<![0-9A-Za-z.]){_QUANTITY}(?![0-9A-Za-z])", re.IGNORECASE)
_WHOLE_QUANTITY = re.compile(_QUANTITY, re.IGNORECASE)
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}
# Without an explicit Hz/sps unit, a value is a centre frequency when it is at least this large:
# sample rates of SDR dongles stay below it and the tuners cannot tune that low.
_FREQUENCY_THRESHOLD_HZ = 30e6
# Plausible values, for every SDR and tuner of the band (the receiver decodes from 0.25 to
# 100 Msps; its tests cover 0.9 to 20); outside them a value is a mistake (2.4 for 2.4M, corrupt
# metadata) rather than a radio, and would only fail later, or exhaust memory.
SAMPLE_RATE_RANGE_HZ = (100e3, 100e6)
CENTER_FREQ_RANGE_HZ = (1e6, 10e9)


def _quantity(match: re.Match[str]) -> tuple[float, str] | None:
    """(value, unit) of a matched quantity; None for forms like ``2.4M4``."""
    number, scale, digits_after_scale, unit = match.groups()
    if digits_after_scale:
        if "." in number or not scale:
            return None
        number = f"{number}.{digits_after_scale}"
    return float(number) * _SCALE[scale.lower()], (unit or "").lower()


def parse_quantity(text: str) -> float:
    """A command-line rate or frequency: ``2400000``, ``2.4M``, ``2M4``, ``1600k``, ``868.95M``."""
    match = _WHOLE_QUANTITY.fullmatch(text.strip())
    parsed = _quantity(match) if match else None
    if parsed is None:
        raise ValueError(f"not a frequency or rate: {text!r} (examples: 2.4M, 2400k, 868.95M)")
    return parsed[0]


@dataclass(frozen=True, slots=True)
class NameHints:
    """Sample rate and centre frequency found in a file name (None when absent)."""

    sample_rate_hz: float | None = None
    center_freq_hz: float | None = None


def parse_name_tokens(name: str) -> NameHints:
    """Sample rate and centre frequency from rtl_433 / rtl-wmbus style file-name tokens.

    ``Hz`` marks a frequency and ``sps`` a rate; otherwise large values are centre frequencies
    and small ones sample rates, so ``868.95M``, ``1600k``, ``2M4`` and ``2.4M`` all work. When a
    kind appears twice, the last token wins (rtl_433 also parses left to right).
    """
    rate: float | None = None
    center: float | None = None
    for match in _NAME_TOKEN.finditer(name):
        if not match.group(2) and not match.group(4):
            continue  # a bare number (an index, a date) says nothing
        parsed = _quantity(match)
        if parsed is None:
            continue
        value, unit = parsed
        if unit == "hz" or (not unit and value >= _FREQUENCY_THRESHOLD_HZ):
            center = value
        else:
            rate = value
    return NameHints(sample_rate_hz=rate, center_freq_hz=center)


def _number(value: float) -> str:
    """Up to 6 decimals without trailing zeros: 868.625, 2400, 868.95."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def format_quantity(value: float) -> str:
    """``2.4M``, ``868.625M``, ``10G``: a rate or frequency as ``parse_quantity`` reads it."""
    scale, unit = (1e9, "G") if abs(value) >= 1e9 else (1e6, "M")
    return f"{_number(value / scale)}{unit}"


def name_tokens(center_freq_hz: float, sample_rate_hz: float) -> str:
    """``_868.625M_2400k``: the tuning as rtl_433 writes it and ``parse_name_tokens`` reads it."""
    return f"_{_number(center_freq_hz / 1e6)}M_{_number(sample_rate_hz / 1e3)}k"


def tuned_name(stem: str | Path, center_freq_hz: float, sample_rate_hz: float, ext: str) -> Path:
    """``STEM_868.625M_2400k.EXT``: a recording name that carries its tuning."""
    stem = Path(stem)
    return stem.with_name(stem.name + name_tokens(center_freq_hz, sample_rate_hz) + "." + ext)
