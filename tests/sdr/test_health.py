"""Radio health (issue 13 part 4): clipping counted on the raw samples, the per-second meter, the
frequency-error estimate and the ``--gain auto`` loop; end to end through `wmbus serve` and
`wmbus listen`, with a real mosquitto, on streams rendered by the simulator (``sdr.sim``) with a
strong neighbour added."""

from __future__ import annotations

import itertools
import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from dsp.modulate import add_noise
from protocol.modes import T1, Direction
from sdr.health import (
    CLIP_REMIND_S,
    CLIP_WARN_SHARE,
    MIN_PPM_TELEGRAMS,
    QUANTISATION_FLOOR_DBFS,
    AutoGain,
    HealthMonitor,
    SecondMeter,
    SecondReport,
    centring_ppm,
    clipped_float,
    clipped_offset_binary,
    ppm_error,
)
from sdr.io.codecs import decode_samples
from sdr.io.rtltcp import R820T_GAINS_DB
from sdr.io.writers import write_iq
from sdr.sim.stream import ModeFormat, StreamSettings, random_bursts, render_stream
from tests.sdr.live_support import (
    Subscriber,
    fake_env,
    json_lines,
    mosquitto,
    serving,
    soapy_pythonpath,
    wait_for,
    wmbus,
    wmbus_with_fake_rtlsdr,
)

T1_FREQ_HZ = 868.95e6


def clipped_by_definition(raw: np.ndarray) -> np.ndarray:
    """Per sample of cu8 bytes: I or Q at code 0 or 255 (the ADC's ends), written plainly."""
    pairs = raw.reshape(-1, 2)
    return np.isin(pairs, (0, 255)).any(axis=1)


def test_clipping_is_counted_on_the_raw_codes() -> None:
    raw = np.random.default_rng(1).integers(0, 256, 20_000, dtype=np.uint8)
    assert np.array_equal(clipped_offset_binary(raw), clipped_by_definition(raw))
    # cs8 is offset binary with the top bit flipped: -128 and 127 are its ends.
    signed = raw.view(np.int8)
    ends = np.isin(signed.reshape(-1, 2), (-128, 127)).any(axis=1)
    assert np.array_equal(clipped_offset_binary(raw ^ np.uint8(0x80)), ends)
    assert clipped_offset_binary(np.clip(raw, 1, 254)) is None  # nothing at either end


def test_clipping_in_soapys_floats_is_found_at_the_converted_full_scale() -> None:
    # SoapyRTLSDR converts the dongle's bytes to CF32 as (code - 127.4) / 128 (full scale 128).
    raw = np.random.default_rng(2).integers(0, 256, 20_000, dtype=np.uint8)
    floats = ((raw.astype(np.float32) - 127.4) / 128).view(np.complex64)
    assert np.array_equal(clipped_float(floats, 128.0), clipped_by_definition(raw))
    inner = ((np.clip(raw, 1, 254).astype(np.float32) - 127.4) / 128).view(np.complex64)
    assert clipped_float(inner, 128.0) is None


def second_reports(samples: np.ndarray, clipped: np.ndarray, rate: float, chunk: int) -> list:
    meter = SecondMeter(rate)
    out = []
    for start in range(0, len(samples), chunk):
        out += meter.add(start, samples[start : start + chunk], clipped[start : start + chunk])
    return out + meter.flush()


def test_seconds_are_the_same_whatever_the_chunking() -> None:
    rate = 20_000.0
    rng = np.random.default_rng(3)
    raw = np.clip(rng.normal(127.5, 40, 2 * 75_000), 0, 255).astype(np.uint8)
    samples, clipped = decode_samples(raw, "cu8"), clipped_offset_binary(raw)
    whole = second_reports(samples, clipped, rate, len(samples))
    assert [r.samples for r in whole] == [20_000, 20_000, 20_000, 15_000]
    truth = clipped_by_definition(raw)
    assert [r.clipped for r in whole] == [
        int(np.count_nonzero(truth[i : i + 20_000])) for i in range(0, 75_000, 20_000)
    ]
    for chunk in (1_000, 997, 65_536):
        assert second_reports(samples, clipped, rate, chunk) == whole


