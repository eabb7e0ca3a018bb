"""Command-line pieces several commands share: value types, option groups, and turning parsed
options into the library's typed configs. Nothing below ``sdr.cli`` sees an argparse Namespace."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from dsp.bandplan import DEFAULT_CENTER_FREQ_HZ, DEFAULT_SAMPLE_RATE_HZ
from protocol.modes import ModeSpec, parse_modes
from sdr.errors import UserError
from sdr.io.codecs import SAMPLE_FORMATS
from sdr.io.names import parse_quantity
from sdr.io.sources import DEFAULT_BUFFER_S, TunerSettings
from sdr.keys import load_keys
from sdr.live import LiveConfig, MqttConfig, SessionResult
from sdr.sinks.mqtt import DEFAULT_PORT, DEFAULT_PREFIX, DEFAULT_QUEUE_LIMIT

DEFAULT_MODES = "S1,T1,C1"


def say(command: str, line: str) -> None:
    """A status line on stderr, prefixed like every message of the command line."""
    print(f"wmbus {command}: {line}", file=sys.stderr, flush=True)


def quantity_arg(text: str) -> float:
    """``parse_quantity`` as an argparse ``type`` (bad values become usage errors)."""
    try:
        return parse_quantity(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def gain_arg(text: str) -> float | None:
    if text.strip().lower() == "auto":
        return None
    try:
        return float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"gain must be dB or 'auto', not {text!r}") from exc


def modes_arg(text: str) -> tuple[ModeSpec, ...]:
    try:
        return tuple(parse_modes(text))
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def add_key_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="ID=KEY",
        help="AES key of one meter, e.g. 76348799=28F64A24...; repeat for more meters",
    )
    parser.add_argument(
        "--keys", metavar="FILE", help="text file of 'ID KEY' lines ('#' starts a comment)"
    )


def keys_from_args(args: argparse.Namespace) -> dict[str, bytes]:
    """Keys of ``--keys FILE`` and then ``--key`` (which win for the same meter)."""
    return load_keys(getattr(args, "keys", None), getattr(args, "key", None) or [])


def add_recording_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of every command that decodes recordings: tuning, format, modes and keys."""
    parser.add_argument("--rate", type=quantity_arg, help="sample rate, e.g. 2.4M or 2400000")
    parser.add_argument("--center", type=quantity_arg, help="centre frequency, e.g. 868.625M")
    parser.add_argument("--format", choices=SAMPLE_FORMATS, help="sample format of raw files")
    parser.add_argument(
        "--modes",
        default=DEFAULT_MODES,
        help=f"modes to receive, comma separated (default {DEFAULT_MODES})",
    )
    add_key_arguments(parser)
    # Results never depend on the chunk size; tests use this option to prove it.
    parser.add_argument("--chunk-samples", type=int, default=262_144, help=argparse.SUPPRESS)


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """Source, decoding and output options shared by ``listen`` and ``record``."""
    src = parser.add_argument_group("source (default: the first RTL-SDR)")
    src.add_argument(
        "--device",
        metavar="DEV",
        help="rtlsdr[:INDEX|SERIAL] (pyrtlsdr) or soapy:ARGS, e.g. soapy:driver=rtlsdr",
    )
    src.add_argument("--rtl-tcp", metavar="HOST:PORT", help="an rtl_tcp server (port 1234)")
    src.add_argument(
        "--center",
        type=quantity_arg,
        default=DEFAULT_CENTER_FREQ_HZ,
        help="centre frequency (default 868.625M: S1, T1 and C1 in one stream)",
    )
    src.add_argument(
        "--rate", type=quantity_arg, default=DEFAULT_SAMPLE_RATE_HZ, help="sample rate (2.4M)"
    )
    src.add_argument("--gain", type=gain_arg, default=None, help="tuner gain in dB, or auto")
    src.add_argument("--ppm", type=int, default=0, help="frequency correction in ppm")
    src.add_argument(
        "--buffer",
        type=float,
        default=DEFAULT_BUFFER_S,
        metavar="S",
        help="seconds of samples queued for a slow decoder before blocks are dropped (2)",
    )
    src.add_argument(
        "--duration", type=float, metavar="S", help="stop after S seconds of samples"
    )
    dec = parser.add_argument_group("decoding and output")
    dec.add_argument(
        "--modes", default=DEFAULT_MODES, help=f"modes to receive (default {DEFAULT_MODES})"
    )
    add_key_arguments(dec)
    dec.add_argument("--json", action="store_true", help="one JSON object per telegram")
    dec.add_argument("--output", metavar="FILE", help="append telegrams to FILE, not stdout")
    dec.add_argument(
        "--dedupe",
        type=float,
        metavar="SECONDS",
        help="drop a telegram heard again within SECONDS (repeaters, several modes)",
    )
    mq = parser.add_argument_group("MQTT")
    mq.add_argument(
        "--mqtt", metavar="HOST[:PORT]", help=f"publish to a broker (port {DEFAULT_PORT})"
    )
    mq.add_argument(
        "--mqtt-prefix", default=DEFAULT_PREFIX, help=f"topic prefix (default {DEFAULT_PREFIX})"
    )
    mq.add_argument(
        "--mqtt-queue",
        type=int,
        default=DEFAULT_QUEUE_LIMIT,
        metavar="N",
        help=f"messages kept while the broker is unreachable ({DEFAULT_QUEUE_LIMIT})",
    )
    mq.add_argument("--mqtt-name", help="this receiver's name in topics (default: host name)")
    mq.add_argument(
        "--ha-discovery",
        action="store_true",
        help="announce meters whose key is given to Home Assistant (MQTT discovery)",
    )


def live_config(args: argparse.Namespace) -> LiveConfig:
    """The session config of ``add_live_arguments``' options; UserError for a bad value."""
    mqtt = None
    if args.mqtt:
        mqtt = MqttConfig(
            args.mqtt, args.mqtt_prefix, args.mqtt_queue, args.mqtt_name, args.ha_discovery
        )
    return LiveConfig(
        tuner=TunerSettings(args.center, args.rate, args.gain, args.ppm),
        modes=modes_arg(args.modes),
        keys=keys_from_args(args),
        device=args.device,
        rtl_tcp=args.rtl_tcp,
        buffer_s=args.buffer,
        duration_s=args.duration,
        json_output=args.json,
        output_path=args.output,
        dedupe_s=args.dedupe,
        mqtt=mqtt,
    )


def report_session(command: str, result: SessionResult) -> int:
    """Print why the session ended and its summary; returns the exit status."""
    if result.source.lost is not None:
        say(command, f"error: {result.source.lost}")
    elif result.interrupted:
        say(command, "interrupted")
    say(command, result.summary())
    return result.exit_status


@contextmanager
def stopped_by_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call ``stop`` while inside; a second Ctrl-C interrupts for real."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
