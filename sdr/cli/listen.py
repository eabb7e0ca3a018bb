"""``wmbus listen``: decode live traffic from an RTL-SDR, a SoapySDR device or an rtl_tcp server.

Ctrl-C (or SIGTERM) stops the source; what is queued is still decoded, outputs are flushed and
closed, and a summary goes to stderr. A device or server that goes away mid-stream ends the
session the same way, with a one-line reason and exit status 1.
"""

from __future__ import annotations

import argparse

from sdr.cli.common import say
from sdr.cli.live_options import (
    add_live_arguments,
    live_config,
    report_session,
    stopped_by_signals,
)
from sdr.live import LiveSession


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "listen",
        help="decode live traffic (RTL-SDR, SoapySDR, rtl_tcp)",
        description=(
            "Receive S1, T1, C1 and C2 telegrams live and print them (text, or JSON lines with "
            "--json), optionally publishing them to MQTT. Ctrl-C stops with a summary."
        ),
    )
    add_live_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    session = LiveSession(live_config(args), lambda line: say("listen", line))
    with stopped_by_signals(session.stop):
        result = session.run()
    return report_session("listen", result)
