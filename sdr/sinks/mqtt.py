"""``--mqtt HOST[:PORT]``: publish telegrams to an MQTT broker (paho-mqtt).

Topics (``PREFIX`` defaults to ``wmbus``; see docs/live.md):

- ``PREFIX/meter/MANUFACTURER/METER_ID``: every telegram of that meter as the JSON of
  ``wmbus decode --json`` plus ``receiver``.
- ``PREFIX/events``: one small JSON object per event: ``telegram`` (who, when, how strong),
  ``started``, ``stopped`` (with the summary counts) and ``source_lost``.
- ``PREFIX/status/RECEIVER``: retained ``online``/``offline`` (the broker publishes ``offline``
  as the will when the receiver vanishes).
- Home Assistant discovery (``--ha-discovery``), for meters whose key was given: retained
  ``homeassistant/sensor/wmbus_M_ID/OBJECT/config`` for the current-value records.

Messages go out with QoS 1 through paho's own queue, which keeps them while the broker is
unreachable and sends them after paho reconnects (with exponential backoff). The queue is
bounded; a message that does not fit is dropped and counted.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

DEFAULT_PORT = 1883
DEFAULT_PREFIX = "wmbus"
DEFAULT_QUEUE_LIMIT = 10_000
HA_DISCOVERY_PREFIX = "homeassistant"
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 60

# Home Assistant device classes and units for our record units (current values only).
_HA_CLASSES: dict[str, tuple[str | None, str]] = {
    "Wh": ("energy", "Wh"),
    "W": ("power", "W"),
    "C": ("temperature", "°C"),
    "V": ("voltage", "V"),
    "bar": ("pressure", "bar"),
    "m3/h": ("volume_flow_rate", "m³/h"),
    "m3": ("volume", "m³"),
    "kg": ("weight", "kg"),
}
_CUMULATIVE_QUANTITIES = frozenset({"energy", "volume", "mass"})


@dataclass(frozen=True, slots=True)
class MqttStats:
    published: int  # messages handed to paho's queue
    dropped: int  # messages that did not fit into the queue
    delivered: int  # acknowledged by the broker
    connected: bool


def meter_topic(prefix: str, telegram: dict[str, Any]) -> str:
    return f"{prefix}/meter/{telegram['manufacturer']}/{telegram['meter_id']}"


def telegram_event(telegram: dict[str, Any], receiver: str) -> dict[str, Any]:
    """The ``telegram`` event: enough to follow the traffic from one subscription."""
    event = {
        "event": "telegram",
        "receiver": receiver,
        "manufacturer": telegram["manufacturer"],
        "meter_id": telegram["meter_id"],
        "mode": telegram.get("mode"),
        "security": telegram.get("security"),
    }
    for key in ("time_s", "rssi_dbfs", "snr_db"):
        if key in telegram:
            event[key] = telegram[key]
    if "error" in telegram:
        event["error"] = telegram["error"]["reason"]
    return event


def _is_current_value(record: dict[str, Any]) -> bool:
    """A plain instantaneous reading (not stored, tariffed or extended): what HA shows."""
    return (
        record["storage"] == 0
        and record["tariff"] == 0
        and record["subunit"] == 0
        and record["function"] == "instantaneous"
        and isinstance(record["value"], int | float)
        and not record.get("extensions")
    )


def _record_sensor(
    record: dict[str, Any], index: int, meter: str, model: str, common: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    device_class, unit = _HA_CLASSES.get(record["unit"], (None, record["unit"]))
    if device_class == "volume" and "water" in model.lower():
        device_class = "water"
    elif device_class == "volume" and "gas" in model.lower():
        device_class = "gas"
    object_id = f"{record['quantity']}_{index}"
    config: dict[str, Any] = {
        **common,
        "name": record["quantity"].replace("_", " "),
        "unique_id": f"wmbus_{meter}_{object_id}",
        "value_template": f"{{{{ value_json.records[{index}].value }}}}",
        "state_class": (
            "total_increasing" if record["quantity"] in _CUMULATIVE_QUANTITIES else "measurement"
        ),
    }
    if unit:
        config["unit_of_measurement"] = unit
    if device_class:
        config["device_class"] = device_class
    return f"{HA_DISCOVERY_PREFIX}/sensor/wmbus_{meter}/{object_id}/config", config


def ha_discovery_configs(
    prefix: str, telegram: dict[str, Any], availability_topic: str
) -> list[tuple[str, dict[str, Any]]]:
    """(topic, config) pairs announcing a meter's current-value records to Home Assistant."""
    meter = f"{telegram['manufacturer']}_{telegram['meter_id']}"
    device = {
        "identifiers": [f"wmbus_{meter}"],
        "manufacturer": telegram["manufacturer"],
        "model": telegram.get("device_type", ""),
        "name": f"{telegram['manufacturer']} {telegram['meter_id']}",
    }
    common = {
        "state_topic": meter_topic(prefix, telegram),
        "availability_topic": availability_topic,
        "device": device,
    }
    configs = [
        _record_sensor(record, index, meter, device["model"], common)
        for index, record in enumerate(telegram.get("records", []))
        if _is_current_value(record)
    ]
    if "rssi_dbfs" in telegram:
        rssi = {
            **common,
            "name": "RSSI",
            "unique_id": f"wmbus_{meter}_rssi",
            "value_template": "{{ value_json.rssi_dbfs }}",
            "unit_of_measurement": "dBFS",
            "state_class": "measurement",
            "entity_category": "diagnostic",
        }
        configs.append((f"{HA_DISCOVERY_PREFIX}/sensor/wmbus_{meter}/rssi/config", rssi))
    return configs


