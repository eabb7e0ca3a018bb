"""``wmbus simulate``: synthetic recordings with a truth file, made with the project's modulator."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dsp.bandplan import DEFAULT_CENTER_FREQ_HZ, DEFAULT_SAMPLE_RATE_HZ
from protocol.modes import FrameFormat
from sdr.cli.common import quantity_arg
from sdr.errors import UserError
from sdr.io.names import parse_name_tokens
from sdr.sim.recording import truth_path, write_recording
from sdr.sim.stream import StreamSettings, parse_mode_formats, random_bursts
from sdr.sim.telegrams import SHORT_TPL_LEN


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="make a synthetic recording with a truth file",
        description=(
            "Write OUT (.cu8, .cs8, .cs16, .cf32 or .sigmf-meta) with COUNT telegrams from the "
            "project's modulator in white noise, and OUT's .json truth file listing each "
            "telegram's frame and start sample. Rate and centre default to the file name's "
            "tokens (e.g. sim_868.625M_2400k.cu8), else 2.4 Msps at 868.625 MHz."
        ),
    )
    parser.add_argument("out", metavar="OUT", help="output recording (or directory, --scenario)")
    parser.add_argument(
        "--mode", default="T1", help="mode(s), comma separated: S1, T1, C1, C1-A, C1-B (default T1)"
    )
    parser.add_argument(
        "--ecn0", type=float, help="chip energy over noise density Ec/N0, dB (default: no noise)"
    )
    parser.add_argument("--count", type=int, default=10, help="number of telegrams (default 10)")
    parser.add_argument("--cfo", type=float, default=0.0, help="carrier offset, Hz")
    parser.add_argument("--rate-error", type=float, default=0.0, help="chip-rate error, fraction")
    parser.add_argument("--format", choices=("A", "B"), default="A", help="C1 frame format")
    parser.add_argument("--rate", type=quantity_arg, help="sample rate (default: name or 2.4M)")
    parser.add_argument("--center", type=quantity_arg, help="centre (default: name or 868.625M)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--length", type=int, help="link frame length in bytes without CRCs")
    parser.add_argument("--scenario", metavar="FILE.toml", help="building scenario (OUT = dir)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.scenario:
        return run_scenario(args.scenario, args.out)
    if args.count < 0:
        raise UserError("--count must not be negative")
    if args.length is not None and not SHORT_TPL_LEN <= args.length <= 246:
        raise UserError(f"--length must be between {SHORT_TPL_LEN} and 246 bytes")
    out = Path(args.out)
    hints = parse_name_tokens(out.name)
    mode_formats = parse_mode_formats(args.mode, FrameFormat(args.format))
    settings = StreamSettings.for_modes(
        mode_formats,
        args.rate or hints.sample_rate_hz or DEFAULT_SAMPLE_RATE_HZ,
        args.center or hints.center_freq_hz or DEFAULT_CENTER_FREQ_HZ,
        args.ecn0,
    )
    rng = np.random.default_rng(args.seed)
    bursts = random_bursts(mode_formats, args.count, rng, args.length, args.cfo, args.rate_error)
    generator = {
        "command": "wmbus simulate",
        "mode": args.mode,
        "format": args.format,
        "ecn0_db": args.ecn0,
        "count": args.count,
        "cfo_hz": args.cfo,
        "rate_error": args.rate_error,
        "seed": args.seed,
        "length": args.length,
    }
    sent = write_recording(out, bursts, settings, rng, generator)
    print(f"wrote {out} ({len(sent)} telegrams) and {truth_path(out)}")
    if hints.sample_rate_hz is None or hints.center_freq_hz is None:
        print(
            f"note: the name does not say rate and centre; decode with --rate "
            f"{settings.sample_rate_hz:g} --center {settings.center_freq_hz:g}, or name it like "
            "sim_868.625M_2400k.cu8"
        )
    return 0


def run_scenario(scenario_path: str, out_dir: str) -> int:
    """``wmbus simulate --scenario FILE.toml OUT_DIR``."""
    from sdr.sim.building import simulate  # the survey's scenario generator
    from sdr.sim.scenario import load_scenario

    truth = simulate(load_scenario(scenario_path), out_dir)
    print(
        f"wrote {len(truth['locations'])} recording(s) with {len(truth['transmissions'])} "
        f"transmissions and truth.json to {out_dir}"
    )
    return 0
