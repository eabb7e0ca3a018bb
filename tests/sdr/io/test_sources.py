"""Live sources against real servers and libraries: our rtl_tcp server on loopback, pyrtlsdr and
SoapySDR's rtlsdr module driving the stand-in librtlsdr of tests/c (built with gcc)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from sdr.errors import UserError
from sdr.io.codecs import decode_samples
from sdr.io.files import probe_iq_file
from sdr.io.rtltcp import ReplayServer
from sdr.io.sources import (
    LiveSource,
    RtlTcpSource,
    StreamWatch,
    TunerSettings,
    default_chunk_samples,
    open_source,
)
from tests.conftest import REPO
from tests.sdr.live_support import (
    ISSUE48,
    ISSUE48_SAMPLES,
    fake_env,
    free_port,
    soapy_pythonpath,
    wait_for,
)

SETTINGS = TunerSettings(868.625e6, 2.4e6, 20.0, -2)


class ServerThread:
    """Our ReplayServer in a thread of the test process (the CLI tests run it as a process)."""

    def __init__(self, **kwargs) -> None:
        self.log: list[str] = []
        self.server = ReplayServer(
            [probe_iq_file(ISSUE48)], "127.0.0.1", 0, log=self.log.append, **kwargs
        )
        self.thread = threading.Thread(target=self.server.serve, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.address[1]

    def close(self) -> None:
        self.server.stop()
        self.thread.join(5)


@pytest.fixture
def server():
    s = ServerThread()
    yield s
    s.close()


def test_rtl_tcp_source_delivers_every_sample_and_reports_the_end(server) -> None:
    source = RtlTcpSource("127.0.0.1", server.port, SETTINGS, chunk_samples=10_000)
    chunks = list(source.chunks())
    expected = decode_samples(ISSUE48.read_bytes(), "cu8")
    assert np.array_equal(np.concatenate([c.samples for c in chunks]), expected)
    assert [c.start_sample for c in chunks] == list(range(0, ISSUE48_SAMPLES, 10_000))
    assert all(c.sample_rate_hz == 2.4e6 and c.center_freq_hz == 868.625e6 for c in chunks)
    stats = source.stats()
    assert stats.lost == f"rtl_tcp server 127.0.0.1:{server.port} closed the connection"
    assert (stats.overflows, stats.samples_dropped) == (0, 0)
    assert stats.samples_received == stats.samples_delivered == ISSUE48_SAMPLES
    # The tuning reached the server as rtl_tcp commands.
    log = "\n".join(wait_for(lambda: len(server.log) >= 7 and server.log))
    assert "sample rate 2.4 Msps" in log and "tuned to 868.625 MHz" in log
    assert "set_freq_correction -2" in log and "set_gain 200" in log and "set_gain_mode 1" in log


def test_a_rate_no_rtl2832_can_do_is_a_warning(server) -> None:
    # rtl_tcp hands the rate to librtlsdr, which refuses it: the stream would not be at 5 Msps.
    lines: list[str] = []
    source = RtlTcpSource(
        "127.0.0.1", server.port, TunerSettings(868.625e6, 5e6), log=lines.append
    ).start()
    source.stop()
    source.join()
    assert lines == [
        "warning: 5 Msps is not a rate an RTL2832 can do (0.225–0.3 or 0.9–3.2 Msps): an "
        "rtl_tcp server on a dongle keeps its previous rate, and times and frequencies will be "
        "wrong"
    ]


def test_overflow_drops_whole_blocks_counts_them_and_says_where(server) -> None:
    # One block of room and a consumer that only starts after the stream ended.
    source = RtlTcpSource(
        "127.0.0.1", server.port, SETTINGS, chunk_samples=8_192, buffer_s=1e-9
    ).start()
    wait_for(lambda: source.stats().samples_received == ISSUE48_SAMPLES, what="all samples")
    chunks = list(source.chunks())
    stats = source.stats()
    blocks = -(-ISSUE48_SAMPLES // 8_192)
    assert len(chunks) == 1 and chunks[0].start_sample == 0
    assert stats.overflows == blocks - 1
    assert stats.samples_dropped == ISSUE48_SAMPLES - len(chunks[0].samples)


class Scripted(LiveSource):
    """A source at 1000 sps whose producer runs ``script(self)``, pushing blocks of constant
    value; ``interrupted`` is set by ``stop()``."""

    description = "scripted"

    def __init__(self, script: Callable[[Scripted], None], **kwargs) -> None:
        super().__init__(TunerSettings(sample_rate_hz=1000.0), chunk_samples=1000, **kwargs)
        self.script = script
        self.interrupted = threading.Event()

    def block(self, n: int, value: float) -> None:
        self._push(np.full(n, value, np.complex64))

    def _open(self) -> None:
        pass

    def _produce(self) -> None:
        self.script(self)

    def _interrupt(self) -> None:
        self.interrupted.set()


def test_a_dropped_block_is_a_gap_in_the_device_numbering() -> None:
    consumer_took_first = threading.Event()

    def script(source: Scripted) -> None:
        # Blocks 1 and 2 arrive while the consumer holds block 0: they are dropped.
        for n in (100, 200, 300):
            source.block(n, n)
        consumer_took_first.wait(5)
        source.block(400, 400)

    source = Scripted(script, buffer_s=1e-9)
    chunks = []
    for chunk in source.chunks():
        chunks.append(chunk)
        consumer_took_first.set()
    # Blocks 1 and 2 (samples 100 to 600) are missing: the next chunk starts where it was sent.
    assert [(c.start_sample, len(c.samples), c.samples[0].real) for c in chunks] == [
        (0, 100, 100.0), (600, 400, 400.0)
    ]
    stats = source.stats()
    assert (stats.overflows, stats.samples_dropped, stats.samples_received) == (2, 500, 1000)
    assert stats.samples_delivered == 500
    assert stats.lost == "scripted: stream ended"


def test_duration_ends_the_stream_exactly(server) -> None:
    source = RtlTcpSource("127.0.0.1", server.port, SETTINGS, chunk_samples=7_000)
    chunks = list(source.start(duration_s=50_000 / 2.4e6).chunks())
    assert sum(len(c.samples) for c in chunks) == 50_000
    stats = source.stats()
    assert stats.lost is None and stats.samples_delivered == stats.samples_received == 50_000


def test_duration_counts_only_what_came_before_the_limit() -> None:
    def script(source: Scripted) -> None:
        # Three blocks of 1000 while nobody reads; the duration ends in the second.
        for n in range(3):
            source.block(1000, n)

    source = Scripted(script, buffer_s=1e-9)
    source.start(duration_s=1.5)
    source.join()  # nobody reads: the producer must not wait for the consumer
    stats = source.stats()
    # Block 0 queued, the first half of block 1 dropped (no room), block 2 past the limit: not
    # received, not counted as dropped.
    assert (stats.samples_received, stats.samples_dropped, stats.overflows) == (1500, 500, 1)
    assert stats.lost is None  # the duration ended it, not the device


def test_samples_received_before_a_stop_are_still_delivered() -> None:
    def script(source: Scripted) -> None:
        # Like a reader holding a part-filled block when stopped: it pushes it on the way out.
        source.block(1000, 1)
        source.interrupted.wait(5)
        source.block(300, 2)

    source = Scripted(script)
    got = []
    for chunk in source.chunks():
        got.append((chunk.start_sample, len(chunk.samples)))
        source.stop()  # Ctrl-C after the first block
    assert got == [(0, 1000), (1000, 300)]
    assert source.stats().samples_delivered == 1300 and source.lost is None


def test_stop_from_another_thread_ends_an_endless_stream() -> None:
    looping = ServerThread(loop=True)
    try:
        source = RtlTcpSource("127.0.0.1", looping.port, SETTINGS)
        seen = 0
        for chunk in source.chunks():
            seen += len(chunk.samples)
            if seen > 5 * ISSUE48_SAMPLES:
                threading.Thread(target=source.stop).start()
        source.join()
        assert source.stats().lost is None
    finally:
        looping.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_stream_watch_warns_of_a_stall_once_and_of_the_resumption() -> None:
    clock, lines = FakeClock(), []
    watch = StreamWatch("server X", 2.4e6, lines.append, clock)
    watch.received(1000)
    for _ in range(3):  # every read timeout of the same stall
        clock.now += 5.0
        watch.timed_out()
    clock.now += 1.25
    watch.received(1000)
    assert lines == ["warning: no samples from server X for 5 s", "server X resumed after 16.2 s"]


def test_stream_watch_reports_a_server_not_delivering_the_rate_asked_for() -> None:
    def delivered(rate_hz: float) -> list[str]:
        clock, lines = FakeClock(), []
        watch = StreamWatch("server X", 2.4e6, lines.append, clock)
        for _ in range(200):  # 10 s in reads of 50 ms
            watch.received(rate_hz * 0.05)
            clock.now += 0.05
        return lines

    assert delivered(2.4e6) == [] and delivered(2.3e6) == []  # within 10 %
    [slow] = delivered(1.6e6)  # a 1.6 Msps recording replayed by a server that ignores rates
    assert slow.startswith("warning: server X delivers about 1.6 Msps, not the 2.4 Msps asked")
    [fast] = delivered(30e6)
    assert "about 30 Msps" in fast and "not paced like a radio" in fast


def test_connection_refused_is_a_user_error() -> None:
    port = free_port()
    with pytest.raises(UserError, match=f"cannot connect to rtl_tcp server 127.0.0.1:{port}"):
        RtlTcpSource("127.0.0.1", port, SETTINGS).start()


def test_device_names() -> None:
    assert open_source("rtlsdr:00000042", None, SETTINGS).device == "00000042"
    assert open_source(None, None, SETTINGS).description == "RTL-SDR 0"
    assert open_source("soapy:driver=rtlsdr", None, SETTINGS).args == "driver=rtlsdr"
    with pytest.raises(UserError, match="not both"):
        open_source("rtlsdr", "localhost:1234", SETTINGS)
    with pytest.raises(UserError, match="rtlsdr"):
        open_source("hackrf", None, SETTINGS)


# -- pyrtlsdr and SoapySDR on the fake librtlsdr ----------------------------------------------

_SOURCE_SCRIPT = textwrap.dedent(
    """
    import ctypes, json, os, sys
    import numpy as np
    import pyrtlsdrlib
    pyrtlsdrlib.load_librtlsdr = lambda: ctypes.CDLL(os.environ["FAKE_RTLSDR_LIB"])
    from sdr.errors import UserError
    from sdr.io.sources import TunerSettings, open_source
    source = open_source(sys.argv[1], None, TunerSettings(868.625e6, 2.4e6, 20.0, 3))
    try:
        chunks = list(source.chunks())
    except UserError as exc:
        print(json.dumps({"error": str(exc)}))
        sys.exit(0)
    samples = np.concatenate([c.samples for c in chunks])
    np.save(sys.argv[2], samples)
    print(json.dumps({"starts": [c.start_sample for c in chunks], "lost": source.lost,
                      "rate": source.sample_rate_hz, "overflows": source.stats().overflows}))
    """
)


def run_source(env: dict[str, str], device: str, out: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _SOURCE_SCRIPT, device, str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_pyrtlsdr_async_reads_deliver_the_dongles_samples(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    result = run_source(fake_env(ISSUE48, log), "rtlsdr:00000001", tmp_path / "s.npy")
    samples = np.load(tmp_path / "s.npy")
    assert np.array_equal(samples, decode_samples(ISSUE48.read_bytes(), "cu8"))
    assert result["overflows"] == 0 and result["rate"] == 2.4e6
    assert result["lost"] == "RTL-SDR 00000001 stopped delivering samples (unplugged?)"
    calls = log.read_text().splitlines()
    # What pyrtlsdr made of our settings, as the library received it.
    for call in ("set_sample_rate 2400000", "set_center_freq 868625000",
                 "set_freq_correction 3", "set_tuner_gain_mode 1",
                 "set_tuner_gain 197",  # the R820T step nearest to 20 dB
                 f"read_async {2 * default_chunk_samples(2.4e6)}", "close"):
        assert call in calls


def test_pyrtlsdr_sync_reads_of_the_fake_are_the_recording(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import ctypes, os, sys
        import pyrtlsdrlib
        pyrtlsdrlib.load_librtlsdr = lambda: ctypes.CDLL(os.environ["FAKE_RTLSDR_LIB"])
        from rtlsdr import RtlSdr
        sdr = RtlSdr(0)
        sdr.sample_rate, sdr.center_freq, sdr.gain = 2.4e6, 868.95e6, "auto"
        sys.stdout.buffer.write(bytes(sdr.read_bytes(4096)) + bytes(sdr.read_bytes(8192)))
        print(sdr.center_freq, sdr.sample_rate, file=sys.stderr)
        sdr.close()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=fake_env(ISSUE48), capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ISSUE48.read_bytes()[: 4096 + 8192]
    assert done.stderr.split() == [b"868950000", b"2400000.0"]


def test_pyrtlsdr_without_a_device_is_a_user_error(tmp_path: Path) -> None:
    result = run_source(fake_env(None), "rtlsdr", tmp_path / "s.npy")
    assert result["error"].startswith("cannot open RTL-SDR 0:")
    result = run_source(fake_env(ISSUE48), "rtlsdr:NOSUCH", tmp_path / "s.npy")
    assert result["error"].startswith("cannot open RTL-SDR NOSUCH:")


def test_soapysdr_rtlsdr_module_streams_the_fake_dongle(tmp_path: Path) -> None:
    env = fake_env(ISSUE48, tmp_path / "calls.log")
    env["PYTHONPATH"] = str(soapy_pythonpath(tmp_path))
    modules = Path("/usr/lib/x86_64-linux-gnu/SoapySDR/modules0.8/librtlsdrSupport.so")
    if not modules.exists():
        # The bindings are there but no rtlsdr module: still a real import and enumeration.
        result = run_source(env, "soapy:driver=rtlsdr", tmp_path / "s.npy")
        assert result["error"] == "no SoapySDR device 'driver=rtlsdr' found"
        return
    result = run_source(env, "soapy:driver=rtlsdr", tmp_path / "s.npy")
    assert result["rate"] == 2.4e6
    assert "delivered no samples" in result["lost"]
    samples = np.load(tmp_path / "s.npy")
    expected = decode_samples(ISSUE48.read_bytes(), "cu8")
    # SoapyRTLSDR converts bytes with its own table, so compare to within about one LSB.
    assert len(samples) == len(expected)
    assert np.allclose(samples, expected, atol=1.5 / 127.5)
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert "set_center_freq 868625000" in calls and "set_sample_rate 2400000" in calls
    assert "set_tuner_gain_mode 1" in calls


def test_soapysdr_missing_bindings_name_the_package(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['SoapySDR'] = None\n"
        "from sdr.io.sources import TunerSettings, open_source\n"
        "open_source('soapy:driver=rtlsdr', None, TunerSettings()).start()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert "python3-soapysdr" in done.stderr and "--system-site-packages" in done.stderr
