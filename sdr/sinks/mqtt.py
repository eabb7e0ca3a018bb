"""``--mqtt HOST[:PORT]``: publish telegrams to an MQTT broker (paho-mqtt).

Topics (``PREFIX`` defaults to ``wmbus``; see docs/live.md):

- ``PREFIX/meter/MANUFACTURER/METER_ID``: every telegram of that meter as the JSON of
  ``wmbus decode --json`` plus ``receiver``.
- ``PREFIX/events``: one small JSON object per event: ``telegram`` (who, when, how strong),
  ``started``, ``stopped`` (with the summary counts) and ``source_lost``.
- ``PREFIX/status/RECEIVER``: retained ``online``/``offline`` (the broker publishes ``offline``
  as the will when the receiver vanishes).
- ``PREFIX/status/RECEIVER/health``: retained JSON of the radio's health (``sdr.health``:
  clipping, noise floor, frequency error), every few seconds of stream and when clipping
  starts (the plain status beside it keeps Home Assistant's availability check working).
- Home Assistant discovery (``--ha-discovery``), for meters whose key was given: retained
  ``homeassistant/sensor/wmbus_M_ID/OBJECT/config`` for the current-value records.

Messages go out with QoS 1 through paho's own queue, which keeps them while the broker is
unreachable and sends them after paho reconnects (with exponential backoff). The queue is
bounded; a message that does not fit is dropped and counted, and so is one still unacknowledged
when the sink closes: ``delivered + dropped == published`` (``MqttStats``). The status topics
are outside these counts and the bound: ``online`` is sent again on every connection, and the
health, a state of which only the latest matters, is sent only while connected.

A login (user and password) and TLS (``tls_context``) are optional. Trouble reaching the broker
(unreachable, refused login, no answer) is one warning line per kind of trouble, not per retry.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from protocol.vendors.spec import unit_of
from sdr.errors import UserError
from sdr.io.addresses import format_host_port
from sdr.limited_file import read_limited

DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883
DEFAULT_PREFIX = "wmbus"
DEFAULT_QUEUE_LIMIT = 10_000
HA_DISCOVERY_PREFIX = "homeassistant"
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 60
CONNECT_TIMEOUT_S = 5.0  # per attempt: the TCP connection, then the TLS handshake
# paho reports a silent host or a stalled handshake itself after CONNECT_TIMEOUT_S; this later
# check catches a broker that took the connection but never answers the login.
ANSWER_TIMEOUT_S = CONNECT_TIMEOUT_S + 1.0
# A CA bundle is some 200 kB; the wrong file (``/dev/zero``) is refused, not read to its end.
MAX_PEM_FILE_BYTES = 1 << 20

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
# The same for readings, by the unit their name ends in (protocol/vendors, docs/meters.md).
_HA_READING_UNITS: dict[str, tuple[str | None, str]] = {
    "m3": ("volume", "m³"), "l": ("volume", "L"), "kwh": ("energy", "kWh"),
    "mwh": ("energy", "MWh"), "gj": ("energy", "GJ"), "mj": ("energy", "MJ"),
    "kw": ("power", "kW"), "w": ("power", "W"), "m3h": ("volume_flow_rate", "m³/h"),
    "c": ("temperature", "°C"), "v": ("voltage", "V"), "a": ("current", "A"),
    "bar": ("pressure", "bar"), "rh": ("humidity", "%"), "pct": ("battery", "%"),
    "hz": ("frequency", "Hz"), "h": ("duration", "h"), "s": ("duration", "s"),
    "d": ("duration", "d"), "y": (None, "a"), "hca": (None, "HCA"),
}
_MEASUREMENTS = frozenset({"power", "volume_flow_rate", "temperature", "voltage", "current",
                           "pressure", "humidity", "battery", "frequency"})


@dataclass(frozen=True, slots=True)
class MqttStats:
    """Counts of the telegram, event and discovery messages; the status topic is not counted.
    After ``MqttSink.close``, ``delivered + dropped == published``."""

    published: int  # messages the sink was asked to send
    delivered: int  # acknowledged by the broker (QoS 1)
    dropped: int  # did not fit into the queue, or still unacknowledged at close
    connected: bool

    @property
    def queued(self) -> int:
        """Messages waiting for the broker's acknowledgement; 0 after close."""
        return self.published - self.delivered - self.dropped


