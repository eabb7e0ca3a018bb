"""Score a survey against the simulator's truth (``truth.json`` of ``wmbus simulate --scenario``).

Used by the accuracy tests, ``benchmarks/survey_accuracy.py`` and the survey notebook.

- Reception ratio: the survey's ``received`` is exact (CRC-checked telegrams); what it estimates
  is ``expected``. The true ratio is ``received / transmissions of the meter in the recording``
  (its scheduled frames: replies to gateways and gateways' frames to it are not counted).
- Collisions: a truth collision is two transmissions heard at the location that overlap on one
  channel. It is *detectable* when both are above the detection floor, the weaker is within
  ``DETECTABLE_POWER_DIFF_DB`` of the stronger (a much weaker interferer hardly changes the
  stronger signal's envelope, nor its decoding) and they overlap for at least
  ``dsp.occupancy.MIN_OVERLAP_S`` (shorter overlaps look like back-to-back bursts). A detected
  collision span is false when it overlaps no truth collision at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dsp.occupancy import MIN_OVERLAP_S

DETECTABLE_ECN0_DB = 10.0
DETECTABLE_POWER_DIFF_DB = 10.0
MATCH_TOLERANCE_S = 0.5e-3


@dataclass(frozen=True, slots=True)
class MeterScore:
    location: str
    meter_id: str
    received: int
    expected: int
    transmitted: int

    @property
    def ratio_error(self) -> float:
        """Survey ratio minus true ratio (fraction, e.g. 0.01 = 1 percentage point)."""
        return self.received / max(self.expected, 1) - self.received / max(self.transmitted, 1)


@dataclass(frozen=True, slots=True)
class CollisionScore:
    truth: int  # truth collisions (pairs) on the location's channels
    detectable: int
    detected_detectable: int
    detected_any: int
    spans: int  # collision spans the survey reported
    false_spans: int

    @property
    def recall(self) -> float:
        return self.detected_detectable / self.detectable if self.detectable else 1.0

    @property
    def false_rate(self) -> float:
        return self.false_spans / self.spans if self.spans else 0.0

    def __add__(self, other: CollisionScore) -> CollisionScore:
        return CollisionScore(*(a + b for a, b in zip(_fields(self), _fields(other), strict=True)))


def _fields(score: CollisionScore) -> tuple[int, ...]:
    return (score.truth, score.detectable, score.detected_detectable, score.detected_any,
            score.spans, score.false_spans)


def _truth_pairs(truth: Mapping[str, Any], location: str) -> list[dict[str, Any]]:
    heard = {t["index"]: t for t in truth["transmissions"] if location in t["locations"]}
    pairs = []
    for t in heard.values():
        for j in t["overlaps"]:
            if j <= t["index"] or j not in heard:
                continue
            u = heard[j]
            a, b = t["locations"][location], u["locations"][location]
            pairs.append({
                "freq_hz": t["freq_hz"],
                "start_s": max(t["start_s"], u["start_s"]),
                "end_s": min(t["end_s"], u["end_s"]),
                "detectable": min(a["ecn0_db"], b["ecn0_db"]) >= DETECTABLE_ECN0_DB
                and abs(a["rssi_dbfs"] - b["rssi_dbfs"]) <= DETECTABLE_POWER_DIFF_DB
                and min(t["end_s"], u["end_s"]) - max(t["start_s"], u["start_s"]) >= MIN_OVERLAP_S,
            })
    return pairs


def _hits(span: Mapping[str, float], freq: float, pair: Mapping[str, Any]) -> bool:
    return (
        pair["freq_hz"] == freq
        and span["start_s"] < pair["end_s"] + MATCH_TOLERANCE_S
        and span["end_s"] > pair["start_s"] - MATCH_TOLERANCE_S
    )


def score_collisions(location: Mapping[str, Any], truth: Mapping[str, Any],
                     truth_location: str) -> CollisionScore:
    """Collision detection of one surveyed location (``--json`` dict) against the truth."""
    pairs = _truth_pairs(truth, truth_location)
    spans = [
        (channel["freq_hz"], span)
        for channel in location["channels"]
        for span in channel["collisions"] or ()
    ]
    found = [any(_hits(span, freq, p) for freq, span in spans) for p in pairs]
    false = sum(1 for freq, span in spans if not any(_hits(span, freq, p) for p in pairs))
    return CollisionScore(
        truth=len(pairs),
        detectable=sum(p["detectable"] for p in pairs),
        detected_detectable=sum(f and p["detectable"] for f, p in zip(found, pairs, strict=True)),
        detected_any=sum(found),
        spans=len(spans),
        false_spans=false,
    )


def score_meters(location: Mapping[str, Any], truth: Mapping[str, Any]) -> list[MeterScore]:
    """Per meter heard at the location: received, estimated expected, and truly transmitted."""
    sent: dict[str, int] = {}
    for t in truth["transmissions"]:
        # The meter's scheduled frames only, as the survey counts them: not its replies, nor
        # gateways' frames to it (keys absent from truth files without exchanges).
        if t.get("reply_to") is None and t.get("direction", "meter_to_other") == "meter_to_other":
            sent[t["meter_id"]] = sent.get(t["meter_id"], 0) + 1
    return [
        MeterScore(location["label"], m["meter_id"], m["received"], m["expected"],
                   sent.get(m["meter_id"], 0))
        for m in location["meters"]
    ]
