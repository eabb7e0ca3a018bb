"""``wmbus simulate``: synthetic recordings with a truth file, made with the project's modulator."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dsp.bandplan import DEFAULT_CENTER_FREQ_HZ, DEFAULT_SAMPLE_RATE_HZ
from protocol.modes import Direction, FrameFormat
from sdr.cli.common import center_arg, ranged_arg, rate_arg
from sdr.io.files import output_sample_format
from sdr.io.names import NameHints, format_quantity, name_tokens, parse_name_tokens, tuned_name
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
            "tokens (e.g. sim_868.625M_2400k.cu8), else 2.4 Msps at 868.625 MHz; a raw file "
            "named without them gets them (out.cu8 is written as out_868.625M_2400k.cu8). At "
            "an RTL-SDR's rates (up to 3.2 Msps) the bursts pass a model of its RTL2832U's "
            "decimation filter (1 dB off C2's channel at +900 kHz)."
        ),
    )
    parser.add_argument("out", metavar="OUT", help="output recording (or directory, --scenario)")
    parser.add_argument(
        "--mode",
        default="T1",
        help="OMS mode(s), comma separated: S1, S2, T1, T2, C1, C2, with -A or -B for C "
        "(C1-B); default T1",
    )
    parser.add_argument(
        "--direction",
        choices=[str(d) for d in Direction],
        help="who sends: meters (meter_to_other) or gateways (other_to_meter: S2 and T2 on "
        "868.3 MHz with a short preamble, C2 on 869.525 MHz); default other_to_meter for S2, "
        "T2 and C2, meter_to_other for S1, T1 and C1",
    )
    parser.add_argument(
        "--ecn0",
        type=ranged_arg(float, -30.0, 100.0, "dB from -30 to 100"),
        help="chip energy over noise density Ec/N0, dB (default: no noise)",
    )
    parser.add_argument(
        "--count",
        type=ranged_arg(int, 0, 100_000, "a whole number from 0 to 100000"),
        default=10,
        help="number of telegrams (default 10)",
    )
    parser.add_argument(
        "--cfo",
        type=ranged_arg(float, -500e3, 500e3, "hertz from -500000 to 500000"),
        default=0.0,
        help="carrier offset, Hz",
    )
    parser.add_argument(
        "--rate-error",
        type=ranged_arg(float, -0.5, 0.5, "a fraction from -0.5 to 0.5"),
        default=0.0,
        help="chip-rate error, fraction",
    )
    parser.add_argument("--format", choices=("A", "B"), default="A", help="C frame format")
    parser.add_argument("--rate", type=rate_arg, help="sample rate (default: name or 2.4M)")
    parser.add_argument("--center", type=center_arg, help="centre (default: name or 868.625M)")
    parser.add_argument(
        "--seed",
        type=ranged_arg(int, 0, 2**64 - 1, "a whole number from 0 to 2**64 - 1"),
        default=1,
        help="random seed (default 1)",
    )
    parser.add_argument(
        "--length",
        type=ranged_arg(int, SHORT_TPL_LEN, 246, f"a whole number from {SHORT_TPL_LEN} to 246"),
        help="link frame length in bytes without CRCs",
    )
    parser.add_argument("--scenario", metavar="FILE.toml", help="building scenario (OUT = dir)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.scenario:
        return run_scenario(args.scenario, args.out)
    out = Path(args.out)
    hints = parse_name_tokens(out.name)
    direction = Direction(args.direction) if args.direction else None
    mode_formats = parse_mode_formats(args.mode, FrameFormat(args.format), direction)
    settings = StreamSettings.for_modes(
        mode_formats,
        args.rate or hints.sample_rate_hz or DEFAULT_SAMPLE_RATE_HZ,
        args.center or hints.center_freq_hz or DEFAULT_CENTER_FREQ_HZ,
        args.ecn0,
    )
    rate, center = settings.sample_rate_hz, settings.center_freq_hz
    fmt = output_sample_format(out)
    # A raw file's name is all that says its tuning (SigMF has metadata): give it the tokens.
    named = fmt not in (None, "sigmf") and hints == NameHints()
    if named:
        out = tuned_name(out.with_suffix(""), center, rate, fmt)
    rng = np.random.default_rng(args.seed)
    bursts = random_bursts(mode_formats, args.count, rng, args.length, args.cfo, args.rate_error)
    generator = {
        "command": "wmbus simulate",
        "mode": args.mode,
        "direction": args.direction,
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
    if named:
        print(f"note: named {out.name} so that decode and rtl_433 read rate and centre from it")
    if fmt != "sigmf" and parse_name_tokens(out.name) != NameHints(rate, center):
        print(
            f"note: the name does not say this rate and centre; decode with --rate "
            f"{format_quantity(rate)} --center {format_quantity(center)}, or name it like "
            f"sim{name_tokens(center, rate)}.cu8"
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
