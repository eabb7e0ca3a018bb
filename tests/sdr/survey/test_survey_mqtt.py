"""``wmbus survey --mqtt``: one survey from receivers on several hosts, each a real
``wmbus serve`` + ``wmbus listen --mqtt`` pair replaying a simulated location, through Debian's
mosquitto on loopback; hostile messages on the broker; a broker that is not there or will not
have us."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from sdr.cli import main
from sdr.sim.scenario import parse_scenario
from sdr.sinks.mqtt import ANSWER_TIMEOUT_S
from sdr.survey.analysis import build_survey
from sdr.survey.mqtt_input import MAX_PAYLOAD_BYTES, MqttCollector, Rejected
from tests.conftest import REPO
from tests.sdr.live_support import (
    free_port,
    mosquitto,
    secure_mosquitto,
    serving,
    wait_for,
    wmbus,
    wmbus_cmd,
)

# Two spots, six meters in the three modes; meters 1-3 are 10-13 dB stronger at A, 4-6 at B,
# all well above sensitivity at both (Ec/N0 17-35 dB). The seed gives no overlapping
# transmissions, so a telegram is missed only by the receiver, not lost in a collision.
SCENARIO = """
name = "two receivers"
duration_s = 5.0
seed = 5

[[meters]]
id = "21000001"
mode = "T1"
interval_s = 0.7
jitter_s = 0.05

[[meters]]
id = "21000002"
manufacturer = "DME"
mode = "C1"
interval_s = 0.8
jitter_s = 0.05

[[meters]]
id = "21000003"
mode = "S1"
interval_s = 0.9
jitter_s = 0.05

[[meters]]
id = "21000004"
mode = "T1"
interval_s = 0.65
jitter_s = 0.05

[[meters]]
id = "21000005"
manufacturer = "DME"
mode = "C1"
frame_format = "B"
interval_s = 0.75
jitter_s = 0.05

[[meters]]
id = "21000006"
mode = "S1"
interval_s = 0.85
jitter_s = 0.05

[[locations]]
name = "A"
path_loss_db = { "21000001" = 96, "21000002" = 100, "21000003" = 98, "21000004" = 110, \
"21000005" = 108, "21000006" = 111 }

