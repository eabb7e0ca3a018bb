"""Exchanges between meters and gateways: pairing, windows, direction and mode, streaming.

Frames are built with the encoder and decoded, with burst timing set directly (no radio); the
tests play the receiver (``tests.protocol.exchanges.deliver``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from protocol.conversation import HORIZON_FACTOR, ConversationTracker
from protocol.encoder import TelegramSpec, encode_telegram
from protocol.report import telegram_summary, telegram_to_dict
from protocol.telegram import Telegram
from protocol.types import DecodeFailure, FailureReason
from tests.protocol.exchanges import (
    DECODER,
    LATENCY_S,
    M2O,
    O2M,
    PREAMBLES_S,
    RATE,
    Drawn,
    address,
    deliver,
    end,
    frame,
    gateway_frame,
    meter_frame,
    random_exchanges,
    samples,
    start,
    window_ms,
)


@pytest.fixture(scope="module")
def traffic() -> tuple[list[Drawn], list[Telegram]]:
    return random_exchanges(np.random.default_rng(2024), 200)


def _frames(traffic: tuple[list[Drawn], list[Telegram]]) -> list[Telegram]:
    drawn, quiet = traffic
    return [t for d in drawn for t in (d.opener, d.request, d.reply)] + quiet


def test_pairing_target_every_pair_found_and_every_out_of_window_reply_flagged(traffic) -> None:
    drawn, quiet = traffic
    run = deliver(_frames(traffic), chunk=samples(50))
    by_start = {start(t): t for t in run.out if isinstance(t, Telegram)}
    assert len(by_start) == len(run.out) == 3 * len(drawn) + len(quiet)  # each once
    found = flagged = wrongly_flagged = 0
    for d in drawn:
        opener, request, reply = (by_start[start(t)] for t in (d.opener, d.request, d.reply))
        assert opener.exchange is not None and opener.exchange.answer is None
        for answer, answered, inside in ((request, opener, d.inside[0]),
                                         (reply, request, d.inside[1])):
            a = answer.exchange.answer
            assert answer.exchange.start_sample == start(opener)
            found += a.reply_to == start(answered)
            flagged += not a.in_window
            wrongly_flagged += a.in_window is not inside
        assert [opener.mode, request.mode, reply.mode] == [d.mode] * 3
        assert [opener.direction, request.direction, reply.direction] == [M2O, O2M, M2O]
    outside = sum(not i for d in drawn for i in d.inside)
    assert (found, flagged, wrongly_flagged) == (2 * len(drawn), outside, 0)
    assert 150 < outside < 250  # both kinds are well represented (400 answers, half outside)
    for t in quiet:  # unidirectional meters: in no exchange, with their receiver mode
        out = by_start[start(t)]
        assert out.exchange is None and out.mode == t.frame.mode


def test_output_does_not_depend_on_chunk_size(traffic) -> None:
    frames = _frames(traffic)
    whole = deliver(frames, chunk=samples(100_000)).out
    for chunk in (1_000, samples(7), samples(333)):
        assert deliver(frames, chunk=chunk).out == whole


def test_unidirectional_meters_are_not_delayed_and_holding_is_bounded(traffic) -> None:
    drawn, quiet = traffic
    chunk = samples(20)
    run = deliver(_frames(traffic), chunk=chunk)
    for t in quiet:
        assert run.released_at[start(t)] == run.delivered_at[start(t)]
    latency = samples(LATENCY_S * 1e3)
    for d in drawn:
        # Held until the exchange can grow no more: its last frame's pairing horizon, then
        # twice the delivery latency (docs/json-schema.md), then the end of that chunk.
        horizon = samples(HORIZON_FACTOR * window_ms(d.mode, False)[1])
        bound = end(d.reply) + horizon + 2 * latency + chunk
        for t in (d.opener, d.request, d.reply):
            assert run.delivered_at[start(t)] <= run.released_at[start(t)] <= bound


def test_exchange_fields_in_json_and_text(traffic) -> None:
    drawn, _ = traffic
    d = next(d for d in drawn if d.mode == "T2" and d.inside == (True, False))
    out = [t for t in deliver([d.opener, d.request, d.reply], chunk=samples(10)).out]
    opener, request, reply = (telegram_to_dict(t) for t in out)
    json.dumps([opener, request, reply])
    assert opener["exchange"] == request["exchange"] == reply["exchange"] == start(d.opener)
    assert "reply_to" not in opener and opener["direction"] == "meter_to_other"
    assert request["direction"] == "other_to_meter" and request["mode"] == "T2"
    assert request["reply_to"] == start(d.opener) and request["in_window"] is True
    delay = (start(d.request) - end(d.opener)) / RATE * 1e3
    assert request["response_delay_ms"] == pytest.approx(delay, abs=1e-3)
    low, high = request["response_window_ms"]
    assert low == pytest.approx(2.0 + PREAMBLES_S["S1"] * 1e3, abs=1e-3)
    assert high == pytest.approx(50.0 + PREAMBLES_S["S1"] * 1e3, abs=1e-3)
    assert reply["reply_to"] == start(d.request) and reply["in_window"] is False
    assert "OUTSIDE ITS WINDOW" in telegram_summary(out[2])
    assert "OUTSIDE" not in telegram_summary(out[1])


def test_c2_window_follows_the_ell_response_delay_bit() -> None:
    """100 ms (fast, D set) or 1000 ms (slow), ±0.5 ms, to the start of the preamble."""
    pre = samples(PREAMBLES_S["C2"] * 1e3)
    for cc, nominal in ((0xC4, 100.0), (0x84, 1000.0)):
        for offset_ms, inside in ((0.0, True), (0.45, True), (-0.45, True), (0.6, False),
                                  (-0.6, False)):
            meter = meter_frame(address(1), 7, "C1", 1000, cc=cc)
            gateway = gateway_frame(address(1), 7, "C2",
                                    end(meter) + pre + samples(nominal + offset_ms), cc=cc)
            out = deliver([meter, gateway], chunk=samples(10)).out
            assert out[1].exchange.answer.in_window is inside, (cc, offset_ms)
            assert out[1].mode == out[0].mode == "C2"


def test_frames_of_other_meters_or_access_numbers_do_not_pair() -> None:
    meter = meter_frame(address(1), 7, "T1", 1000)
    at = end(meter) + samples(10)
    for gateway in (gateway_frame(address(2), 7, "S1", at), gateway_frame(address(1), 8, "S1", at)):
        out = deliver([meter, gateway], chunk=samples(10)).out
        assert all(t.exchange is None for t in out)
        assert [t.mode for t in out] == ["T1", "S2"]  # a frame to a meter on 868.3 MHz is S2
    # An answer starting before the answered frame ended, or beyond the horizon, is unrelated.
    for at in (end(meter) - 10, end(meter) + samples(HORIZON_FACTOR * 50.0) + 10):
        out = deliver([meter, gateway_frame(address(1), 7, "S1", at)], chunk=samples(10)).out
        assert all(t.exchange is None for t in out)


def test_ack_takes_the_direction_of_its_exchange_and_a_lone_ack_is_the_meters() -> None:
    meter = address(5)
    # A meter's alarm (ACC_DMD) acknowledged by the gateway on the S channel: other->meter.
    demand = meter_frame(meter, 3, "S1", 1000, c_field=0x48, cw=0)
    ack = frame(TelegramSpec(meter, 0x00, tpl=None), "S1", end(demand) + samples(10))
    assert ack.direction is M2O  # the frame alone does not say
    out = deliver([demand, ack], chunk=samples(10)).out
    assert [t.direction for t in out] == [M2O, O2M] and out[1].mode == "S2"
    # A gateway's SND_UD acknowledged by the meter: meter->other.
    command = gateway_frame(meter, 3, "S1", 1000, c_field=0x53)
    ack = frame(TelegramSpec(meter, 0x00, tpl=None), "S1", end(command) + samples(10))
    out = deliver([command, ack], chunk=samples(10)).out
    assert [t.direction for t in out] == [O2M, M2O] and out[1].exchange.answer.in_window
    # Alone, an ACK is the meter's (mode S1); on 869.525 MHz it is the gateway's.
    lone = frame(TelegramSpec(meter, 0x00, tpl=None), "S1", 1000)
    assert deliver([lone], chunk=samples(10)).out[0].direction is M2O
    assert deliver([lone], chunk=samples(10)).out[0].mode == "S1"
    assert frame(TelegramSpec(meter, 0x00, tpl=None), "C2", 1000).direction is O2M


def test_failures_and_frames_without_timing_pass_straight_through() -> None:
    tracker = ConversationTracker(LATENCY_S, PREAMBLES_S)
    failure = DecodeFailure("phy", FailureReason.CRC, start_sample=5)
    hex_input = DECODER.decode_bytes(encode_telegram(TelegramSpec(address(1), 0x5B)))
    assert tracker.process([failure, hex_input], 0) == [failure, hex_input]
    assert tracker.flush() == []


def test_a_frame_delivered_later_than_the_latency_bound_is_counted() -> None:
    tracker = ConversationTracker(LATENCY_S, PREAMBLES_S)
    early = meter_frame(address(1), 1, "T1", samples(5_000))
    tracker.process([early], samples(5_100))
    assert tracker.late == 0
    tracker.process([meter_frame(address(2), 1, "T1", samples(1_000))], samples(5_200))
    assert tracker.late == 1
    tracker.reset()
    assert tracker.late == 0 and tracker.flush() == []


def test_memory_stays_bounded_on_an_endless_stream() -> None:
    tracker = ConversationTracker(LATENCY_S, PREAMBLES_S)
    rng = np.random.default_rng(1)
    sizes = []
    for k in range(300):
        t0 = samples(200 * k)
        meter = address(int(rng.integers(50)))
        opener = meter_frame(meter, k % 256, "T1", t0)
        request = gateway_frame(meter, k % 256, "S1", end(opener) + samples(10))
        tracker.process([opener], t0 + samples(50))
        tracker.process([request], t0 + samples(190))
        sizes.append(sum(map(len, tracker._by_key.values())) + len(tracker._held))
    assert max(sizes[100:]) <= max(sizes[:100])  # what is kept does not grow with time