def test_the_noise_floor_of_a_second_is_the_noise_power() -> None:
    rate = 100_000.0
    rng = np.random.default_rng(4)
    noise = (rng.normal(0, 0.05, 100_000) + 1j * rng.normal(0, 0.05, 100_000)).astype(
        np.complex64
    )
    noise[30_000:60_000] += 0.5  # a transmission does not raise the floor
    meter = SecondMeter(rate)
    assert meter.add(0, noise, None) == []  # the second ends with the next sample
    (report,) = meter.flush()
    assert report.clipped == 0 and report.samples == 100_000
    assert report.noise_floor_dbfs is not None
    assert abs(report.noise_floor_dbfs - 10 * np.log10(2 * 0.05**2)) < 0.5


def test_the_frequency_error_is_the_median_and_counts_an_existing_ppm() -> None:
    error = 12.0
    rng = np.random.default_rng(5)
    cfos = [(-T1_FREQ_HZ * error * 1e-6 + rng.uniform(-2e3, 2e3), T1_FREQ_HZ) for _ in range(9)]
    cfos += [(60e3, T1_FREQ_HZ), (-70e3, T1_FREQ_HZ)]  # meters with poor crystals
    estimate = ppm_error(cfos)
    assert estimate is not None and abs(estimate - error) < 2.5
    assert ppm_error(cfos[: MIN_PPM_TELEGRAMS - 1]) is None
    # Measured with --ppm 30 applied, a residual of +12 means the dongle is 42 ppm off.
    assert centring_ppm(12.4, 30) == 42
    assert centring_ppm(-3.6, 0) == -4


def second(index: int, *, clipped_share: float = 0.0, floor_dbfs: float = -20.0) -> SecondReport:
    rate = 1000
    return SecondReport(index, index * rate, rate, round(clipped_share * rate), floor_dbfs)


def test_auto_gain_steps_down_while_clipping_and_up_at_the_quantisation_floor() -> None:
    auto = AutoGain(R820T_GAINS_DB)
    assert auto.gain_db == 25.4  # mid-range: the 15th of the R820T's 29 gains
    auto.applied(0, 1000)
    # The second that held the change is not judged: its samples came at the old gain.
    assert auto.decide(second(0, clipped_share=0.5)) is None
    assert auto.decide(second(1, clipped_share=0.5)) == 19.7
    auto.applied(1900, 1000)
    assert auto.decide(second(2, clipped_share=0.5)) is None
    assert auto.decide(second(3, clipped_share=0.5)) == 14.4
    auto.applied(3000, 1000)
    # Below the limit nothing changes; at the quantisation floor it would go up, but every
    # gain at least 3 dB up clipped already.
    assert auto.decide(second(4, clipped_share=CLIP_WARN_SHARE / 2)) is None
    quiet = QUANTISATION_FLOOR_DBFS - 3
    assert auto.decide(second(5, floor_dbfs=quiet)) is None
    assert auto.gain_db == 14.4
    # A radio that never clipped goes up in steps of at least 3 dB.
    fresh = AutoGain(R820T_GAINS_DB)
    assert fresh.decide(second(0, floor_dbfs=quiet)) == 29.7
    assert fresh.decide(second(1, floor_dbfs=QUANTISATION_FLOOR_DBFS + 1)) is None



