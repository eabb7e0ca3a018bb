"""``wmbus survey``: radio coverage of a building from recordings or logs taken at several spots."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from protocol.decoder import Decoder
from protocol.modes import parse_modes
from sdr.cli.common import add_recording_arguments, keys_from_args
from sdr.errors import UserError
from sdr.io.files import probe_iq_file
from sdr.io.names import parse_quantity
from sdr.pipeline import modes_in_band
from sdr.survey.analysis import Survey, build_survey
from sdr.survey.export import text_summary, write_csv
from sdr.survey.inputs import LocationInput, analyse_recording, is_log, read_log
from sdr.survey.report import write_html


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "survey",
        help="coverage, reception ratio and collisions per meter and location",
        description=(
            "Survey the radio link in a building. Each INPUT is one location: an IQ recording "
            "(decoded and measured now; same options as `wmbus decode`) or a JSON-lines log of "
            "`wmbus decode --json` / `wmbus listen`. Reports per meter and location telegrams "
            "received and expected, reception ratio, RSSI/SNR/CFO, link margin and why telegrams "
            "were lost; per channel occupancy, bursts and collisions (recordings only); and a "
            "ranking of the locations for a gateway."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="recording or JSON-lines log")
    parser.add_argument(
        "--label", action="append", default=[], metavar="NAME",
        help="name of the location, once per INPUT in order (default: from the file name)",
    )
    parser.add_argument("--json", action="store_true", help="print the survey as JSON")
    parser.add_argument("--html", metavar="REPORT.html", help="write a self-contained HTML report")
    parser.add_argument(
        "--csv", metavar="DIR", help="write meters.csv, channels.csv and placement.csv"
    )
    add_recording_arguments(parser)
    parser.set_defaults(func=run)


def _is_quantity(token: str) -> bool:
    try:
        parse_quantity(token)
    except ValueError:
        return False
    return True


def default_label(path: str) -> str:
    """The file name without suffix and rate/frequency tokens: ``basement_868.625M_2400k.cu8``
    -> ``basement``, ``rtlsdr_868.625M_2M4_issue48.cu8`` -> ``rtlsdr_issue48``."""
    stem = Path(path).stem
    kept = [t for t in stem.split("_") if t and not _is_quantity(t)]
    return "_".join(kept) or stem


def _load(path: str, label: str, args: argparse.Namespace, decoder: Decoder) -> LocationInput:
    if is_log(path):
        data = read_log(path, label)
        if data.skipped_lines:
            print(f"wmbus survey: warning: {path}: skipped {data.skipped_lines} line(s) that are "
                  "not telegrams", file=sys.stderr)
        return data
    modes = parse_modes(args.modes)
    info = probe_iq_file(path, args.format, args.rate, args.center)
    try:
        inside = modes_in_band(
            modes, info.sample_rate_hz, info.center_freq_hz, "this recording", "surveyed",
            lambda message: print(f"wmbus survey: warning: {path}: {message}", file=sys.stderr),
        )
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from exc
    try:
        return analyse_recording(info, label, inside, decoder, args.chunk_samples)
    except OSError as exc:
        raise UserError(f"{path}: read failed ({exc.strerror or exc})") from exc


def survey_inputs(args: argparse.Namespace) -> Survey:
    if args.label and len(args.label) != len(args.inputs):
        raise UserError(
            f"{len(args.label)} --label for {len(args.inputs)} input(s); give one per input or none"
        )
    labels = args.label or [default_label(p) for p in args.inputs]
    if len(set(labels)) != len(labels):
        raise UserError(f"location labels must differ ({', '.join(labels)}); use --label")
    try:
        parse_modes(args.modes)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    decoder = Decoder(keys_from_args(args))
    inputs = [_load(p, label, args, decoder) for p, label in zip(args.inputs, labels, strict=True)]
    return build_survey(inputs)


def run(args: argparse.Namespace) -> int:
    survey = survey_inputs(args)
    if args.html:
        write_html(survey, args.html)
    if args.csv:
        write_csv(survey, args.csv)
    if args.json:
        print(json.dumps(survey.to_dict(), indent=1))
    else:
        print(text_summary(survey))
    return 0