class MqttSink:
    """Publishes telegrams and events; never blocks or stops the decoding when the broker is
    down. ``close()`` waits briefly for queued messages and returns the counts."""

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        prefix: str = DEFAULT_PREFIX,
        *,
        receiver: str | None = None,
        ha_discovery: bool = False,
        known_meter_ids: Collection[str] = (),
        queue_limit: int = DEFAULT_QUEUE_LIMIT,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        import paho.mqtt.client as mqtt

        self.host, self.port = host, port
        self.prefix = prefix.rstrip("/")
        self.receiver = receiver or socket.gethostname()
        self.ha_discovery = ha_discovery
        self.known_meter_ids = {m.upper() for m in known_meter_ids}
        self.log = log
        self.status_topic = f"{self.prefix}/status/{self.receiver}"
        self._announced: set[str] = set()
        self._published = 0
        self._dropped = 0
        self._delivered = 0
        self._connected = False
        self._lock = threading.Lock()
        self._queue_size_error = mqtt.MQTT_ERR_QUEUE_SIZE

        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"wmbus-{self.receiver}-{id(self):x}",
        )
        client.max_queued_messages_set(queue_limit)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.will_set(self.status_topic, "offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client

    def start(self) -> MqttSink:
        """Connect in the background; an unreachable broker is retried, not an error."""
        self._client.connect_async(self.host, self.port)
        self._client.loop_start()
        return self

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.log(f"MQTT broker {self.host}:{self.port} refused the connection: {reason}")
            return
        self._connected = True
        self.log(f"MQTT connected to {self.host}:{self.port}")
        self._publish(self.status_topic, "online", retain=True)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self._connected:
            self.log(f"MQTT connection to {self.host}:{self.port} lost ({reason}); reconnecting")
        self._connected = False

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._lock:
            self._delivered += 1

    def _publish(self, topic: str, payload: dict[str, Any] | str, retain: bool = False) -> None:
        if not isinstance(payload, str):
            payload = json.dumps(payload, ensure_ascii=False, default=str)
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        with self._lock:
            if info.rc == self._queue_size_error:
                self._dropped += 1
            else:
                self._published += 1

    def publish_telegram(self, telegram: dict[str, Any]) -> None:
        telegram = {**telegram, "receiver": self.receiver}
        meter = f"{telegram['manufacturer']}_{telegram['meter_id']}"
        if (
            self.ha_discovery
            and meter not in self._announced
            and str(telegram["meter_id"]).upper() in self.known_meter_ids
            and telegram.get("security") == "decrypted"
        ):
            for topic, config in ha_discovery_configs(self.prefix, telegram, self.status_topic):
                self._publish(topic, config, retain=True)
            self._announced.add(meter)
        self._publish(meter_topic(self.prefix, telegram), telegram)
        self._publish(f"{self.prefix}/events", telegram_event(telegram, self.receiver))

    def publish_event(self, event: str, **fields: Any) -> None:
        payload = {"event": event, "receiver": self.receiver, **fields}
        self._publish(f"{self.prefix}/events", payload)

    def stats(self) -> MqttStats:
        return MqttStats(self._published, self._dropped, self._delivered, self._connected)

    def close(self, timeout_s: float = 3.0) -> MqttStats:
        """Flush what a connected broker takes within ``timeout_s``, then disconnect; what is
        still queued then is lost (``published - delivered``)."""
        deadline = time.monotonic() + timeout_s
        if self._connected:
            self._publish(self.status_topic, "offline", retain=True)
        # Wait for a connection still being made too: a telegram published right after start()
        # sits in paho's queue until the broker answers.
        while self._delivered < self._published and time.monotonic() < deadline:
            time.sleep(0.02)
        self._client.disconnect()
        self._client.loop_stop()
        return self.stats()