def test_the_monitor_warns_once_a_minute_of_stream_and_its_snapshot_is_json() -> None:
    rate = 4096.0  # four noise-floor blocks a second
    monitor = HealthMonitor(rate, ppm_setting=0, gain_db=None)
    samples = np.zeros(4096, np.complex64)
    every_other = np.arange(4096) % 2 == 0  # half of each second clipped
    warned_at = []
    for index in range(130):
        _, warning = monitor.observe(index * 4096, samples, every_other)
        if warning is not None:
            warned_at.append(warning.stream_time_s)
    # Second 0 is complete with the first sample of second 1, then every CLIP_REMIND_S.
    assert warned_at == [1.0, 1.0 + CLIP_REMIND_S, 1.0 + 2 * CLIP_REMIND_S]
    snapshot = monitor.snapshot(overflows=2, samples_dropped=300)
    assert snapshot.samples == 130 * 4096 and snapshot.seconds == 129
    assert snapshot.clipped_share_total == 0.5 and snapshot.clipped_share_last_s == 0.5
    assert (snapshot.overflows, snapshot.samples_dropped) == (2, 300)
    assert snapshot.ppm_estimate is None and snapshot.cfo_hz_recent == ()
    # Digital silence has a floor of -inf dBFS, which JSON cannot carry.
    assert snapshot.wideband_noise_floor_dbfs == -np.inf
    data = json.loads(json.dumps(snapshot.to_dict(), allow_nan=False))
    assert data["wideband_noise_floor_dbfs"] is None and data["clipped_seconds"] == 129


def test_health_is_read_from_another_thread_while_the_session_runs(tmp_path: Path) -> None:
    from sdr.io.sources import TunerSettings
    from sdr.live import LiveConfig, LiveSession

    recording = tmp_path / "neighbour_868.625M_2400k.cu8"
    neighbour_scene(recording, 2.4e6, 1.0, neighbour=1.2, span_s=(0.0, 1.0), count=6, seed=8)
    with serving(tmp_path, recording, extra=("--loop",)) as served:
        config = LiveConfig(
            tuner=TunerSettings(), modes=(T1,), keys={}, rtl_tcp=served.address, duration_s=3.0,
            output_path=str(tmp_path / "telegrams.txt"),
        )
        lines: list[str] = []
        session = LiveSession(config, lines.append)
        results = []
        runner = threading.Thread(target=lambda: results.append(session.run()))
        runner.start()
        try:
            seen = wait_for(lambda: session.health().seconds >= 1 and session.health(),
                            timeout_s=20, what="a second of health")
        finally:
            runner.join(30)
    assert seen.clipped_share_last_s > CLIP_WARN_SHARE and seen.sample_rate_hz == 2.4e6
    (result,) = results
    assert result.health.samples == round(3.0 * 2.4e6) and result.health.seconds == 3
    assert sum("the ADC clips" in line for line in lines) == 1


# -- end to end: `wmbus serve` -> `wmbus listen`, a real mosquitto ------------------------------


def neighbour_scene(
    path: Path,
    rate_hz: float,
    seconds: float,
    *,
    neighbour: float,
    span_s: tuple[float, float] = (0.0, 0.0),
    cfo_hz: float | list[float] = 0.0,
    count: int,
    seed: int,
) -> np.ndarray:
    """T1 telegrams at 14 dB Ec/N0 from the simulator, 50-150 ms apart, centred at 868.625 MHz,
    plus a carrier of amplitude ``neighbour`` 10 kHz off the centre (between the channels, so it
    harms only by clipping) during ``span_s``; written in the format of the file's extension
    (cu8 clips at full scale). Returns the samples before they were written."""
    mf = ModeFormat.of("T1", Direction.METER_TO_OTHER)
    settings = StreamSettings.for_modes([mf], rate_hz, 868.625e6, ecn0_db=14.0)
    rng = np.random.default_rng(seed)
    bursts = random_bursts([mf], count, rng, cfo_hz=cfo_hz)
    iq = np.concatenate([seg for seg, _ in render_stream(bursts, settings, rng, (0.05, 0.15))])
    n = round(seconds * rate_hz)
    assert len(iq) <= n, "the telegrams do not fit"
    # The rest is noise as between the telegrams, not digital silence.
    rest = add_noise(np.zeros(n - len(iq), np.complex64), 14.0,
                     settings.reference_chip_rate_hz, rate_hz, rng)
    iq = np.concatenate([iq, (rest * np.float32(settings.file_scale)).astype(np.complex64)])
    t = np.arange(n) / rate_hz
    on = (t >= span_s[0]) & (t < span_s[1])
    iq = (iq + neighbour * on * np.exp(2j * np.pi * 10e3 * t)).astype(np.complex64)
    write_iq(path, iq, path.suffix.lstrip("."))
    return iq


