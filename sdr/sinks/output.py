"""Telegram sinks for the command line: JSON lines or readable text, to stdout or a file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from protocol.report import telegram_summary, telegram_to_dict
from protocol.telegram import Exchange, Telegram
from sdr.closing import Closing
from sdr.errors import UserError

# What json.dumps(ensure_ascii=False) leaves raw but line-based readers (str.splitlines, some
# terminals) take as a line break or a control: DEL, the C1 controls (NEL is one) and the
# Unicode line and paragraph separators. As \uXXXX escapes the JSON value stays the same.
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in (*range(0x7F, 0xA0), 0x2028, 0x2029)}


def json_line(obj: Any) -> str:
    """One compact JSON object per line, for any reader; values JSON does not know are shown
    as strings."""
    text = json.dumps(obj, ensure_ascii=False, separators=(", ", ": "), default=str)
    return text.translate(_JSON_ESCAPES)


EXCHANGE_INDENT = "    "


def _exchange_header(telegram: Telegram, exchange: Exchange) -> str:
    """The line that opens an exchange's group in text output."""
    meter = telegram.meter_address
    burst = telegram.frame.burst
    when = f" at t={exchange.start_sample / burst.sample_rate_hz:.6f} s" if burst else ""
    return f"exchange {exchange.mode} with meter {meter.manufacturer} {meter.id}{when}:"


class TelegramOutput(Closing):
    """Writes one telegram per line (JSON) or per summary (text), flushed after each telegram so
    a consumer downstream of a pipe sees it at once. ``path=None`` writes to stdout.

    In text, the frames of an exchange (which the conversation tracker delivers together) form
    one group: a header line, then each frame's summary indented."""

    def __init__(self, path: str | Path | None = None, as_json: bool = True) -> None:
        self.as_json = as_json
        self.count = 0
        self._exchange: int | None = None  # start_sample of the exchange being printed
        self._owned = path is not None and str(path) != "-"
        if self._owned:
            try:
                self._stream: TextIO = open(path, "a", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                raise UserError(f"{path}: cannot write ({exc.strerror})") from exc
        else:
            self._stream = sys.stdout

    def write(self, telegram: Telegram, **extra: Any) -> None:
        """Write a telegram; ``extra`` fields (e.g. ``file``) are added to its JSON object or
        shown before its text summary."""
        if self.as_json:
            line = json_line({**telegram_to_dict(telegram), **extra})
        else:
            prefix = " ".join(f"{key}={value}" for key, value in extra.items())
            line = telegram_summary(telegram)
            exchange = telegram.exchange
            if exchange is not None:
                # The group's header carries the extra fields; its frames are indented.
                line = "\n".join(EXCHANGE_INDENT + part for part in line.split("\n"))
                if exchange.start_sample != self._exchange:
                    line = f"{_exchange_header(telegram, exchange)}\n{line}"
                    line = f"{prefix}  {line}" if prefix else line
            elif prefix:
                line = f"{prefix}  {line}"
            self._exchange = None if exchange is None else exchange.start_sample
        self._stream.write(line + "\n")
        self._stream.flush()
        self.count += 1

    def close(self) -> None:
        if self._owned:
            self._stream.close()

