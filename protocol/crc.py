"""CRC-16 of EN 13757 (polynomial 0x3D65, init 0, no reflection, final XOR 0xFFFF)."""

from __future__ import annotations

POLYNOMIAL = 0x3D65


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        reg = byte << 8
        for _ in range(8):
            reg = ((reg << 1) ^ POLYNOMIAL) if reg & 0x8000 else (reg << 1)
        table.append(reg & 0xFFFF)
    return tuple(table)


TABLE = _make_table()


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/EN-13757 of ``data``; check value of b"123456789" is 0xC2B7."""
    reg = 0
    for byte in bytes(data):
        reg = ((reg << 8) & 0xFFFF) ^ TABLE[(reg >> 8) ^ byte]
    return reg ^ 0xFFFF
