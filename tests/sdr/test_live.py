"""`wmbus listen` as a real process: fed by `wmbus serve`, by pyrtlsdr and SoapySDR on the
stand-in librtlsdr, publishing to a real mosquitto; unplug and Ctrl-C behaviour."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
from pathlib import Path

import pytest

from tests.conftest import CORPUS
from tests.sdr.live_support import (
    ISSUE48,
    ISSUE48_SAMPLES,
    Served,
    Subscriber,
    decoded_by_file,
    expected_telegrams,
    fake_env,
    free_port,
    json_lines,
    mosquitto,
    running_until_telegrams,
    secure_mosquitto,
    serving,
    soapy_pythonpath,
    synthetic_recording,
    wait_for,
    wmbus,
    wmbus_with_fake_rtlsdr,
)

# Seven passes of the looped capture (its telegram starts at sample ~73,400 of 102,400).
SEVEN_LOOPS = f"{7 * ISSUE48_SAMPLES / 2.4e6:.12f}"


SIM_MIXED = ISSUE48.parent / "sim_mixed_868.625M_2400k.cu8"  # S1, T1, C1 A and B
SIM_CS8 = ISSUE48.parent / "sim_t1cs8_868.625M_2400k.cs8"


@pytest.fixture(scope="module")
def reference() -> list[dict]:
    """`wmbus decode` on the recording; it must contain what independent decoders found."""
    telegrams = decoded_by_file(ISSUE48)
    truth = {t["frame_hex"].upper() for t in expected_telegrams(ISSUE48)}
    assert truth <= {t["frame_hex"] for t in telegrams}
    return telegrams


@pytest.fixture(scope="module")
def looped(tmp_path_factory) -> Served:
    """One `wmbus serve --loop` of the issue48 capture for the tests that read it in turn."""
    with serving(tmp_path_factory.mktemp("looped"), ISSUE48, extra=("--loop",)) as served:
        yield served


def test_listen_through_serve_equals_decode(tmp_path: Path, reference: list[dict]) -> None:
    with serving(tmp_path, ISSUE48) as served:
        done = wmbus("listen", "--rtl-tcp", served.address, "--json")
    assert json_lines(done.stdout) == reference
    # The server closes the connection at the end of the recording: for a live source that is
    # a fault, reported on one line after the telegrams, with the summary.
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert errors == [
        f"wmbus listen: error: rtl_tcp server {served.address} closed the connection"
    ]
    assert f"{len(reference)} telegram(s), 0.043 s of samples, 0 overflow(s)" in done.stderr


def test_all_modes_through_serve_equal_decode(tmp_path: Path) -> None:
    telegrams = decoded_by_file(SIM_MIXED)
    assert {t["mode"] for t in telegrams} >= {"S1", "T1", "C1"}
    with serving(tmp_path, SIM_MIXED) as served:
        done = wmbus("listen", "--rtl-tcp", served.address, "--json")
    assert json_lines(done.stdout) == telegrams


def test_a_cs8_recording_served_as_cu8_gives_its_telegrams(tmp_path: Path) -> None:
    with serving(tmp_path, SIM_CS8) as served:
        done = wmbus("listen", "--rtl-tcp", served.address, "--json")
    # Requantised to 8 bits on the wire: the same frames as decoding the file itself.
    assert [t["frame_hex"] for t in json_lines(done.stdout)] == [
        t["frame_hex"] for t in decoded_by_file(SIM_CS8)
    ]
    assert json_lines(done.stdout)


def test_server_killed_mid_stream(tmp_path: Path, reference) -> None:
    out = tmp_path / "telegrams.jsonl"
    with serving(tmp_path, ISSUE48, extra=("--loop",)) as served:
        listen = running_until_telegrams(served, out, "listen")
        served.proc.kill()
        _, stderr = listen.communicate(timeout=20)
    assert listen.returncode == 1
    assert re.search(r"error: rtl_tcp server .* closed the connection", stderr), stderr
    telegrams = json_lines(out.read_text())  # every line complete: flushed per telegram
    count = int(re.search(r"(\d+) telegram\(s\)", stderr).group(1))
    assert len(telegrams) == count >= 2
    assert {t["frame_hex"] for t in telegrams} == {t["frame_hex"] for t in reference}


def test_ctrl_c_flushes_and_summarises(tmp_path: Path, reference) -> None:
    out = tmp_path / "telegrams.jsonl"
    with serving(tmp_path, ISSUE48, extra=("--loop",)) as served:
        listen = running_until_telegrams(served, out, "listen")
        listen.send_signal(signal.SIGINT)
        _, stderr = listen.communicate(timeout=20)
    assert listen.returncode == 130
    assert "wmbus listen: interrupted" in stderr and "Traceback" not in stderr
    summary = re.search(r"(\d+) telegram\(s\), ([\d.]+) s of samples, (\d+) overflow", stderr)
    assert summary, stderr
    telegrams = json_lines(out.read_text())
    assert len(telegrams) == int(summary.group(1)) >= 2
    assert int(summary.group(3)) == 0


def test_dedupe_keeps_one_of_the_repeats(looped: Served) -> None:
    plain = wmbus("listen", "--rtl-tcp", looped.address, "--json", "--duration", SEVEN_LOOPS)
    deduped = wmbus(
        "listen", "--rtl-tcp", looped.address, "--json", "--duration", SEVEN_LOOPS,
        "--dedupe", "10",
    )
    assert plain.returncode == deduped.returncode == 0, deduped.stderr
    starts = [t["start_sample"] for t in json_lines(plain.stdout)]
    assert len(starts) == 7
    assert {b - a for a, b in itertools.pairwise(starts)} == {ISSUE48_SAMPLES}
    assert json_lines(deduped.stdout) == json_lines(plain.stdout)[:1]
    assert "6 duplicate(s) dropped" in deduped.stderr


def test_every_telegram_reaches_an_mqtt_subscriber(looped: Served) -> None:
    with mosquitto() as port:
        sub = Subscriber(port)
        done = wmbus(
            "listen", "--rtl-tcp", looped.address, "--json", "--duration", SEVEN_LOOPS,
            "--mqtt", f"127.0.0.1:{port}", "--mqtt-name", "cellar",
        )
        wait_for(lambda: ("wmbus/status/cellar", b"offline", False) in sub.messages)
        sub.close()
    assert done.returncode == 0, done.stderr
    printed = json_lines(done.stdout)
    assert len(printed) == 7
    topic = "wmbus/meter/TCH/60168569"  # manufacturer and id of the recording's frame
    assert sub.on(topic) == [{**t, "receiver": "cellar"} for t in printed]
    events = sub.on("wmbus/events")
    assert [e["event"] for e in events] == ["started", *["telegram"] * 7, "stopped"]
    assert events[-1]["telegrams"] == 7
    # started + 7 x (meter, event) + stopped; the status topic is not counted.
    assert "MQTT 16 published, 16 delivered, 0 dropped" in done.stderr
    assert "lost" not in done.stderr  # our own disconnect at exit


def test_tls_client_certificate_and_password_file(tmp_path: Path, looped: Served) -> None:
    with secure_mosquitto(tmp_path, require_certificate=True) as broker:
        sub = Subscriber(
            broker.port, tls=broker.client_context(), login=(broker.user, broker.password)
        )
        password_file = tmp_path / "mqtt-password"
        password_file.write_text(broker.password + "\n")
        done = wmbus(
            "listen", "--rtl-tcp", looped.address, "--json", "--duration", SEVEN_LOOPS,
            "--mqtt", f"127.0.0.1:{broker.port}", "--mqtt-name", "vault", "--mqtt-tls",
            "--mqtt-ca", broker.ca, "--mqtt-cert", broker.client_cert, "--mqtt-key",
            broker.client_key, "--mqtt-user", broker.user, "--mqtt-password-file", password_file,
        )
        wait_for(lambda: ("wmbus/status/vault", b"offline", False) in sub.messages)
        sub.close()
    assert done.returncode == 0, done.stderr
    printed = json_lines(done.stdout)
    assert sub.on("wmbus/meter/TCH/60168569") == [{**t, "receiver": "vault"} for t in printed]
    assert len(printed) == 7
    assert "MQTT 16 published, 16 delivered, 0 dropped" in done.stderr
    assert broker.password not in done.stdout + done.stderr
    mqtt_lines = [line for line in done.stderr.splitlines() if "MQTT" in line]
    assert mqtt_lines[0] == f"wmbus listen: MQTT connected to 127.0.0.1:{broker.port}"
    assert len(mqtt_lines) == 2  # and the summary


def test_a_refused_login_is_one_warning_and_the_summary_counts_it(
    tmp_path: Path, looped: Served
) -> None:
    wrong = "not the password"
    with secure_mosquitto(tmp_path, require_certificate=False) as broker:
        done = wmbus(
            "listen", "--rtl-tcp", looped.address, "--json", "--duration", SEVEN_LOOPS,
            "--mqtt", f"127.0.0.1:{broker.port}", "--mqtt-tls", "--mqtt-ca", broker.ca,
            "--mqtt-user", broker.user, "--mqtt-queue", "4",
            env={**os.environ, "WMBUS_MQTT_PASSWORD": wrong},
        )
    assert done.returncode == 0, done.stderr
    assert len(json_lines(done.stdout)) == 7  # decoding went on
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert warnings == [
        f"wmbus listen: warning: MQTT broker 127.0.0.1:{broker.port} refused the login "
        "(Not authorized); retrying, keeping up to 4 messages"
    ]
    # 12 did not fit into the queue, the 4 kept were still unsent at exit.
    assert "MQTT 16 published, 0 delivered, 16 dropped" in done.stderr
    assert wrong not in done.stdout + done.stderr


def test_home_assistant_discovery_for_a_meter_with_its_key(tmp_path: Path) -> None:
    rows = CORPUS.read_text().splitlines()
    row = next(r for r in map(json.loads, rows) if r["id"] == "xmq-picoflux-mywater-e2f1afd5")
    recording = synthetic_recording(
        tmp_path / "water_868.625M_2400k.cu8", [("T1", row["hex"])], 2.4e6, 868.625e6
    )
    with mosquitto() as port, serving(tmp_path, recording) as served:
        sub = Subscriber(port)
        done = wmbus(
            "listen", "--rtl-tcp", served.address, "--json", "--key",
            f"{row['meter_id']}={row['key']}", "--mqtt", f"127.0.0.1:{port}", "--mqtt-name",
            "hall", "--ha-discovery",
        )
        wait_for(lambda: ("wmbus/status/hall", b"offline", False) in sub.messages)
        sub.close()
    [telegram] = json_lines(done.stdout)
    assert telegram["security"] == "decrypted" and telegram["meter_id"] == row["meter_id"]
    configs = [
        (t, json.loads(p)) for t, p, _ in sub.messages
        if t.startswith(f"homeassistant/sensor/wmbus_{telegram['manufacturer']}_{row['meter_id']}/")
    ]
    state_topic = f"wmbus/meter/{telegram['manufacturer']}/{row['meter_id']}"
    assert configs and all(c["state_topic"] == state_topic for _, c in configs)
    assert any(c.get("device_class") == "water" for _, c in configs)


def test_broker_down_decoding_goes_on_and_drops_are_reported(looped: Served) -> None:
    done = wmbus(
        "listen", "--rtl-tcp", looped.address, "--json", "--duration", SEVEN_LOOPS,
        "--mqtt", f"127.0.0.1:{free_port()}", "--mqtt-queue", "4",
    )
    assert done.returncode == 0, done.stderr
    assert len(json_lines(done.stdout)) == 7
    # started + 7 x (meter, event) + stopped = 16 messages: 12 did not fit into the queue, the
    # 4 kept were still unsent at exit.
    assert "MQTT 16 published, 0 delivered, 16 dropped" in done.stderr
    [warning] = [line for line in done.stderr.splitlines() if "warning" in line]
    assert "cannot connect to MQTT broker" in warning and "Connection refused" in warning


def test_pyrtlsdr_dongle_equals_decode(tmp_path: Path, reference) -> None:
    log = tmp_path / "calls.log"
    done = wmbus_with_fake_rtlsdr(
        fake_env(ISSUE48, log), "listen", "--device", "rtlsdr:0", "--json", "--gain", "40",
        "--ppm", "-7", "--center", "868.625M", "--rate", "2400k",
    )
    # The fake dongle is "unplugged" at the end of the recording.
    assert done.returncode == 1
    assert "error: RTL-SDR 0 stopped delivering samples (unplugged?)" in done.stderr
    assert json_lines(done.stdout) == reference
    calls = log.read_text().splitlines()
    assert {"set_center_freq 868625000", "set_sample_rate 2400000", "set_freq_correction -7",
            "set_tuner_gain 402"} <= set(calls)
    # Stopping after the dongle vanished must not touch the closed handle.
    assert calls[-1] == "close" and not [c for c in calls if c.startswith("ERROR")]


def test_soapysdr_dongle_equals_decode(tmp_path: Path, reference) -> None:
    env = fake_env(ISSUE48)
    env["PYTHONPATH"] = str(soapy_pythonpath(tmp_path))
    done = wmbus("listen", "--device", "soapy:driver=rtlsdr", "--json", env=env)
    if "no SoapySDR device" in done.stderr:
        pytest.skip("SoapySDR's rtlsdr module (soapysdr0.8-module-rtlsdr) is not installed")
    assert done.returncode == 1, done.stderr
    assert "delivered no samples for 3 s" in done.stderr
    # SoapyRTLSDR's byte-to-float table differs from ours by a fraction of an LSB: the same
    # telegram, radio measurements nearly equal.
    got = json_lines(done.stdout)
    assert [t["frame_hex"] for t in got] == [t["frame_hex"] for t in reference]
    assert [t["start_sample"] for t in got] == [t["start_sample"] for t in reference]
    for a, b in zip(got, reference, strict=True):
        assert a["rssi_dbfs"] == pytest.approx(b["rssi_dbfs"], abs=0.2)