def per_second(mask: np.ndarray, rate_hz: float) -> list[float]:
    step = round(rate_hz)
    return [float(mask[i : i + step].mean()) for i in range(0, len(mask), step)]


def clip_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "the ADC clips" in line]


def test_a_clipped_input_is_warned_about_within_2_s_and_its_share_reported(
    tmp_path: Path,
) -> None:
    recording = tmp_path / "neighbour_868.625M_2400k.cu8"
    neighbour_scene(recording, 2.4e6, 3.0, neighbour=1.2, span_s=(0.5, 2.5), count=24, seed=7)
    truth = clipped_by_definition(np.fromfile(recording, np.uint8))
    share = float(truth.mean())
    clipped_seconds = sum(s > CLIP_WARN_SHARE for s in per_second(truth, 2.4e6))
    assert 0.2 < share < 0.8 and clipped_seconds == 3
    with mosquitto() as port, serving(tmp_path, recording) as served:
        subscriber = Subscriber(port)
        try:
            done = wmbus(
                "listen", "--rtl-tcp", served.address, "--json", "--mqtt", f"127.0.0.1:{port}",
                "--mqtt-name", "attic",
            )
        finally:
            subscriber.close()
    (warning,) = clip_warnings(done.stderr)  # once, not once a second
    # Counted in samples streamed: the first second is judged when it is complete.
    stream_time_s = float(re.search(r"stream time ([\d.]+) s", warning).group(1))
    assert stream_time_s <= 2.0
    assert "lower the gain" in warning
    assert f"{share:.3%} of samples clipped ({clipped_seconds} of 3 s over 0.1%)" in done.stderr
    health = subscriber.on("wmbus/status/attic/health")
    assert health, "no health on the status topic"
    last = health[-1]
    assert last["clipped_share_total"] == pytest.approx(share, abs=1e-9)
    assert last["samples"] == len(truth) and last["seconds"] == 3
    assert {"sample_rate_hz", "overflows", "samples_dropped", "clipped_share_last_s",
            "gain_db", "cfo_hz_recent", "ppm_estimate"} <= set(last)
    (stopped,) = [e for e in subscriber.on("wmbus/events") if e["event"] == "stopped"]
    assert stopped["clipped_share_total"] == pytest.approx(share, abs=1e-9)
    assert stopped["stream_s"] == pytest.approx(len(truth) / last["sample_rate_hz"])



def test_record_reports_the_clipping_of_what_it_wrote(tmp_path: Path) -> None:
    recording = tmp_path / "neighbour_868.625M_2400k.cu8"
    neighbour_scene(recording, 2.4e6, 2.0, neighbour=1.2, span_s=(1.2, 1.6), count=12, seed=6)
    with serving(tmp_path, recording) as served:
        done = wmbus("record", tmp_path / "walk", "--format", "cu8", "--rtl-tcp", served.address)
    written = tmp_path / "walk_868.625M_2400k.cu8"
    truth = clipped_by_definition(np.fromfile(written, np.uint8))
    assert len(truth) == round(2.0 * 2.4e6)
    (warning,) = clip_warnings(done.stderr)
    assert "second 1 " in warning  # the neighbour came at 1.2 s
    assert f"{truth.mean():.3%} of samples clipped (1 of 2 s over 0.1%)" in done.stderr

