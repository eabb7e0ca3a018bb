"""CRC-aided correction: when a block fails its CRC, try the least reliable decisions.

Bounded work: per failed block, the ``CANDIDATES`` cheapest alternative code-word decisions
inside it, alone and in pairs (78 checks). Against false frames: in a frame of short blocks
(format A, at most 18 bytes) at least one block must pass without help. Over the long blocks
of format B the 16-bit CRC has little distance to spare, and a "repair" that completes a
low-weight error pattern would pass: there only one change is tried, and only among the few
decisions that were close calls (cost far below the block's median), which real single
errors are and the completion of a random error pattern almost never is.
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
LONG_BLOCK_COST = 0.25  # long blocks: only decisions this far below the median are tried
LONG_BLOCK_CANDIDATES = 4


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


def _candidates(start: int, size: int, decision: SoftDecision, long: bool) -> np.ndarray:
    """The cheapest alternative decisions inside a block (for long blocks: close calls only)."""
    inside = np.flatnonzero((decision.alt_byte >= start) & (decision.alt_byte < start + size))
    order = inside[np.argsort(decision.alt_cost[inside], kind="stable")][:CANDIDATES]
    if long:
        limit = LONG_BLOCK_COST * float(np.median(decision.alt_cost[inside]))
        order = order[decision.alt_cost[order] < limit][:LONG_BLOCK_CANDIDATES]
    return order


def _effects(order: np.ndarray, start: int, size: int, decision: SoftDecision) -> list[int]:
    """What applying each alternative does to the block check (the check is affine)."""
    zero = _syndrome(bytes(size))
    effects = []
    for i in order:
        flip = bytearray(size)
        flip[decision.alt_byte[i] - start] = decision.alt_xor[i]
        effects.append(_syndrome(bytes(flip)) ^ zero)
    return effects


def _fix_block(
    block: bytearray, start: int, decision: SoftDecision, max_changes: int, long: bool
) -> int | None:
    """Cheapest set of at most ``max_changes`` alternatives that makes the block pass, applied."""
    order = _candidates(start, len(block), decision, long)
    effects = _effects(order, start, len(block), decision)
    target = _syndrome(bytes(block))
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


def _ambiguous(start: int, size: int, decision: SoftDecision) -> bool:
    """Whether two close calls in a long block could both be wrong without the CRC noticing.

    The EN 13757 generator has period 151: two bit errors 151 bits apart (or any two changes
    with the same effect on the check) leave the CRC valid. When two close-call decisions
    form such a pair, the block's CRC cannot tell the frame from its neighbour.
    """
    order = _candidates(start, size, decision, long=True)
    effects = _effects(order, start, size, decision)
    return len(set(effects)) < len(effects)


def correct(decision: SoftDecision, frame_format: FrameFormat) -> Corrected:
    """Check every block of the decided on-air bytes and repair failed ones where allowed."""
    raw = bytearray(decision.data)
    spans = block_spans(len(raw), frame_format)
    passing = [_syndrome(bytes(raw[a:b])) == 0 for a, b in spans]
    anchored = any(passing)
    corrections = 0
    for n, (a, b) in enumerate(spans):
        long = b - a > MAX_BLOCK_BYTES
        if passing[n] or not (anchored or long):
            continue
        block = bytearray(raw[a:b])
        changed = _fix_block(block, a, decision, 1 if long else MAX_CHANGES, long)
        if changed is not None:
            raw[a:b] = block
            passing[n] = True
            corrections += changed
    for n, (a, b) in enumerate(spans):
        if passing[n] and b - a > MAX_BLOCK_BYTES and _ambiguous(a, b - a, decision):
            passing[n] = False
    return Corrected(bytes(raw), tuple(passing), corrections)
