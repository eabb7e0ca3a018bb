"""Transport layer (TPL): CI table, short and long headers, status byte and configuration word.

docs/protocol.md §5. The security mode in CW selects what ``protocol.security`` does with the
payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from protocol.link import parse_long_address
from protocol.modes import Direction
from protocol.telegram import HeaderKind, TplHeader
from protocol.types import DecodeFailure, FailureReason

SHORT_HEADER_LEN = 4  # ACC ST CW(2)
LONG_HEADER_LEN = 12  # ID(4) M(2) version type ACC ST CW(2)
MODE_7 = 7  # the only mode whose CW is followed by CWE (docs/protocol.md §5.4)


class Content(StrEnum):
    """What follows the TPL header."""

    RECORDS = "records"  # EN 13757-3 data records
    COMPACT = "compact"  # compact frame: format signature, full-frame CRC, record data
    FORMAT = "format"  # format frame (layout not verified, kept raw)
    OPAQUE = "opaque"  # anything else (commands, errors, COSEM/OBIS, manufacturer): kept raw


@dataclass(frozen=True, slots=True)
class CiInfo:
    name: str
    header: HeaderKind
    content: Content = Content.OPAQUE


_N, _S, _L = HeaderKind.NONE, HeaderKind.SHORT, HeaderKind.LONG
_R, _C, _F = Content.RECORDS, Content.COMPACT, Content.FORMAT

TPL_CI: dict[int, CiInfo] = {
    0x51: CiInfo("command_to_device", _N, _R),
    0x52: CiInfo("selection_of_device", _N),
    0x53: CiInfo("application_reset_or_select", _L),
    0x54: CiInfo("request_selected_application", _N),
    0x55: CiInfo("request_selected_application", _L),
    0x5A: CiInfo("command_to_device", _S, _R),
    0x5B: CiInfo("command_to_device", _L, _R),
    0x5C: CiInfo("synchronise_action", _N),
    0x60: CiInfo("cosem_to_device", _L),
    0x61: CiInfo("cosem_to_device", _S),
    0x64: CiInfo("obis_to_device", _L),
    0x65: CiInfo("obis_to_device", _S),
    0x66: CiInfo("response_selected_application", _N),
    0x67: CiInfo("response_selected_application", _S),
    0x68: CiInfo("response_selected_application", _L),
    0x69: CiInfo("format_frame", _N, _F),
    0x6A: CiInfo("format_frame", _S, _F),
    0x6B: CiInfo("format_frame", _L, _F),
    0x6C: CiInfo("clock_sync_absolute", _L),
    0x6D: CiInfo("clock_sync_relative", _L),
    0x6E: CiInfo("application_error", _S),
    0x6F: CiInfo("application_error", _L),
    0x70: CiInfo("application_error", _N),
    0x71: CiInfo("alarm_report", _N),
    0x72: CiInfo("application_data", _L, _R),
    0x73: CiInfo("compact_frame", _L, _C),
    0x74: CiInfo("alarm", _S),
    0x75: CiInfo("alarm", _L),
    0x78: CiInfo("application_data", _N, _R),
    0x79: CiInfo("compact_frame", _N, _C),
    0x7A: CiInfo("application_data", _S, _R),
    0x7B: CiInfo("compact_frame", _S, _C),
    0x7C: CiInfo("cosem", _L),
    0x7D: CiInfo("cosem", _S),
    0x7E: CiInfo("obis", _L),
    0x7F: CiInfo("obis", _S),
    0x80: CiInfo("transport_to_device", _L),
    0x82: CiInfo("network_management_to_device", _S),
    0x83: CiInfo("network_management_to_device", _N),
    0x84: CiInfo("transport_to_device_compact", _L),
    0x85: CiInfo("transport_to_device_format", _L),
    0x87: CiInfo("network_management", _L),
    0x88: CiInfo("network_management", _S),
    0x89: CiInfo("network_management", _N),
    0x8A: CiInfo("transport_from_meter", _S),
    0x8B: CiInfo("transport_from_meter", _L),
    0xC0: CiInfo("image_transfer_to_device", _L),
    0xC1: CiInfo("image_transfer_from_device", _S),
    0xC2: CiInfo("image_transfer_from_device", _L),
    0xC3: CiInfo("security_transfer_to_device", _L),
    0xC4: CiInfo("security_transfer_from_device", _S),
    0xC5: CiInfo("security_transfer_from_device", _L),
}
MANUFACTURER_CI = range(0xA0, 0xB8)
_MANUFACTURER = CiInfo("manufacturer_specific", _N)
# The TPL CIs only a gateway ("other device") sends: those "to device" in docs/protocol.md §5.1.
# Every other known TPL CI comes from a meter; manufacturer CIs are sent either way.
TO_METER_CI = frozenset(
    (0x51, 0x52, 0x53, 0x54, 0x55, 0x5A, 0x5B, 0x5C, 0x60, 0x61, 0x64, 0x65, 0x6C, 0x6D, 0x80,
     0x82, 0x83, 0x84, 0x85, 0xC0, 0xC3)
)


def ci_info(ci: int) -> CiInfo | None:
    """What a transport-layer CI means, or None when it is not a known TPL CI."""
    return _MANUFACTURER if ci in MANUFACTURER_CI else TPL_CI.get(ci)


def ci_direction(ci: int | None) -> Direction | None:
    """Who sends a TPL CI; None for no CI, an unknown one or a manufacturer-specific one."""
    if ci is None or ci in MANUFACTURER_CI or ci not in TPL_CI:
        return None
    return Direction.OTHER_TO_METER if ci in TO_METER_CI else Direction.METER_TO_OTHER


def parse_tpl_header(data: bytes, pos: int) -> tuple[TplHeader, int] | DecodeFailure:
    """The TPL header whose CI is ``data[pos]``; returns it and the offset of the payload."""
    ci = data[pos]
    info = ci_info(ci)
    if info is None:
        return DecodeFailure("transport", FailureReason.UNKNOWN_CI, f"CI 0x{ci:02X}")
    start = pos + 1
    if info.header is HeaderKind.NONE:
        return TplHeader(ci, info.header), start
    size = SHORT_HEADER_LEN if info.header is HeaderKind.SHORT else LONG_HEADER_LEN
    if len(data) < start + size:
        return DecodeFailure(
            "transport",
            FailureReason.TRUNCATED,
            f"{info.header} header of CI 0x{ci:02X} needs {size} bytes, {len(data) - start} left",
        )
    address = None
    if info.header is HeaderKind.LONG:
        address = parse_long_address(data[start : start + 8])
        start += 8
    acc, status = data[start], data[start + 1]
    cw = int.from_bytes(data[start + 2 : start + 4], "little")
    end = start + 4
    cwe = None
    if (cw >> 8) & 0x1F == MODE_7:
        if len(data) <= end:
            return DecodeFailure("transport", FailureReason.TRUNCATED, "CWE byte missing")
        cwe = data[end]
        end += 1
    return TplHeader(ci, info.header, acc, status, cw, cwe, address), end