def test_gain_auto_steps_down_against_serve_until_the_clipping_ends(tmp_path: Path) -> None:
    recording = tmp_path / "neighbour_868.625M_1200k.cs16"
    iq = neighbour_scene(recording, 1.2e6, 4.0, neighbour=0.3, span_s=(0.0, 4.0), count=32, seed=3)
    recorded_db = 10.0
    with serving(
        tmp_path, recording, extra=("--loop", "--emulate-gain", str(recorded_db))
    ) as served:
        done = wmbus(
            "listen", "--rtl-tcp", served.address, "--rate", "1.2M", "--gain", "auto",
            "--duration", "14", "--json", timeout=90,
        )
        serve_log = served.log
    assert done.returncode == 0, done.stderr
    assert "gain auto: 25.4 dB (start mid-range)" in done.stderr
    steps = [(float(a), float(b)) for a, b in re.findall(r"gain auto: ([\d.]+) -> ([\d.]+) dB",
                                                         done.stderr)]
    assert steps and all(new < old for old, new in steps)
    final_db = steps[-1][1]
    for _, gain_db in steps:
        assert f"gain {gain_db:g} dB: the recording (made at 10 dB)" in serve_log

    def clipped_share_at(gain_db: float) -> float:
        """What a dongle at ``gain_db`` would clip of the recording (cu8's ends are ±1)."""
        scaled = np.abs(iq.view(np.float32)) * 10 ** ((gain_db - recorded_db) / 20)
        return float(((scaled[0::2] >= 0.996) | (scaled[1::2] >= 0.996)).mean())

    # Every gain it left clipped the recording, and the one it kept does not.
    assert all(clipped_share_at(old) > CLIP_WARN_SHARE for old, _ in steps)
    assert clipped_share_at(final_db) <= CLIP_WARN_SHARE
    assert len(clip_warnings(done.stderr)) == 1  # and the warning does not come back
    assert "--gain auto is lowering the gain" in clip_warnings(done.stderr)[0]
    summary = re.search(r"\((\d+) of (\d+) s over 0.1%\), gain ([\d.]+) dB", done.stderr)
    assert summary is not None and float(summary.group(3)) == final_db
    # Each step waits for one clean second of samples at the new gain: 2 s per step, and the
    # live chunk (CHUNK_S) that carries a second's last samples may add one more in all.
    assert int(summary.group(1)) <= 2 * len(steps) + 1 and int(summary.group(2)) == 14
    # After the last step the telegrams come through: 8 per second of the recording.
    clean_from_s = int(summary.group(1)) + 1
    late = [t for t in json_lines(done.stdout) if t["time_s"] >= clean_from_s]
    assert len(late) >= 0.9 * 8 * (14 - clean_from_s)


def test_the_ppm_that_centres_the_carriers_is_printed(tmp_path: Path) -> None:
    error_ppm = 20.0
    rng = np.random.default_rng(5)
    # The dongle's error moves every carrier alike; the meters' own crystals add a spread, and
    # two of them are far off.
    cfos = [-T1_FREQ_HZ * error_ppm * 1e-6 + float(o) for o in rng.uniform(-1.5e3, 1.5e3, 12)]
    cfos += [30e3, -45e3]
    recording = tmp_path / "offset_868.625M_2400k.cu8"
    neighbour_scene(recording, 2.4e6, 2.5, neighbour=0.0, cfo_hz=cfos, count=14, seed=4)
    with serving(tmp_path, recording) as served:
        done = wmbus("listen", "--rtl-tcp", served.address, "--json")
    assert len(json_lines(done.stdout)) == len(cfos)
    found = re.search(
        r"the carriers are ([+-][\d.]+) ppm off .*: --ppm (-?\d+) would centre them", done.stderr
    )
    assert found is not None, done.stderr
    assert abs(float(found.group(1)) - error_ppm) < 1.0
    assert int(found.group(2)) == round(float(found.group(1)))


