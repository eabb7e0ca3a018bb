"""CRC-aided correction: when a block fails its CRC, try the least reliable decisions.

Bounded work: per failed block, the ``CANDIDATES`` cheapest alternative code-word decisions
inside it, alone and in pairs (78 checks). Against false frames: at least one block of the
frame must pass without help, and only short blocks (format A, at most 18 bytes) are repaired:
over the long blocks of format B the 16-bit CRC has too little distance left, and a wrong
"repair" that completes a low-weight error pattern would pass.
The block check is affine in the bits, so each alternative's effect on it is precomputed once
and every trial costs one XOR.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from protocol.coding import SoftDecision
from protocol.crc import crc16
from protocol.framing import block_spans
from protocol.modes import FrameFormat

CANDIDATES = 12
MAX_CHANGES = 2
MAX_BLOCK_BYTES = 18


@dataclass(frozen=True, slots=True)
class Corrected:
    raw: bytes  # on-air bytes after correction (CRCs included)
    block_ok: tuple[bool, ...]
    corrections: int  # code words changed

    @property
    def ok(self) -> bool:
        return all(self.block_ok)


def _syndrome(block: bytes) -> int:
    return crc16(block[:-2]) ^ int.from_bytes(block[-2:], "big")


def _fix_block(
    block: bytearray, start: int, decision: SoftDecision, max_changes: int
) -> int | None:
    """Cheapest set of at most ``max_changes`` alternatives that makes the block pass, applied."""
    inside = np.flatnonzero((decision.alt_byte >= start) & (decision.alt_byte < start + len(block)))
    order = inside[np.argsort(decision.alt_cost[inside], kind="stable")][:CANDIDATES]
    zero = _syndrome(bytes(len(block)))
    target = _syndrome(bytes(block))
    effects = []
    for i in order:
        flip = bytearray(len(block))
        flip[decision.alt_byte[i] - start] = decision.alt_xor[i]
        effects.append(_syndrome(bytes(flip)) ^ zero)
    trials: list[tuple[float, tuple[int, ...]]] = []
    for size in range(1, max_changes + 1):
        for combo in combinations(range(len(order)), size):
            acc = target
            for c in combo:
                acc ^= effects[c]
            if acc == 0:
                trials.append((float(decision.alt_cost[order[list(combo)]].sum()), combo))
    if not trials:
        return None
    _, combo = min(trials)
    for c in combo:
        i = order[c]
        block[decision.alt_byte[i] - start] ^= int(decision.alt_xor[i])
    return len(combo)


def correct(decision: SoftDecision, frame_format: FrameFormat) -> Corrected:
    """Check every block of the decided on-air bytes and repair failed ones where allowed."""
    raw = bytearray(decision.data)
    spans = block_spans(len(raw), frame_format)
    passing = [_syndrome(bytes(raw[a:b])) == 0 for a, b in spans]
    if not any(passing):
        return Corrected(bytes(raw), tuple(passing), 0)
    corrections = 0
    for n, (a, b) in enumerate(spans):
        if passing[n] or b - a > MAX_BLOCK_BYTES:
            continue
        block = bytearray(raw[a:b])
        changed = _fix_block(block, a, decision, MAX_CHANGES)
        if changed is not None:
            raw[a:b] = block
            passing[n] = True
            corrections += changed
    return Corrected(bytes(raw), tuple(passing), corrections)
