"""CRC-aided correction: when a block fails its CRC, try the least reliable decisions.

Bounded work: per failed block, the ``CANDIDATES`` cheapest alternative code-word decisions
inside it, alone and in pairs (78 checks). Against false frames: in a frame of short blocks
(format A, at most 18 bytes, shorter than the generator's period) at least one block must pass
without help.

Long blocks (format B, up to 128 bytes with the CRC) need more care. The EN 13757 generator
repeats every 151 bits, so two decisions 151 bits apart (any two with the same effect on the
check) can both be wrong unnoticed: a CRC-valid word may have a CRC-valid twin two changes away,
and a one-change "repair" may pick the wrong one of such a pair. There a block is accepted, with
or without a repair, only when the posterior chance that another word was sent stays below
``MAX_RISK``: the decision costs, scaled by the block's own noise estimate into log-likelihood
ratios, weigh every twin against the decided word, and a repair against the chance that the
failing check came from several errors that a chance match completes (2^-15 per trial: the
generator has the factor x+1, so only checks of the same parity class can match).
The block check is affine in the bits, so each alternative's effect on it is precomputed once
and every trial costs one XOR.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

import numpy as np

from protocol.coding import SoftDecision
from protocol.crc import POLYNOMIAL, crc16
from protocol.framing import block_spans
from protocol.modes import FrameFormat

CANDIDATES = 12
MAX_CHANGES = 2
MAX_BLOCK_BYTES = 18
LONG_BLOCK_COST = 0.25  # long blocks: only decisions this far below the median are tried
LONG_BLOCK_CANDIDATES = 4
MAX_RISK = 1e-3  # accepted posterior chance that a long block is a wrong CRC-valid word
CHANCE_MATCH = 2.0**-15  # a random check of the right parity class equals a given one
_BITS = np.arange(7, -1, -1)
_LONGEST_BLOCK = 256  # bytes: more than any block (format B: 128)


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


@lru_cache(maxsize=1)
def _bit_effects() -> np.ndarray:
    """Effect on the check of flipping each bit, by distance from a block's end: (bytes, 8).

    The check is the CRC of the data XOR the received CRC: a received CRC bit flips its own
    check bit, and a data bit d bits before the CRC adds x^(16+d) mod the generator (with the
    initial value and final XOR cancelling, the CRC is linear and blind to leading zeros).
    """
    effects = [1 << k for k in range(16)]
    reg = POLYNOMIAL  # x^16
    for _ in range(8 * (_LONGEST_BLOCK - 2)):
        effects.append(reg)
        reg = ((reg << 1) ^ (POLYNOMIAL if reg & 0x8000 else 0)) & 0xFFFF
    return np.array(effects[::-1], dtype=np.int64).reshape(-1, 8)


def _inside(start: int, size: int, decision: SoftDecision) -> np.ndarray:
    return np.flatnonzero((decision.alt_byte >= start) & (decision.alt_byte < start + size))


def _candidates(start: int, size: int, decision: SoftDecision, long: bool) -> np.ndarray:
    """The cheapest alternative decisions inside a block (for long blocks: close calls only)."""
    inside = _inside(start, size, decision)
    order = inside[np.argsort(decision.alt_cost[inside], kind="stable")][:CANDIDATES]
    if long:
        limit = LONG_BLOCK_COST * float(np.median(decision.alt_cost[inside]))
        order = order[decision.alt_cost[order] < limit][:LONG_BLOCK_CANDIDATES]
    return order


def _effects(order: np.ndarray, start: int, size: int, decision: SoftDecision) -> np.ndarray:
    """What applying each alternative does to the block check (the check is affine)."""
    rows = _bit_effects()[decision.alt_byte[order] - start + _LONGEST_BLOCK - size]
    flips = (decision.alt_xor[order, None].astype(np.int64) >> _BITS) & 1
    return np.bitwise_xor.reduce(np.where(flips == 1, rows, 0), axis=1)


def _fix_block(
    block: bytes, start: int, decision: SoftDecision, max_changes: int, long: bool
) -> np.ndarray | None:
    """Alternatives (indices) of the cheapest set of at most ``max_changes`` that passes."""
    order = _candidates(start, len(block), decision, long)
    effects = _effects(order, start, len(block), decision).tolist()
    target = _syndrome(block)
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
    return order[list(combo)]


def _llr_per_cost(cost: np.ndarray) -> float:
    """Log-likelihood ratio per unit of decision cost, from the block's own decisions.

    A decision metric that is Gaussian with mean μ and variance v has LLR 2μx/v; the median and
    the 84th percentile (above the few wrong decisions folded in near zero) give μ and √v.
    """
    centre, upper = np.percentile(cost, [50, 84])
    spread = max(upper - centre, 1e-6 * centre)
    return 2 * centre / spread**2 if centre > 0 else 0.0  # all ties: no information


def _long_block_risk(start: int, size: int, decision: SoftDecision, applied: np.ndarray) -> float:
    """Posterior chance that a CRC-valid long block (after ``applied`` repairs) is wrong.

    Twins: two alternatives with the same effect on the check change the word into another
    CRC-valid one; relative to the decided word its likelihood is exp(-(cost a + cost b)), with
    the cost of undoing a repair negative. A repair: the single wrong decision it assumes
    (likelihood exp(-cost), no other error) against two or more other errors whose check the
    repair happened to match.
    """
    inside = _inside(start, size, decision)
    llr = np.minimum(decision.alt_cost[inside] * _llr_per_cost(decision.alt_cost[inside]), 700.0)
    repaired = np.isin(inside, applied)
    final = np.maximum(np.where(repaired, -llr, llr), -700.0)
    _, group = np.unique(_effects(inside, start, size, decision), return_inverse=True)
    weight = np.exp(-final)
    total = np.bincount(group, weight)
    squares = np.bincount(group, weight**2)
    twins = float(np.sum(total**2 - squares) / 2)
    odds = twins
    if repaired.any():
        errors = float(np.sum(1 / (1 + np.exp(llr[~repaired]))))  # expected other errors
        several = 1 - np.exp(-errors) * (1 + errors)
        single = float(np.exp(-llr[repaired].sum() - errors))
        odds += several * CHANCE_MATCH / single if single > 0 else np.inf
    return odds / (1 + odds)


def correct(decision: SoftDecision, frame_format: FrameFormat) -> Corrected:
    """Check every block of the decided on-air bytes and repair failed ones where allowed."""
    raw = bytearray(decision.data)
    spans = block_spans(len(raw), frame_format)
    passing = [_syndrome(bytes(raw[a:b])) == 0 for a, b in spans]
    anchored = any(passing)
    corrections = 0
    for n, (a, b) in enumerate(spans):
        long = b - a > MAX_BLOCK_BYTES
        if passing[n] and not long:
            continue
        applied = np.zeros(0, dtype=np.int64)
        if not passing[n]:
            if not (anchored or long):
                continue
            fix = _fix_block(bytes(raw[a:b]), a, decision, 1 if long else MAX_CHANGES, long)
            if fix is None:
                continue
            applied = fix
        if long and _long_block_risk(a, b - a, decision, applied) > MAX_RISK:
            passing[n] = False
            continue
        for i in applied:
            raw[decision.alt_byte[i]] ^= int(decision.alt_xor[i])
        passing[n] = True
        corrections += len(applied)
    return Corrected(bytes(raw), tuple(passing), corrections)
