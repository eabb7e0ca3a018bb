"""``--dedupe SECONDS``: drop a telegram heard again shortly after (repeaters, several modes).

Time is stream time (sample index / sample rate), so the result does not depend on how fast the
stream is processed. Two receptions are the same telegram when their link frames match after
clearing the ELL bits a repeater may change (hop count and repeated access,
docs/protocol.md §3): the same frame received in mode T and in mode C, or directly and through a
repeater, counts once.
"""

from __future__ import annotations

from collections import OrderedDict

from protocol.link import LINK_HEADER_LEN
from protocol.telegram import Telegram

_ELL_CC_REPEATER_BITS = 0x10 | 0x02  # hop count, repeated access


def dedupe_key(telegram: Telegram) -> bytes:
    data = telegram.frame.data
    if telegram.ell is None or len(data) <= LINK_HEADER_LEN + 1:
        return data
    cc = LINK_HEADER_LEN + 1  # the ELL's CC byte follows its CI
    return data[:cc] + bytes((data[cc] & ~_ELL_CC_REPEATER_BITS,)) + data[cc + 1 :]


class Deduper:
    """``accept(telegram, time_s)`` is False for a repeat within ``window_s`` of the first."""

    def __init__(self, window_s: float) -> None:
        if window_s < 0:
            raise ValueError("the dedupe window must not be negative")
        self.window_s = window_s
        self.dropped = 0
        self._first_seen: OrderedDict[bytes, float] = OrderedDict()

    def accept(self, telegram: Telegram, time_s: float) -> bool:
        # Entries are kept in the order first seen; older than the window, they are forgotten.
        while self._first_seen:
            oldest_key, oldest_time = next(iter(self._first_seen.items()))
            if time_s - oldest_time <= self.window_s:
                break
            del self._first_seen[oldest_key]
        key = dedupe_key(telegram)
        if key in self._first_seen:
            self.dropped += 1
            return False
        self._first_seen[key] = time_s
        return True
