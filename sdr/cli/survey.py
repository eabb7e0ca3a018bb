"""``wmbus survey``: radio coverage of a building from recordings or logs taken at several spots."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from functools import partial
from pathlib import Path

from protocol.decoder import Decoder
from protocol.modes import parse_modes
from sdr.cli.common import (
    add_jobs_argument,
    add_recording_arguments,
    keys_from_args,
    ranged_arg,
    say,
)
from sdr.cli.live_options import add_broker_arguments, mqtt_config, stopped_by_signals
from sdr.errors import UserError
from sdr.io.addresses import format_host_port, parse_host_port
from sdr.io.files import probe_iq_file
from sdr.io.names import parse_quantity
from sdr.parallel import ordered_map
from sdr.pipeline import modes_in_band
from sdr.sinks.mqtt import DEFAULT_PORT, DEFAULT_QUEUE_LIMIT, DEFAULT_TLS_PORT
from sdr.survey.analysis import Survey, build_survey
from sdr.survey.export import text_summary, write_csv
from sdr.survey.inputs import LocationInput, analyse_recording, is_log, read_log
from sdr.survey.mqtt_input import BrokerUnavailable, CollectionStatus, MqttCollector, collect
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
    parser.add_argument(
        "inputs", nargs="*", metavar="INPUT", help="recording or JSON-lines log (or --mqtt)"
    )
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
    add_jobs_argument(parser)
    _add_mqtt_arguments(parser)
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


def _load(
    location: tuple[str, str], args: argparse.Namespace, keys: dict[str, bytes]
) -> LocationInput:
    """One INPUT as (path, label). A recording gets a decoder of its own, so it is surveyed the
    same in a worker process (``--jobs``) as here."""
    path, label = location
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
        return analyse_recording(info, label, inside, Decoder(keys), args.chunk_samples)
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
    load = partial(_load, args=args, keys=keys_from_args(args))
    inputs = list(ordered_map(load, zip(args.inputs, labels, strict=True), args.jobs))
    return build_survey(inputs)


def run(args: argparse.Namespace) -> int:
    if args.mqtt is None and (args.duration is not None or not args.inputs):
        raise UserError("give recordings or logs (INPUT...), or --mqtt HOST to survey receivers"
                        if not args.inputs else "--duration needs --mqtt")
    try:
        survey = survey_mqtt(args) if args.mqtt is not None else survey_inputs(args)
    except BrokerUnavailable as exc:
        say(args.command, f"error: {exc}")
        return 1
    if args.html:
        write_html(survey, args.html)
    if args.csv:
        write_csv(survey, args.csv)
    if args.json:
        print(json.dumps(survey.to_dict(), indent=1))
    else:
        print(text_summary(survey))
    return 0


def _add_mqtt_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "receivers on an MQTT broker (instead of INPUTs; one location per receiver)"
    )
    group.add_argument(
        "--mqtt", metavar="HOST[:PORT]",
        help="subscribe to what `wmbus listen --mqtt HOST --mqtt-name NAME` publishes, on many "
        f"hosts, and survey each receiver as a location (port {DEFAULT_PORT}, with --mqtt-tls "
        f"{DEFAULT_TLS_PORT})",
    )
    group.add_argument(
        "--duration", metavar="S",
        type=ranged_arg(float, 0.0, 366 * 86400.0, "seconds above 0, up to a year", low_open=True),
        help="collect for S seconds (default: until Ctrl-C); Ctrl-C ends early with the report",
    )
    add_broker_arguments(group)
    # What mqtt_config reads of the publisher's options, which a subscriber has none of.
    parser.set_defaults(mqtt_queue=DEFAULT_QUEUE_LIMIT, mqtt_name=None, ha_discovery=False)


def survey_mqtt(args: argparse.Namespace) -> Survey:
    """Collect from the broker for ``--duration`` (or until Ctrl-C), then survey the receivers."""
    if args.inputs or args.label:
        raise UserError("--mqtt takes the locations from the receivers: give no INPUT or --label")
    config = mqtt_config(args)
    if config is None:  # --mqtt ''
        raise UserError("--mqtt: the broker's HOST is missing")
    host, port = parse_host_port(config.broker, DEFAULT_PORT if config.tls is None
                                 else DEFAULT_TLS_PORT)
    collector = MqttCollector(config.prefix)
    total = "" if args.duration is None else f"/{args.duration:g}"

    def progress(elapsed_s: float, status: CollectionStatus) -> None:
        say(args.command, f"{elapsed_s:.0f}{total} s: {status.receivers} receiver(s), "
            f"{status.meters} meter(s), {status.telegrams} telegram(s), "
            f"{status.rejected} message(s) ignored")

    stop = threading.Event()
    with stopped_by_signals(stop.set):
        elapsed = collect(
            collector, host, port, duration_s=args.duration, stop=stop,
            username=config.username, password=config.password, tls=config.tls,
            progress=progress, log=lambda line: say(args.command, line),
        )
    if args.duration is not None and elapsed < args.duration:
        say(args.command, f"interrupted after {elapsed:.1f} s")
    if collector.rejected:
        counts = ", ".join(f"{n} {reason}" for reason, n in sorted(collector.rejected.items()))
        say(args.command, f"warning: ignored {collector.rejected.total()} message(s): {counts}")
    locations = collector.locations(elapsed, f"mqtt://{format_host_port(host, port)}")
    if not locations:
        say(args.command, f"warning: no receiver published below {config.prefix}/ in "
            f"{elapsed:.1f} s")
    return build_survey(locations)
