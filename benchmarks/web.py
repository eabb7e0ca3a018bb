"""What ``wmbus listen --web`` costs: CPU time per second of signal for all modes from one
2.4 Msps stream, without and with the live view (spectrum rows from every chunk, each telegram
into the meter table and log, the web server's thread pushing updates four times a second to
one connected page). Issue 13's row: with --web on, still at least 25x real time on one core.

``python3 -m benchmarks.web [--quick]``. The session's path is run in this process through
the hooks ``listen`` gives the view (``observe``, ``on_telegram``); ``process_time`` counts
every thread of the process, the server's included. The page is a WebSocket client in another
process (a browser's work is not the receiver's). Each variant runs REPEATS times; the least
CPU time counts, since other load on the machine only ever adds time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # ``python3 benchmarks/web.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.common import CASES, make_stream, workdir
from dsp.bandplan import ALL_MODES
from dsp.receiver import Receiver
from protocol.decoder import Decoder
from protocol.telegram import Telegram
from sdr.io.files import IQFileInfo, read_iq_chunks
from sdr.io.sources import default_chunk_samples
from sdr.pipeline import DecodePipeline
from sdr.web.server import WebServer
from sdr.web.state import LiveView

ECN0_DB = 30.0
REPEATS = 5
TARGET_X = 25.0
# A page: reads every update until the server closes; says when it has the first.
PAGE = """
import asyncio, sys, aiohttp
async def main():
    async with aiohttp.ClientSession() as s, s.ws_connect(sys.argv[1]) as ws:
        n = 0
        async for message in ws:
            n += 1
            if n == 1:
                print("connected", flush=True)
asyncio.run(main())
"""


def decode(info: IQFileInfo, view: LiveView | None) -> tuple[float, list[Telegram]]:
    """CPU seconds and telegrams of the live session's path over the recording."""
    started = time.process_time()
    pipeline = DecodePipeline(
        Receiver(info.sample_rate_hz, info.center_freq_hz, ALL_MODES), Decoder({})
    )
    chunks = read_iq_chunks(info, default_chunk_samples(info.sample_rate_hz))
    telegrams = []
    for result in pipeline.run(view.observe(chunks) if view is not None else chunks):
        if isinstance(result, Telegram):
            telegrams.append(result)
            if view is not None:
                view.on_telegram(result)
    return time.process_time() - started, telegrams


def with_web(info: IQFileInfo) -> tuple[float, list[Telegram]]:
    view = LiveView(ALL_MODES)
    server = WebServer(view, "127.0.0.1", 0)
    server.start()
    page = subprocess.Popen(
        [sys.executable, "-c", PAGE, f"ws://{server.address}/ws"], stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert page.stdout is not None and page.stdout.readline() == "connected\n"
        return decode(info, view)
    finally:
        server.close()
        page.wait(10)


def hooks_alone(info: IQFileInfo, telegrams: list[Telegram]) -> float:
    """CPU seconds of the view's hooks on the stream's chunks and telegrams, reading excluded:
    the view's own cost, without the receiver's noise around it."""
    chunks = list(read_iq_chunks(info, default_chunk_samples(info.sample_rate_hz)))
    started = time.process_time()
    view = LiveView(ALL_MODES)
    for _ in view.observe(iter(chunks)):
        pass
    for telegram in telegrams:
        view.on_telegram(telegram)
    return time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m benchmarks.web", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a shorter stream")
    args = parser.parse_args(argv)
    count = 12 if args.quick else 36
    stream = make_stream(
        workdir() / "web_868.625M_2400k.cu8", list(CASES.values()), count, ECN0_DB,
        np.random.default_rng(1), gap_s=(0.2, 0.6),
    )
    signal_s = stream.signal_s
    print(
        f"\n{signal_s:.1f} s of 2.4 Msps cu8 with {count} telegrams ({', '.join(CASES)} in turn) "
        f"at {ECN0_DB:g} dB; all modes; least CPU time of {REPEATS} runs each, interleaved"
    )
    variants = {"listen": lambda: decode(stream.info, None),
                "listen --web": lambda: with_web(stream.info)}
    runs: dict[str, list[tuple[float, list[Telegram]]]] = {name: [] for name in variants}
    for _ in range(REPEATS):  # interleaved: a burst of load elsewhere hits both alike
        for name, run in variants.items():
            runs[name].append(run())
    cpu = {}
    for name, results in runs.items():
        cpu[name], telegrams = min(results, key=lambda r: r[0])
        print(
            f" {name:13s} {cpu[name]:.3f} CPU s = {cpu[name] / signal_s:.4f} CPU s per signal s, "
            f"{signal_s / cpu[name]:.1f}x real time; {len(telegrams)} telegrams"
        )
    hooks = min(hooks_alone(stream.info, telegrams) for _ in range(REPEATS))
    stream.path.unlink()
    web_x = signal_s / cpu["listen --web"]
    print(
        f" the view's hooks alone: {1e3 * hooks / signal_s:.1f} ms of CPU per signal s; "
        f"with --web {web_x:.1f}x real time (target {TARGET_X:g}x: "
        f"{'met' if web_x >= TARGET_X else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
