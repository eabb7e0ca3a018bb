"""Gateways heard at a location: their frames to meters, and the exchanges per meter.

From the receptions' exchange fields (docs/json-schema.md, "Exchanges"), so recordings and
logs take the same path. A gateway is named by the address its frames carry besides the
meter's (OMS: the link address when a long TPL header names the meter); frames whose link
address is the meter's own (EN 13757-4) do not say who sent them, and are counted under an
unnamed gateway.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from protocol.conversation import GATEWAY_ASKS
from sdr.survey.stats import Reception


@dataclass(frozen=True, slots=True)
class MeterExchanges:
    """What one gateway did with one meter."""

    meter_id: str
    exchanges: int
    completed: int  # every request that asks for an answer got one
    outside_window: int  # answers (of either side) outside their response window

    def to_dict(self) -> dict[str, Any]:
        return {"meter_id": self.meter_id, "exchanges": self.exchanges,
                "completed": self.completed, "outside_window": self.outside_window}


@dataclass(frozen=True, slots=True)
class GatewayStats:
    gateway: str | None  # "M id"; None: frames that do not name their sender
    frames: int  # frames to meters, in exchanges or not
    modes: tuple[str, ...]
    meters: tuple[MeterExchanges, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"gateway": self.gateway, "frames": self.frames, "modes": list(self.modes),
                "meters": [m.to_dict() for m in self.meters]}


def completed(frames: Sequence[Reception]) -> bool:
    """An exchange both sides took part in, where every gateway request that asks for an answer
    (SND_UD, SND_UD2, REQ_UD1, REQ_UD2) got one."""
    answered = {r.reply_to for r in frames if r.reply_to is not None}
    requests = [r for r in frames if not r.from_meter]
    return (
        bool(requests)
        and any(r.from_meter for r in frames)
        and all(r.start_sample in answered for r in requests if r.c_name in GATEWAY_ASKS)
    )


def gateways_of(receptions: Iterable[Reception]) -> tuple[GatewayStats, ...]:
    """Every gateway whose frames were heard, named ones first (by name), with its exchanges
    per meter (by meter id)."""
    heard = list(receptions)
    exchanges: dict[int, list[Reception]] = {}
    for r in heard:
        if r.exchange is not None:
            exchanges.setdefault(r.exchange, []).append(r)
    frames: dict[str | None, list[Reception]] = {}
    for r in heard:
        if not r.from_meter:
            frames.setdefault(r.gateway, []).append(r)
    per_meter: dict[tuple[str | None, str], list[Sequence[Reception]]] = {}
    for exchange in exchanges.values():
        requests = [r for r in exchange if not r.from_meter]
        if requests:
            # The gateway that named itself in any of its frames of the exchange.
            name = next((r.gateway for r in requests if r.gateway is not None), None)
            per_meter.setdefault((name, requests[0].meter_id), []).append(exchange)
    out = []
    for name in sorted(frames, key=lambda n: (n is None, n or "")):
        meters = tuple(
            MeterExchanges(
                meter_id,
                len(done),
                sum(completed(e) for e in done),
                sum(r.in_window is False for e in done for r in e),
            )
            for (gateway, meter_id), done in sorted(per_meter.items(), key=lambda kv: kv[0][1])
            if gateway == name
        )
        modes = tuple(sorted({r.mode for r in frames[name]}))
        out.append(GatewayStats(name, len(frames[name]), modes, meters))
    return tuple(out)
