"""``wmbus serve``: an rtl_tcp server replaying recordings, so any rtl_tcp client can use them."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from sdr.cli.common import quantity_arg
from sdr.errors import UserError
from sdr.io.codecs import SAMPLE_FORMATS
from sdr.io.files import probe_iq_file
from sdr.io.rtltcp import ReplayServer


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="replay recordings as an rtl_tcp server",
        description=(
            "Serve recordings (any format 'wmbus decode' reads) as an rtl_tcp server: the "
            "samples go out as cu8, as from a dongle. Clients are served one after another, each "
            "from the start; at the end the connection is closed unless --loop. Tuning and rate "
            "commands that the recording cannot honour are logged on stderr."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="FILE", help="IQ file(s) or .sigmf-meta")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=1234, help="TCP port (default 1234; 0 picks a free one)"
    )
    parser.add_argument("--loop", action="store_true", help="repeat the recordings endlessly")
    parser.add_argument(
        "--realtime", action="store_true", help="send at the recording's sample rate"
    )
    parser.add_argument(
        "--max-clients", type=int, metavar="N", help="exit after serving N clients"
    )
    parser.add_argument("--rate", type=quantity_arg, help="sample rate, e.g. 2.4M")
    parser.add_argument("--center", type=quantity_arg, help="centre frequency, e.g. 868.625M")
    parser.add_argument("--format", choices=SAMPLE_FORMATS, help="sample format of raw files")
    parser.set_defaults(func=run)


def _log(line: str) -> None:
    print(f"wmbus serve: {line}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port < 65536:
        raise UserError("--port must be from 0 to 65535")
    files = [probe_iq_file(p, args.format, args.rate, args.center) for p in args.paths]
    try:
        server = ReplayServer(
            files,
            args.host,
            args.port,
            loop=args.loop,
            realtime=args.realtime,
            max_clients=args.max_clients,
            log=_log,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from exc

    def on_term(signum: int, frame: FrameType | None) -> None:
        server.stop()

    signal.signal(signal.SIGTERM, on_term)
    try:
        server.serve()
    except KeyboardInterrupt:
        server.stop()
    _log(f"stopped after {server.clients_served} client(s)")
    return 0
