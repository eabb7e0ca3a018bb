"""``wmbus serve``: an rtl_tcp server replaying recordings, so any rtl_tcp client can use them."""

from __future__ import annotations

import argparse
import contextlib
import signal
from types import FrameType

from sdr.cli.common import center_arg, ranged_arg, rate_arg, say
from sdr.errors import UserError
from sdr.io.addresses import format_host_port
from sdr.io.codecs import SAMPLE_FORMATS
from sdr.io.files import probe_iq_file
from sdr.io.rtltcp import SEND_TIMEOUT_S, ReplayServer


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="replay recordings as an rtl_tcp server",
        description=(
            "Serve recordings (any format 'wmbus decode' reads) as an rtl_tcp server: the "
            "samples go out as cu8 at their sample rate, as from a dongle, to each client from "
            "the start; at the end the connection is closed unless --loop. A client asking for "
            "another rate or centre gets the recording resampled and shifted; commands are "
            "logged on stderr (rate-limited)."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="FILE", help="IQ file(s) or .sigmf-meta")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; ::1 for IPv6; others serve the network)",
    )
    parser.add_argument(
        "--port", type=int, default=1234, help="TCP port (default 1234; 0 picks a free one)"
    )
    parser.add_argument("--loop", action="store_true", help="repeat the recordings endlessly")
    parser.add_argument(
        "--fast",
        action="store_true",
        help="send as fast as clients read, not at the sample rate (clients that decode live "
        "then drop blocks)",
    )
    parser.add_argument(
        "--send-timeout",
        type=ranged_arg(float, 0, 3600, "seconds, more than 0 and at most 3600", low_open=True),
        default=SEND_TIMEOUT_S,
        metavar="S",
        help=f"drop a client that takes no samples for S seconds (default {SEND_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--max-clients",
        type=ranged_arg(int, 1, 1_000_000, "a whole number from 1 to 1000000"),
        metavar="N",
        help="exit after serving N clients",
    )
    parser.add_argument(
        "--emulate-gain",
        type=ranged_arg(float, -20.0, 80.0, "a gain in dB from -20 to 80"),
        metavar="DB",
        help="act on gain commands as a dongle would: the recordings were made at DB; a client's "
        "manual gain scales them by the difference and clips them at full scale",
    )
    parser.add_argument("--rate", type=rate_arg, help="sample rate, e.g. 2.4M")
    parser.add_argument("--center", type=center_arg, help="centre frequency, e.g. 868.625M")
    parser.add_argument("--format", choices=SAMPLE_FORMATS, help="sample format of raw files")
    parser.set_defaults(func=run)


def _log(line: str) -> None:
    say("serve", line)  # client threads log too: say() keeps their lines whole


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
            paced=not args.fast,
            max_clients=args.max_clients,
            send_timeout_s=args.send_timeout,
            emulate_gain_db=args.emulate_gain,
            log=_log,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    except OSError as exc:
        where = format_host_port(args.host, args.port)
        raise UserError(f"cannot listen on {where}: {exc.strerror or exc}") from exc

    def on_term(signum: int, frame: FrameType | None) -> None:
        server.stop()

    signal.signal(signal.SIGTERM, on_term)
    # On Ctrl-C, serve() stops the server and its clients before it lets the interrupt out.
    with contextlib.suppress(KeyboardInterrupt):
        server.serve()
    _log(f"stopped after {server.clients_served} client(s)")
    return 0
