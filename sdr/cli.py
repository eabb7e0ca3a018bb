"""The ``wmbus`` command line. Each subcommand lives in its own ``sdr.cmd_*`` module."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from sdr.errors import UserError

# Subcommand modules, each exposing ``register(subparsers)`` that sets ``func`` on its parser.
# ``func(args) -> int`` returns the exit status.
COMMAND_MODULES = (
    "sdr.cmd_telegram",
    "sdr.cmd_decode",
    "sdr.cmd_simulate",
    "sdr.cmd_listen",
    "sdr.cmd_serve",
    "sdr.cmd_record",
    "sdr.cmd_survey",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wmbus",
        description="Wireless M-Bus receiver: decode, decrypt and survey 868 MHz meters.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"wmbus {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"wmbus {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
