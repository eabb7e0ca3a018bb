"""``HOST[:PORT]`` as users give it, parsed and formatted the same way for rtl_tcp and MQTT."""

from __future__ import annotations

import pytest

from sdr.errors import UserError
from sdr.io.addresses import format_host_port, is_loopback, parse_host_port


@pytest.mark.parametrize(
    ("text", "expected"),
    [("localhost", ("localhost", 1234)), ("10.0.0.2:7373", ("10.0.0.2", 7373)),
     ("[::1]:99", ("::1", 99)), ("[fe80::1]", ("fe80::1", 1234))],
)
def test_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text, 1234) == expected


@pytest.mark.parametrize("text", ["host:0", "host:x", ":1234", "[::1", "[::1]x"])
def test_bad_host_port(text: str) -> None:
    with pytest.raises(UserError):
        parse_host_port(text, 1234)


@pytest.mark.parametrize(
    ("address", "loopback"),
    [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("0.0.0.0", False), ("::", False),
     ("192.168.1.20", False), ("fe80::1%eth0", False), ("not an address", False)],
)
def test_loopback_addresses(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_host_port_formatting_matches_what_rtl_tcp_options_read() -> None:
    assert format_host_port("::1", 1234) == "[::1]:1234"
    assert format_host_port("127.0.0.1", 1234) == "127.0.0.1:1234"
