"""`wmbus serve`: a real server process, read by our client and by Debian's rtl_433."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from dsp.retune import Retuner
from sdr.io.codecs import decode_samples
from sdr.io.rtltcp import Command, RtlTcpClient
from tests.conftest import require_program
from tests.sdr.live_support import (
    ISSUE48,
    ISSUE48_SAMPLES,
    expected_telegrams,
    serving,
    synthetic_recording,
    wait_for,
    wmbus,
)

SIM_T1C1 = ISSUE48.parent / "sim_t1c1_868.95M_1200k.cf32"


def read_all(client: RtlTcpClient, limit: int | None = None) -> bytes:
    buf = bytearray(1 << 16)
    view = memoryview(buf)
    out = bytearray()
    while limit is None or len(out) < limit:
        n = client.recv_into(view)
        if n == 0:
            break
        out += view[:n]
    return bytes(out)


def test_clients_get_the_recording_byte_for_byte_one_after_another(tmp_path: Path) -> None:
    original = ISSUE48.read_bytes()
    with serving(tmp_path, ISSUE48) as served:
        for _ in range(2):
            client = RtlTcpClient("127.0.0.1", served.port)
            assert client.info.tuner_type == 5  # R820T, what rtl_433 and SDR++ expect
            client.set_sample_rate(2.4e6)
            client.set_center_freq(868.625e6)
            assert read_all(client) == original  # then EOF: the server closed the connection
            client.close()
        wait_for(lambda: served.log.count("closing connection") == 2)
    # SIGTERM (sent on leaving `serving`) ends the server cleanly, its log complete.
    assert served.proc.returncode == 0
    log = served.log
    assert log.endswith("wmbus serve: stopped after 2 client(s)\n")
    assert log.count("connected") == 2
    assert "sample rate 2.4 Msps (the recording's rate)" in log
    assert "tuned to 868.625 MHz (the recording's centre)" in log


def test_a_client_tuned_elsewhere_gets_the_recording_resampled_and_shifted(
    tmp_path: Path,
) -> None:
    with serving(tmp_path, ISSUE48) as served:
        client = RtlTcpClient("127.0.0.1", served.port)
        client.set_center_freq(868.95e6)
        client.set_sample_rate(1.2e6)
        client.set_gain(30.0)
        client.set_freq_correction(-3)
        data = read_all(client)
        client.close()
        log = wait_for(lambda: "closing connection" in served.log and served.log)
    # What a dongle at 868.95 MHz and 1.2 Msps would have delivered: the capture mixed down by
    # 325 kHz and resampled, computed here in one go (the server works in chunks).
    retuner = Retuner(2.4e6, 1.2e6, 868.625e6 - 868.95e6)
    x = decode_samples(ISSUE48.read_bytes(), "cu8")
    expected = np.concatenate([retuner.process(x), retuner.flush()])
    got = decode_samples(data, "cu8")
    assert len(got) == len(expected) == ISSUE48_SAMPLES // 2
    # Equal but for cu8 rounding of I and Q.
    assert np.max(np.abs((got - expected).view(np.float32))) <= 0.5 / 127.5 + 1e-5
    assert (
        "tuned to 868.95 MHz (the recording, centred at 868.625 MHz, is shifted by -325 kHz)"
    ) in log
    assert "sample rate 1.2 Msps (the recording's 2.4 Msps × 1/2)" in log
    assert "set_gain 300 has no effect on a recording" in log
    assert "set_freq_correction -3 has no effect" in log
    assert f"end of recordings after {ISSUE48_SAMPLES // 2} samples" in log
    assert "beyond" not in log and "empty" not in log  # 868.35-869.55 MHz is inside


def test_requests_beyond_the_recording_are_logged_and_answered_as_far_as_possible(
    tmp_path: Path,
) -> None:
    with serving(tmp_path, ISSUE48) as served:
        client = RtlTcpClient("127.0.0.1", served.port)
        client.set_sample_rate(5e6)  # no RTL2832 does that: refused, as librtlsdr refuses it
        client.set_center_freq(869.5e6)  # 868.3-870.7 MHz: the recording ends at 869.825 MHz
        data = read_all(client)
        client.close()
        log = wait_for(lambda: "closing connection" in served.log and served.log)
    assert len(data) == 2 * ISSUE48_SAMPLES  # still 2.4 Msps
    assert "asked for 5 Msps, which an RTL2832 cannot do" in log
    assert "the rate stays 2.4 Msps" in log
    assert (
        "the band 868.3–870.7 MHz reaches beyond the recording's 867.425–869.825 MHz: "
        "only 868.3–869.825 MHz holds signal"
    ) in log


def test_twenty_clients_at_once_all_get_the_recording(tmp_path: Path) -> None:
    original = ISSUE48.read_bytes()
    results: list[bytes] = []
    start = threading.Barrier(20)

    def one_client() -> None:
        start.wait(10)
        client = RtlTcpClient("127.0.0.1", served.port)
        results.append(read_all(client))
        client.close()

    with serving(tmp_path, ISSUE48) as served:
        threads = [threading.Thread(target=one_client) for _ in range(20)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        elapsed = time.monotonic() - began
        wait_for(lambda: served.log.count("closing connection") == 20)
    assert results == [original] * 20
    # Served side by side: about one recording's time (43 ms, after the tuning pause), not 20.
    assert elapsed < 5


def test_a_client_that_stops_reading_blocks_nobody_and_is_dropped(tmp_path: Path) -> None:
    original = ISSUE48.read_bytes()
    with serving(tmp_path, ISSUE48, extra=("--loop", "--send-timeout", "1")) as served:
        stalled = socket.create_connection(("127.0.0.1", served.port))  # never reads
        wait_for(lambda: "connected" in served.log)
        time.sleep(3)  # its socket buffers are full by now: the server's send to it blocks
        client = RtlTcpClient("127.0.0.1", served.port)
        data = read_all(client, limit=10 * len(original))
        client.close()
        log = wait_for(lambda: "dropped" in served.log and served.log, timeout_s=20)
        stalled.close()
    assert data[: 10 * len(original)] == original * 10
    [dropped] = [line for line in log.splitlines() if "dropped" in line]
    assert re.fullmatch(
        r"wmbus serve: client 127\.0\.0\.1:\d+: stopped reading for 1 s: dropped after \d+ "
        r"samples", dropped
    )


def test_a_command_flood_grows_the_log_by_a_bounded_amount(tmp_path: Path) -> None:
    with serving(tmp_path, ISSUE48, extra=("--loop",)) as served:
        client = RtlTcpClient("127.0.0.1", served.port)
        for _ in range(1000):
            client.command(Command.SET_GAIN, 300)
        read_all(client, limit=4_800_000)  # about a second of samples
        client.close()
        log = wait_for(lambda: "disconnected" in served.log and served.log)
    gain_lines = [line for line in log.splitlines() if "set_gain 300" in line]
    assert len(gain_lines) == 10  # CLIENT_LOG_LINES_PER_S
    assert "… 990 more line(s) suppressed" in log  # every command accounted for
    assert len(log) < 2_000  # for 5,000 bytes of commands


def test_paced_like_a_radio_unless_fast(tmp_path: Path) -> None:
    def seconds_for_one_second_of_samples(*extra: str) -> float:
        with serving(tmp_path, ISSUE48, extra=("--loop", *extra)) as served:
            client = RtlTcpClient("127.0.0.1", served.port)
            read_all(client, limit=2 * 12_000)  # the first samples, after the tuning pause
            began = time.monotonic()
            read_all(client, limit=2 * 2_400_000)
            client.close()
            return time.monotonic() - began

    paced = seconds_for_one_second_of_samples()
    assert 0.9 < paced < 2.0
    assert seconds_for_one_second_of_samples("--fast") < paced / 2


def test_loop_repeats_the_recording(tmp_path: Path) -> None:
    original = ISSUE48.read_bytes()
    with serving(tmp_path, ISSUE48, extra=("--loop",)) as served:
        client = RtlTcpClient("127.0.0.1", served.port)
        data = read_all(client, limit=3 * len(original) + 10)
        client.close()
    assert data[: 3 * len(original)] == original * 3


def test_recordings_of_different_tuning_are_refused(tmp_path: Path) -> None:
    other = ISSUE48.parent / "rtlsdr_868.950M_1M6_samples2.cu8"
    done = wmbus("serve", ISSUE48, other, "--port", "0")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and other.name in done.stderr
    assert "serve recordings of one tuning together" in done.stderr


def test_rtl_433_tuned_to_the_t_c_channel_decodes_a_recording_of_all_modes(
    tmp_path: Path,
) -> None:
    rtl_433 = require_program("rtl_433")
    # rtl_433's T/C decoder wants the channel at the centre at 1.2 Msps (PEERS.md); the
    # recording is at 2.4 Msps around 868.625 MHz, as `wmbus record` makes them. The frames:
    # the real T1 telegram of the issue48 capture and the C1 one of a simulated recording,
    # modulated by our modulator.
    t1 = expected_telegrams(ISSUE48)[0]["frame_hex"]
    c1 = next(t for t in expected_telegrams(SIM_T1C1) if t["mode"] == "C1")["frame_hex"]
    recording = synthetic_recording(
        tmp_path / "tc_868.625M_2400k.cu8", [("T1", t1), ("C1", c1)], 2.4e6, 868.625e6
    )
    with serving(tmp_path, recording) as served:
        done = subprocess.run(
            [rtl_433, "-d", f"rtl_tcp:{served.address}", "-s", "1200000", "-f", "868950000",
             "-R", "104", "-F", "json"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        log = wait_for(
            lambda: "tuned to" in served.log and "sample rate" in served.log and served.log
        )
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [m["mode"] for m in messages] == ["T", "C"], done.stderr
    # rtl_433 prints L two lower and appends the last block's CRC (PEERS.md): compare from C on.
    for message, frame_hex in zip(messages, (t1, c1), strict=True):
        assert message["data"][2:].upper().startswith(frame_hex[2:].upper())
    assert "sample rate 1.2 Msps (the recording's 2.4 Msps × 1/2)" in log
    assert "tuned to 868.95 MHz (the recording, centred at 868.625 MHz" in log
