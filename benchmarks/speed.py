"""CPU time per second of signal: all modes from one 2.4 Msps stream vs rtl_433's two runs; the
CPU time of starting ``wmbus decode`` (on a 40 ms capture); and all modes from one stream at the
wide rates of Airspy and HackRF (6, 10, 20 Msps)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

import numpy as np

from benchmarks import jobs
from benchmarks.common import (
    CASES,
    RATE_HZ,
    Decoded,
    Stream,
    decode_ours,
    decode_rtl433,
    have_rtl433,
    make_stream,
    read_samples,
    receiver_available,
    run_wmbus,
    score_frames,
    score_rtl433,
    workdir,
)
from protocol.modes import C2

# High enough for rtl_433 to decode everything too (it needs about 24 dB, see sensitivity).
ECN0_DB = 30.0
# Each receiver runs this often and its least CPU time counts (for both alike): other load on
# the machine only ever adds time. On the 2.4 Msps stream the runs of ours and rtl_433's take
# turns, so that a burst of load elsewhere hits both alike.
REPEATS = 3
WIDE_RATES_HZ = (6e6, 10e6, 20e6)
# rtl_433's two runs (mode, protocol, its sample rate): -R 104 takes T1 and C1, -R 105 S1.
RTL433_RUNS = (("T1", 104, 1.2e6), ("S1", 105, 1.0e6))
# A capture this short costs little more than starting the command: Python, imports, set-up.
STARTUP_CAPTURE_S = 0.04


def _ours(stream: Stream, runs: Sequence[Decoded] = ()) -> dict:
    """Our least CPU time over ``runs`` (default: REPEATS runs now) on the stream, as a row."""
    runs = runs or [decode_ours(stream.info) for _ in range(REPEATS)]
    ours = min(runs, key=lambda d: d.cpu_s)
    found = score_frames(stream.sent, ours.frames).found
    signal_s = stream.signal_s
    print(
        f" ours, all modes at {stream.info.sample_rate_hz / 1e6:g} Msps: {ours.cpu_s:.3f} CPU s "
        f"= {ours.cpu_s / signal_s:.4f} CPU s per signal s, {signal_s / ours.cpu_s:.1f}x real "
        f"time; decoded {found}/{len(stream.sent)}"
    )
    return {"cpu_s": ours.cpu_s, "found": found, "signal_s": signal_s}


def run_startup(seed: int) -> float:
    """Least CPU time of ``wmbus decode`` on a 40 ms capture of T1 telegrams, printed as a row.

    Bytecode is cached (in the work directory), as an installed package has it: without it,
    compiling the sources would be measured too, whatever PYTHONDONTWRITEBYTECODE says here."""
    tmp = workdir()
    path = tmp / "startup_868.625M_2400k.cu8"
    make_stream(path, [CASES["T1"]], 5, ECN0_DB, np.random.default_rng(seed))
    path.write_bytes(path.read_bytes()[: 2 * round(STARTUP_CAPTURE_S * RATE_HZ)])  # cu8: 2 B
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    argv = ["decode", str(path)]
    run_wmbus(argv, env, timeout_s=60)  # writes the bytecode
    cpu = min(run_wmbus(argv, env, timeout_s=60)[1] for _ in range(REPEATS))
    shutil.rmtree(tmp)
    print(
        f" start-up: wmbus decode of a {STARTUP_CAPTURE_S * 1e3:g} ms capture: {cpu:.3f} CPU s "
        f"(least of {REPEATS} runs, bytecode cached)"
    )
    return cpu


def run_wide(quick: bool, rng: np.random.Generator) -> list[dict]:
    """The real-time factor at wide rates: fewer telegrams (the samples are many), same gaps."""
    count = 4 if quick else 12
    print(f"\n{count} telegrams ({', '.join(CASES)} in turn) at {ECN0_DB:g} dB, cu8 at wide rates")
    rows = []
    tmp = workdir()
    for rate in WIDE_RATES_HZ:
        path = tmp / f"speed_868.625M_{rate / 1e3:g}k.cu8"
        stream = make_stream(
            path, list(CASES.values()), count, ECN0_DB, rng, gap_s=(0.2, 0.6), sample_rate_hz=rate
        )
        rows.append({"sample_rate_hz": rate, "telegrams": count, **_ours(stream)})
        stream.path.unlink()
    return rows


def run(quick: bool, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    count = 12 if quick else 48
    stream = make_stream(
        workdir() / "speed_868.625M_2400k.cu8",
        list(CASES.values()),
        count,
        ECN0_DB,
        rng,
        gap_s=(0.2, 0.6),
    )
    signal_s = stream.signal_s
    print(
        f"\n{signal_s:.1f} s of 2.4 Msps cu8 with {count} telegrams ({', '.join(CASES)} in turn)"
        f" at {ECN0_DB:g} dB; least CPU time of {REPEATS} runs each, interleaved"
    )
    result: dict = {"signal_s": signal_s, "telegrams": count}
    mine = receiver_available()
    samples = read_samples(stream.info) if have_rtl433() else None
    ours_runs: list[Decoded] = []
    peer_runs: dict[str, list[tuple[tuple[dict, ...], float]]] = {m: [] for m, _, _ in RTL433_RUNS}
    for _ in range(REPEATS):
        if mine:
            ours_runs.append(decode_ours(stream.info))
        if samples is not None:
            for mode, _, _ in RTL433_RUNS:
                peer_runs[mode].append(decode_rtl433(stream, mode, samples))
    ours_cpu = None
    if mine:
        ours = _ours(stream, ours_runs)
        ours_cpu = ours["cpu_s"]
        result["ours"] = {"cpu_s": ours["cpu_s"], "found": ours["found"]}
    if samples is not None:
        total = 0.0
        found_total = 0
        for mode, protocol, rate in RTL433_RUNS:
            messages, cpu = min(peer_runs[mode], key=lambda run: run[1])
            total += cpu
            found = score_rtl433(stream.sent, messages).found
            found_total += found
            result[f"rtl433_{protocol}"] = {"cpu_s": cpu, "found": found}
            print(
                f" rtl_433 -R {protocol} at {rate / 1e6:g} Msps: {cpu:.3f} CPU s = "
                f"{cpu / signal_s:.4f} CPU s per signal s; decoded {found}"
            )
        result["rtl433_total_cpu_s"] = total
        c2 = sum(t.mode == C2.name for t in stream.sent)
        print(
            f" rtl_433 both runs: {total:.3f} CPU s, {signal_s / total:.1f}x real time; "
            f"decoded {found_total}/{count} ({c2} C2 telegrams: rtl_433 has no C2 decoder)"
        )
        if ours_cpu:
            print(f" CPU ratio rtl_433 / ours: {total / ours_cpu:.2f}")
            result["ratio_rtl433_over_ours"] = total / ours_cpu
    stream.path.unlink()
    result["sample_rate_hz"] = RATE_HZ
    if receiver_available():
        result["startup_cpu_s"] = run_startup(seed)
        result["wide"] = run_wide(quick, rng)
        result["jobs"] = jobs.run(quick, seed)
    return result