class _EncryptedKey(Exception):
    pass


def _refuse_passphrase() -> str:
    # Without a callback OpenSSL would prompt on the terminal for the key's passphrase.
    raise _EncryptedKey


def tls_context(ca_path: str | None, cert_path: str | None, key_path: str | None) -> ssl.SSLContext:
    """A client context that verifies the broker's certificate and host name against the CA
    certificates of ``ca_path`` (PEM; None: the system's), presenting the client certificate of
    ``cert_path`` with the key of ``key_path`` (None: the key is in ``cert_path``) if given.
    A missing or unusable file is a UserError naming its option."""
    files = {"--mqtt-ca": ca_path, "--mqtt-cert": cert_path, "--mqtt-key": key_path}
    contents = {
        option: read_limited(option, path, MAX_PEM_FILE_BYTES, "a PEM file")
        for option, path in files.items()
        if path
    }
    try:
        context = ssl.create_default_context(cafile=ca_path)
    except ssl.SSLError:
        raise UserError(f"--mqtt-ca {ca_path}: no PEM certificate in it") from None
    if cert_path is None:
        return context
    key_option = "--mqtt-key" if key_path else "--mqtt-cert"
    try:
        context.load_cert_chain(cert_path, key_path, password=_refuse_passphrase)
    except _EncryptedKey:
        raise UserError(
            f"{key_option} {key_path or cert_path}: the key is protected by a passphrase; "
            "give it unencrypted, in a file only this user can read"
        ) from None
    except ssl.SSLError as exc:
        if b"-----BEGIN CERTIFICATE-----" not in contents["--mqtt-cert"]:
            problem = f"--mqtt-cert {cert_path}: no PEM certificate in it"
        elif exc.reason == "KEY_VALUES_MISMATCH":
            problem = f"{key_option} {key_path or cert_path}: not the key of the certificate"
        else:
            problem = f"{key_option} {key_path or cert_path}: no PEM private key in it"
        raise UserError(problem) from None
    return context


def connect_error(error: BaseException | None) -> str:
    """Why a connection attempt failed, in a few words (the OS's or the certificate check's)."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"broker certificate not accepted: {error.verify_message}"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    if error is None:
        return "unknown error"
    return str(error) or type(error).__name__


def meter_topic(prefix: str, telegram: dict[str, Any]) -> str:
    """Where a meter's telegrams go; a gateway's frames to it go below, so that nothing reading
    the meter's state (Home Assistant sensors) mistakes a command for a reading."""
    topic = f"{prefix}/meter/{telegram['manufacturer']}/{telegram['meter_id']}"
    return f"{topic}/to_meter" if telegram.get("direction") == "other_to_meter" else topic


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


