"""Wall clock of ``wmbus decode`` and ``wmbus survey`` on four recordings with ``--jobs 1`` and
``--jobs 2``: the speed-up of processing files in parallel processes (issue 15 wants at least
1.7x on 2 cores). ``python3 -m benchmarks.jobs [--quick]`` runs it alone."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from benchmarks.common import CASES, make_stream, run_wmbus, workdir

FILES = 4
ECN0_DB = 30.0
JOBS = (1, 2)
# Each command runs this often per --jobs value, in turn, and its least wall clock counts:
# other load on the machine only ever adds time.
REPEATS = 3


def _measure(command: str, paths: list[Path]) -> dict:
    """Least wall clock (and the CPU time of that run) per --jobs value; the outputs must be
    identical."""
    best: dict[int, tuple[float, float]] = {}
    outputs: set[str] = set()
    for _ in range(REPEATS):
        for jobs in JOBS:
            argv = [command, *map(str, paths), "--json", "--jobs", str(jobs)]
            elapsed, cpu, out = run_wmbus(argv)
            best[jobs] = min(best.get(jobs, (elapsed, cpu)), (elapsed, cpu))
            outputs.add(out)
    speedup = best[1][0] / best[2][0]
    same = "identical" if len(outputs) == 1 else "DIFFERENT"
    runs = ", ".join(
        f"--jobs {jobs} {wall:.2f} s wall ({cpu:.2f} CPU s)" for jobs, (wall, cpu) in best.items()
    )
    print(f" wmbus {command}: {runs}: {speedup:.2f}x (output {same})")
    return {
        "wall_s": {str(jobs): wall for jobs, (wall, _) in best.items()},
        "cpu_s": {str(jobs): cpu for jobs, (_, cpu) in best.items()},
        "speedup": speedup,
        "same": len(outputs) == 1,
    }


def _lengthen(path: Path, times: int) -> None:
    """The recording ``times`` over, end to end: a long file without rendering every second of
    it (the simulator is slower than the receiver). A telegram cut at a seam is lost, like one
    at the end of a file, and the same in both runs."""
    block = path.read_bytes()
    with path.open("ab") as stream:
        for _ in range(times - 1):
            stream.write(block)


def run(quick: bool, seed: int = 1) -> dict:
    count = 12  # telegrams per 5 s or so
    times = 6 if quick else 24
    rng = np.random.default_rng(seed)
    tmp = workdir()
    streams = [
        make_stream(
            tmp / f"jobs{number}_868.625M_2400k.cu8",
            list(CASES.values()),
            count,
            ECN0_DB,
            rng,
            gap_s=(0.2, 0.6),
        )
        for number in range(FILES)
    ]
    paths = [stream.path for stream in streams]
    for path in paths:
        _lengthen(path, times)
    signal_s = [round(stream.signal_s * times, 2) for stream in streams]
    load = os.getloadavg()
    print(
        f"\n{FILES} files of {min(signal_s):.0f}-{max(signal_s):.0f} s (2.4 Msps cu8; each a "
        f"stream of {count} telegrams {times} times over), all modes; least wall clock of "
        f"{REPEATS} runs; "
        f"{len(os.sched_getaffinity(0))} usable cores, load average before "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)"
    )
    result = {"files": FILES, "signal_s": signal_s, "load_average": load}
    for command in ("decode", "survey"):
        result[command] = _measure(command, paths)
    for path in paths:
        path.unlink()
    tmp.rmdir()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python3 -m benchmarks.jobs", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter files")
    run(parser.parse_args().quick)
