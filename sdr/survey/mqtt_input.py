"""Survey inputs from receivers on an MQTT broker: one location per receiver of
``wmbus listen --mqtt HOST --mqtt-name NAME`` (topics in ``sdr.sinks.mqtt``).

``MqttCollector`` is sans-IO: it takes (topic, payload, retained, arrival time) and keeps each
receiver's receptions; ``collect`` connects to the broker, subscribes and feeds it. Every
message that is not usable (bad JSON, wrong types, too large, a retained telegram from before
the survey, a receiver name that is no name) is counted by reason, never raised.

Times: a receiver's ``time_s`` counts from the start of its own stream, which began before the
survey did, and restarts with the receiver. Each run of a receiver (an *epoch*, from one
``started`` event to the next) is placed on the survey's clock by the telegram that arrived
soonest after it was sent: ``offset = max(time_s - arrival_s)``. Within an epoch the receiver's
own times are kept, so intervals and access-number gaps are exact; only the placement of the
whole epoch carries the smallest delivery delay (milliseconds on a LAN).
"""

from __future__ import annotations

import json
import math
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from sdr.io.addresses import format_host_port
from sdr.sinks.mqtt import ANSWER_TIMEOUT_S, CONNECT_TIMEOUT_S, connect_error
from sdr.survey.inputs import LocationInput
from sdr.survey.stats import Reception, reception_from_dict

# A telegram's JSON is a few kB (a 255-byte frame with its records); anything far larger is not
# one of ours and is not parsed.
MAX_PAYLOAD_BYTES = 1 << 16
# Bounds on what a hostile publisher can make us keep: about 100 MB at most.
MAX_RECEIVERS = 1000
MAX_RECEPTIONS = 200_000
MAX_NAME_CHARS = 255  # a receiver's name (a host name, up to 253, or --mqtt-name)
MAX_FIELD_CHARS = 32  # meter id, manufacturer, mode, C field name, gateway of a reception
MAX_TIME_S = 1e9  # a receiver's stream time: some 30 years
KEEPALIVE_S = 30


class Rejected(StrEnum):
    """Why a message did not count."""

    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    NOT_AN_OBJECT = "not_an_object"
    NOT_A_TELEGRAM = "not_a_telegram"  # no meter id or time, or fields out of range
    BAD_RECEIVER = "bad_receiver"
    RETAINED = "retained"  # a telegram the broker kept from before the survey
    OVER_LIMIT = "over_limit"  # MAX_RECEIVERS or MAX_RECEPTIONS reached


class BrokerUnavailable(Exception):
    """The broker cannot be reached, refuses the login or does not answer (one line)."""


@dataclass(frozen=True, slots=True)
class CollectionStatus:
    receivers: int
    meters: int
    telegrams: int
    rejected: int


@dataclass
class _Epoch:
    offset_s: float = -math.inf  # receiver time minus survey time, see the module docstring
    receptions: list[Reception] = field(default_factory=list)


@dataclass
class _Receiver:
    epochs: list[_Epoch] = field(default_factory=lambda: [_Epoch()])
    stopped_s: float | None = None  # survey time it said it stopped (event or offline status)


