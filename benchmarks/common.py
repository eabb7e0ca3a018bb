"""Shared pieces of the benchmarks: synthetic streams, our receiver, rtl_433, scoring, bounds."""

from __future__ import annotations

import itertools
import math
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsp.bandplan import ALL_MODES, DEFAULT_CENTER_FREQ_HZ, DEFAULT_SAMPLE_RATE_HZ
from protocol.coding import CHIPS_PER_BYTE
from protocol.framing import add_crcs
from protocol.modes import C1, S1, T1, Direction, FrameFormat
from protocol.types import Frame
from sdr.io.files import IQFileInfo, probe_iq_file, read_iq_chunks
from sdr.io.rtl433 import RTL433_SETUP, matches_frame, rtl433_path, run_rtl433, to_channel
from sdr.io.writers import IQWriter, write_iq
from sdr.sim.stream import (
    BurstSpec,
    ModeFormat,
    SentTelegram,
    StreamSettings,
    random_bursts,
    render_stream,
)

RATE_HZ = DEFAULT_SAMPLE_RATE_HZ
CENTER_HZ = DEFAULT_CENTER_FREQ_HZ
LINK_LENGTH = 40  # bytes of the link frame without CRCs (46 on air in format A)

# The meters' modes, and the gateways': S2 (and T2) other->meter frames on S1's channel with
# the short preamble, C2's on 869.525 MHz (GFSK).
CASES: dict[str, ModeFormat] = {
    "T1": ModeFormat(T1, FrameFormat.A),
    "C1-A": ModeFormat(C1, FrameFormat.A),
    "C1-B": ModeFormat(C1, FrameFormat.B),
    "S1": ModeFormat(S1, FrameFormat.A),
    "S2": ModeFormat.of("S2", Direction.OTHER_TO_METER),
    "C2-A": ModeFormat.of("C2", Direction.OTHER_TO_METER, FrameFormat.A),
    "C2-B": ModeFormat.of("C2", Direction.OTHER_TO_METER, FrameFormat.B),
}


def receiver_available() -> bool:
    try:
        import dsp.receiver  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


REPO = Path(__file__).resolve().parents[1]


def run_wmbus(
    argv: Sequence[str], env: dict[str, str] | None = None, timeout_s: float = 600.0
) -> tuple[float, float, str]:
    """Wall clock, CPU time (user + sys, its worker processes' included) and stdout of one
    ``wmbus`` process as a user runs it, start-up included; RuntimeError if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "sdr.cli", *argv], capture_output=True,
                         text=True, cwd=REPO, env=env, timeout=timeout_s, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        raise RuntimeError(f"wmbus {' '.join(argv)}: exit {run.returncode}: {run.stderr}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu, run.stdout


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="wmbus-bench-"))


# ---- theory --------------------------------------------------------------------------------


def frame_chips(case: ModeFormat, link_length: int = LINK_LENGTH) -> int:
    """Line-coded chips of the frame bytes (CRCs included, preamble and sync excluded)."""
    on_air = len(add_crcs(bytes(link_length), case.frame_format))
    return on_air * CHIPS_PER_BYTE[case.mode.line_code]


def bound_per(ecn0_db: float, chips: int) -> float:
    """PER of hard-decision non-coherent FSK: chip error p = ½·exp(−Ec/2N0), success (1−p)^chips."""
    p = 0.5 * math.exp(-(10 ** (ecn0_db / 10)) / 2)
    return 1.0 - (1.0 - p) ** chips


def bound_threshold_db(chips: int, per: float = 0.1) -> float:
    """Ec/N0 where the hard-decision bound reaches ``per`` (bisection; PER falls with Ec/N0)."""
    lo, hi = -10.0, 40.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if bound_per(mid, chips) > per else (lo, mid)
    return (lo + hi) / 2


def threshold_db(points: Sequence[tuple[float, float | None]], per: float = 0.1) -> float | None:
    """Ec/N0 where a measured PER curve (ascending Ec/N0) first drops to ``per`` (linear
    interpolation between the grid points around it); None when it never does in the grid."""
    valid = [(e, p) for e, p in points if p is not None]
    for (e0, p0), (e1, p1) in itertools.pairwise(valid):
        if p0 > per >= p1:
            return e0 + (e1 - e0) * (p0 - per) / (p0 - p1)
    if valid and valid[0][1] <= per:
        return valid[0][0]  # already below at the first point: an upper bound
    return None


# ---- signals -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stream:
    path: Path  # 2.4 Msps cu8 file (the file both receivers get)
    sent: tuple[SentTelegram, ...]
    info: IQFileInfo

    @property
    def signal_s(self) -> float:
        return self.info.duration_s


def make_stream(
    path: Path,
    cases: Sequence[ModeFormat],
    count: int,
    ecn0_db: float | None,
    rng: np.random.Generator,
    cfo_hz: float | Sequence[float] = 0.0,
    chip_rate_error: float = 0.0,
    link_length: int = LINK_LENGTH,
    gap_s: tuple[float, float] = (1e-3, 5e-3),
    sample_rate_hz: float = RATE_HZ,
    rolloff: bool | None = None,
) -> Stream:
    """A cu8 recording at ``sample_rate_hz`` / 868.625 MHz with ``count`` telegrams of ``cases``
    in turn (carrier offsets in turn too), written piece by piece (seconds at 20 Msps would take
    gigabytes at once). ``rolloff``: the RTL2832U's filter, as in ``StreamSettings``."""
    bursts: list[BurstSpec] = random_bursts(cases, count, rng, link_length, cfo_hz, chip_rate_error)
    settings = StreamSettings.for_modes(cases, sample_rate_hz, CENTER_HZ, ecn0_db, rolloff)
    sent = []
    with IQWriter(path, "cu8") as writer:
        for samples, telegram in render_stream(bursts, settings, rng, gap_s):
            writer.write(samples)
            if telegram is not None:
                sent.append(telegram)
    return Stream(path, tuple(sent), probe_iq_file(path, None, sample_rate_hz, CENTER_HZ))


