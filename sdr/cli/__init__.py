"""The ``wmbus`` command line. Each subcommand lives in its own ``sdr.cli.*`` module, which parses
arguments, calls the library and prints; nothing outside ``sdr.cli`` imports it."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from sdr.errors import UserError

# Subcommand name -> module exposing ``register(subparsers)``, which sets ``func`` on its parser;
# ``func(args) -> int`` returns the exit status. Only the module of the command being run is
# imported, so a quick command does not pay for scipy and matplotlib start-up.
COMMANDS = {
    "telegram": "sdr.cli.telegram",
    "decode": "sdr.cli.decode",
    "simulate": "sdr.cli.simulate",
    "listen": "sdr.cli.listen",
    "serve": "sdr.cli.serve",
    "record": "sdr.cli.record",
    "survey": "sdr.cli.survey",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``wmbus`` parser with every subcommand, or with just ``only`` registered."""
    parser = argparse.ArgumentParser(
        prog="wmbus",
        description="Wireless M-Bus receiver: decode, decrypt and survey 868 MHz meters.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        if only is None or name == only:
            importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(command)
    if command is None:
        args = parser.parse_args(argv)  # usage, --help, or an unknown command's error
    else:
        # The command's own parser reads options between positionals too
        # (``wmbus telegram HEX --json HEX``), which the top-level parser cannot.
        (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        args = subparsers.choices[command].parse_intermixed_args(
            argv[1:], argparse.Namespace(command=command)
        )
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