[[locations]]
name = "B"
path_loss_db = { "21000001" = 109, "21000002" = 111, "21000003" = 108, "21000004" = 97, \
"21000005" = 99, "21000006" = 101 }
"""

PREFIX = "site7"
TOPIC = f"{PREFIX}/meter/KAM/12345678"
TELEGRAM = {"meter_id": "12345678", "manufacturer": "KAM", "mode": "T1", "time_s": 1.0,
            "AC": 1, "receiver": "A"}
# What someone else on the broker publishes, and why the survey must not count it.
JUNK: list[tuple[str, bytes, Rejected]] = [
    (TOPIC, b"{not json", Rejected.NOT_JSON),
    (TOPIC, b"\xff\xfe\x00", Rejected.NOT_JSON),
    (TOPIC, b"[" * 50_000, Rejected.NOT_JSON),  # deeper than json can go
    (TOPIC, b"[" * (MAX_PAYLOAD_BYTES + 1), Rejected.TOO_LARGE),
    (TOPIC, b"[1, 2, 3]", Rejected.NOT_AN_OBJECT),
    (f"{PREFIX}/events", b"null", Rejected.NOT_AN_OBJECT),
    (TOPIC, json.dumps({**TELEGRAM, "meter_id": 12345678}).encode(), Rejected.NOT_A_TELEGRAM),
    (TOPIC, json.dumps({**TELEGRAM, "time_s": "soon"}).encode(), Rejected.NOT_A_TELEGRAM),
    (TOPIC, json.dumps({**TELEGRAM, "time_s": 1e300}).encode(), Rejected.NOT_A_TELEGRAM),
    (TOPIC, json.dumps({**TELEGRAM, "meter_id": "9" * 1000}).encode(), Rejected.NOT_A_TELEGRAM),
    (TOPIC, json.dumps({**TELEGRAM, "receiver": "\x1b[31mA"}).encode(), Rejected.BAD_RECEIVER),
    (TOPIC, json.dumps({**TELEGRAM, "receiver": ["A"]}).encode(), Rejected.BAD_RECEIVER),
    (f"{PREFIX}/events", b'{"event": "started", "receiver": 5}', Rejected.BAD_RECEIVER),
]
# Kept by the broker from before the survey: a stale telegram (counted) and a receiver long
# gone (not a location).
RETAINED = [
    (TOPIC, json.dumps({**TELEGRAM, "receiver": "ghost"}).encode()),
    (f"{PREFIX}/status/ghost", b"offline"),
]


def publish(port: int, messages: list[tuple[str, bytes]], retain: bool = False) -> None:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=1, retain=retain) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def stderr_of(path: Path) -> str:
    return path.read_text() if path.exists() else ""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The survey's JSON and stderr, and the simulator's truth."""
    from sdr.sim.building import recording_name, simulate

    out = tmp_path_factory.mktemp("site")
    errors = out / "survey.err"
    with mosquitto() as port:
        publish(port, RETAINED, retain=True)
        with open(errors, "w") as err:
            survey = subprocess.Popen(
                wmbus_cmd("survey", "--mqtt", f"127.0.0.1:{port}", "--mqtt-prefix", PREFIX,
                          "--duration", "60", "--json"),
                cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True,
            )
        scenario = parse_scenario(SCENARIO)  # while the survey starts
        truth = simulate(scenario, out)
        assert not any(t["overlaps"] for t in truth["transmissions"])
        wait_for(lambda: "subscribed" in stderr_of(errors), what="the survey to subscribe")
        publish(port, [(topic, payload) for topic, payload, _ in JUNK])
        listeners = []
        with (serving(out, out / recording_name(scenario, scenario.locations[0])) as a,
              serving(out, out / recording_name(scenario, scenario.locations[1])) as b):
            for name, served in (("A", a), ("B", b)):
                listeners.append(subprocess.Popen(
                    wmbus_cmd("listen", "--rtl-tcp", served.address, "--mqtt", f"127.0.0.1:{port}",
                              "--mqtt-prefix", PREFIX, "--mqtt-name", name),
                    cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                ))
            # Each listener ends with its recording (the server closes the stream), after its
            # telegrams and its `stopped` event are acknowledged by the broker.
            logs = [listener.communicate(timeout=60)[1] for listener in listeners]
        assert all("closed the connection" in log for log in logs), logs
        # mosquitto passes the `stopped` events on as it acknowledges them to the listeners;
        # a second covers their way to the survey.
        time.sleep(1.0)
        survey.send_signal(signal.SIGINT)  # Ctrl-C: the report of what was collected
        report, _ = survey.communicate(timeout=60)
    return truth, survey.returncode, report, stderr_of(errors)


def test_each_receiver_is_a_location_hearing_its_meters(site) -> None:
    truth, returncode, report, errors = site
    assert returncode == 0, errors
    survey = json.loads(report)
    assert [loc["label"] for loc in survey["locations"]] == ["A", "B"]
    for loc in survey["locations"]:
        assert loc["source"] == "mqtt" and loc["collisions_available"] is False
        heard = {m["meter_id"] for m in loc["meters"]}
        in_range = {m for t in truth["transmissions"] if loc["label"] in t["locations"]
                    for m in [t["meter_id"]]}
        assert len(heard & in_range) >= 5 and heard <= in_range


def test_the_best_receiver_of_each_meter_is_where_it_is_strongest(site) -> None:
    truth, _, report, _ = site
    survey = json.loads(report)
    strongest = {}
    for t in truth["transmissions"]:
        strongest[t["meter_id"]] = max(t["locations"], key=lambda n: t["locations"][n]["ecn0_db"])
    best = {m["meter_id"]: m["best_location"] for m in survey["meters"]}
    assert best == strongest


def test_counts_and_levels_match_the_truth(site) -> None:
    """Every transmission is strong enough to be decoded at both spots, so `received` is the
    number sent; `expected` counts the ones after the last reception from the meter's interval
    up to the receiver's `stopped` event, whose arrival lags its stream's end (the event does not
    say where the stream ended), so it may count one transmission too many there."""
    truth, _, report, _ = site
    survey = json.loads(report)
    for loc in survey["locations"]:
        for meter in loc["meters"]:
            sent = [t for t in truth["transmissions"] if t["meter_id"] == meter["meter_id"]]
            level = sent[0]["locations"][loc["label"]]["rssi_dbfs"]
            assert meter["received"] == len(sent), (loc["label"], meter)
            assert len(sent) <= meter["expected"] <= len(sent) + 1, (loc["label"], meter)
            assert abs(meter["rssi_dbfs"]["median"] - level) < 1.0, (loc["label"], meter)
    assert [p["meters_heard"] for p in survey["placement"]] == [6, 6]


