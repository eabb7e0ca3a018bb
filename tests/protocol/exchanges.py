"""Exchanges between meters and gateways built from telegrams with burst timing (no radio),
and a stand-in receiver that delivers them to a ``ConversationTracker``.

The stand-in delivers each frame some time after its start (longest on the S channel, as the
real receiver does) at the end of the chunk in which that time falls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocol.conversation import (
    C2_FAST_WINDOW_MS,
    C2_SLOW_WINDOW_MS,
    HORIZON_FACTOR,
    S2_WINDOW_MS,
    T2_WINDOW_MS,
    ConversationTracker,
)
from protocol.decoder import Decoder
from protocol.encoder import EllSpec, TelegramSpec, TplSpec, encode_telegram
from protocol.framing import on_air_length
from protocol.modes import MODES, Direction, FrameFormat
from protocol.telegram import Address, Telegram
from protocol.types import Burst, DecodeFailure, Frame

RATE = 2.4e6
LATENCY_S = 0.2
# Shortest answer preamble per channel (what sdr.pipeline derives from the band plan).
PREAMBLES_S = {"S1": 30 / 32768, "T1": 38 / 100e3, "C1": 26 / 100e3, "C2": 26 / 50e3}
# When our stand-in receiver delivers a frame after its start, per channel (within LATENCY_S).
DELIVERY_S = {"S1": 0.19, "T1": 0.045, "C1": 0.045, "C2": 0.06}
CHIPS_PER_BYTE = {"S1": 16, "T1": 12, "C1": 8, "C2": 8}
M2O, O2M = Direction.METER_TO_OTHER, Direction.OTHER_TO_METER
ACCESS = 0xC000  # CW bits B and A: the meter listens after its frame
DECODER = Decoder()


def address(n: int) -> Address:
    return Address(0x2C2D, bytes.fromhex(f"{n:08d}")[::-1], 0x1B, 0x07)


def frame(spec: TelegramSpec, channel: str, start: int) -> Telegram:
    """``spec`` decoded as the receiver would deliver it, heard on ``channel`` from ``start``."""
    data = encode_telegram(spec)
    chips = on_air_length(data[0], FrameFormat.A) * CHIPS_PER_BYTE[channel]
    end = start + round(chips / MODES[channel].chip_rate_hz * RATE)
    burst = Burst(channel, start, end, RATE, MODES[channel].center_freq_hz,
                  MODES[channel].chip_rate_hz, 0.0, -30.0, 20.0)
    telegram = DECODER.decode_frame(Frame(data, FrameFormat.A, channel, burst))
    assert isinstance(telegram, Telegram) and telegram.error is None
    return telegram


def meter_frame(meter: Address, acc: int, channel: str, start: int, c_field: int = 0x44,
                cw: int = ACCESS, cc: int | None = None) -> Telegram:
    ell = None if cc is None else EllSpec(ci=0x8C, cc=cc, acc=acc)
    tpl = TplSpec(ci=0x7A, acc=acc, cw_flags=cw)
    return frame(TelegramSpec(meter, c_field, ell, tpl=tpl, payload=b"\x04\x13\x39\x30\x00\x00"),
                 channel, start)


def gateway_frame(meter: Address, acc: int, channel: str, start: int, c_field: int = 0x5B,
                  cc: int | None = None, sender: Address | None = None) -> Telegram:
    """A TPL-only request to ``meter`` (its address in the long header); the link address is
    the meter's (EN 13757-4), or with ``sender`` the gateway's own (OMS)."""
    ell = None if cc is None else EllSpec(ci=0x8C, cc=cc, acc=acc)
    tpl = TplSpec(ci=0x80, acc=acc, address=meter)
    return frame(TelegramSpec(sender or meter, c_field, ell, tpl=tpl), channel, start)


def end(t: Telegram) -> int:
    return t.frame.burst.end_sample


def start(t: Telegram) -> int:
    return t.frame.burst.start_sample


def samples(ms: float) -> int:
    return round(ms * 1e-3 * RATE)


@dataclass
class Run:
    out: list[Telegram | DecodeFailure]
    released_at: dict[int, int]  # start_sample -> stream sample at which it came out
    delivered_at: dict[int, int]  # start_sample -> stream sample at which it was delivered


def deliver(frames: list[Telegram], chunk: int, tracker: ConversationTracker | None = None) -> Run:
    """Play the receiver: each frame delivered at the end of the chunk in which its delivery
    time falls, in delivery order; the stream ends a second after the last one."""
    tracker = tracker or ConversationTracker(LATENCY_S, PREAMBLES_S)
    ready = sorted(
        (start(t) + round(DELIVERY_S[t.frame.mode] * RATE), start(t), i)
        for i, t in enumerate(frames)
    )
    last = ready[-1][0] + round(RATE)
    out: list = []
    released: dict[int, int] = {}
    delivered: dict[int, int] = {}
    k = 0
    for now in range(chunk, last + chunk, chunk):
        batch = []
        while k < len(ready) and ready[k][0] <= now:
            batch.append(frames[ready[k][2]])
            delivered[start(batch[-1])] = now
            k += 1
        got = tracker.process(batch, now)
        released.update({start(t): now for t in got if isinstance(t, Telegram)})
        out += got
    got = tracker.flush()
    released.update({start(t): last + chunk for t in got})
    out += got
    assert tracker.late == 0
    return Run(out, released, delivered)


@dataclass
class Drawn:
    opener: Telegram
    request: Telegram
    reply: Telegram
    inside: tuple[bool, bool]  # request, reply in their windows
    mode: str


def window_ms(mode: str, fast: bool) -> tuple[float, float]:
    if mode == "C2":
        return C2_FAST_WINDOW_MS if fast else C2_SLOW_WINDOW_MS
    return T2_WINDOW_MS if mode == "T2" else S2_WINDOW_MS


def _delay(rng: np.random.Generator, window: tuple[float, float], preamble_ms: float,
           inside: bool) -> int:
    """A delay in samples inside the window (moved by the answer's preamble) or outside it,
    early or late but within the pairing horizon; kept 2 samples off every edge."""
    edge = 2 / RATE * 1e3
    low, high = window[0] + preamble_ms, window[1] + preamble_ms
    if inside:
        return samples(rng.uniform(low + edge, high - edge))
    if rng.random() < 0.5:
        return samples(rng.uniform(0.0, low - edge))
    return samples(rng.uniform(high + edge, HORIZON_FACTOR * window[1] - edge))


GATEWAYS = (None, address(90_000_001), address(90_000_002))


def random_exchanges(rng: np.random.Generator, count: int) -> tuple[list[Drawn], list[Telegram]]:
    """``count`` exchanges (meter frame offering access, gateway request, meter reply) across
    T2, S2 and C2, at random times over a minute, and unidirectional traffic of other meters.
    Gateways take turns from ``GATEWAYS`` (None: one that does not name itself)."""
    channels = {"T2": ("T1", "S1"), "S2": ("S1", "S1"), "C2": ("C1", "C2")}
    drawn = []
    for n in range(count):
        mode = ("T2", "S2", "C2")[n % 3]
        meter_ch, gateway_ch = channels[mode]
        meter, acc = address(10_000_000 + n), int(rng.integers(256))
        fast = bool(rng.integers(2))
        cc = (0x80 | 0x04 | (0x40 if fast else 0)) if mode == "C2" else None
        window = window_ms(mode, fast)
        inside = (bool(rng.random() < 0.5), bool(rng.random() < 0.5))
        opener = meter_frame(meter, acc, meter_ch, int(rng.integers(samples(60_000))), cc=cc)
        request = gateway_frame(
            meter, acc, gateway_ch,
            end(opener) + _delay(rng, window, PREAMBLES_S[gateway_ch] * 1e3, inside[0]), cc=cc,
            sender=GATEWAYS[n % len(GATEWAYS)])
        reply = meter_frame(
            meter, acc, meter_ch,
            end(request) + _delay(rng, window, PREAMBLES_S[meter_ch] * 1e3, inside[1]),
            c_field=0x08, cw=0, cc=cc)
        drawn.append(Drawn(opener, request, reply, inside, mode))
    quiet = [
        meter_frame(address(20_000_000 + n), int(rng.integers(256)), ("T1", "S1", "C1")[n % 3],
                    int(rng.integers(samples(60_000))), cw=0)
        for n in range(150)
    ]
    return drawn, quiet
