"""Helpers for tests over the corpus of real telegrams (tests/data/corpus.jsonl).

How a telegram is decoded for the comparison: one decoder per telegram, holding the telegram's
key (for the meter id the corpus names, or the link id when the corpus says "any id"), first fed
the telegrams wmbusmeters had seen before it (``context_hex``, ``test_preceding_hex`` and the
other telegrams of the same test source) so that compact frames find their format, as in
wmbusmeters' own test runs.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from protocol.decoder import Decoder
from protocol.telegram import Telegram
from protocol.types import DecodeFailure, SecurityStatus
from tests.conftest import CORPUS

PLAINTEXT_FLAGS = {"plaintext_marked_encrypted", "manufacturer_security_mode_plaintext"}


@cache
def wireless_rows() -> tuple[dict[str, Any], ...]:
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    return tuple(r for r in rows if r["frame_type"] == "wmbus")


def keys_of(row: dict[str, Any]) -> dict[str, bytes]:
    if not row["key"]:
        return {}
    meter_id = row["meter_id"] if row["meter_id"].isalnum() and len(row["meter_id"]) == 8 else (
        row["dll"]["dll_id"])
    return {meter_id: bytes.fromhex(row["key"])}


def decode_row(row: dict[str, Any]) -> Telegram | DecodeFailure:
    decoder = Decoder(keys_of(row))
    same_source = [
        r["hex"] for r in wireless_rows() if r["source"] == row["source"] and r is not row
    ]
    for text in same_source + row["context_hex"] + row["test_preceding_hex"]:
        decoder.decode_hex(text)
    return decoder.decode_hex(row["hex"])


def expected_security(row: dict[str, Any]) -> tuple[set[SecurityStatus], bool]:
    """Statuses that agree with wmbusmeters' verdict, and whether a plaintext flag is expected."""
    anomalies = row["anomalies"] or []
    if "wrong_key_or_decryption_failed" in anomalies:
        if row["key"]:
            return {SecurityStatus.WRONG_KEY, SecurityStatus.BAD_MAC}, False
        return {SecurityStatus.NO_KEY}, False
    if "encrypted_but_no_key" in anomalies:
        return {SecurityStatus.NO_KEY}, False
    if row["encrypted_and_decrypted"]:
        return {SecurityStatus.DECRYPTED}, False
    if row["payload_plaintext_despite_security_flag"]:
        return {SecurityStatus.NONE}, True
    return {SecurityStatus.NONE}, False


def record_rows() -> tuple[dict[str, Any], ...]:
    """The wireless rows for which wmbusmeters lists data records."""
    return tuple(r for r in wireless_rows() if r["records"])


def on_air_records(row: dict[str, Any]) -> list[dict[str, Any]]:
    """wmbusmeters' records minus those it synthesises from compact profiles (VIFE 13/1E/1F):
    they share the offset of the profile record and are not records on air."""
    seen: set[int] = set()
    kept = []
    for exp in row["records"]:
        if exp["offset"] not in seen:
            kept.append(exp)
        seen.add(exp["offset"])
    return kept
