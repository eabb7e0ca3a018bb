"""``wmbus listen``: decode live traffic from an RTL-SDR, a SoapySDR device or an rtl_tcp server.

Ctrl-C (or SIGTERM) stops the source; what is queued is still decoded, outputs are flushed and
closed, and a summary goes to stderr. A device or server that goes away mid-stream ends the
session the same way, with a one-line reason and exit status 1.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from sdr.cli.common import say
from sdr.cli.live_options import (
    add_live_arguments,
    live_config,
    report_session,
    stopped_by_signals,
)
from sdr.live import LiveSession

if TYPE_CHECKING:
    from sdr.web.server import WebServer


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
    parser.add_argument(
        "--web",
        metavar="[HOST:]PORT",
        help="serve a live view (meters, spectrum, telegrams, radio health) on PORT; HOST "
        "defaults to 127.0.0.1, another host serves it to the network, without a password",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    session = LiveSession(live_config(args), lambda line: say("listen", line))
    web = _start_web(session, args.web) if args.web else None
    try:
        with stopped_by_signals(session.stop):
            if web is None:
                result = session.run()
            else:
                result = session.run(observe=web.view.observe, on_telegram=web.view.on_telegram)
    finally:
        if web is not None:
            web.close()
    return report_session("listen", result)


def _start_web(session: LiveSession, address: str) -> WebServer:
    """The live view of ``--web``, listening before any sample is received."""
    # Imported here: the web framework's start-up is paid only by those who ask for the view.
    from sdr.web.server import WebServer, is_loopback, parse_web_address
    from sdr.web.state import LiveView

    host, port = parse_web_address(address)
    if not is_loopback(host):
        say("listen", f"warning: --web {address} serves the meters to the network, to anyone")
    server = WebServer(LiveView(session.config.modes, lambda: session.health().to_dict()),
                       host, port)
    say("listen", f"live view on {server.start()}")
    return server
