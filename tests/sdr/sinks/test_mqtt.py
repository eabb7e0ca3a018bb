"""The MQTT sink against Debian's mosquitto on loopback, with a paho subscriber."""

from __future__ import annotations

import json

import pytest

from protocol.decoder import Decoder
from protocol.report import telegram_to_dict
from sdr.sinks.mqtt import MqttSink, meter_topic
from tests.conftest import CORPUS
from tests.sdr.live_support import Subscriber, free_port, mosquitto, wait_for

# A water meter of the corpus (tests/data) with its key, and the value wmbusmeters reads from it.
CORPUS_ID = "xmq-picoflux-mywater-e2f1afd5"


@pytest.fixture(scope="module")
def water_telegram() -> tuple[dict, dict]:
    """(decoded telegram as JSON dict, corpus row)."""
    rows = CORPUS.read_text().splitlines()
    row = next(r for r in map(json.loads, rows) if r["id"] == CORPUS_ID)
    keys = {row["meter_id"]: bytes.fromhex(row["key"])}
    telegram = Decoder(keys).decode_bytes(bytes.fromhex(row["hex"]))
    return telegram_to_dict(telegram), row


def test_telegram_event_status_and_discovery_reach_a_subscriber(water_telegram) -> None:
    telegram, row = water_telegram
    with mosquitto() as port:
        sub = Subscriber(port)
        sink = MqttSink(
            "127.0.0.1", port, "wmbus", receiver="attic", ha_discovery=True,
            known_meter_ids=[row["meter_id"]],
        ).start()
        wait_for(lambda: sink.stats().connected, what="sink connected")
        sink.publish_telegram(telegram)
        stats = sink.close()
        wait_for(lambda: ("wmbus/status/attic", b"offline", False) in sub.messages)
        sub.close()
    assert stats.dropped == 0 and stats.delivered == stats.published

    topic = f"wmbus/meter/{telegram['manufacturer']}/{row['meter_id']}"
    assert topic == meter_topic("wmbus", telegram)
    assert sub.on(topic) == [{**telegram, "receiver": "attic"}]
    [event] = [e for e in sub.on("wmbus/events") if e["event"] == "telegram"]
    assert event["meter_id"] == row["meter_id"] and event["receiver"] == "attic"
    statuses = [p for t, p, _ in sub.messages if t == "wmbus/status/attic"]
    assert statuses == [b"online", b"offline"]

    # Discovery: each config's template, applied to the state message, gives a real value.
    configs = {
        t: json.loads(p) for t, p, _ in sub.messages if t.startswith("homeassistant/sensor/")
    }
    assert all(t.endswith("/config") for t in configs)
    total_m3 = next(f["value"] for f in row["oracle_numeric_fields"] if f["name"] == "total_m3")
    volumes = [c for c in configs.values() if c.get("device_class") == "water"]
    assert volumes, configs
    for config in configs.values():
        assert config["state_topic"] == topic
        assert config["availability_topic"] == "wmbus/status/attic"
    index = int(volumes[0]["value_template"].split("[")[1].split("]")[0])
    assert telegram["records"][index]["value"] == pytest.approx(total_m3)
    assert volumes[0]["unit_of_measurement"] == "m³"
    assert volumes[0]["state_class"] == "total_increasing"


def test_no_discovery_for_meters_without_a_key(water_telegram) -> None:
    telegram, _ = water_telegram
    with mosquitto() as port:
        sub = Subscriber(port)
        sink = MqttSink("127.0.0.1", port, ha_discovery=True, known_meter_ids=[]).start()
        sink.publish_telegram(telegram)
        sink.close()
        wait_for(lambda: sub.on(meter_topic("wmbus", telegram)), what="the meter's telegram")
        sub.close()
    assert not [t for t, _, _ in sub.messages if t.startswith("homeassistant/")]


def test_messages_wait_for_a_broker_that_comes_up_later(water_telegram) -> None:
    telegram, _ = water_telegram
    port = free_port()
    sink = MqttSink("127.0.0.1", port, "later", receiver="r1").start()
    for _ in range(5):
        sink.publish_telegram(telegram)  # the broker is not running yet
    assert not sink.stats().connected
    with mosquitto(port):
        sub = Subscriber(port, "later/#")
        wait_for(lambda: len(sub.on(meter_topic("later", telegram))) == 5, timeout_s=15,
                 what="queued telegrams after reconnect")
        stats = sink.close()
        sub.close()
    assert stats.dropped == 0


def test_a_full_queue_drops_and_counts() -> None:
    sink = MqttSink("127.0.0.1", free_port(), queue_limit=3).start()
    for i in range(10):
        sink.publish_event("test", n=i)
    stats = sink.close(timeout_s=0.2)
    assert (stats.published, stats.dropped, stats.delivered) == (3, 7, 0)
