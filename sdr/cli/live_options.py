"""The options of ``listen`` and ``record`` (source, output, MQTT) and turning them into the live
session's typed config; kept apart from ``common`` so that the other commands do not import
the live session (receiver, sources, MQTT) at start-up."""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from dsp.bandplan import DEFAULT_CENTER_FREQ_HZ, DEFAULT_SAMPLE_RATE_HZ
from sdr.cli.common import (
    DEFAULT_MODES,
    add_key_arguments,
    center_arg,
    gain_arg,
    keys_from_args,
    modes_arg,
    ranged_arg,
    rate_arg,
    say,
)
from sdr.errors import UserError
from sdr.io.sources import DEFAULT_BUFFER_S, TunerSettings
from sdr.limited_file import read_limited
from sdr.live import LiveConfig, MqttConfig, SessionResult
from sdr.sinks.mqtt import (
    DEFAULT_PORT,
    DEFAULT_PREFIX,
    DEFAULT_QUEUE_LIMIT,
    DEFAULT_TLS_PORT,
    tls_context,
)

MQTT_PASSWORD_ENV = "WMBUS_MQTT_PASSWORD"
MAX_PASSWORD_FILE_BYTES = 4096  # the wrong file (``/dev/zero``) is not read to its end


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """Source, decoding and output options shared by ``listen`` and ``record``."""
    _add_source_arguments(parser.add_argument_group("source (default: the first RTL-SDR)"))
    _add_output_arguments(parser.add_argument_group("decoding and output"))
    _add_mqtt_arguments(parser.add_argument_group("MQTT"))


def _add_source_arguments(src: argparse._ArgumentGroup) -> None:
    src.add_argument(
        "--device",
        metavar="DEV",
        help="rtlsdr[:INDEX|SERIAL] (pyrtlsdr) or soapy:ARGS, e.g. soapy:driver=rtlsdr",
    )
    src.add_argument("--rtl-tcp", metavar="HOST:PORT", help="an rtl_tcp server (port 1234)")
    src.add_argument(
        "--center",
        type=center_arg,
        default=DEFAULT_CENTER_FREQ_HZ,
        help="centre frequency (default 868.625M: S1, T1, C1 and C2 in one stream)",
    )
    src.add_argument(
        "--rate", type=rate_arg, default=DEFAULT_SAMPLE_RATE_HZ, help="sample rate (2.4M)"
    )
    src.add_argument(
        "--gain",
        type=gain_arg,
        default="agc",
        help="tuner gain in dB; auto: start mid-range, step down while the ADC clips and up "
        "while the noise is at its quantisation floor; agc: the tuner's own (default)",
    )
    src.add_argument(
        "--ppm",
        type=ranged_arg(int, -1000, 1000, "a whole number from -1000 to 1000"),
        default=0,
        help="frequency correction in ppm",
    )
    src.add_argument(
        "--buffer",
        type=ranged_arg(float, 0.0, 60.0, "seconds above 0, up to 60", low_open=True),
        default=DEFAULT_BUFFER_S,
        metavar="S",
        help="seconds of samples queued for a slow decoder before blocks are dropped (2)",
    )
    src.add_argument(
        "--duration",
        type=ranged_arg(float, 0.0, 366 * 86400.0, "seconds above 0, up to a year", low_open=True),
        metavar="S",
        help="stop after S seconds of samples",
    )


def _add_output_arguments(dec: argparse._ArgumentGroup) -> None:
    dec.add_argument(
        "--modes", default=DEFAULT_MODES, help=f"modes to receive (default {DEFAULT_MODES})"
    )
    add_key_arguments(dec)
    dec.add_argument("--json", action="store_true", help="one JSON object per telegram")
    dec.add_argument("--output", metavar="FILE", help="append telegrams to FILE, not stdout")
    dec.add_argument(
        "--dedupe",
        type=ranged_arg(float, 0.0, 86400.0, "seconds from 0 to 86400 (a day)"),
        metavar="SECONDS",
        help="drop a telegram heard again within SECONDS (repeaters, several modes)",
    )


def _add_mqtt_arguments(mq: argparse._ArgumentGroup) -> None:
    mq.add_argument(
        "--mqtt",
        metavar="HOST[:PORT]",
        help=f"publish to a broker (port {DEFAULT_PORT}, with --mqtt-tls {DEFAULT_TLS_PORT})",
    )
    add_broker_arguments(mq)
    mq.add_argument(
        "--mqtt-queue",
        type=ranged_arg(int, 1, 10_000_000, "a count from 1 to 10,000,000"),
        default=DEFAULT_QUEUE_LIMIT,
        metavar="N",
        help=f"messages kept while the broker is unreachable ({DEFAULT_QUEUE_LIMIT}); more are "
        "dropped and counted, as are those still unacknowledged at exit",
    )
    mq.add_argument("--mqtt-name", help="this receiver's name in topics (default: host name)")
    mq.add_argument(
        "--ha-discovery",
        action="store_true",
        help="announce meters whose key is given to Home Assistant (MQTT discovery)",
    )


