"""CPU time per second of signal: all modes from one 2.4 Msps stream vs rtl_433's two runs; and
all modes from one stream at the wide rates of Airspy and HackRF (6, 10, 20 Msps)."""

from __future__ import annotations

import numpy as np

from benchmarks.common import (
    CASES,
    RATE_HZ,
    Stream,
    decode_ours,
    decode_rtl433,
    have_rtl433,
    make_stream,
    read_samples,
    receiver_available,
    score_frames,
    score_rtl433,
    workdir,
)
from protocol.modes import C2

# High enough for rtl_433 to decode everything too (it needs about 24 dB, see sensitivity).
ECN0_DB = 30.0
# Each receiver runs this often and its least CPU time counts (for both alike): other load on
# the machine only ever adds time.
REPEATS = 3
WIDE_RATES_HZ = (6e6, 10e6, 20e6)


def _ours(stream: Stream) -> dict:
    """Our least CPU time over REPEATS runs on the stream, printed as a row."""
    ours = min((decode_ours(stream.info) for _ in range(REPEATS)), key=lambda d: d.cpu_s)
    found = score_frames(stream.sent, ours.frames).found
    signal_s = stream.signal_s
    print(
        f" ours, all modes at {stream.info.sample_rate_hz / 1e6:g} Msps: {ours.cpu_s:.3f} CPU s "
        f"= {ours.cpu_s / signal_s:.4f} CPU s per signal s, {signal_s / ours.cpu_s:.1f}x real "
        f"time; decoded {found}/{len(stream.sent)}"
    )
    return {"cpu_s": ours.cpu_s, "found": found, "signal_s": signal_s}


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
        f" at {ECN0_DB:g} dB; least CPU time of {REPEATS} runs each"
    )
    result: dict = {"signal_s": signal_s, "telegrams": count}
    ours_cpu = None
    if receiver_available():
        ours = _ours(stream)
        ours_cpu = ours["cpu_s"]
        result["ours"] = {"cpu_s": ours["cpu_s"], "found": ours["found"]}
    if have_rtl433():
        samples = read_samples(stream.info)
        total = 0.0
        found_total = 0
        for mode, protocol, rate in (("T1", 104, 1.2e6), ("S1", 105, 1.0e6)):
            messages, cpu = min(
                (decode_rtl433(stream, mode, samples) for _ in range(REPEATS)),
                key=lambda run: run[1],
            )
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
        result["wide"] = run_wide(quick, rng)
    return result
