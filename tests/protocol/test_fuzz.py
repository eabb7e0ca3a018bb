"""Robustness: random and mutated input only ever gives Telegram or DecodeFailure values.

A fast sample of ``benchmarks/fuzz_protocol.py`` (which runs 100k cases) plus Hypothesis-driven
bytes, hex text and receiver frames.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.fuzz_protocol import fuzz_cases, fuzz_decoder, outcome
from protocol.conversation import ConversationTracker
from protocol.decoder import Decoder
from protocol.modes import FrameFormat
from protocol.report import failure_to_dict, telegram_to_dict
from protocol.telegram import Telegram
from protocol.types import Burst, DecodeFailure, Frame
from tests.protocol.spec_vectors import R1, R1_KEY, R5, R5_KEY


def test_fuzz_sample_has_no_exceptions_and_reaches_every_layer() -> None:
    decoder = fuzz_decoder()
    outcomes = [outcome(decoder, raw) for _, raw in fuzz_cases(seed=7, count=4000)]
    bugs = [o for o in outcomes if o.startswith("bug:")]
    assert not bugs, bugs[:5]
    seen = {o.split(":")[1] for o in outcomes}
    # The sample must exercise the deep paths, not only link-layer rejections.
    assert {"ok", "truncated", "crc", "unknown_ci", "wrong_key", "bad_mac"} <= seen


def check(result: Telegram | DecodeFailure) -> None:
    assert isinstance(result, Telegram | DecodeFailure)
    rendered = telegram_to_dict(result) if isinstance(result, Telegram) else failure_to_dict(result)
    json.dumps(rendered)


DECODER = Decoder({"76348799": R1_KEY, "43054304": R5_KEY})


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(raw: bytes) -> None:
    check(DECODER.decode_bytes(raw))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([R1, R5]), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)),
                                            max_size=4), st.integers(0, 200))
def test_mutated_reference_telegrams(text: str, edits: list[tuple[int, int]], cut: int) -> None:
    raw = bytearray(bytes.fromhex(text))
    for position, value in edits:
        raw[position % len(raw)] = value
    check(DECODER.decode_bytes(bytes(raw[: len(raw) - cut % len(raw)])))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=260), st.sampled_from(list(FrameFormat)),
       st.sampled_from(["S1", "T1", "C1", "C2"]))
def test_receiver_frames_with_any_content(body: bytes, frame_format: FrameFormat,
                                          mode: str) -> None:
    data = bytes([len(body) & 0xFF]) + body
    check(DECODER.decode_frame(Frame(data, frame_format, mode=mode)))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=30), st.sampled_from(
    ["S1", "T1", "C1", "C2"]), st.integers(0, 2_400_000), st.integers(1, 200_000)), max_size=12))
def test_conversation_tracker_takes_any_frames(items: list[tuple[int, bytes, str, int, int]]
                                               ) -> None:
    """Any frames of one meter (any C-field and content) at any times: each comes out of the
    tracker once, unharmed."""
    tracker = ConversationTracker(0.2, {})
    results = []
    for c_field, rest, mode, start, length in items:
        body = bytes([c_field]) + bytes.fromhex("2D2C998734761B16") + rest
        burst = Burst(mode, start, start + length, 2.4e6, 868.3e6, 1e5, 0.0, 0.0, 0.0)
        result = DECODER.decode_frame(Frame(bytes([len(body)]) + body, FrameFormat.A, mode, burst))
        results.append(result)
    out = tracker.process(results, 1_000_000) + tracker.flush()
    assert sorted(map(id, (r.frame if isinstance(r, Telegram) else r for r in out))) == sorted(
        map(id, (r.frame if isinstance(r, Telegram) else r for r in results)))
    for result in out:
        check(result)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_text_as_hex(text: str) -> None:
    check(DECODER.decode_hex(text))
