"""How often is a wrong key taken for the right one? ``python3 -m benchmarks.wrong_keys [N]``

Each encrypted reference telegram of docs/protocol.md §9 (R1 ELL AES-CTR, R3 and R4 mode 5,
R10 mode 5 behind an ELL I, R5 mode 7) is decoded with N random keys (default 1,000,000,
``--seed``) by the whole decoder. Printed per telegram: how many keys passed the 16-bit marker
that alone decided before (``2F 2F`` at the start of the plaintext, or the ELL payload CRC), how
many the decoder accepted (status decrypted, or none: a readable telegram), how many of those
came with records, and the accepted keys (random keys, not secrets).

A wrong key's plaintext is random, so its acceptance rate is 2^-16 times the share of random
plaintexts that start with the marker and then pass the structural check. That share is
estimated separately (``--samples``, default 200,000): random regions that start with the marker
put where the ciphertext was, decoded without a key, which takes the decoder's "plaintext
despite the encryption flag" path through the same check.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # ``python3 benchmarks/wrong_keys.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protocol.crc import crc16
from protocol.decoder import Decoder
from protocol.security import AES_BLOCK, FILLER, aes_cbc_decrypt, aes_ctr, ell_counter, mode5_iv
from protocol.telegram import Telegram
from protocol.types import SecurityStatus
from tests.protocol.spec_vectors import R1, R3, R4, R5, R10

READABLE = (SecurityStatus.DECRYPTED, SecurityStatus.NONE)
MARKER_RATE = 2.0**-16


@dataclass(frozen=True, slots=True)
class Reference:
    """An encrypted telegram, CRC-less, and where its ciphertext is."""

    name: str
    what: str
    data: bytes  # link layer without CRCs
    meter_id: str
    ciphertext_at: int  # offset of the ciphertext (TPL payload, or the ELL payload CRC)
    telegram: Telegram  # decoded without a key

    @classmethod
    def of(cls, name: str, what: str, hex_text: str) -> Reference:
        t = Decoder().decode_hex(hex_text)
        assert isinstance(t, Telegram) and t.security is SecurityStatus.NO_KEY, t
        at = len(t.frame.data) - len(t.payload)
        return cls(name, what, t.frame.data, t.meter_id, at, t)

    @property
    def ell_ctr(self) -> bool:
        return self.telegram.ell is not None and self.telegram.ell.session_number is not None

    @property
    def region_size(self) -> int:
        """Bytes the marker and the check cover: the ELL region, else the N blocks of mode 5."""
        if self.ell_ctr:
            return len(self.data) - self.ciphertext_at
        tpl = self.telegram.tpl
        assert tpl is not None
        return tpl.encrypted_blocks * AES_BLOCK

    def marker(self) -> Callable[[bytes], bool] | None:
        """Whether a key passes the 16-bit marker alone (None for mode 7, whose MAC decides)."""
        t, cipher = self.telegram, self.data[self.ciphertext_at :]
        if self.ell_ctr:
            assert t.ell is not None and t.ell.session_number is not None
            sn = t.ell.session_number.to_bytes(4, "little")
            counter = ell_counter(t.link.address, t.ell.cc, sn)

            def crc_matches(key: bytes) -> bool:
                plain = aes_ctr(key, counter, cipher)
                return int.from_bytes(plain[:2], "little") == crc16(plain[2:])

            return crc_matches
        assert t.tpl is not None
        if t.tpl.security_mode != 5:
            return None
        iv = mode5_iv(t.meter_address, t.tpl.acc or 0)
        return lambda key: aes_cbc_decrypt(key, iv, cipher[:AES_BLOCK]).startswith(FILLER)

    def decode(self, key: bytes | None, data: bytes | None = None) -> Telegram | None:
        """The telegram when it was accepted as readable, else None."""
        t = Decoder({self.meter_id: key} if key else {}).decode_bytes(data or self.data)
        return t if isinstance(t, Telegram) and t.security in READABLE else None

    def random_plaintext(self, rng: random.Random) -> bytes:
        """The frame with a random region in place of the ciphertext that passes the marker."""
        size = self.region_size
        if self.ell_ctr:
            rest = rng.randbytes(size - 2)
            region = crc16(rest).to_bytes(2, "little") + rest
        else:
            region = FILLER + rng.randbytes(size - 2)
        at = self.ciphertext_at
        return self.data[:at] + region + self.data[at + size :]


REFERENCES = (
    ("R3", "mode 5, short header", R3),
    ("R4", "mode 5, long header", R4),
    ("R10", "mode 5 behind ELL I", R10),
    ("R1", "ELL AES-CTR, CI 78", R1),
    ("R5", "mode 7, 8-byte AFL MAC", R5),
)


def run(count: int, samples: int, seed: int) -> None:
    print(f"{count:,} random keys per telegram (seed {seed}); a marker passes once in 65,536")
    print(f"{'':4} {'telegram':26} {'region':>6} {'marker':>7} {'accepted':>8} {'records':>7}  "
          f"{'random plaintext passing the check':>34}  expected accepted")
    for name, what, hex_text in REFERENCES:
        ref = Reference.of(name, what, hex_text)
        rng = random.Random(f"{seed}-{name}")
        marker = ref.marker()
        started = time.process_time()
        passed, accepted, with_records = 0, [], 0
        for _ in range(count):
            key = rng.randbytes(16)
            passed += bool(marker and marker(key))
            t = ref.decode(key)
            if t is not None:
                accepted.append(key.hex().upper())
                with_records += bool(t.records)
        if marker is None:
            share, expected = "(the MAC decides)", "0 (2^-64)"
            passed_text = "-"
        else:
            hits = sum(
                ref.decode(None, ref.random_plaintext(rng)) is not None for _ in range(samples)
            )
            rate = MARKER_RATE * hits / samples
            share = f"{hits:,}/{samples:,} = {hits / samples:.4f}"
            expected = f"{rate * count:.2f} (1 in {1 / rate:,.0f})" if hits else "0"
            passed_text = f"{passed:,}"
        print(f"{name:4} {what:26} {ref.region_size:6d} {passed_text:>7} {len(accepted):8,d} "
              f"{with_records:7,d}  "
              f"{share:>34}  {expected}   [{time.process_time() - started:.0f} CPU s]",
              flush=True)
        for key in accepted:
            print(f"       accepted key {key}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("keys", nargs="?", type=int, default=1_000_000, help="keys per telegram")
    parser.add_argument("--samples", type=int, default=200_000,
                        help="random plaintexts per telegram for the conditional share")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    run(args.keys, args.samples, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
