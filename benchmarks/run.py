"""Run the receiver benchmarks: ``python3 -m benchmarks [--quick] [--only NAME,...]``."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # ``python3 benchmarks/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import false_frames, sensitivity, speed, tolerance
from benchmarks.common import receiver_available

NAMES = ("sensitivity", "tolerance", "speed", "memory", "noise", "fuzz", "survey", "wrong_keys",
         "web", "hostile")
REPO = Path(__file__).resolve().parents[1]

# Benchmarks that are programs of their own: module and its arguments for (full, quick) runs.
SUBPROGRAMS = {
    "fuzz": ("benchmarks.fuzz_protocol", ([], ["10000"])),
    "survey": ("benchmarks.survey_accuracy", ([], ["--seeds", "1"])),
    "wrong_keys": ("benchmarks.wrong_keys", ([], ["100000", "--samples", "20000"])),
    "web": ("benchmarks.web", ([], ["--quick"])),
    # Last: it exits 1 when it finds a problem, which ends the run.
    "hostile": ("benchmarks.hostile", ([], ["--quick"])),
}


def run_subprogram(name: str, quick: bool) -> None:
    module, (full_args, quick_args) = SUBPROGRAMS[name]
    print(f"\n== {name} ({module})", flush=True)
    subprocess.run(
        [sys.executable, "-m", module, *(quick_args if quick else full_args)], check=True, cwd=REPO
    )


def run_memory(quick: bool) -> dict:
    if not receiver_available():
        print("\n(dsp.receiver not available: memory test skipped)")
        return {}
    minutes = 3.0 if quick else 60.0
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", str(minutes)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    result = json.loads(out.stdout)
    by_minute = result["rss_mb_by_minute"]
    print(
        f"\n{minutes:g} min stream (2.4 Msps, all modes, fed in chunks): "
        f"{result['telegrams']} telegrams, {result['cpu_s']:.1f} CPU s "
        f"({minutes * 60 / result['cpu_s']:.1f}x real time)"
    )
    print(
        f" RSS (MB) by stream minute: {by_minute[:3]} … {by_minute[-2:]}; "
        f"peak while streaming {result['peak_rss_mb']} MB"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer telegrams and grid points")
    parser.add_argument(
        "--only", default=",".join(NAMES), help=f"comma-separated subset of {', '.join(NAMES)}"
    )
    parser.add_argument(
        "--modes",
        default=",".join(sensitivity.SWEEPS),
        help=f"sensitivity cases (default {','.join(sensitivity.SWEEPS)})",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="FILE", help="also write all results as JSON")
    args = parser.parse_args(argv)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in NAMES]
    cases = [c.strip().upper() for c in args.modes.split(",") if c.strip()]
    bad_cases = [c for c in cases if c not in sensitivity.SWEEPS]
    if unknown or bad_cases:
        parser.error(f"unknown benchmark(s) or mode(s): {', '.join(unknown + bad_cases)}")
    started = time.perf_counter()
    results: dict = {"quick": args.quick}
    if "sensitivity" in chosen:
        results["sensitivity"] = sensitivity.run(args.quick, cases, args.seed)
    if "tolerance" in chosen:
        results["tolerance"] = tolerance.run(args.quick, args.seed)
    if "speed" in chosen:
        results["speed"] = speed.run(args.quick, args.seed)
    if "memory" in chosen:
        results["memory"] = run_memory(args.quick)
    if "noise" in chosen:
        results["noise"] = false_frames.run(args.quick, args.seed)
    for name in SUBPROGRAMS:
        if name in chosen:
            run_subprogram(name, args.quick)
    print(f"\n(benchmarks took {time.perf_counter() - started:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
