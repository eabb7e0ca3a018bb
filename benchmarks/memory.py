"""Peak memory on a long stream: a block of noise and bursts fed again and again in chunks.

Runs in its own process (``python3 -m benchmarks.memory MINUTES``) so that the peak resident
set size belongs to the receiver alone; prints one JSON object.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from benchmarks.common import CASES, CENTER_HZ, RATE_HZ
from dsp.types import IQChunk
from protocol.decoder import Decoder
from sdr.io.codecs import decode_samples, encode_samples
from sdr.pipeline import DecodePipeline
from sdr.sim.stream import StreamSettings, random_bursts, render_stream

CHUNK = 262_144
BLOCK_S = 10.0


def status_mb(field: str) -> float:
    """VmRSS (resident now) or VmHWM (peak resident) of this process, MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    """Restart VmHWM from the current RSS, so that generating the signal does not count."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def main(minutes: float) -> dict:
    from dsp.receiver import Receiver

    rng = np.random.default_rng(7)
    bursts = random_bursts(list(CASES.values()), 40, rng, 40)
    settings = StreamSettings.for_modes(list(CASES.values()), RATE_HZ, CENTER_HZ, 20.0)
    # Kept as cu8 bytes and converted chunk by chunk, as when reading a file.
    block = encode_samples(
        np.concatenate([s for s, _ in render_stream(bursts, settings, rng, (0.1, 0.3))])[
            : int(BLOCK_S * RATE_HZ)
        ],
        "cu8",
    )
    block_samples = len(block) // 2
    pipeline = DecodePipeline(Receiver(RATE_HZ, CENTER_HZ), Decoder())
    total = int(minutes * 60 * RATE_HZ)
    position = 0
    telegrams = 0
    samples_rss = []
    next_mark = 0
    reset_peak()
    started = time.process_time()
    while position < total:
        offset = position % block_samples
        n = min(CHUNK, block_samples - offset, total - position)
        samples = decode_samples(block[2 * offset : 2 * (offset + n)], "cu8")
        chunk = IQChunk(samples, position, RATE_HZ, CENTER_HZ)
        telegrams += sum(1 for r in pipeline.process(chunk) if hasattr(r, "link"))
        position += n
        if position >= next_mark:
            samples_rss.append((round(position / RATE_HZ / 60, 2), round(status_mb("VmRSS"), 1)))
            next_mark += int(60 * RATE_HZ)
    telegrams += sum(1 for r in pipeline.flush() if hasattr(r, "link"))
    cpu = time.process_time() - started
    peak = status_mb("VmHWM")
    return {
        "minutes": minutes,
        "telegrams": telegrams,
        "cpu_s": cpu,
        "rss_mb_by_minute": samples_rss,
        "peak_rss_mb": round(peak, 1),
    }


if __name__ == "__main__":
    print(json.dumps(main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)))
