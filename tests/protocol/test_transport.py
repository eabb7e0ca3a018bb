"""Transport layer: CI table, short/long headers, ST and CW decoding (docs/protocol.md §5)."""

from __future__ import annotations

import pytest

from protocol.telegram import HeaderKind, TplHeader
from protocol.transport import Content, ci_info, parse_tpl_header
from protocol.types import DecodeFailure, FailureReason


@pytest.mark.parametrize(
    ("ci", "header", "content"),
    [(0x72, HeaderKind.LONG, Content.RECORDS), (0x7A, HeaderKind.SHORT, Content.RECORDS),
     (0x78, HeaderKind.NONE, Content.RECORDS), (0x79, HeaderKind.NONE, Content.COMPACT),
     (0x7B, HeaderKind.SHORT, Content.COMPACT), (0x73, HeaderKind.LONG, Content.COMPACT),
     (0x70, HeaderKind.NONE, Content.OPAQUE), (0x6E, HeaderKind.SHORT, Content.OPAQUE),
     (0x5B, HeaderKind.LONG, Content.RECORDS), (0x8B, HeaderKind.LONG, Content.OPAQUE),
     (0xA0, HeaderKind.NONE, Content.OPAQUE), (0xB7, HeaderKind.NONE, Content.OPAQUE)],
)
def test_ci_table(ci: int, header: HeaderKind, content: Content) -> None:
    info = ci_info(ci)
    assert info is not None and (info.header, info.content) == (header, content)


def test_unknown_ci() -> None:
    assert ci_info(0x4F) is None and ci_info(0xB8) is None
    failure = parse_tpl_header(bytes([0x4F, 1, 2]), 0)
    assert isinstance(failure, DecodeFailure) and failure.reason is FailureReason.UNKNOWN_CI


@pytest.mark.parametrize(
    ("cw_bytes", "cw", "mode", "blocks", "sync"),
    [("0020", 0x2000, 0, 0, True), ("2025", 0x2520, 5, 2, True), ("6005", 0x0560, 5, 6, False),
     ("9007", 0x0790, 7, 9, False)],
)
def test_cw_examples_of_spec(cw_bytes: str, cw: int, mode: int, blocks: int, sync: bool) -> None:
    data = bytes.fromhex("7A" "36" "00" + cw_bytes + "10")
    parsed = parse_tpl_header(data, 0)
    assert not isinstance(parsed, DecodeFailure)
    tpl, end = parsed
    assert (tpl.cw, tpl.security_mode, tpl.encrypted_blocks, tpl.synchronous) == (
        cw, mode, blocks, sync)
    assert (tpl.cwe, end) == ((0x10, 6) if mode == 7 else (None, 5))


def test_long_header_address_order() -> None:
    parsed = parse_tpl_header(bytes.fromhex("72" "71000761" "2104" "25" "07" "B5" "00" "6005"), 0)
    assert not isinstance(parsed, DecodeFailure)
    tpl, end = parsed
    assert tpl.address is not None and end == 13
    assert (tpl.address.id, tpl.address.manufacturer, tpl.address.version) == ("61070071", "AAA",
                                                                                0x25)


def test_truncated_headers() -> None:
    for data in ("7A3600", "72710007612104", "7A36009007"):
        failure = parse_tpl_header(bytes.fromhex(data), 0)
        assert isinstance(failure, DecodeFailure) and failure.reason is FailureReason.TRUNCATED


def test_status_and_cw_flags() -> None:
    tpl = TplHeader(0x7A, HeaderKind.SHORT, 0, 0b1001_1111, 0xC000)
    assert tpl.status_flags == ("alarm", "power_low", "permanent_error", "temporary_error",
                                "manufacturer_0x4")
    assert (tpl.bidirectional, tpl.accessible, tpl.synchronous) == (True, True, False)
    assert TplHeader(0x7A, HeaderKind.SHORT, 0, 0x02, 0).status_flags == ("application_error",)
