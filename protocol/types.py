"""Values that cross layer boundaries: frames from the radio, records, decode failures.

All frozen and slotted; sample positions are absolute sample indices of the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from protocol.modes import FrameFormat


class FailureReason(StrEnum):
    """Why a burst, frame or telegram could not be (fully) decoded."""

    BAD_HEX = "bad_hex"
    NO_SYNC = "no_sync"  # no sync word where the sync search fired
    INSIDE_PREAMBLE = "inside_preamble"  # the search fired in a preamble; the sync comes later
    INSIDE_FRAME = "inside_frame"  # the search fired inside a frame already decoded
    SYNC_ERRORS = "sync_errors"  # too many sync-word chips wrong once the timing is known
    MARKER_ERRORS = "marker_errors"  # C1's format marker is not there
    BAD_CODING = "bad_coding"  # invalid 3-of-6 word or Manchester violation left unresolved
    LENGTH = "length"  # L field impossible or disagrees with the bytes present
    TRUNCATED = "truncated"
    CRC = "crc"
    UNKNOWN_CI = "unknown_ci"
    MALFORMED = "malformed"  # a header or record runs past the end or is otherwise inconsistent
    NO_KEY = "no_key"
    WRONG_KEY = "wrong_key"
    BAD_MAC = "bad_mac"
    UNSUPPORTED_SECURITY = "unsupported"
    UNKNOWN_FORMAT = "unknown_format"  # compact frame whose format signature was never seen
    VENDOR_FORMAT_UNKNOWN = "vendor_format_unknown"  # manufacturer payload no meter family reads


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    stage: str  # "phy", "link", "ell", "afl", "transport", "security", "records"
    reason: FailureReason
    detail: str = ""
    start_sample: int | None = None


class SecurityStatus(StrEnum):
    NONE = "none"
    DECRYPTED = "decrypted"
    NO_KEY = "no_key"
    WRONG_KEY = "wrong_key"
    BAD_MAC = "bad_mac"
    UNSUPPORTED = "unsupported"


class RecordFunction(StrEnum):
    INSTANTANEOUS = "instantaneous"
    MAXIMUM = "maximum"
    MINIMUM = "minimum"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Record:
    """One EN 13757-3 data record, with its raw bytes and its meaning."""

    dif: bytes  # DIF followed by all DIFEs
    vif: bytes  # VIF followed by all VIFEs (empty for DIF 0F/1F manufacturer data)
    data: bytes
    storage: int
    tariff: int
    subunit: int
    function: RecordFunction
    quantity: str  # e.g. "volume", "energy", "date_time", "manufacturer_specific"
    unit: str  # e.g. "m3", "Wh", "C", "" for dimensionless or text
    value: Any  # scaled number, str (text, BCD with error digits, dates ISO 8601), or None
    extensions: tuple[str, ...] = ()  # meanings of combinable VIFEs, e.g. ("backward_flow",)


@dataclass(frozen=True, slots=True)
class Reading:
    """A value a meter family reads from a telegram, named as wmbusmeters names it: the last
    part of the name is the unit (``total_m3``, ``current_consumption_hca``, ``power_kw``)."""

    name: str
    value: int | float


@dataclass(frozen=True, slots=True)
class Burst:
    """Where and how a frame was heard."""

    mode: str
    start_sample: int  # first sample of the sync word (preambles vary from meter to meter)
    end_sample: int  # sample after the last data chip (the postamble, 2-8 chips, is not counted)
    sample_rate_hz: float
    freq_hz: float  # nominal channel centre
    chip_rate_hz: float  # measured
    cfo_hz: float
    rssi_dbfs: float
    snr_db: float

    @property
    def start_s(self) -> float:
        return self.start_sample / self.sample_rate_hz


@dataclass(frozen=True, slots=True)
class Frame:
    """A link-layer frame with CRCs checked and removed (L = len(data) - 1)."""

    data: bytes
    frame_format: FrameFormat
    mode: str | None = None
    burst: Burst | None = None
    corrected_errors: int = 0
