"""The ``wmbus`` command line. Each subcommand lives in its own ``sdr.cli.*`` module, which parses
arguments, calls the library and prints; nothing outside ``sdr.cli`` imports it."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys
from collections.abc import Sequence
from typing import NoReturn

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


DISTRIBUTION = "wmbus-sdr"  # the name in pyproject.toml


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, ``wmbus CMD: error: ...``, like every other error of the command
    line: the message names the option or argument; ``--help`` shows the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def version() -> str:
    """The installed package's version (a source tree never installed has none)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed; pip install -e .)"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``wmbus`` parser with every subcommand, or with just ``only`` registered."""
    parser = _Parser(
        prog="wmbus",
        description="Wireless M-Bus receiver: decode, decrypt and survey 868 MHz meters.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        if only is None or name == only:
            importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(command)
    try:
        if command is None:
            args = parser.parse_args(argv)  # usage, --help, --version, or an unknown command
        else:
            # The command's own parser reads options between positionals too
            # (``wmbus telegram HEX --json HEX``), which the top-level parser cannot.
            (subparsers,) = (
                a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
            )
            args = subparsers.choices[command].parse_intermixed_args(
                argv[1:], argparse.Namespace(command=command)
            )
    except SystemExit as exc:  # argparse has printed help, the version or a usage error
        return int(exc.code or 0)
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

