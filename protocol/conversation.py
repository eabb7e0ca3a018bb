"""Exchanges between meters and gateways: which frame answers which (docs/json-schema.md,
"Exchanges").

``ConversationTracker`` is a sans-IO streaming stage (``process``/``flush``/``reset``): telegrams
in the receiver's order, the same telegrams out, those of an exchange with ``Telegram.exchange``
set (and an ACK's direction resolved by it). Pairing rules:

- A frame to a meter answers the latest frame from that meter that it follows within the
  meter's pairing horizon; a meter's RSP_UD, ACK or NACK answers the latest frame to it; an ACK
  (or an unnamed function) whose direction its channel, C-field and CI leave open answers the
  latest frame of either direction and takes the other direction. "That meter": the frames
  share a link or TPL long-header address (manufacturer and id). Both frames' access numbers
  (ELL ACC, TPL ACC) must share a value where both carry one (a response repeats the access
  number it answers; unverified, docs/protocol.md §10).
- An answer starts after the answered frame ends, no later than ``HORIZON_FACTOR`` times its
  response window's end: later ones are unrelated; answers outside the window are paired and
  flagged (``Answer.in_window``).
- Response windows (docs/protocol.md §1.1, [U]): T2 2-50 ms, S2 3-50 ms, C2 100 ms (ELL CC bit D
  set, "fast") or 1000 ms (D clear), ±0.5 ms, for the time from the answered frame's end to the
  start of the answer's preamble. The delay is measured to the answer's sync word, so the window
  is moved by the answer's shortest preamble (``preamble_s``). C2 takes D from the answered
  frame's ELL, else from the nearest frame before it in the exchange that has one, else the
  window nearer the delay.

Timing and order. A frame from a meter that does not offer access (ELL CC and CW bits B and A
clear, and a function that expects no answer) is passed on at once. Every other frame is held
until no frame that could join its exchange can still arrive: the receiver delivers a frame at
most ``latency_s`` after its start, so a frame is released once the stream is ``latency_s``
past the end of its pairing horizon; an exchange is released as one group, frames in time
order. Where a held group lands among passed-on telegrams depends only on the telegrams, never
on where chunks end: a release is triggered by a telegram whose end lies past the release point
(a telegram is never delivered before it ends), or by ``now_sample`` when the stream is a
further ``latency_s`` on, past anything still to come before that telegram. The added latency is
thus at most the pairing horizon plus twice ``latency_s`` (docs/json-schema.md). Memory holds
the frames of the last pairing horizons; an exchange is capped at ``MAX_EXCHANGE_FRAMES``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from protocol.direction import known_direction
from protocol.modes import C1, C2, T1, Direction
from protocol.telegram import Answer, Exchange, Telegram
from protocol.types import DecodeFailure

# Response windows in ms (docs/protocol.md §1.1 [U]), before the answer's preamble is added.
T2_WINDOW_MS = (2.0, 50.0)
S2_WINDOW_MS = (3.0, 50.0)
C2_FAST_WINDOW_MS = (99.5, 100.5)
C2_SLOW_WINDOW_MS = (999.5, 1000.5)
HORIZON_FACTOR = 2.0  # answers up to twice the window's end are paired (and flagged late)
MAX_EXCHANGE_FRAMES = 64  # a frame answering a longer exchange starts a new one
CC_BIDIRECTIONAL, CC_FAST, CC_ACCESSIBLE = 0x80, 0x40, 0x04  # ELL CC bits B, D, A (§3)
# Functions a meter sends in answer to a gateway, and those by which it asks for one; those by
# which a gateway asks the meter for an answer (ACK, NACK or RSP_UD, docs/protocol.md §2.3).
METER_ANSWERS = frozenset(("RSP_UD", "ACK", "NACK"))
METER_ASKS = frozenset(("SND_IR", "ACC_NR", "ACC_DMD"))
GATEWAY_ASKS = frozenset(("SND_UD", "SND_UD2", "REQ_UD1", "REQ_UD2"))
_C_CHANNELS = frozenset((C1.name, C2.name))

Result = Telegram | DecodeFailure
AddressKey = tuple[int, bytes]  # manufacturer field and id bytes


def exchange_mode(channels: Iterable[str | None]) -> str:
    """The OMS mode of an exchange from the receiver modes (channels) its frames came on: C2
    when one came on a C channel, T2 when the meter sent in T mode, else S2."""
    names = set(channels)
    if names & _C_CHANNELS:
        return "C2"
    return "T2" if T1.name in names else "S2"


def response_window_ms(mode: str, fast: bool | None, delay_ms: float) -> tuple[float, float]:
    """The window (before the preamble shift) an answer's delay must lie in, in an exchange of
    ``mode``; C2 by the D bit ``fast`` (None: the window nearer ``delay_ms``)."""
    if mode == "T2":
        return T2_WINDOW_MS
    if mode == "S2":
        return S2_WINDOW_MS
    if fast is None:
        fast = abs(delay_ms - sum(C2_FAST_WINDOW_MS) / 2) < abs(
            delay_ms - sum(C2_SLOW_WINDOW_MS) / 2)
    return C2_FAST_WINDOW_MS if fast else C2_SLOW_WINDOW_MS


def offers_access(telegram: Telegram) -> bool:
    """Whether a meter's frame invites an answer: a function that asks for one, or the
    bidirectional or accessibility bit of its ELL CC or TPL CW (docs/protocol.md §3, §5.4)."""
    if telegram.link.c_name in METER_ASKS:
        return True
    ell, tpl = telegram.ell, telegram.tpl
    if ell is not None and ell.cc & (CC_BIDIRECTIONAL | CC_ACCESSIBLE):
        return True
    return tpl is not None and (tpl.bidirectional or tpl.accessible)


def _fast(telegram: Telegram) -> bool | None:
    """The ELL CC response-delay bit D, None without an ELL."""
    return None if telegram.ell is None else bool(telegram.ell.cc & CC_FAST)


def _address_keys(telegram: Telegram) -> frozenset[AddressKey]:
    addresses = [telegram.link.address]
    if telegram.tpl is not None and telegram.tpl.address is not None:
        addresses.append(telegram.tpl.address)
    return frozenset((a.m_field, a.id_bytes) for a in addresses)


def _access_numbers(telegram: Telegram) -> frozenset[int]:
    values = [telegram.ell.acc if telegram.ell is not None else None,
              telegram.tpl.acc if telegram.tpl is not None else None]
    return frozenset(v for v in values if v is not None)


@dataclass(slots=True, eq=False)
class _Node:
    """One frame with burst timing, while it may still answer or be answered."""

    telegram: Telegram
    start: int
    end: int
    rate_hz: float
    keys: frozenset[AddressKey]
    access: frozenset[int]
    known: Direction | None  # what the frame shows by itself (None: an open ACK)
    held: bool
    horizon: int  # samples after ``end`` in which an answer may start
    release_at: int  # stream sample from which nothing can join this frame any more
    direction: Direction | None = None  # set when linked
    fast: bool | None = None  # C2 response delay, own or from the exchange; set when linked
    answers: _Node | None = None
    group: _Group | None = None

    @property
    def channel(self) -> str | None:
        return self.telegram.frame.mode


@dataclass(slots=True, eq=False)
class _Group:
    """An exchange: a tree of frames, each answering one earlier frame; ``nodes[0]`` opened it."""

    nodes: list[_Node]
    release_at: int


class ConversationTracker:
    """Pairs frames into exchanges; ``process(results, now_sample)``, ``flush``, ``reset``.

    ``latency_s``: the longest time from a frame's ``start_sample`` until the receiver delivers
    it. ``preamble_s``: by receiver mode, the shortest preamble an answer on that channel has
    (the measured delay includes it, the standard's windows do not). ``late`` counts frames that
    arrived after ``latency_s`` had passed (their pairing may be incomplete; 0 when the latency
    bound holds).
    """

    def __init__(self, latency_s: float, preamble_s: Mapping[str, float]) -> None:
        self.latency_s = latency_s
        self.preamble_s = dict(preamble_s)
        self.reset()

    def reset(self) -> None:
        self._unlinked: list[tuple[int, int, _Node]] = []  # (start, arrival, node) in start order
        self._by_key: dict[AddressKey, list[_Node]] = {}
        self._held: list[_Node] = []
        self._watermark = -math.inf  # stream sample up to which every frame has arrived
        self._rate_hz: float | None = None  # the stream's, from its first burst
        self._arrivals = 0
        self.late = 0

    @property
    def _latency_samples(self) -> float:
        return self.latency_s * (self._rate_hz or 0.0)

    def process(self, results: Sequence[Result], now_sample: int) -> list[Result]:
        """The results passed on or released by these ``results`` (in the receiver's order) and
        by the stream having reached ``now_sample``."""
        out: list[Result] = []
        for result in results:
            node = self._node(result) if isinstance(result, Telegram) else None
            if node is None:
                out.append(result)
                continue
            self._add(node)
            # The receiver cannot deliver a frame before it has ended.
            out += self._settle(node.end)
            if not node.held:
                out.append(result)
        if self._rate_hz is not None:
            out += self._settle(now_sample - self._latency_samples)
        return out

    def flush(self) -> list[Result]:
        """Everything still held, at the end of the stream; the next input is a new stream."""
        out: list[Result] = list(self._settle(math.inf))
        self.reset()
        return out

    # --- frames in --------------------------------------------------------------------------

    def _node(self, telegram: Telegram) -> _Node | None:
        burst = telegram.frame.burst
        if burst is None:
            return None
        rate = self._rate_hz = burst.sample_rate_hz
        ci = telegram.tpl.ci if telegram.tpl is not None else None
        known = known_direction(telegram.link.c_field, telegram.frame.mode, ci)
        held = known is not Direction.METER_TO_OTHER or (
            telegram.link.c_name in METER_ANSWERS or offers_access(telegram))
        # The longest window the frame's channel may see: C2's slow one unless D says fast.
        fast = bool(_fast(telegram))
        window = response_window_ms(exchange_mode([telegram.frame.mode]), fast, 0.0)
        horizon = round(HORIZON_FACTOR * window[1] * 1e-3 * rate)
        return _Node(
            telegram=telegram, start=burst.start_sample, end=burst.end_sample, rate_hz=rate,
            keys=_address_keys(telegram), access=_access_numbers(telegram), known=known,
            held=held, horizon=horizon,
            release_at=math.ceil(burst.end_sample + horizon + self._latency_samples),
        )

    def _add(self, node: _Node) -> None:
        if node.start + self._latency_samples <= self._watermark:
            self.late += 1
        self._arrivals += 1
        bisect.insort(self._unlinked, (node.start, self._arrivals, node))  # arrivals differ
        for key in node.keys:
            self._by_key.setdefault(key, []).append(node)
        if node.held:
            self._held.append(node)

    # --- pairing ----------------------------------------------------------------------------

    def _settle(self, mark: float) -> list[Result]:
        """Link the frames whose predecessors have all arrived by ``mark`` (in time order), then
        release what nothing can join any more."""
        if mark <= self._watermark:
            return []
        self._watermark = mark
        while self._unlinked and self._unlinked[0][0] + self._latency_samples <= mark:
            self._link(self._unlinked.pop(0)[2])
        return self._release(mark)

    def _link(self, node: _Node) -> None:
        answered = self._answered(node)
        if answered is None:
            node.direction = node.known or Direction.METER_TO_OTHER  # a lone ACK's rule
            node.fast = _fast(node.telegram)
            return
        node.answers = answered
        node.direction = (Direction.OTHER_TO_METER if answered.direction is
                          Direction.METER_TO_OTHER else Direction.METER_TO_OTHER)
        own = _fast(node.telegram)
        node.fast = answered.fast if own is None else own
        group = answered.group
        if group is None:
            group = answered.group = _Group([answered], answered.release_at)
        group.nodes.append(node)
        group.release_at = max(group.release_at, node.release_at)
        node.group = group

    def _answered(self, node: _Node) -> _Node | None:
        """The latest earlier frame ``node`` answers (rules in the module docstring)."""
        if node.known is Direction.METER_TO_OTHER and node.telegram.link.c_name not in (
                METER_ANSWERS):
            return None
        wanted = None if node.known is None else (
            Direction.METER_TO_OTHER if node.known is Direction.OTHER_TO_METER
            else Direction.OTHER_TO_METER)
        best: _Node | None = None
        for key in node.keys:
            for other in self._by_key.get(key, ()):
                if (
                    other.direction is not None  # linked: it started earlier
                    and other is not node
                    and (wanted is None or other.direction is wanted)
                    and other.end <= node.start <= other.end + other.horizon
                    and (not node.access or not other.access or node.access & other.access)
                    and (other.group is None or len(other.group.nodes) < MAX_EXCHANGE_FRAMES)
                    and (best is None or other.start > best.start)
                ):
                    best = other
        return best

    # --- frames out -------------------------------------------------------------------------

    def _release(self, mark: float) -> list[Result]:
        units: dict[int, tuple[int, int, list[_Node]]] = {}
        for node in self._held:
            if node.direction is None:
                continue
            unit = node.group
            release_at = node.release_at if unit is None else unit.release_at
            if release_at <= mark:
                nodes = [node] if unit is None else unit.nodes
                units[id(nodes[0])] = (release_at, nodes[0].start, nodes)
        out: list[Result] = []
        done: set[int] = set()
        for _, _, nodes in sorted(units.values(), key=lambda u: u[:2]):
            out += self._emit(nodes)
            done.update(id(n) for n in nodes)
        if done:
            self._held = [n for n in self._held if id(n) not in done]
        self._forget(mark)
        return out

    def _emit(self, nodes: list[_Node]) -> list[Result]:
        if len(nodes) == 1:  # no exchange: as decoded (a lone ACK keeps its own direction)
            return [nodes[0].telegram]
        mode = exchange_mode(n.channel for n in nodes)
        opened = nodes[0].start
        return [
            replace(n.telegram, direction=n.direction, exchange=Exchange(
                opened, mode, None if n.answers is None else self._answer(n, n.answers, mode)))
            for n in sorted(nodes, key=lambda n: n.start)
            if n.held
        ]

    def _answer(self, node: _Node, answered: _Node, mode: str) -> Answer:
        delay_ms = (node.start - answered.end) / node.rate_hz * 1e3
        preamble_ms = self.preamble_s.get(node.channel or "", 0.0) * 1e3
        low, high = response_window_ms(mode, answered.fast, delay_ms - preamble_ms)
        return Answer(answered.start, delay_ms, (low + preamble_ms, high + preamble_ms))

    def _forget(self, mark: float) -> None:
        """Drop frames nothing can answer any more from the address index (bounded memory)."""
        for key in list(self._by_key):
            kept = [n for n in self._by_key[key] if n.release_at > mark]
            if kept:
                self._by_key[key] = kept
            else:
                del self._by_key[key]
