"""Fuzz the protocol stack: random and mutated telegrams must only ever give results.

``python3 -m benchmarks.fuzz_protocol [CASES] [--seed N]`` decodes CASES inputs (default 100000):
random bytes, and telegrams built by the encoder (formats A/B with CRCs and CRC-less, ELL
with CTR, AFL with mode 7, mode 5, compact frames) then mutated (bit flips, byte changes,
truncation, extension, a changed L field or CI). Every result is also rendered as JSON and as
text. It prints how many inputs ended in which outcome; any exception is a bug (exit status 1).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

if __package__ in (None, ""):  # ``python3 benchmarks/fuzz_protocol.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protocol.decoder import Decoder
from protocol.encoder import AflSpec, EllSpec, TelegramSpec, TplSpec, encode_telegram
from protocol.framing import add_crcs
from protocol.modes import FrameFormat
from protocol.report import failure_to_dict, telegram_summary, telegram_to_dict
from protocol.telegram import Address, Telegram
from protocol.types import DecodeFailure

KEY = bytes(range(16))
# Record areas to wrap: a few record kinds, manufacturer data, a compact frame body.
PAYLOADS = (
    bytes.fromhex("0413081900000259D409426C9E29"),
    bytes.fromhex("046D282A9E2704136A00000002FD17000004933C00000000"),
    bytes.fromhex("0C06000000000B5E4000F00DFD0C03414243"),
    bytes.fromhex("02FF2071000F0102030405"),
    bytes.fromhex("EDA86AB6710008190000081900007F13"),
)

_ids = random.Random(0)
ADDRESSES = tuple(
    Address(
        _ids.randrange(0x0421, 0x6B5B), _ids.randbytes(4), _ids.randrange(256), _ids.randrange(256)
    )
    for _ in range(16)
)


def _spec(rng: random.Random) -> tuple[TelegramSpec, bytes]:
    address = rng.choice(ADDRESSES)
    mode = rng.choice((0, 0, 5, 7))
    ell = None
    if rng.random() < 0.4:
        ci = rng.choice((0x8C, 0x8D, 0x8E, 0x8F))
        ell = EllSpec(
            ci,
            rng.randrange(256),
            rng.randrange(256),
            address,
            rng.randrange(2**29),
            encrypt=ci in (0x8D, 0x8F) and rng.random() < 0.7,
        )
    ci = rng.choice((0x7A, 0x72) if mode else (0x7A, 0x72, 0x78, 0x79, 0xA1))
    tpl = TplSpec(
        ci,
        rng.randrange(256),
        rng.randrange(256),
        mode,
        rng.randrange(0x10000) & 0xE00F,
        address if ci == 0x72 else None,
    )
    afl = AflSpec(mcr=rng.randrange(2**32)) if mode == 7 else None
    spec = TelegramSpec(
        address, rng.choice((0x44, 0x46, 0x08)), ell, afl, tpl, rng.choice(PAYLOADS)
    )
    return spec, encode_telegram(spec, KEY)


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4))):
        kind = rng.randrange(6)
        if kind == 0 and out:
            i = rng.randrange(len(out) * 8)
            out[i // 8] ^= 1 << (i % 8)
        elif kind == 1 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif kind == 2 and out:
            del out[rng.randrange(len(out)) :]
        elif kind == 3:
            out += rng.randbytes(rng.randrange(1, 20))
        elif kind == 4 and out:
            out[0] = rng.randrange(256)
        elif kind == 5 and len(out) > 10:
            out[10] = rng.randrange(256)
    return bytes(out)


def fuzz_cases(seed: int, count: int) -> Iterator[tuple[str, bytes]]:
    """(kind, input bytes) pairs: random bytes, encoded telegrams, and mutated ones."""
    rng = random.Random(seed)
    for _ in range(count):
        roll = rng.random()
        if roll < 0.15:
            yield "random", rng.randbytes(rng.randrange(0, 300))
            continue
        _, data = _spec(rng)
        if rng.random() < 0.5:
            data = add_crcs(data, rng.choice(list(FrameFormat)))
        if roll < 0.25:
            yield "valid", data
        else:
            yield "mutated", _mutate(rng, data)


def outcome(decoder: Decoder, raw: bytes) -> str:
    """How decoding ``raw`` ended; rendering the result is part of the check."""
    try:
        result = decoder.decode_bytes(raw)
        if isinstance(result, DecodeFailure):
            json.dumps(failure_to_dict(result))
            return f"failure:{result.reason}"
        if not isinstance(result, Telegram):
            return f"bug:returned {type(result).__name__}"
        json.dumps(telegram_to_dict(result))
        telegram_summary(result)
        if result.error is not None:
            return f"telegram:{result.error.reason}"
        return f"telegram:ok:{result.security}"
    except Exception as exc:  # counting every exception is the point
        return f"bug:{type(exc).__name__}: {exc}"


def fuzz_decoder() -> Decoder:
    """A decoder holding the key of every meter the cases are built for."""
    return Decoder({address.id: KEY for address in ADDRESSES})


def run(seed: int, count: int) -> Counter[str]:
    decoder = fuzz_decoder()
    return Counter(outcome(decoder, raw) for _, raw in fuzz_cases(seed, count))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m benchmarks.fuzz_protocol", description=__doc__
    )
    parser.add_argument("cases", nargs="?", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    start = time.process_time()
    counts = run(args.seed, args.cases)
    elapsed = time.process_time() - start
    print(f"{args.cases} inputs in {elapsed:.1f} CPU s ({args.cases / elapsed:.0f}/s)")
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {n:7d}  {name}")
    bugs = sum(n for name, n in counts.items() if name.startswith("bug:"))
    print(f"exceptions: {bugs}")
    return 1 if bugs else 0


if __name__ == "__main__":
    sys.exit(main())
