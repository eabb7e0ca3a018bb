"""JSON and text rendering of decoded telegrams (protocol.report, docs/json-schema.md)."""

from __future__ import annotations

import json

from protocol.decoder import Decoder
from protocol.modes import FrameFormat
from protocol.report import failure_to_dict, telegram_summary, telegram_to_dict
from protocol.telegram import Telegram
from protocol.types import Burst, DecodeFailure, FailureReason, Frame
from tests.protocol.spec_vectors import R3, R3_KEY, R8


def test_radio_fields_come_from_the_burst() -> None:
    burst = Burst("T1", 2_400_000, 2_430_000, 2.4e6, 868.95e6, 100_010.0, -1234.56, -31.234,
                  17.891)
    data = bytes.fromhex(R8)
    t = Decoder().decode_frame(Frame(data, FrameFormat.A, "T1", burst, corrected_errors=2))
    assert isinstance(t, Telegram)
    obj = json.loads(json.dumps(telegram_to_dict(t)))
    assert (obj["mode"], obj["start_sample"], obj["time_s"], obj["corrected_errors"]) == (
        "T1", 2_400_000, 1.0, 2)
    assert (obj["rssi_dbfs"], obj["snr_db"], obj["cfo_hz"], obj["freq_hz"]) == (
        -31.23, 17.89, -1234.6, 868.95e6)
    assert obj["chip_rate_hz"] == 100_010.0 and obj["frame_format"] == "A"
    # The long-header meter is reported as the meter; rtl_433's id stays the link id.
    assert (obj["id"], obj["meter_id"], obj["M"], obj["manufacturer"]) == (
        43000255, "20254060", "EFE", "EFE")
    assert obj["tpl"]["id"] == "20254060" and obj["tpl"]["header"] == "long"


def test_hex_input_has_no_radio_fields_and_status_names() -> None:
    t = Decoder({"20096221": R3_KEY}).decode_hex(R3.replace("7A3600", "7A3604"))
    assert isinstance(t, Telegram)
    obj = telegram_to_dict(t)
    assert "start_sample" not in obj and obj["mode"] is None
    assert (obj["AC"], obj["ST"], obj["CW"]) == (0x36, 0x04, 0x2520)
    assert obj["tpl"]["status"] == ["power_low"] and obj["tpl"]["security_mode"] == 5
    text = telegram_summary(t)
    assert "DWZ 20096221 warm_water" in text and "status power_low" in text
    assert "security: decrypted" in text and "volume: 0.106 m3" in text


def test_failure_objects() -> None:
    failure = DecodeFailure("link", FailureReason.CRC, "block 2", start_sample=99)
    assert failure_to_dict(failure) == {
        "model": "Wireless-MBus",
        "error": {"reason": "crc", "stage": "link", "detail": "block 2"},
        "start_sample": 99,
    }


def test_payload_and_error_of_undecryptable_telegram() -> None:
    t = Decoder().decode_hex(R3)
    assert isinstance(t, Telegram)
    obj = telegram_to_dict(t)
    assert obj["security"] == "no_key" and obj["error"]["reason"] == "no_key"
    assert obj["payload_hex"] == R3[30:] and obj["records"] == []
    assert "error: no_key (security)" in telegram_summary(t)
