"""``wmbus listen``: decode live traffic from an RTL-SDR, a SoapySDR device or an rtl_tcp server.

The live session (source -> receiver -> decoder -> outputs) is shared with ``wmbus record``,
which adds a recorder. Ctrl-C (or SIGTERM) stops the source; what is queued is still decoded,
outputs are flushed and closed, and a summary goes to stderr. A device or server that goes
away mid-stream ends the session the same way, with a one-line reason and exit status 1.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType

from dsp.receiver import Receiver
from dsp.types import IQChunk
from protocol.decoder import Decoder
from protocol.modes import parse_modes
from protocol.report import telegram_to_dict
from protocol.telegram import Telegram
from sdr.dedupe import Deduper
from sdr.errors import UserError
from sdr.iqfile import quantity_arg
from sdr.keys import add_key_arguments, keys_from_args
from sdr.mqtt import DEFAULT_PORT, DEFAULT_PREFIX, DEFAULT_QUEUE_LIMIT, MqttSink, MqttStats
from sdr.output import TelegramOutput
from sdr.pipeline import DecodePipeline, modes_in_band
from sdr.sources import (
    DEFAULT_BUFFER_S,
    DEFAULT_CENTER_FREQ_HZ,
    DEFAULT_SAMPLE_RATE_HZ,
    LiveSource,
    SourceStats,
    TunerSettings,
    open_source,
    parse_host_port,
)

EXIT_SOURCE_LOST = 1
EXIT_INTERRUPTED = 130


def gain_arg(text: str) -> float | None:
    if text.strip().lower() == "auto":
        return None
    try:
        return float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"gain must be dB or 'auto', not {text!r}") from exc


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
    dec.add_argument("--modes", default="S1,T1,C1", help="modes to receive (default S1,T1,C1)")
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


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "listen",
        help="decode live traffic (RTL-SDR, SoapySDR, rtl_tcp)",
        description=(
            "Receive S1, T1 and C1 telegrams live and print them (text, or JSON lines with "
            "--json), optionally publishing them to MQTT. Ctrl-C stops with a summary."
        ),
    )
    add_live_arguments(parser)
    parser.set_defaults(func=run)


@dataclass(frozen=True, slots=True)
class SessionResult:
    telegrams: int
    duplicates: int
    sample_rate_hz: float
    source: SourceStats
    mqtt: MqttStats | None
    interrupted: bool

    @property
    def exit_status(self) -> int:
        if self.source.lost is not None:
            return EXIT_SOURCE_LOST
        return EXIT_INTERRUPTED if self.interrupted else 0


def say(command: str, line: str) -> None:
    """A status line on stderr, prefixed like every message of the command line."""
    print(f"wmbus {command}: {line}", file=sys.stderr, flush=True)


def settings_from_args(args: argparse.Namespace) -> TunerSettings:
    if args.duration is not None and args.duration <= 0:
        raise UserError("--duration must be positive")
    if args.buffer <= 0:
        raise UserError("--buffer must be positive")
    if args.dedupe is not None and args.dedupe < 0:
        raise UserError("--dedupe must not be negative")
    return TunerSettings(args.center, args.rate, args.gain, args.ppm)


def open_mqtt(
    args: argparse.Namespace, keys: dict[str, bytes], log: Callable[[str], None]
) -> MqttSink | None:
    if not args.mqtt:
        return None
    host, port = parse_host_port(args.mqtt, DEFAULT_PORT)
    return MqttSink(
        host,
        port,
        args.mqtt_prefix,
        receiver=args.mqtt_name,
        ha_discovery=args.ha_discovery,
        known_meter_ids=keys,
        queue_limit=args.mqtt_queue,
        log=log,
    ).start()


def run_session(
    args: argparse.Namespace,
    command: str,
    observe: Callable[[LiveSource, Iterator[IQChunk]], Iterator[IQChunk]] = lambda s, c: c,
    on_telegram: Callable[[Telegram], None] = lambda telegram: None,
) -> SessionResult:
    """Run a live session until the source ends; ``observe`` sees every chunk on its way to the
    receiver (the recorder), ``on_telegram`` every telegram kept after dedupe."""

    def log(line: str) -> None:
        say(command, line)

    settings = settings_from_args(args)
    try:
        modes = parse_modes(args.modes)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    keys = keys_from_args(args)
    source = open_source(args.device, args.rtl_tcp, settings, buffer_s=args.buffer)
    source.start()
    try:
        inside = modes_in_band(
            modes, source.sample_rate_hz, source.center_freq_hz, "the tuned band", "received",
            lambda message: log(f"warning: {message}"),
        )
    except UserError:
        source.stop()
        raise
    pipeline = DecodePipeline(
        Receiver(source.sample_rate_hz, source.center_freq_hz, inside), Decoder(keys)
    )
    deduper = Deduper(args.dedupe) if args.dedupe is not None else None
    interrupted = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        interrupted = True
        source.stop()
        # A second Ctrl-C interrupts for real (the CLI reports it).
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    mqtt: MqttSink | None = None
    kept = 0
    try:
        mqtt = open_mqtt(args, keys, log)
        if mqtt is not None:
            mqtt.publish_event("started", source=source.description)
        max_samples = None
        if args.duration is not None:
            max_samples = round(args.duration * source.sample_rate_hz)
        log(f"receiving {','.join(m.name for m in inside)} from {source.description}")
        with TelegramOutput(args.output, as_json=args.json) as output:
            for result in pipeline.run(observe(source, source.chunks(max_samples))):
                if not isinstance(result, Telegram):
                    continue
                burst = result.frame.burst
                time_s = burst.start_s if burst is not None else 0.0
                if deduper is not None and not deduper.accept(result, time_s):
                    continue
                kept += 1
                output.write(result)
                if mqtt is not None:
                    mqtt.publish_telegram(telegram_to_dict(result))
                on_telegram(result)
    finally:
        source.stop()
        source.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stats = source.stats()
        mqtt_stats = None
        if mqtt is not None:
            if stats.lost is not None:
                mqtt.publish_event("source_lost", reason=stats.lost)
            mqtt.publish_event("stopped", telegrams=kept, overflows=stats.overflows)
            mqtt_stats = mqtt.close()
    return SessionResult(
        kept,
        deduper.dropped if deduper else 0,
        source.sample_rate_hz,
        stats,
        mqtt_stats,
        interrupted,
    )


def summary_line(result: SessionResult) -> str:
    s = result.source
    parts = [
        f"{result.telegrams} telegram(s)",
        f"{s.samples_delivered / result.sample_rate_hz:.3f} s of samples",
        f"{s.overflows} overflow(s) ({s.samples_dropped} samples dropped)",
    ]
    if result.duplicates:
        parts.append(f"{result.duplicates} duplicate(s) dropped")
    if result.mqtt is not None:
        m = result.mqtt
        parts.append(f"MQTT {m.delivered} delivered, {m.dropped} dropped")
    return ", ".join(parts)


def report(command: str, result: SessionResult) -> int:
    """Print why the session ended and its summary; returns the exit status."""
    if result.source.lost is not None:
        say(command, f"error: {result.source.lost}")
    elif result.interrupted:
        say(command, "interrupted")
    say(command, summary_line(result))
    return result.exit_status


def run(args: argparse.Namespace) -> int:
    return report("listen", run_session(args, "listen"))