def test_hostile_messages_are_counted_by_reason(site) -> None:
    _, returncode, _, errors = site
    assert returncode == 0 and "Traceback" not in errors
    counts = {reason: 0 for reason in Rejected}
    for _, _, reason in JUNK:
        counts[reason] += 1
    counts[Rejected.RETAINED] += 1
    wanted = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()) if n)
    assert f"warning: ignored {sum(counts.values())} message(s): {wanted}\n" in errors
    assert "ghost" not in errors
    assert "interrupted after" in errors
    progress = (r"^wmbus survey: \d+/60 s: \d receiver\(s\), \d meter\(s\), \d+ telegram\(s\), "
                r"\d+ message\(s\) ignored$")
    assert re.search(progress, errors, re.MULTILINE), errors


def test_a_broker_that_is_not_there_is_one_line_and_status_1() -> None:
    port = free_port()
    proc = wmbus("survey", "--mqtt", f"127.0.0.1:{port}", "--duration", "5")
    assert proc.returncode == 1
    assert proc.stderr == (f"wmbus survey: error: cannot connect to MQTT broker 127.0.0.1:{port}: "
                           "Connection refused\n")


def test_a_broker_that_refuses_the_login_is_one_line_and_status_1() -> None:
    with mosquitto(settings="allow_anonymous false") as port:
        proc = wmbus("survey", "--mqtt", f"127.0.0.1:{port}", "--duration", "5")
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"wmbus survey: error: MQTT broker 127.0.0.1:{port} refused "
                                  "the login (")
    assert proc.stderr.count("\n") == 1


def test_a_broker_that_never_answers_the_login_is_one_line_and_status_1() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # takes connections, says nothing
        port = silent.getsockname()[1]
        proc = wmbus("survey", "--mqtt", f"127.0.0.1:{port}", "--duration", "60")
    assert proc.returncode == 1
    assert proc.stderr == (f"wmbus survey: error: MQTT broker 127.0.0.1:{port} has not answered "
                           f"within {ANSWER_TIMEOUT_S:g} s\n")


def test_tls_and_a_login_are_taken_as_listen_takes_them(tmp_path: Path) -> None:
    """Until Ctrl-C without --duration; the password from the environment, never argv."""
    with secure_mosquitto(tmp_path, require_certificate=True) as broker:
        errors = tmp_path / "survey.err"
        with open(errors, "w") as err:
            proc = subprocess.Popen(
                wmbus_cmd("survey", "--mqtt", f"127.0.0.1:{broker.port}", "--mqtt-tls",
                          "--mqtt-ca", broker.ca, "--mqtt-cert", broker.client_cert,
                          "--mqtt-key", broker.client_key, "--mqtt-user", broker.user, "--json"),
                cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True,
                env={**os.environ, "WMBUS_MQTT_PASSWORD": broker.password},
            )
        wait_for(lambda: "subscribed" in stderr_of(errors) or proc.poll() is not None,
                 what="the survey to subscribe")
        proc.send_signal(signal.SIGINT)
        report, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr_of(errors)
    assert json.loads(report)["locations"] == []
    assert broker.password not in stderr_of(errors) + report


@pytest.mark.parametrize(("argv", "message"), [
    (["survey"], "give recordings or logs (INPUT...), or --mqtt HOST to survey receivers"),
    (["survey", "a.jsonl", "--duration", "5"], "--duration needs --mqtt"),
    (["survey", "a.jsonl", "--mqtt", "127.0.0.1"],
     "--mqtt takes the locations from the receivers: give no INPUT or --label"),
    (["survey", "--mqtt", "127.0.0.1", "--mqtt-ca", "ca.pem"], "--mqtt-ca needs --mqtt-tls"),
    (["survey", "--mqtt", "127.0.0.1", "--mqtt-prefix", "wm/#"],
     "--mqtt-prefix must not contain +, # or NUL"),
])
def test_what_to_survey_must_be_clear(argv, message, capsys) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err == f"wmbus survey: error: {message}\n"


