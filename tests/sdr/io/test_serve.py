"""`wmbus serve`: a real server process, read by our client and by Debian's rtl_433."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sdr.io.rtltcp import RtlTcpClient
from tests.conftest import require_program
from tests.sdr.live_support import (
    ISSUE48,
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


def test_commands_the_recording_cannot_honour_are_logged(tmp_path: Path) -> None:
    with serving(tmp_path, ISSUE48) as served:
        client = RtlTcpClient("127.0.0.1", served.port)
        client.set_center_freq(868.95e6)
        client.set_sample_rate(1.2e6)
        client.set_gain(30.0)
        client.set_freq_correction(-3)
        read_all(client)
        client.close()
        log = wait_for(lambda: "set_freq_correction" in served.log and served.log)
    assert (
        "asked for centre 868.95 MHz, but the recording is centred at 868.625 MHz" in log
    )
    assert "asked for 1.2 Msps, but the recording has 2.4 Msps" in log
    assert "set_gain 300 has no effect on a recording" in log
    assert "set_freq_correction -3 has no effect" in log


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


def test_rtl_433_decodes_t1_and_c1_telegrams_through_the_server(tmp_path: Path) -> None:
    rtl_433 = require_program("rtl_433")
    # rtl_433's T/C decoder wants the channel at the centre at 1.2 Msps (PEERS.md). The frames:
    # the real T1 telegram of the issue48 capture and the C1 one of a simulated recording,
    # modulated by our modulator.
    t1 = expected_telegrams(ISSUE48)[0]["frame_hex"]
    c1 = next(t for t in expected_telegrams(SIM_T1C1) if t["mode"] == "C1")["frame_hex"]
    recording = synthetic_recording(
        tmp_path / "tc_868.95M_1200k.cu8", [("T1", t1), ("C1", c1)], 1.2e6, 868.95e6
    )
    with serving(tmp_path, recording) as served:
        done = subprocess.run(
            [rtl_433, "-d", f"rtl_tcp:{served.address}", "-s", "1200k", "-f", "868.95M",
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
    assert "sample rate 1.2 Msps (the recording's rate)" in log
    assert "tuned to 868.95 MHz (the recording's centre)" in log
