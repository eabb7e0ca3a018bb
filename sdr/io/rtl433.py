"""Run Debian's ``rtl_433`` on a recording and read its JSON output (benchmarks and cross-checks).

rtl_433 FM-demodulates the whole band around its tuning, so a channel must sit at the centre of
the file and the file must be at the rate its decoders expect: decoder 104 (modes T and C) at
1.2 Msps and 105 (mode S) at 1.0 Msps. ``to_channel`` converts our 2.4 Msps streams.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsp.retune import Retuner
from protocol.modes import MODES


@dataclass(frozen=True, slots=True)
class Rtl433Setup:
    """How rtl_433 is run for one wM-Bus mode."""

    protocol: int
    sample_rate_hz: float
    center_freq_hz: float


RTL433_SETUP: dict[str, Rtl433Setup] = {
    "S1": Rtl433Setup(105, 1.0e6, MODES["S1"].center_freq_hz),
    "T1": Rtl433Setup(104, 1.2e6, MODES["T1"].center_freq_hz),
    "C1": Rtl433Setup(104, 1.2e6, MODES["C1"].center_freq_hz),
}


@dataclass(frozen=True, slots=True)
class Rtl433Run:
    messages: tuple[dict, ...]
    cpu_s: float  # user + system time of the rtl_433 process
    wall_s: float
    returncode: int


def rtl433_path() -> str | None:
    return shutil.which("rtl_433")


def run_rtl433(
    path: str | Path,
    protocols: Sequence[int],
    sample_rate_hz: float,
    center_freq_hz: float,
    extra_args: Sequence[str] = (),
    timeout_s: float = 600.0,
) -> Rtl433Run:
    """Decode a file with rtl_433 (``-F json``); raises FileNotFoundError when not installed."""
    exe = rtl433_path()
    if exe is None:
        raise FileNotFoundError("rtl_433 is not installed (Debian package rtl-433)")
    rate, center = f"{sample_rate_hz / 1e3:g}k", f"{center_freq_hz / 1e6:.6f}M"
    # rtl_433 lets rate/centre tokens in a file name (e.g. "_2400k") override -s/-f; tokens
    # in a "PREFIX:" before the path override the name, so the flags' values are forced there.
    cmd = [exe, "-F", "json", "-r", f"{rate}_{center}:{path}"]
    for protocol in protocols:
        cmd += ["-R", str(protocol)]
    cmd += ["-s", rate, "-f", center, *extra_args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    messages = tuple(
        json.loads(line) for line in proc.stdout.splitlines() if line.lstrip().startswith("{")
    )
    return Rtl433Run(messages, cpu, wall, proc.returncode)


def link_after_l(message: dict) -> bytes | None:
    """Bytes of a wM-Bus message from the C field on (rtl_433 prints L two lower than sent and
    may append CRC bytes, so only what follows L is comparable)."""
    data = message.get("data")
    if not isinstance(data, str):
        return None
    try:
        raw = bytes.fromhex(data)
    except ValueError:
        return None
    return raw[1:]


def matches_frame(message: dict, frame: bytes) -> bool:
    """True when rtl_433's message carries ``frame`` (CRC-less link frame, L first)."""
    tail = link_after_l(message)
    return tail is not None and tail[: len(frame) - 1] == frame[1:]


def to_channel(
    samples: np.ndarray,
    sample_rate_hz: float,
    offset_hz: float,
    target_rate_hz: float,
) -> np.ndarray:
    """Shift the channel at ``offset_hz`` (relative to the stream centre) to 0 Hz and resample."""
    retuner = Retuner(sample_rate_hz, target_rate_hz, -offset_hz)
    return np.concatenate([retuner.process(samples), retuner.flush()])