def test_a_restarted_receiver_keeps_one_timeline() -> None:
    """Its stream time starts again at 0; both runs land on the survey's clock (each placed by
    its quickest telegram, here all 50 ms in transit), and the meter's transmissions while it
    was down count as missed. The meter sends every second, at survey time 0.5 s + AC."""
    collector = MqttCollector(PREFIX)

    def telegram(time_s: float, access: int, arrival_s: float) -> None:
        payload = json.dumps({**TELEGRAM, "time_s": time_s, "AC": access}).encode()
        collector.feed(TOPIC, payload, False, arrival_s)

    for k in range(4):  # stream time 100 s at survey time 0.5 s, 50 ms to arrive
        telegram(100.0 + k, k, 0.55 + k)
    collector.feed(f"{PREFIX}/events", b'{"event": "started", "receiver": "A"}', False, 6.0)
    for k in range(3):  # the new stream's first sample at survey time 6.2 s
        telegram(0.3 + k, 6 + k, 6.55 + k)
    [location] = collector.locations(10.0, "test")
    assert [round(r.time_s, 6) for r in location.receptions] == [
        0.55, 1.55, 2.55, 3.55, 6.55, 7.55, 8.55]
    [meter] = build_survey([location]).locations[0].meters
    assert (meter.stats.received, meter.stats.expected) == (7, 10)
    assert collector.rejected.total() == 0


@pytest.mark.parametrize(("stream_s", "duration_s"), [
    (103.9, 3.95),  # the stream's end, placed like the telegrams (at their arrival)
    ("103.9", 5.0), (float("nan"), 5.0), (True, 5.0),  # not a number: when the event arrived
    (900.0, 5.0),  # never later than it arrived
])
def test_a_receiver_window_ends_where_its_stream_ended(stream_s, duration_s) -> None:
    """The meter sends every second; the receiver stops 0.4 s after its last telegram, but the
    `stopped` event arrives 1.5 s later: the window (and with it the transmissions expected)
    ends at the stream's end when the event says where that is."""
    collector = MqttCollector(PREFIX)
    for k in range(4):  # each arrives 50 ms after it was sent
        payload = json.dumps({**TELEGRAM, "time_s": 100.5 + k, "AC": k}).encode()
        collector.feed(TOPIC, payload, False, 0.55 + k)
    event = {"event": "stopped", "receiver": "A", "stream_s": stream_s}
    collector.feed(f"{PREFIX}/events", json.dumps(event).encode(), False, 5.0)
    [location] = collector.locations(10.0, "test")
    assert location.duration_s == pytest.approx(duration_s, abs=1e-6)


def test_a_broker_that_restarts_mid_survey_is_a_warning_and_the_survey_goes_on(
    tmp_path: Path,
) -> None:
    port = free_port()
    errors = tmp_path / "survey.err"
    with mosquitto(port):
        with open(errors, "w") as err:
            proc = subprocess.Popen(
                wmbus_cmd("survey", "--mqtt", f"127.0.0.1:{port}", "--mqtt-prefix", PREFIX,
                          "--json"),
                cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True,
            )
        wait_for(lambda: "subscribed" in stderr_of(errors), what="the survey to subscribe")
    try:
        wait_for(lambda: "lost" in stderr_of(errors), what="the lost connection")
        with mosquitto(port):
            wait_for(lambda: "back" in stderr_of(errors), what="the survey to reconnect")
            wait_for(lambda: stderr_of(errors).count("subscribed") == 2, what="subscription")
            publish(port, [(TOPIC, json.dumps(TELEGRAM).encode())])
            wait_for(lambda: "1 telegram(s)" in stderr_of(errors), timeout_s=15,
                     what="a progress line")
            proc.send_signal(signal.SIGINT)
            report, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr_of(errors)
    [location] = json.loads(report)["locations"]
    assert [m["meter_id"] for m in location["meters"]] == [TELEGRAM["meter_id"]]
    assert f"warning: MQTT connection to 127.0.0.1:{port} lost" in stderr_of(errors)
