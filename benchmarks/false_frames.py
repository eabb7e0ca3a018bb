"""CRC-valid frames out of pure noise (must be none)."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.common import CENTER_HZ, RATE_HZ, receiver_available
from dsp.receiver import Receiver
from dsp.types import IQChunk
from protocol.types import Frame

BLOCK = 2_400_000  # one second


def run(quick: bool, seed: int = 1) -> dict:
    if not receiver_available():
        print("\n(dsp.receiver not available: false-frame test skipped)")
        return {}
    minutes = 1.0 if quick else 10.0
    # The energy gate keeps the sync search off pure noise after the first noise-floor segment;
    # without it every sample is searched, which is what tests the detector and the decoders.
    return {
        ("gated" if gate else "ungated"): _run_noise(
            Receiver(RATE_HZ, CENTER_HZ, energy_gate=gate), minutes, seed
        )
        for gate in (False, True)
    }


def _run_noise(receiver: Receiver, minutes: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
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
    counts = receiver.counts()
    failures = {f"{m}:{r}": n for (m, r), n in sorted(counts.failures.items())}
    rejections = {f"{m}:{r}": n for (m, r), n in sorted(counts.rejections.items())}
    search = "every sample searched" if not receiver.energy_gate else "energy gate on"
    print(
        f"\n{minutes:g} min of complex white noise at 2.4 Msps ({search}): {len(frames)} CRC-valid"
        f" frames ({'PASS' if not frames else 'FAIL'}); {cpu:.1f} CPU s incl. noise generation"
    )
    print(
        f" sync candidates {dict(counts.candidates)}; reported failures {failures};"
        f" rejected as chance matches {rejections}"
    )
    return {
        "minutes": minutes,
        "false_frames": len(frames),
        "frames_hex": [f.data.hex() for f in frames],
        "candidates": dict(counts.candidates),
        "failures": failures,
        "rejections": rejections,
    }
