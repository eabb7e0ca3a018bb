"""CRC-valid frames out of pure noise (must be none)."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.common import CENTER_HZ, RATE_HZ, receiver_available
from dsp.types import IQChunk
from protocol.types import Frame

BLOCK = 2_400_000  # one second


def run(quick: bool, seed: int = 1) -> dict:
    if not receiver_available():
        print("\n(dsp.receiver not available: false-frame test skipped)")
        return {}
    from dsp.receiver import Receiver

    minutes = 1.0 if quick else 10.0
    rng = np.random.default_rng(seed)
    receiver = Receiver(RATE_HZ, CENTER_HZ)
    frames: list[Frame] = []
    blocks = int(minutes * 60 * RATE_HZ / BLOCK)
    started = time.process_time()
    for i in range(blocks):
        noise = rng.standard_normal((2, BLOCK), dtype=np.float32) * np.float32(0.25 / np.sqrt(2))
        chunk = IQChunk(
            (noise[0] + 1j * noise[1]).astype(np.complex64), i * BLOCK, RATE_HZ, CENTER_HZ
        )
        frames += [r for r in receiver.process(chunk) if isinstance(r, Frame)]
    frames += [r for r in receiver.flush() if isinstance(r, Frame)]
    cpu = time.process_time() - started
    stats = dict(receiver.stats)
    print(
        f"\n{minutes:g} min of complex white noise at 2.4 Msps: {len(frames)} CRC-valid frames"
        f" ({'PASS' if not frames else 'FAIL'}); {cpu:.1f} CPU s incl. noise generation"
    )
    print(f" receiver failure counts: {stats}")
    return {
        "minutes": minutes,
        "false_frames": len(frames),
        "frames_hex": [f.data.hex() for f in frames],
        "failures": {f"{m}/{r}": n for (m, r), n in stats.items()},
    }
