"""Command-line pieces several commands share: status lines, value types, key and recording
options. Light to import: ``wmbus telegram`` starts with nothing of the radio loaded (the live
options are in ``live_options``). Nothing below ``sdr.cli`` sees an argparse Namespace."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

from protocol.modes import ModeSpec, parse_modes
from sdr.errors import UserError
from sdr.io.codecs import SAMPLE_FORMATS
from sdr.io.names import (
    CENTER_FREQ_RANGE_HZ,
    SAMPLE_RATE_RANGE_HZ,
    format_quantity,
    parse_quantity,
)
from sdr.keys import KEYS_ENV, load_keys
from sdr.parallel import usable_cpus

DEFAULT_MODES = "S1,T1,C1,C2"


_SAY = threading.Lock()


def say(command: str, line: str) -> None:
    """A status line on stderr, prefixed like every message of the command line. Source and MQTT
    threads report too: one write per line under a lock, so lines never run into each other."""
    with _SAY:
        sys.stderr.write(f"wmbus {command}: {line}\n")
        sys.stderr.flush()


Number = TypeVar("Number", int, float)


def ranged_arg(
    parse: Callable[[str], Number], low: float, high: float, what: str, *, low_open: bool = False
) -> Callable[[str], Number]:
    """An argparse ``type``: the value ``parse`` reads, if from ``low`` (excluded with
    ``low_open``) to ``high``. Anything else, NaN and infinities included, is a usage error
    (exit 2) in one line saying it must be ``what``, rather than a traceback further on."""

    def convert(text: str) -> Number:
        try:
            value = parse(text)
        except (ValueError, OverflowError) as exc:
            raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}") from exc
        inside = low < value <= high if low_open else low <= value <= high  # NaN is never
        if not inside:
            raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}")
        return value

    return convert


def _quantity_arg(limits: tuple[float, float], what: str, example: str) -> Callable[[str], float]:
    low, high = limits
    span = f"{what} from {format_quantity(low)} to {format_quantity(high)}, e.g. {example}"
    return ranged_arg(parse_quantity, low, high, span)


rate_arg = _quantity_arg(SAMPLE_RATE_RANGE_HZ, "a sample rate", "2.4M")
center_arg = _quantity_arg(CENTER_FREQ_RANGE_HZ, "a frequency", "868.625M")
_gain_db = ranged_arg(float, -50.0, 100.0, "a gain in dB from -50 to 100, auto or agc")


def gain_arg(text: str) -> float | str:
    """A gain in dB, or the word ``auto`` (our gain loop) or ``agc`` (the tuner's own)."""
    word = text.strip().lower()
    return word if word in ("auto", "agc") else _gain_db(text)


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
        help="AES key of one meter, e.g. 76348799=28F64A24...; repeat for more meters. "
        f"Every user can read it in the process list: prefer --keys or {KEYS_ENV}",
    )
    parser.add_argument(
        "--keys",
        metavar="FILE",
        help="text file of 'ID KEY' lines ('#' starts a comment), at most 1 MiB, readable by "
        "you alone (chmod 600). Keys are also read from the environment variable "
        f"{KEYS_ENV} (ID=KEY items separated by commas or spaces); --keys and then --key "
        "win for the same meter",
    )


def keys_from_args(args: argparse.Namespace) -> dict[str, bytes]:
    """Keys of $WMBUS_KEYS, ``--keys FILE`` and ``--key`` (the later wins for the same meter);
    warnings about them go to stderr."""
    return load_keys(
        getattr(args, "keys", None),
        getattr(args, "key", None) or [],
        env_text=os.environ.get(KEYS_ENV),
        warn=lambda line: say(args.command, f"warning: {line}"),
    )


def add_recording_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of every command that decodes recordings: tuning, format, modes and keys."""
    parser.add_argument("--rate", type=rate_arg, help="sample rate, e.g. 2.4M or 2400000")
    parser.add_argument("--center", type=center_arg, help="centre frequency, e.g. 868.625M")
    parser.add_argument("--format", choices=SAMPLE_FORMATS, help="sample format of raw files")
    parser.add_argument(
        "--modes",
        default=DEFAULT_MODES,
        help=f"modes to receive, comma separated (default {DEFAULT_MODES})",
    )
    add_key_arguments(parser)
    # Results never depend on the chunk size; tests use this option to prove it.
    parser.add_argument(
        "--chunk-samples",
        type=ranged_arg(int, 1, 1 << 24, "a whole number from 1 to 16777216"),
        default=262_144,
        help=argparse.SUPPRESS,
    )


def add_jobs_argument(parser: argparse.ArgumentParser) -> None:
    """``--jobs N`` of the commands that take many recordings (decode, survey)."""
    cpus = usable_cpus()
    parser.add_argument(
        "--jobs",
        type=ranged_arg(int, 1, 256, "a whole number of processes from 1 to 256"),
        default=cpus,
        metavar="N",
        help=f"files processed at once, each in a process of its own (default: the {cpus} "
        "usable core(s)); the output is the same, in the order of the files",
    )
