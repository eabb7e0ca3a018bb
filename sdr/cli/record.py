"""``wmbus record``: record a live source to SigMF (with telegram annotations) or plain cu8."""

from __future__ import annotations

import argparse
from pathlib import Path

from sdr.cli.common import say
from sdr.cli.live_options import (
    add_live_arguments,
    live_config,
    report_session,
    stopped_by_signals,
)
from sdr.io.recorder import RECORD_FORMATS, RecordConfig, Recorder
from sdr.live import LiveSession


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "record",
        help="record a live source to SigMF or cu8 while decoding it",
        description=(
            "Record samples from a live source while decoding them. SigMF (default) writes "
            "OUT.sigmf-data (cu8) and OUT.sigmf-meta with one annotation per decoded telegram; "
            "--format cu8 writes OUT_<centre>M_<rate>k.cu8, named the way rtl_433 and "
            "'wmbus decode' read tuning from file names."
        ),
    )
    parser.add_argument("out", metavar="OUT", help="output name (extension optional)")
    parser.add_argument(
        "--format", choices=RECORD_FORMATS, default="sigmf", help="file format (default sigmf)"
    )
    add_live_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    recorder = Recorder(RecordConfig(Path(args.out), args.format))
    session = LiveSession(live_config(args), lambda line: say("record", line))
    try:
        with stopped_by_signals(session.stop):
            result = session.run(recorder.observe, recorder.on_telegram)
    finally:
        samples = recorder.close()
    status = report_session("record", result)
    if recorder.path is not None:
        extra = f", {recorder.annotations} telegram annotation(s)" if args.format == "sigmf" else ""
        say("record", f"wrote {recorder.path} ({samples} samples{extra})")
    return status