def _name(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= MAX_NAME_CHARS and value.isprintable():
        return value
    return None


def _plausible(reception: Reception) -> bool:
    texts = (reception.meter_id, reception.manufacturer, reception.mode, reception.c_name,
             reception.gateway or "")
    return 0 <= reception.time_s <= MAX_TIME_S and all(len(t) <= MAX_FIELD_CHARS for t in texts)


class MqttCollector:
    """Receptions per receiver from the messages of ``PREFIX/meter/#``, ``PREFIX/events`` and
    ``PREFIX/status/+`` (``subscriptions``), as they arrive ``arrival_s`` into the survey."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.rstrip("/")
        self.subscriptions = (f"{self.prefix}/meter/#", f"{self.prefix}/events",
                              f"{self.prefix}/status/+")
        self.rejected: Counter[Rejected] = Counter()
        self._receivers: dict[str, _Receiver] = {}
        self._telegrams = 0

    def status(self) -> CollectionStatus:
        meters = {r.meter_id for rx in self._receivers.values() for e in rx.epochs
                  for r in e.receptions}
        return CollectionStatus(len(self._receivers), len(meters), self._telegrams,
                                sum(self.rejected.values()))

    def feed(self, topic: str, payload: bytes, retained: bool, arrival_s: float) -> None:
        status_prefix = f"{self.prefix}/status/"
        if topic.startswith(status_prefix):
            self._status(topic.removeprefix(status_prefix), payload, retained, arrival_s)
            return
        if len(payload) > MAX_PAYLOAD_BYTES:
            self.rejected[Rejected.TOO_LARGE] += 1
            return
        try:
            obj = json.loads(payload)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            self.rejected[Rejected.NOT_JSON] += 1
            return
        if not isinstance(obj, dict):
            self.rejected[Rejected.NOT_AN_OBJECT] += 1
        elif topic == f"{self.prefix}/events":
            self._event(obj, retained, arrival_s)
        else:
            self._telegram(obj, retained, arrival_s)

    def _receiver(self, name: str) -> _Receiver | None:
        if name not in self._receivers:
            if len(self._receivers) >= MAX_RECEIVERS:
                self.rejected[Rejected.OVER_LIMIT] += 1
                return None
            self._receivers[name] = _Receiver()
        return self._receivers[name]

    def _status(self, name: str, payload: bytes, retained: bool, arrival_s: float) -> None:
        if len(payload) > MAX_PAYLOAD_BYTES:
            self.rejected[Rejected.TOO_LARGE] += 1
            return
        if _name(name) is None:
            self.rejected[Rejected.BAD_RECEIVER] += 1
            return
        # A retained `online` is a receiver connected now (its will would have replaced it);
        # a retained `offline` is one long gone, not a location of this survey.
        if payload == b"online" and (receiver := self._receiver(name)) is not None:
            receiver.stopped_s = None
        elif payload == b"offline" and not retained and name in self._receivers:
            self._receivers[name].stopped_s = arrival_s

    def _event(self, obj: dict[str, Any], retained: bool, arrival_s: float) -> None:
        event = obj.get("event")
        if event not in ("started", "stopped") or retained:
            return  # telegram events repeat the meter topics; the others say nothing we use
        name = _name(obj.get("receiver"))
        if name is None:
            self.rejected[Rejected.BAD_RECEIVER] += 1
            return
        receiver = self._receiver(name)
        if receiver is None:
            return
        if event == "stopped":
            receiver.stopped_s = _stop_time(obj.get("stream_s"), receiver.epochs[-1], arrival_s)
            return
        receiver.stopped_s = None
        if receiver.epochs[-1].receptions:
            receiver.epochs.append(_Epoch())

    def _telegram(self, obj: dict[str, Any], retained: bool, arrival_s: float) -> None:
        if retained:
            self.rejected[Rejected.RETAINED] += 1
            return
        name = _name(obj.get("receiver"))
        if name is None:
            self.rejected[Rejected.BAD_RECEIVER] += 1
            return
        reception = reception_from_dict(obj)
        if reception is None or not _plausible(reception):
            self.rejected[Rejected.NOT_A_TELEGRAM] += 1
            return
        if self._telegrams >= MAX_RECEPTIONS:
            self.rejected[Rejected.OVER_LIMIT] += 1
            return
        receiver = self._receiver(name)
        if receiver is None:
            return
        receiver.stopped_s = None
        epoch = receiver.epochs[-1]
        if epoch.receptions and reception.time_s < epoch.receptions[-1].time_s - 1.0:
            # Its clock went back: a restart whose `started` event we did not see.
            epoch = _Epoch()
            receiver.epochs.append(epoch)
        epoch.offset_s = max(epoch.offset_s, reception.time_s - arrival_s)
        epoch.receptions.append(reception)
        self._telegrams += 1

    def locations(self, end_s: float, source: str) -> list[LocationInput]:
        """One location per receiver, by name, over the part of the survey's ``end_s`` seconds
        it was running; ``source`` names the broker in the report."""
        out = []
        for name in sorted(self._receivers):
            receiver = self._receivers[name]
            first = receiver.epochs[0]
            # A receiver started during the survey is surveyed from its stream's first sample.
            start = min(max(0.0, -first.offset_s), end_s) if first.receptions else 0.0
            end = end_s if receiver.stopped_s is None else receiver.stopped_s
            receptions = [
                replace(r, time_s=max(0.0, r.time_s - epoch.offset_s - start))
                for epoch in receiver.epochs for r in epoch.receptions
            ]
            duration = max([0.0, end - start, *(r.time_s for r in receptions)])
            out.append(LocationInput(name, source, "mqtt", duration, tuple(receptions), None))
        return out


Progress = Callable[[float, CollectionStatus], None]


def _client(username: str | None, password: str | None, tls: ssl.SSLContext | None) -> Any:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"wmbus-survey-{threading.get_native_id()}-{time.time_ns():x}")
    client.connect_timeout = CONNECT_TIMEOUT_S
    if username is not None:
        client.username_pw_set(username, password)
    if tls is not None:
        client.tls_set_context(tls)
    return client


def _connected(address: str, answered: threading.Event, refusal: list[str]) -> None:
    """Wait for the broker's answer to the login; BrokerUnavailable if it refuses or is silent."""
    if not answered.wait(ANSWER_TIMEOUT_S):
        raise BrokerUnavailable(f"MQTT broker {address} has not answered within "
                                f"{ANSWER_TIMEOUT_S:g} s")
    if refusal:
        raise BrokerUnavailable(refusal[0])


def collect(
    collector: MqttCollector,
    host: str,
    port: int,
    *,
    duration_s: float | None,
    stop: threading.Event,
    username: str | None = None,
    password: str | None = None,
    tls: ssl.SSLContext | None = None,
    progress: Progress = lambda elapsed_s, status: None,
    progress_interval_s: float = 5.0,
    log: Callable[[str], None] = lambda line: None,
) -> float:
    """Feed ``collector`` from the broker until ``duration_s`` has passed (None: no limit) or
    ``stop`` is set; returns the seconds collected. A lost connection is retried by paho (one
    ``log`` line); what the receivers publish meanwhile is not heard."""
    address = format_host_port(host, port)
    client = _client(username, password, tls)
    lock = threading.Lock()
    answered = threading.Event()
    refusal: list[str] = []
    started = math.nan  # the survey's clock starts when the broker first accepts the login

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        nonlocal started
        if reason.is_failure:
            refusal.append(f"MQTT broker {address} refused the login ({reason})")
        else:
            if not answered.is_set():
                started = time.monotonic()
            client.subscribe([(topic, 1) for topic in collector.subscriptions])
            if answered.is_set():
                log(f"MQTT connection to {address} back")
        answered.set()

    def on_subscribe(client: Any, userdata: Any, mid: Any, reasons: Any, props: Any) -> None:
        log(f"subscribed to {', '.join(collector.subscriptions)} on {address}")

    def on_disconnect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if answered.is_set() and not refusal and not stop.is_set():
            log(f"warning: MQTT connection to {address} lost ({reason}); reconnecting")
        elif not answered.is_set():
            refusal.append(f"MQTT broker {address} closed the connection without answering "
                           "the login")
            answered.set()

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        with lock:
            collector.feed(message.topic, message.payload, bool(message.retain),
                           time.monotonic() - started)

    client.on_connect, client.on_disconnect = on_connect, on_disconnect
    client.on_message, client.on_subscribe = on_message, on_subscribe
    try:
        client.connect(host, port, keepalive=KEEPALIVE_S)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise BrokerUnavailable(
            f"cannot connect to MQTT broker {address}: {connect_error(exc)}"
        ) from None
    client.loop_start()
    try:
        _connected(address, answered, refusal)
        return _run(collector, lock, started, duration_s, stop, progress, progress_interval_s)
    finally:
        stop.set()
        client.disconnect()
        client.loop_stop()


def _run(
    collector: MqttCollector, lock: threading.Lock, started: float, duration_s: float | None,
    stop: threading.Event, progress: Progress, progress_interval_s: float,
) -> float:
    end = math.inf if duration_s is None else started + duration_s
    next_report = started + progress_interval_s
    while not stop.is_set() and (now := time.monotonic()) < end:
        if now >= next_report:
            with lock:
                status = collector.status()
            progress(now - started, status)
            next_report += progress_interval_s
        stop.wait(min(end, next_report) - now)
    return min(time.monotonic(), end) - started


def _stop_time(stream_s: Any, epoch: _Epoch, arrival_s: float) -> float:
    """The survey time a receiver's stream ended: its own ``stream_s`` placed on the survey's
    clock by the run's offset, where both are known; never later than the message arrived."""
    if (isinstance(stream_s, int | float) and not isinstance(stream_s, bool)
            and math.isfinite(stream_s) and epoch.receptions):
        return min(arrival_s, max(0.0, stream_s - epoch.offset_s))
    return arrival_s