def _reading_sensor(
    name: str, meter: str, model: str, common: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    device_class, unit = _HA_READING_UNITS.get(unit_of(name), (None, ""))
    if device_class == "volume" and "water" in model.lower():
        device_class = "water"
    elif device_class == "volume" and "gas" in model.lower():
        device_class = "gas"
    config: dict[str, Any] = {
        **common,
        "name": name.replace("_", " "),
        "unique_id": f"wmbus_{meter}_{name}",
        "value_template": f"{{{{ value_json.readings.{name} }}}}",
    }
    # Totals only grow; billing-date and history values are not a state HA should sum up.
    if name.startswith("total") and device_class in ("energy", "volume", "water", "gas"):
        config["state_class"] = "total_increasing"
    elif device_class in _MEASUREMENTS:
        config["state_class"] = "measurement"
    if unit:
        config["unit_of_measurement"] = unit
    if device_class:
        config["device_class"] = device_class
    return f"{HA_DISCOVERY_PREFIX}/sensor/wmbus_{meter}/{name}/config", config


def ha_discovery_configs(
    prefix: str, telegram: dict[str, Any], availability_topic: str
) -> list[tuple[str, dict[str, Any]]]:
    """(topic, config) pairs announcing a meter's readings to Home Assistant (its current-value
    records when no meter family gave readings)."""
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
    readings = telegram.get("readings", {})
    configs = [_reading_sensor(name, meter, device["model"], common) for name in readings] or [
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
    down, refuses the login or does not answer (``log`` gets one warning line per kind of
    trouble). ``close()`` waits briefly for queued messages and returns the counts."""

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
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        answer_timeout_s: float = ANSWER_TIMEOUT_S,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        import paho.mqtt.client as mqtt

        self.host, self.port = host, port
        self.address = format_host_port(host, port)
        self.queue_limit = queue_limit
        self.prefix = prefix.rstrip("/")
        self.receiver = receiver or socket.gethostname()
        self.ha_discovery = ha_discovery
        self.known_meter_ids = {m.upper() for m in known_meter_ids}
        self.log = log
        self.status_topic = f"{self.prefix}/status/{self.receiver}"
        self._announced: set[str] = set()
        self._lock = threading.Lock()
        self._published = 0
        self._delivered = 0
        self._dropped = 0
        # paho's message number -> counted (False: a status message), until acknowledged.
        self._awaiting: dict[int, bool] = {}
        # Acknowledgements that arrived before publish() returned their message's number.
        self._early_acks: set[int] = set()
        self._connected = False
        self._answered = False  # the broker answered the current connection's login
        self._closing = False
        self._trouble: str | None = None  # kind of the last warning since the last connection
        self._answer_timeout_s = answer_timeout_s
        self._answer_timer = threading.Timer(answer_timeout_s, self._check_answered)
        self._answer_timer.daemon = True
        self._mid_taken = mqtt.MQTT_ERR_QUEUE_SIZE

        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"wmbus-{self.receiver}-{id(self):x}",
        )
        client.connect_timeout = CONNECT_TIMEOUT_S
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.will_set(self.status_topic, "offline", qos=1, retain=True)
        if username is not None:
            client.username_pw_set(username, password)
        if tls is not None:
            client.tls_set_context(tls)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client

    def start(self) -> MqttSink:
        """Connect in the background; an unreachable broker is retried, not an error."""
        self._client.connect_async(self.host, self.port)
        self._client.loop_start()
        self._answer_timer.start()
        return self

    def _warn(self, kind: str, problem: str) -> None:
        """One line per kind of trouble until a connection succeeds: paho retries every 1 to
        60 s, and the same line again on every retry would flood the log."""
        with self._lock:
            if kind == self._trouble:
                return
            self._trouble = kind
        self.log(f"warning: {problem}; retrying, keeping up to {self.queue_limit} messages")

    def _check_answered(self) -> None:
        with self._lock:
            silent = not self._connected and self._trouble is None
        if silent:
            self._warn(
                "silent",
                f"MQTT broker {self.address} has not answered "
                f"within {self._answer_timeout_s:g} s",
            )

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._answered = True
        if reason.is_failure:
            self._warn("refused", f"MQTT broker {self.address} refused the login ({reason})")
            return
        with self._lock:
            self._trouble = None
            status_waiting = False in self._awaiting.values()
        self._connected = True
        self.log(f"MQTT connected to {self.address}")
        # After a broken connection the broker has published the will (offline); an `online`
        # still unacknowledged from an earlier connection is re-sent by paho itself.
        if not status_waiting:
            self._publish(self.status_topic, "online", retain=True, counted=False)

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        # paho calls this inside its `except OSError:`, so the exception says what failed.
        reason = connect_error(sys.exc_info()[1])
        self._warn("unreachable", f"cannot connect to MQTT broker {self.address}: {reason}")

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        connected, answered = self._connected, self._answered
        self._connected = self._answered = False
        if self._closing:  # our own disconnect is no lost connection
            return
        if connected:
            self._warn("lost", f"MQTT connection to {self.address} lost ({reason})")
        elif not answered:
            # e.g. a broker that wants a client certificate, after a TLS 1.3 handshake
            self._warn(
                "silent",
                f"MQTT broker {self.address} closed the connection without answering the login",
            )

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._lock:
            counted = self._awaiting.pop(mid, None)
            if counted is None:
                self._early_acks.add(mid)
            elif counted:
                self._delivered += 1

    def _publish(
        self, topic: str, payload: dict[str, Any] | str, *, retain: bool = False,
        counted: bool = True,
    ) -> None:
        if not isinstance(payload, str):
            payload = json.dumps(payload, ensure_ascii=False, default=str)
        # The bound is ours, not paho's max_queued_messages, which would refuse status messages
        # too, and the counts need to know what was refused.
        if counted:
            with self._lock:
                self._published += 1
                if self._published - self._delivered - self._dropped > self.queue_limit:
                    self._dropped += 1
                    return
        # Not under our lock: paho holds its own while calling _on_publish.
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        with self._lock:
            if info.rc == self._mid_taken:
                # paho refused it: its message number (1..65535) is still unacknowledged.
                self._dropped += int(counted)
            elif info.mid in self._early_acks:
                self._early_acks.remove(info.mid)
                self._delivered += int(counted)
            else:
                self._awaiting[info.mid] = counted

    def publish_telegram(self, telegram: dict[str, Any]) -> None:
        telegram = {**telegram, "receiver": self.receiver}
        meter = f"{telegram['manufacturer']}_{telegram['meter_id']}"
        if (
            self.ha_discovery
            and telegram.get("direction") != "other_to_meter"
            and meter not in self._announced
            and str(telegram["meter_id"]).upper() in self.known_meter_ids
            and telegram.get("security") == "decrypted"
        ):
            for topic, config in ha_discovery_configs(self.prefix, telegram, self.status_topic):
                self._publish(topic, config, retain=True)
            self._announced.add(meter)
        self._publish(meter_topic(self.prefix, telegram), telegram)
        self._publish(f"{self.prefix}/events", telegram_event(telegram, self.receiver))

    def publish_health(self, health: dict[str, Any]) -> None:
        """The latest health, retained, so that a subscriber coming later sees it at once;
        dropped, not queued, while the broker is away (a later one replaces it anyway)."""
        if self._connected:
            self._publish(
                f"{self.status_topic}/health", {"receiver": self.receiver, **health},
                retain=True, counted=False,
            )

    def publish_event(self, event: str, **fields: Any) -> None:
        payload = {"event": event, "receiver": self.receiver, **fields}
        self._publish(f"{self.prefix}/events", payload)

    def stats(self) -> MqttStats:
        with self._lock:
            return MqttStats(
                published=self._published,
                delivered=self._delivered,
                dropped=self._dropped,
                connected=self._connected,
            )

    def _wait_for_acks(self, deadline: float) -> None:
        while self._awaiting and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self, timeout_s: float = 3.0) -> MqttStats:
        """Give queued messages ``timeout_s`` to be acknowledged, then disconnect; what is still
        unacknowledged is dropped and counted, so ``delivered + dropped == published``."""
        self._answer_timer.cancel()
        deadline = time.monotonic() + timeout_s
        # Wait for a connection still being made too: a telegram published right after start()
        # sits in paho's queue until the broker answers.
        self._wait_for_acks(deadline)
        if self._connected:
            self._publish(self.status_topic, "offline", retain=True, counted=False)
            self._wait_for_acks(deadline)
        self._closing = True
        self._client.disconnect()
        self._client.loop_stop()
        with self._lock:  # no callback runs after loop_stop
            self._dropped = self._published - self._delivered
        return self.stats()
