"""``wmbus telegram``: decode telegrams given as hex (arguments or stdin lines)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from protocol.decoder import Decoder
from protocol.report import failure_summary, failure_to_dict
from protocol.telegram import Telegram
from sdr.cli.common import add_key_arguments, keys_from_args
from sdr.sinks.output import TelegramOutput, json_line


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "telegram",
        help="decode telegrams given as hex",
        description=(
            "Decode wM-Bus telegrams given as hex, with or without link-layer CRCs (format A or "
            "B is detected). Hex may contain spaces or '|'. '-' reads one telegram per line "
            "from stdin. Exit status 1 when any telegram could not be fully decoded."
        ),
    )
    parser.add_argument("telegrams", nargs="+", metavar="HEX", help="telegram as hex, or '-'")
    add_key_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per telegram")
    parser.set_defaults(func=run)


def _inputs(items: list[str]) -> Iterator[str]:
    for item in items:
        if item != "-":
            yield item
            continue
        for line in sys.stdin:
            if line.strip() and not line.lstrip().startswith("#"):
                yield line.strip()


def run(args: argparse.Namespace) -> int:
    decoder = Decoder(keys_from_args(args))
    failed = 0
    out = TelegramOutput(None, as_json=args.json)
    for number, text in enumerate(_inputs(args.telegrams), start=1):
        result = decoder.decode_hex(text)
        if isinstance(result, Telegram):
            if not args.json and number > 1:
                print()
            out.write(result)
            failed += result.error is not None
            continue
        failed += 1
        if args.json:
            print(json_line({**failure_to_dict(result), "input": number}), flush=True)
        else:
            print(f"wmbus telegram: input {number}: {failure_summary(result)}", file=sys.stderr)
    return 1 if failed else 0
