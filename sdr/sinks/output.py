"""Telegram sinks for the command line: JSON lines or readable text, to stdout or a file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from protocol.report import telegram_summary, telegram_to_dict
from protocol.telegram import Telegram
from sdr.closing import Closing
from sdr.errors import UserError


def json_line(obj: Any) -> str:
    """One compact JSON object per line; values JSON does not know are shown as strings."""
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "), default=str)


class TelegramOutput(Closing):
    """Writes one telegram per line (JSON) or per summary (text), flushed after each telegram so
    a consumer downstream of a pipe sees it at once. ``path=None`` writes to stdout."""

    def __init__(self, path: str | Path | None = None, as_json: bool = True) -> None:
        self.as_json = as_json
        self.count = 0
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
            summary = telegram_summary(telegram)
            line = f"{prefix}  {summary}" if prefix else summary
        self._stream.write(line + "\n")
        self._stream.flush()
        self.count += 1

    def close(self) -> None:
        if self._owned:
            self._stream.close()