def read_samples(info: IQFileInfo) -> np.ndarray:
    return np.concatenate([c.samples for c in read_iq_chunks(info)])


# ---- receivers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decoded:
    frames: tuple[bytes, ...]  # CRC-valid link frames (CRC-less, L first)
    cpu_s: float


def decode_ours(info: IQFileInfo, modes: Sequence = ALL_MODES) -> Decoded:
    """Our receiver on a file; CPU time covers reading, conversion and demodulation."""
    from dsp.receiver import Receiver

    started = time.process_time()
    receiver = Receiver(info.sample_rate_hz, info.center_freq_hz, tuple(modes))
    frames: list[bytes] = []
    for chunk in read_iq_chunks(info):
        frames += [r.data for r in receiver.process(chunk) if isinstance(r, Frame)]
    frames += [r.data for r in receiver.flush() if isinstance(r, Frame)]
    return Decoded(tuple(frames), time.process_time() - started)


def decode_rtl433(
    stream: Stream, mode: str, samples: np.ndarray | None = None, extra: Sequence[str] = ()
) -> tuple[tuple[dict, ...], float]:
    """rtl_433 on the same recording, moved to the channel centre and resampled to the rate its
    decoder for ``mode`` (S1, T1 or C1, a suffix like "-A" ignored) wants; returns its messages
    and CPU seconds."""
    setup = RTL433_SETUP[mode.split("-")[0]]
    x = read_samples(stream.info) if samples is None else samples
    y = to_channel(x, RATE_HZ, setup.center_freq_hz - CENTER_HZ, setup.sample_rate_hz)
    path = stream.path.with_name(stream.path.stem + f"_rtl433_{setup.protocol}.cu8")
    write_iq(path, y, "cu8")
    run = run_rtl433(path, [setup.protocol], setup.sample_rate_hz, setup.center_freq_hz, extra)
    path.unlink()
    return run.messages, run.cpu_s


def have_rtl433() -> bool:
    return rtl433_path() is not None


# ---- scoring -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Score:
    sent: int
    found: int
    false_frames: int  # CRC-valid frames that were never sent

    @property
    def per(self) -> float:
        return 1.0 - self.found / self.sent if self.sent else 0.0


def score_frames(sent: Sequence[SentTelegram], frames: Sequence[bytes]) -> Score:
    """Each sent telegram counts once when an identical frame was received."""
    wanted = Counter(bytes.fromhex(t.frame_hex) for t in sent)
    got = Counter(frames)
    found = sum(min(n, got[f]) for f, n in wanted.items())
    false = sum(n for f, n in got.items() if f not in wanted)
    return Score(len(sent), found, false)


def score_rtl433(sent: Sequence[SentTelegram], messages: Sequence[dict]) -> Score:
    found = sum(any(matches_frame(m, bytes.fromhex(t.frame_hex)) for m in messages) for t in sent)
    false = sum(
        not any(matches_frame(m, bytes.fromhex(t.frame_hex)) for t in sent) for m in messages
    )
    return Score(len(sent), found, false)


def fmt_per(score: Score | None) -> str:
    return "   -  " if score is None else f"{score.per:6.3f}"


def fmt_db(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:5.1f}"
