"""The MQTT sink against Debian's mosquitto on loopback, with a paho subscriber."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from protocol.decoder import Decoder
from protocol.report import telegram_to_dict
from sdr.errors import UserError
from sdr.sinks.mqtt import RECONNECT_MIN_S, MqttSink, MqttStats, meter_topic, tls_context
from tests.conftest import CORPUS
from tests.sdr.live_support import (
    Subscriber,
    free_port,
    mosquitto,
    secure_mosquitto,
    wait_for,
    write_certificate,
)

# A water meter of the corpus (tests/data) with its key, and the value wmbusmeters reads from it.
CORPUS_ID = "xmq-picoflux-mywater-e2f1afd5"


def assert_all_counted(stats: MqttStats) -> None:
    """After close every message is either acknowledged or counted as dropped."""
    assert stats.delivered + stats.dropped == stats.published and stats.queued == 0


def warnings(log: list[str]) -> list[str]:
    return [line for line in log if line.startswith("warning:")]


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
    log: list[str] = []
    with mosquitto() as port:
        sub = Subscriber(port)
        sink = MqttSink(
            "127.0.0.1", port, "wmbus", receiver="attic", ha_discovery=True,
            known_meter_ids=[row["meter_id"]], log=log.append,
        ).start()
        wait_for(lambda: sink.stats().connected, what="sink connected")
        sink.publish_telegram(telegram)
        stats = sink.close()
        wait_for(lambda: ("wmbus/status/attic", b"offline", False) in sub.messages)
        sub.close()
    # Discovery configs, meter and event; the status messages are outside the counts.
    configs = [t for t, _, _ in sub.messages if t.startswith("homeassistant/")]
    assert stats == MqttStats(len(configs) + 2, len(configs) + 2, 0, connected=False)
    # Our own disconnect at the end is not reported as a lost connection.
    assert log == [f"MQTT connected to 127.0.0.1:{port}"]

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
    # The meter's family gives readings named as wmbusmeters names them; those are announced.
    [total] = [c for c in volumes if c["unique_id"].endswith("_total_m3")]
    assert total["value_template"] == "{{ value_json.readings.total_m3 }}"
    assert telegram["readings"]["total_m3"] == pytest.approx(total_m3)
    assert total["unit_of_measurement"] == "m³"
    assert total["state_class"] == "total_increasing"


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


def test_a_gateways_frame_to_a_meter_is_kept_off_its_state_topic(water_telegram) -> None:
    # The same meter's telegram as a gateway would send it: a command, not a reading.
    reading, row = water_telegram
    command = {**reading, "direction": "other_to_meter", "mode": "T2"}
    with mosquitto() as port:
        sub = Subscriber(port)
        sink = MqttSink(
            "127.0.0.1", port, ha_discovery=True, known_meter_ids=[row["meter_id"]]
        ).start()
        sink.publish_telegram(command)
        sink.publish_telegram(reading)
        stats = sink.close()
        topic = meter_topic("wmbus", reading)
        wait_for(lambda: sub.on(topic), what="the meter's telegram")
        sub.close()
    assert_all_counted(stats)
    assert sub.on(topic) == [{**reading, "receiver": sink.receiver}]
    assert sub.on(f"{topic}/to_meter") == [{**command, "receiver": sink.receiver}]
    # Discovery was announced once, from the meter's own telegram.
    configs = [json.loads(p) for t, p, _ in sub.messages if t.startswith("homeassistant/")]
    assert configs and all(c["state_topic"] == topic for c in configs)


def test_messages_wait_for_a_broker_that_comes_up_later(water_telegram) -> None:
    telegram, _ = water_telegram
    port = free_port()
    log: list[str] = []
    sink = MqttSink("127.0.0.1", port, "later", receiver="r1", queue_limit=10, log=log.append)
    sink.start()
    for _ in range(6):
        sink.publish_telegram(telegram)  # the broker is not running yet; the last one is dropped
    wait_for(lambda: warnings(log), what="the warning")
    assert not sink.stats().connected
    with mosquitto(port):
        sub = Subscriber(port, "later/#")
        wait_for(lambda: len(sub.on(meter_topic("later", telegram))) == 5, timeout_s=15,
                 what="queued telegrams after reconnect")
        stats = sink.close()
        wait_for(lambda: ("later/status/r1", b"offline", False) in sub.messages)
        sub.close()
    assert stats == MqttStats(12, 10, 2, connected=False)
    # The full queue did not keep `online` from going out.
    assert [p for t, p, _ in sub.messages if t == "later/status/r1"] == [b"online", b"offline"]
    assert warnings(log) == [
        f"warning: cannot connect to MQTT broker 127.0.0.1:{port}: Connection refused; "
        "retrying, keeping up to 10 messages"
    ]


def test_a_full_queue_drops_and_counts() -> None:
    sink = MqttSink("127.0.0.1", free_port(), queue_limit=3).start()
    for i in range(10):
        sink.publish_event("test", n=i)
    assert (sink.stats().queued, sink.stats().dropped) == (3, 7)
    stats = sink.close(timeout_s=0.2)
    # The three still queued at the end are lost too, and counted.
    assert (stats.published, stats.delivered, stats.dropped) == (10, 0, 10)


def test_a_broker_that_dies_mid_run_loses_nothing_uncounted(water_telegram) -> None:
    telegram, _ = water_telegram
    log: list[str] = []
    with mosquitto() as port:
        sink = MqttSink("127.0.0.1", port, log=log.append).start()
        wait_for(lambda: sink.stats().connected, what="sink connected")
        for _ in range(3):
            sink.publish_telegram(telegram)
        wait_for(lambda: sink.stats().delivered == 6, what="the first telegrams acknowledged")
        for _ in range(200):  # mosquitto stops while these are on their way
            sink.publish_telegram(telegram)
    wait_for(lambda: not sink.stats().connected, what="the sink to notice")
    for _ in range(4):
        sink.publish_telegram(telegram)
    stats = sink.close(timeout_s=0.2)
    assert stats.published == 2 * 207 and 6 <= stats.delivered <= 2 * 203
    assert_all_counted(stats)
    lines = warnings(log)
    assert lines[0].startswith(f"warning: MQTT connection to 127.0.0.1:{port} lost (")
    assert len(lines) == len(set(lines)) <= 2  # then perhaps: cannot connect


@pytest.mark.parametrize(
    ("require_certificate", "wrong_password", "trouble"),
    [
        (False, True, "MQTT broker {} refused the login (Not authorized)"),
        # TLS 1.3: the broker misses the certificate only after the handshake.
        (True, False, "MQTT broker {} closed the connection without answering the login"),
    ],
    ids=["wrong-password", "no-client-certificate"],
)
def test_a_broker_that_will_not_have_us_is_one_warning_and_every_message_is_counted(
    tmp_path: Path, water_telegram, require_certificate: bool, wrong_password: bool, trouble: str
) -> None:
    telegram, _ = water_telegram
    log: list[str] = []
    with secure_mosquitto(tmp_path, require_certificate) as broker:
        password = "not-" + broker.password if wrong_password else broker.password
        sink = MqttSink(
            "127.0.0.1", broker.port, username=broker.user, password=password,
            tls=tls_context(str(broker.ca), None, None), log=log.append,
        ).start()
        sink.publish_telegram(telegram)
        wait_for(lambda: log, what="the warning")
        time.sleep(RECONNECT_MIN_S + 0.5)  # paho tries again meanwhile: no second line
        sink.publish_event("test")
        stats = sink.close(timeout_s=0.2)
    address = f"127.0.0.1:{broker.port}"
    assert log == [
        f"warning: {trouble.format(address)}; retrying, keeping up to 10000 messages"
    ]
    assert stats == MqttStats(3, 0, 3, connected=False)


def test_a_broker_that_never_answers_is_one_warning_and_every_message_is_counted(
    water_telegram,
) -> None:
    telegram, _ = water_telegram
    log: list[str] = []
    # The kernel completes the TCP handshake for the backlog; nobody ever reads the login.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        sink = MqttSink("127.0.0.1", port, answer_timeout_s=0.3, log=log.append).start()
        sink.publish_telegram(telegram)
        wait_for(lambda: log, what="the warning")
        started = time.monotonic()
        stats = sink.close(timeout_s=0.2)
        assert time.monotonic() - started < 2
    assert log == [
        f"warning: MQTT broker 127.0.0.1:{port} has not answered within 0.3 s; "
        "retrying, keeping up to 10000 messages"
    ]
    assert stats == MqttStats(2, 0, 2, connected=False)


@pytest.mark.parametrize("require_certificate", [True, False])
def test_tls_and_a_login_reach_a_tls_subscriber(
    tmp_path: Path, water_telegram, require_certificate: bool
) -> None:
    telegram, _ = water_telegram
    log: list[str] = []
    with secure_mosquitto(tmp_path, require_certificate) as broker:
        login = (broker.user, broker.password)
        sub = Subscriber(broker.port, tls=broker.client_context(), login=login)
        cert, key = (broker.client_cert, broker.client_key) if require_certificate else (None,) * 2
        tls = tls_context(str(broker.ca), cert and str(cert), key and str(key))
        sink = MqttSink(
            "127.0.0.1", broker.port, receiver="vault", username=broker.user,
            password=broker.password, tls=tls, log=log.append,
        ).start()
        sink.publish_telegram(telegram)
        stats = sink.close()
        wait_for(lambda: ("wmbus/status/vault", b"offline", False) in sub.messages)
        sub.close()
    assert sub.on(meter_topic("wmbus", telegram)) == [{**telegram, "receiver": "vault"}]
    assert stats == MqttStats(2, 2, 0, connected=False)
    assert log == [f"MQTT connected to 127.0.0.1:{broker.port}"]


def test_a_broker_with_an_untrusted_certificate_is_named(tmp_path: Path) -> None:
    log: list[str] = []
    (tmp_path / "other").mkdir()
    write_certificate(tmp_path / "other", "ca", None)
    other_ca = tls_context(str(tmp_path / "other" / "ca.pem"), None, None)
    with secure_mosquitto(tmp_path, require_certificate=False) as broker:
        sink = MqttSink("127.0.0.1", broker.port, tls=other_ca, log=log.append).start()
        wait_for(lambda: log, what="the warning")
        sink.close(timeout_s=0)
    # OpenSSL's verdict follows (its wording varies with the version).
    [line] = log
    assert line.startswith(
        f"warning: cannot connect to MQTT broker 127.0.0.1:{broker.port}: broker certificate "
        "not accepted: "
    )
    assert line.endswith("; retrying, keeping up to 10000 messages")


def test_tls_files_that_cannot_be_used_are_one_line_errors(tmp_path: Path) -> None:
    ca, ca_key = write_certificate(tmp_path, "ca", None)
    write_certificate(tmp_path, "client", (ca, ca_key))
    write_certificate(tmp_path, "other", (ca, ca_key))
    (tmp_path / "encrypted.key").write_bytes(
        ca_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    (tmp_path / "text.pem").write_text("not a certificate\n")
    ca_file, cert, key = (str(tmp_path / n) for n in ("ca.pem", "client.pem", "client.key"))
    other_key, encrypted, text, none = (
        str(tmp_path / n) for n in ("other.key", "encrypted.key", "text.pem", "none")
    )
    # What works: the system's CAs, a CA file, a client certificate with its key.
    tls_context(None, None, None)
    tls_context(ca_file, cert, key)
    unreadable = "cannot read (No such file or directory)"
    cases = [
        ((none, None, None), f"--mqtt-ca {none}: {unreadable}"),
        (("/dev/zero", None, None), "--mqtt-ca /dev/zero: larger than 1 MiB, not a PEM file"),
        ((text, None, None), f"--mqtt-ca {text}: no PEM certificate in it"),
        ((None, text, key), f"--mqtt-cert {text}: no PEM certificate in it"),
        ((None, cert, None), f"--mqtt-cert {cert}: no PEM private key in it"),
        ((None, cert, text), f"--mqtt-key {text}: no PEM private key in it"),
        ((None, cert, other_key), f"--mqtt-key {other_key}: not the key of the certificate"),
        ((None, cert, none), f"--mqtt-key {none}: {unreadable}"),
        ((None, cert, encrypted), f"--mqtt-key {encrypted}: the key is protected by a "
         "passphrase; give it unencrypted, in a file only this user can read"),
    ]
    for args, message in cases:
        with pytest.raises(UserError) as error:
            tls_context(*args)
        assert str(error.value) == message