def add_broker_arguments(mq: argparse._ArgumentGroup) -> None:
    """How to reach the broker: prefix, login and TLS, shared by publishers (``listen``) and
    subscribers (``survey --mqtt``)."""
    mq.add_argument(
        "--mqtt-prefix", default=DEFAULT_PREFIX, help=f"topic prefix (default {DEFAULT_PREFIX})"
    )
    mq.add_argument(
        "--mqtt-user",
        metavar="NAME",
        help="log in as NAME; the password comes from --mqtt-password-file or the environment "
        f"variable {MQTT_PASSWORD_ENV}, never from the command line",
    )
    mq.add_argument(
        "--mqtt-password-file",
        metavar="FILE",
        help=f"file holding the password of --mqtt-user on one line (wins over "
        f"{MQTT_PASSWORD_ENV})",
    )
    mq.add_argument(
        "--mqtt-tls",
        action="store_true",
        help="connect with TLS, checking the broker's certificate and host name",
    )
    mq.add_argument(
        "--mqtt-ca",
        metavar="FILE",
        help="CA certificates (PEM) to check the broker's certificate with (default: the "
        "system's)",
    )
    mq.add_argument(
        "--mqtt-cert", metavar="FILE", help="client certificate (PEM), for brokers that ask"
    )
    mq.add_argument(
        "--mqtt-key",
        metavar="FILE",
        help="unencrypted private key (PEM) of --mqtt-cert, unless that file holds it",
    )


def mqtt_config(args: argparse.Namespace) -> MqttConfig | None:
    """The MQTT options as a config, None without ``--mqtt``; UserError for a bad value."""
    if not args.mqtt:
        return None
    tls_files = (("--mqtt-ca", args.mqtt_ca), ("--mqtt-cert", args.mqtt_cert),
                 ("--mqtt-key", args.mqtt_key))
    for option, path in tls_files:
        if path and not args.mqtt_tls:
            raise UserError(f"{option} needs --mqtt-tls")
    if args.mqtt_key and not args.mqtt_cert:
        raise UserError("--mqtt-key needs --mqtt-cert")
    if args.mqtt_password_file and not args.mqtt_user:
        raise UserError("--mqtt-password-file needs --mqtt-user")
    if any(c in args.mqtt_prefix for c in "+#\0"):
        # Wildcards in a topic one publishes to, or subscribes below, are a protocol error.
        raise UserError("--mqtt-prefix must not contain +, # or NUL")
    return MqttConfig(
        args.mqtt,
        args.mqtt_prefix,
        args.mqtt_queue,
        args.mqtt_name,
        args.ha_discovery,
        username=args.mqtt_user,
        password=(
            _mqtt_password(args.mqtt_password_file, args.command) if args.mqtt_user else None
        ),
        tls=tls_context(args.mqtt_ca, args.mqtt_cert, args.mqtt_key) if args.mqtt_tls else None,
    )


def _mqtt_password(path: str | None, command: str) -> str | None:
    """The password of ``--mqtt-password-file``, else of the environment, else None. Never from
    an argument (the process list shows those), and never in a message."""
    if path is None:
        return os.environ.get(MQTT_PASSWORD_ENV) or None
    data = read_limited(
        "--mqtt-password-file",
        path,
        MAX_PASSWORD_FILE_BYTES,
        "a password file",
        warn_shared=lambda line: say(command, f"warning: {line}"),
    )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"--mqtt-password-file {path}: not UTF-8 text") from None
    password = text.removesuffix("\n").removesuffix("\r")  # as `echo` or an editor leaves it
    if not password:
        raise UserError(f"--mqtt-password-file {path}: empty")
    if "\n" in password or "\r" in password:
        raise UserError(f"--mqtt-password-file {path}: expected the password on one line")
    return password


def live_config(args: argparse.Namespace) -> LiveConfig:
    """The session config of ``add_live_arguments``' options; UserError for a bad value."""
    return LiveConfig(
        tuner=TunerSettings(
            args.center,
            args.rate,
            args.gain if isinstance(args.gain, float) else None,
            args.ppm,
            auto_gain=args.gain == "auto",
        ),
        modes=modes_arg(args.modes),
        keys=keys_from_args(args),
        device=args.device,
        rtl_tcp=args.rtl_tcp,
        buffer_s=args.buffer,
        duration_s=args.duration,
        json_output=args.json,
        output_path=args.output,
        dedupe_s=args.dedupe,
        mqtt=mqtt_config(args),
    )


def report_session(command: str, result: SessionResult) -> int:
    """Print why the session ended and its summary; returns the exit status."""
    if result.source.lost is not None:
        say(command, f"error: {result.source.lost}")
    elif result.interrupted:
        say(command, "interrupted")
    say(command, result.summary())
    health = result.health
    if health.ppm_estimate is not None and health.ppm_suggested is not None:
        cfos = health.cfo_hz_recent
        say(
            command,
            f"frequency: the carriers are {health.ppm_estimate:+.1f} ppm off (median of the "
            f"decoded telegrams' offsets, lately {min(cfos) / 1e3:+.1f} to "
            f"{max(cfos) / 1e3:+.1f} kHz): --ppm {health.ppm_suggested} would centre them",
        )
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
