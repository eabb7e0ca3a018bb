"""Network addresses users give (``HOST[:PORT]``, IPv6 as ``[::1]:PORT``): parsed and formatted
in one place, for rtl_tcp and MQTT alike."""

from __future__ import annotations

import ipaddress

from sdr.errors import UserError


def parse_host_port(text: str, default_port: int) -> tuple[str, int]:
    """``HOST[:PORT]`` (IPv6 as ``[::1]:PORT``) -> (host, port); UserError when malformed."""
    host, port = text, default_port
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise UserError(f"{text!r}: missing ']' after an IPv6 address")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise UserError(f"{text!r}: expected HOST:PORT")
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(port_text, text)
    if not host:
        raise UserError(f"{text!r}: host is missing")
    return host, port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UserError(f"{whole!r}: port must be a number from 1 to 65535")
    return int(text)


def format_host_port(host: str, port: int) -> str:
    """``HOST:PORT`` with an IPv6 address in brackets, the way ``--rtl-tcp`` reads it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(address: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(address.partition("%")[0]).is_loopback
    except ValueError:
        return False