@pytest.mark.parametrize("device", ["rtlsdr:0", "soapy:driver=rtlsdr"])
def test_gain_auto_sets_the_dongles_gain_through_pyrtlsdr_and_soapysdr(
    tmp_path: Path, device: str
) -> None:
    # The stand-in librtlsdr plays the file whatever the gain: the loop keeps stepping down.
    recording = tmp_path / "neighbour_868.625M_2400k.cu8"
    neighbour_scene(recording, 2.4e6, 5.0, neighbour=1.2, span_s=(0.0, 5.0), count=30, seed=9)
    log = tmp_path / "calls.log"
    env = fake_env(recording, log)
    if device.startswith("soapy"):
        env["PYTHONPATH"] = str(soapy_pythonpath(tmp_path))
    done = wmbus_with_fake_rtlsdr(env, "listen", "--device", device, "--gain", "auto")
    if "no SoapySDR device" in done.stderr:
        pytest.skip("SoapySDR's rtlsdr module (soapysdr0.8-module-rtlsdr) is not installed")
    steps = re.findall(r"gain auto: ([\d.]+) -> ([\d.]+) dB \(([\d.]+)% of second", done.stderr)
    assert len(steps) >= 2, done.stderr
    calls = log.read_text().splitlines()
    manual = calls.index("set_tuner_gain_mode 1")
    gains = [int(c.split()[1]) for c in calls[manual:] if c.startswith("set_tuner_gain ")]
    # The start mid-range, then each step, in tenths of a dB as librtlsdr takes them.
    expected = [round(float(old) * 10) for old, _, _ in steps] + [round(float(steps[-1][1]) * 10)]
    assert gains[-len(expected):] == expected
    assert all(b - a <= -50 for a, b in itertools.pairwise(expected))


def test_emulated_gain_takes_the_tuners_nearest_gain_whatever_a_client_sends(
    tmp_path: Path,
) -> None:
    from sdr.io.rtltcp import Command, RtlTcpClient

    recording = tmp_path / "neighbour_868.625M_2400k.cu8"
    neighbour_scene(recording, 2.4e6, 0.5, neighbour=0.0, count=2, seed=10)
    with serving(tmp_path, recording, extra=("--emulate-gain", "10", "--loop")) as served:
        client = RtlTcpClient(served.host, served.port)
        try:
            client.command(Command.SET_GAIN, 300)  # before manual mode: ignored
            client.command(Command.SET_GAIN_MODE, 1)
            for param in (0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 197):
                client.command(Command.SET_GAIN, param)
            buf = bytearray(65_536)
            assert client.recv_into(memoryview(buf)) > 0  # still streaming
            wait_for(lambda: "gain 19.7 dB" in served.log, what="the last gain command")
        finally:
            client.close()
        log = served.log
    assert "gain 30 dB ignored: automatic gain is on" in log
    assert "gain 49.6 dB: the recording (made at 10 dB) is scaled by +39.6 dB" in log
    assert log.count("gain 0 dB: the recording (made at 10 dB) is scaled by -10.0 dB") == 2
    assert "Traceback" not in log


def test_gain_auto_steps_up_while_the_noise_is_at_the_quantisation_floor(tmp_path: Path) -> None:
    recording = tmp_path / "quiet_868.625M_1200k.cs16"
    iq = neighbour_scene(recording, 1.2e6, 4.0, neighbour=0.0, count=32, seed=11)
    recorded_db = 49.6  # a weak recording: at mid-range gain the noise is about 1 LSB
    with serving(
        tmp_path, recording, extra=("--loop", "--emulate-gain", str(recorded_db))
    ) as served:
        done = wmbus(
            "listen", "--rtl-tcp", served.address, "--rate", "1.2M", "--gain", "auto",
            "--duration", "10", "--json", timeout=90,
        )
    assert done.returncode == 0, done.stderr
    steps = [(float(a), float(b)) for a, b in re.findall(r"gain auto: ([\d.]+) -> ([\d.]+) dB",
                                                         done.stderr)]
    assert steps and all(new >= old + 3 for old, new in steps)
    assert not clip_warnings(done.stderr)
    # The noise the simulator added (the last 0.1 s hold no telegram), scaled by each gain, plus
    # the cu8 quantisation's own (1/12 LSB squared per component).
    noise_power = float(np.mean(np.abs(iq[-120_000:]) ** 2))
    lsb = 1 / 127.5

    def floor_dbfs(gain_db: float) -> float:
        scaled = noise_power * 10 ** ((gain_db - recorded_db) / 10)
        return float(10 * np.log10(scaled + 2 * lsb**2 / 12))

    assert all(floor_dbfs(old) < QUANTISATION_FLOOR_DBFS + 1 for old, _ in steps)
    assert floor_dbfs(steps[-1][1]) > QUANTISATION_FLOOR_DBFS - 1
    assert len(json_lines(done.stdout)) >= 0.9 * 8 * 10
