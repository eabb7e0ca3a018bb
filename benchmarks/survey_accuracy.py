"""Survey accuracy against the building simulator's truth, over random buildings.

    python3 -m benchmarks.survey_accuracy [--seeds 1,2,3] [--meters 10] [--locations 2]
        [--duration 30] [--keep DIR]

For each seed: simulate a random building (``sdr.sim.scenario.random_scenario``), survey every
location's recording, and score it (``sdr.survey.truth``). Prints per-meter reception-ratio
errors (percentage points), collision recall over detectable collisions, recall over all
overlaps, the false-detection rate, lost telegrams attributed to collisions against the truth
(a lost transmission that overlapped another one heard there), and the time taken. Meters send
every 0.2-0.6 s (accelerated) so that each has 50-150 transmissions: one transmission more or
less at a recording's edge is then at most 2 points of reception ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # ``python3 benchmarks/survey_accuracy.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protocol.decoder import Decoder
from protocol.modes import MODES
from sdr.io.files import probe_iq_file
from sdr.sim.building import recording_name, simulate
from sdr.sim.scenario import random_scenario
from sdr.survey.analysis import build_survey
from sdr.survey.inputs import analyse_recording
from sdr.survey.truth import CollisionScore, score_collisions, score_meters


def lost_causes(truth: dict, inputs: list, survey: dict) -> tuple[int, int, int, int]:
    """(truly lost in an overlap, survey's lost_to_collision, truly lost, survey's lost)."""
    true_coll = true_lost = 0
    for data in inputs:
        heard = {(r.meter_id, r.access_number) for r in data.receptions}
        for t in truth["transmissions"]:
            if data.label in t["locations"] and (t["meter_id"], t["access_number"]) not in heard:
                true_lost += 1
                true_coll += any(
                    data.label in truth["transmissions"][j]["locations"] for j in t["overlaps"]
                )
    said_coll = sum(m["lost_to_collision"] or 0 for loc in survey["locations"]
                    for m in loc["meters"])
    said_lost = sum(m["lost"] for loc in survey["locations"] for m in loc["meters"])
    return true_coll, said_coll, true_lost, said_lost


def run_seed(seed: int, args: argparse.Namespace, out: Path) -> tuple[list[float], CollisionScore]:
    scenario = random_scenario(
        seed, meters=args.meters, locations=args.locations, duration_s=args.duration,
        interval_s=(0.2, 0.6),
    )
    t0 = time.perf_counter()
    truth = simulate(scenario, out)
    t1 = time.perf_counter()
    inputs = []
    for loc in scenario.locations:
        info = probe_iq_file(out / recording_name(scenario, loc))
        inputs.append(analyse_recording(info, loc.name, list(MODES.values()), Decoder()))
    survey = build_survey(inputs).to_dict()
    t2 = time.perf_counter()
    errors: list[float] = []
    total = CollisionScore(0, 0, 0, 0, 0, 0)
    for loc in survey["locations"]:
        for m in score_meters(loc, truth):
            errors.append(100 * m.ratio_error)
            if abs(m.ratio_error) > 0.03:
                print(
                    f"  seed {seed} {loc['label']} {m.meter_id}: received {m.received}, "
                    f"expected {m.expected}, transmitted {m.transmitted}"
                )
        total = total + score_collisions(loc, truth, loc["label"])
    true_coll, said_coll, true_lost, said_lost = lost_causes(truth, inputs, survey)
    print(
        f"seed {seed}: {len(truth['transmissions'])} transmissions, simulate {t1 - t0:.1f} s, "
        f"survey {t2 - t1:.1f} s; max |ratio error| {max(map(abs, errors), default=0):.2f} pp; "
        f"collisions {total.detected_detectable}/{total.detectable} detectable, "
        f"{total.detected_any}/{total.truth} all, {total.false_spans}/{total.spans} false; "
        f"lost {said_lost} (truth {true_lost}), to collision {said_coll} (truth {true_coll})"
    )
    return errors, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--meters", type=int, default=10)
    parser.add_argument("--locations", type=int, default=2)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--keep", help="write recordings here instead of a temporary directory")
    args = parser.parse_args()
    errors: list[float] = []
    total = CollisionScore(0, 0, 0, 0, 0, 0)
    for seed in (int(s) for s in args.seeds.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(args.keep) / f"seed{seed}" if args.keep else Path(tmp)
            e, c = run_seed(seed, args, out)
        errors += e
        total = total + c
    err = np.abs(errors)
    print(
        f"\nreception ratio error over {len(err)} meter-locations: mean {err.mean():.2f} pp, "
        f"max {err.max():.2f} pp, within 3 pp: {np.mean(err <= 3) * 100:.0f}%"
    )
    print(
        f"collision recall (detectable): {100 * total.recall:.1f}% "
        f"({total.detected_detectable}/{total.detectable}); all overlaps: "
        f"{total.detected_any}/{total.truth}; false detections: {100 * total.false_rate:.1f}% "
        f"({total.false_spans}/{total.spans})"
    )


if __name__ == "__main__":
    main()
