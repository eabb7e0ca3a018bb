"""Link-layer block structure of frame formats A and B: CRC placement, removal and insertion.

Sans-IO: these functions only look at bytes. ``data`` always means the link layer from the
L field on with every CRC removed and L equal to ``len(data) - 1`` (docs/protocol.md §2.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.crc import crc16
from protocol.modes import FrameFormat

BLOCK1_DATA = 10
BLOCK_DATA = 16
FORMAT_B_BLOCK2_MAX = 118  # bytes of block 2 in format B including its CRC


def on_air_length(l_field: int, frame_format: FrameFormat) -> int:
    """Bytes on air (line decoded, CRCs included) of a frame whose first byte is ``l_field``."""
    if frame_format is FrameFormat.A:
        return 1 + l_field + 2 * (1 + -(-(max(l_field, 9) - 9) // BLOCK_DATA))
    return 1 + l_field


def block_spans(total_len: int, frame_format: FrameFormat) -> list[tuple[int, int]]:
    """(start, end) of every CRC-protected block in an on-air frame of ``total_len`` bytes.

    Each span covers the block's data followed by its 2 CRC bytes. In format B the first CRC
    covers block 1 and block 2 together, so the first span starts at 0.
    """
    spans: list[tuple[int, int]] = []
    if frame_format is FrameFormat.A:
        start = 0
        size = BLOCK1_DATA
        while start < total_len:
            end = min(start + size + 2, total_len)
            spans.append((start, end))
            start = end
            size = BLOCK_DATA
        return spans
    first_end = min(total_len, BLOCK1_DATA + FORMAT_B_BLOCK2_MAX)
    spans.append((0, first_end))
    if first_end < total_len:
        spans.append((first_end, total_len))
    return spans


@dataclass(frozen=True, slots=True)
class Deframed:
    """Result of removing CRCs: the data and, per block, whether its CRC matched."""

    data: bytes
    block_ok: tuple[bool, ...]

    @property
    def ok(self) -> bool:
        return all(self.block_ok)


def strip_crcs(raw: bytes, frame_format: FrameFormat) -> Deframed:
    """Check and remove the block CRCs of an on-air frame (length must match ``on_air_length``).

    The returned data has L rewritten to ``len(data) - 1`` as rtl-wmbus and wmbusmeters print it.
    """
    if len(raw) < 3:
        raise ValueError(f"frame of {len(raw)} bytes is too short to hold a CRC")
    parts: list[bytes] = []
    oks: list[bool] = []
    for start, end in block_spans(len(raw), frame_format):
        if end - start < 3:
            raise ValueError(f"block at byte {start} has no room for data and CRC")
        body = raw[start : end - 2]
        oks.append(crc16(body) == int.from_bytes(raw[end - 2 : end], "big"))
        parts.append(body)
    data = b"".join(parts)
    return Deframed(bytes([(len(data) - 1) & 0xFF]) + data[1:], tuple(oks))


def add_crcs(data: bytes, frame_format: FrameFormat) -> bytes:
    """Insert block CRCs into ``data`` (CRC-less link layer); L is set as the format counts it."""
    if len(data) < BLOCK1_DATA:
        raise ValueError(f"link frame needs at least {BLOCK1_DATA} bytes, got {len(data)}")
    if frame_format is FrameFormat.A:
        body = bytes([len(data) - 1]) + data[1:]
        out = bytearray()
        chunks = [body[:BLOCK1_DATA]] + [
            body[i : i + BLOCK_DATA] for i in range(BLOCK1_DATA, len(body), BLOCK_DATA)
        ]
        for chunk in chunks:
            out += chunk + crc16(chunk).to_bytes(2, "big")
        return bytes(out)
    n_crc = 1 if len(data) <= BLOCK1_DATA + FORMAT_B_BLOCK2_MAX - 2 else 2
    body = bytes([len(data) - 1 + 2 * n_crc]) + data[1:]
    first = body[: BLOCK1_DATA + FORMAT_B_BLOCK2_MAX - 2]
    out = bytearray(first + crc16(first).to_bytes(2, "big"))
    rest = body[len(first) :]
    if rest:
        out += rest + crc16(rest).to_bytes(2, "big")
    return bytes(out)
