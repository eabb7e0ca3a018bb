"""Data link layer: find the frame in received bytes (with or without CRCs), parse L C M A.

docs/protocol.md §2. Bytes in, values out: an unusable frame is a ``DecodeFailure``, never an
exception.
"""

from __future__ import annotations

from dataclasses import replace

from protocol.framing import BLOCK1_DATA, on_air_length, strip_crcs
from protocol.manufacturers import DiehlLayout, diehl_layout
from protocol.modes import FrameFormat
from protocol.telegram import Address, LinkHeader
from protocol.types import DecodeFailure, FailureReason, Frame

ADDRESS_LEN = 8  # M(2) ID(4) version type
LINK_HEADER_LEN = BLOCK1_DATA  # L C M(2) A(6)


def parse_address(data: bytes) -> Address:
    """Address in link-layer order ``M(2) ID(4) version type`` from the first 8 bytes."""
    return Address(
        m_field=int.from_bytes(data[0:2], "little"),
        id_bytes=bytes(data[2:6]),
        version=data[6],
        device_type=data[7],
    )


def parse_long_address(data: bytes) -> Address:
    """Address in TPL long-header order ``ID(4) M(2) version type`` from the first 8 bytes."""
    return Address(
        m_field=int.from_bytes(data[4:6], "little"),
        id_bytes=bytes(data[0:4]),
        version=data[6],
        device_type=data[7],
    )


def parse_link_header(data: bytes) -> LinkHeader:
    """L C M A of a CRC-less frame (caller guarantees at least ``LINK_HEADER_LEN`` bytes).

    Diehl-family frames whose A-field is not laid out as the standard says are normalised the
    way wmbusmeters does it (``LinkHeader.layout`` says which layout was found).
    """
    address = parse_address(data[2:10])
    ci = data[10] if len(data) > LINK_HEADER_LEN else -1
    cw = int.from_bytes(data[13:15], "little") if len(data) >= 15 else 0
    layout = diehl_layout(address.manufacturer, data[1], ci, cw)
    if layout is DiehlLayout.SWAPPED:
        address = Address(address.m_field, bytes(data[6:10]), data[4], data[5])
    elif layout is DiehlLayout.SAP_PRIOS:
        address = replace(address, version=0x00, device_type=0x07)
    return LinkHeader(data[0], data[1], address, layout)


def _fail(reason: FailureReason, detail: str) -> DecodeFailure:
    return DecodeFailure("link", reason, detail)


def _with_crcs(raw: bytes, frame_format: FrameFormat) -> Frame | DecodeFailure | None:
    """The frame if ``raw`` starts with an on-air frame of this format whose CRCs are good.

    A format-A frame whose first block CRC is good but a later one is not is a CRC failure;
    otherwise (None) the bytes are probably not a frame of this format with CRCs.
    """
    size = on_air_length(raw[0], frame_format)
    min_l_field = LINK_HEADER_LEN - 1 + (2 if frame_format is FrameFormat.B else 0)
    if len(raw) < size or raw[0] < min_l_field:
        return None
    try:
        deframed = strip_crcs(raw[:size], frame_format)
    except ValueError:  # a block too short to hold its CRC: not this format
        return None
    if deframed.ok:
        return Frame(deframed.data, frame_format)
    if frame_format is FrameFormat.A and deframed.block_ok[0]:
        bad = [str(i + 1) for i, ok in enumerate(deframed.block_ok) if not ok]
        return _fail(
            FailureReason.CRC,
            f"format A block CRC wrong in block(s) {', '.join(bad)} of {len(deframed.block_ok)}",
        )
    return None


def locate_frame(raw: bytes) -> tuple[Frame, FrameFormat | None] | DecodeFailure:
    """Find the link frame in ``raw``, which may carry block CRCs (format A or B) or none.

    Returns the CRC-less frame and the format whose CRCs were found (None when the input had no
    CRCs). Bytes beyond the length the L field announces are ignored (docs/protocol.md §9, R9).
    """
    if len(raw) < LINK_HEADER_LEN:
        return _fail(FailureReason.TRUNCATED, f"{len(raw)} bytes, a link header needs 10")
    for frame_format in (FrameFormat.A, FrameFormat.B):
        found = _with_crcs(raw, frame_format)
        if isinstance(found, DecodeFailure):
            return found
        if found is not None:
            return found, frame_format
    l_field = raw[0]
    if l_field < LINK_HEADER_LEN - 1:
        return _fail(FailureReason.LENGTH, f"L field {l_field} is shorter than a link header")
    if len(raw) >= l_field + 1:
        return Frame(bytes(raw[: l_field + 1]), FrameFormat.A), None
    return _fail(
        FailureReason.TRUNCATED,
        f"L field {l_field} announces {l_field + 1} bytes without CRCs "
        f"({on_air_length(l_field, FrameFormat.A)} with format A CRCs), got {len(raw)}",
    )


def check_frame(frame: Frame) -> DecodeFailure | None:
    """Why a frame handed over by a receiver cannot be parsed, or None."""
    if len(frame.data) < LINK_HEADER_LEN:
        return _fail(FailureReason.TRUNCATED, f"{len(frame.data)} bytes, a link header needs 10")
    if frame.data[0] != len(frame.data) - 1:
        return _fail(
            FailureReason.LENGTH, f"L field {frame.data[0]} but {len(frame.data) - 1} bytes follow"
        )
    return None
