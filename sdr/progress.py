"""A one-line progress bar on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from sdr.closing import Closing

_WIDTH = 30


class Progress(Closing):
    """``update(done)`` redraws at most every ``interval_s``; ``close()`` clears the line.

    Silent when the stream is not a TTY (pipes, files, CI logs), so output stays clean.
    """

    def __init__(
        self,
        total: int,
        label: str = "",
        stream: TextIO | None = None,
        interval_s: float = 0.2,
    ) -> None:
        self.total = max(int(total), 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s
        self._started = time.monotonic()
        self._last_draw = float("-inf")
        self._drawn = False

    def render(self, done: int) -> str:
        fraction = min(max(done / self.total, 0.0), 1.0)
        filled = round(fraction * _WIDTH)
        elapsed = time.monotonic() - self._started
        bar = "#" * filled + "." * (_WIDTH - filled)
        return f"{self.label} [{bar}] {fraction * 100:5.1f}% {elapsed:6.1f} s"

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < self.interval_s and done < self.total:
            return
        self._last_draw = now
        self.stream.write("\r" + self.render(done))
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False

