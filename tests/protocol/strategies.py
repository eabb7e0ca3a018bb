"""Hypothesis strategies for the protocol tests, in one place for every test module.

Records: any DIF (every data field, storage, tariff, subunit, function), any VIF chain
(primary, extension table or plain-text unit, plus combinable VIFEs) and data bytes that fit the
DIF. Telegrams: a ``TelegramSpec`` with random link address, optional ELL and AFL, security
mode 0/5/7 and random records, for ``protocol.encoder.encode_telegram``.
"""

from __future__ import annotations

from hypothesis import strategies as st

from protocol.encoder import AflSpec, EllSpec, TelegramSpec, TplSpec
from protocol.records import make_dif
from protocol.records_vif import COMBINABLE, COMBINABLE_ESCAPE, COMBINABLE_EXTENSION
from protocol.telegram import Address
from protocol.types import RecordFunction

# Data bytes per DIF data field (0xD, variable length, is drawn by ``data_fields``).
FIXED_SIZES = {0x0: 0, 0x1: 1, 0x2: 2, 0x3: 3, 0x4: 4, 0x5: 4, 0x6: 6, 0x7: 8,
               0x8: 0, 0x9: 1, 0xA: 2, 0xB: 3, 0xC: 4, 0xE: 6}
LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF)

# ---- headers ------------------------------------------------------------------------------

difs = st.builds(
    make_dif,
    st.sampled_from(sorted({*FIXED_SIZES, 0xD})),
    storage=st.integers(0, 2**24),
    tariff=st.integers(0, 2**6),
    subunit=st.integers(0, 7),
    function=st.sampled_from(list(RecordFunction)),
)

# A VIF "head": primary VIF, an extension-table pair, or a plain-text unit.
primary_heads = st.sampled_from(
    [c for c in range(0x7F + 1) if c not in (0x7B, 0x7C, 0x7D)]).map(lambda c: [c])
table_heads = st.tuples(st.sampled_from([0xFB, 0xFD, 0xEF]), st.integers(0, 0x7F)).map(list)
text_heads = st.text(LATIN1, max_size=6).map(
    lambda t: [0x7C, len(t.encode("latin-1")), *t.encode("latin-1")[::-1]])
combinables = st.one_of(
    st.sampled_from(sorted(set(COMBINABLE) - {COMBINABLE_ESCAPE})).map(lambda c: [c]),
    st.sampled_from(sorted(COMBINABLE_EXTENSION)).map(lambda c: [COMBINABLE_ESCAPE, c]),
)


def chain(codes: list[int]) -> bytes:
    """Extension bit on every byte but the last."""
    return bytes(c | 0x80 for c in codes[:-1]) + bytes(codes[-1:])


@st.composite
def vifs(draw: st.DrawFn) -> bytes:
    head = draw(st.one_of(primary_heads, table_heads, text_heads))
    vifes = [b for group in draw(st.lists(combinables, max_size=3)) for b in group]
    if head[0] == 0x7C:  # the extension bit of a plain-text VIF sits on the VIF byte
        return bytes([head[0] | (0x80 if vifes else 0), *head[1:]]) + chain(vifes)
    return chain(head + vifes)


@st.composite
def data_fields(draw: st.DrawFn, dif: bytes) -> bytes:
    field = dif[0] & 0x0F
    if field != 0x0D:
        return draw(st.binary(min_size=FIXED_SIZES[field], max_size=FIXED_SIZES[field]))
    lvar = draw(st.one_of(st.integers(0, 0x20), st.integers(0xC0, 0xC6), st.integers(0xD0, 0xD6),
                          st.integers(0xE0, 0xEF), st.integers(0xF0, 0xF6)))
    size = lvar if lvar < 0xC0 else lvar & 0x0F if lvar < 0xF0 else \
        {0xF5: 48, 0xF6: 64}.get(lvar, 4 * (lvar - 0xEC))
    if 0xC0 <= lvar < 0xE0:  # BCD digits (hex digits are tested in the fixed-size fields)
        digits = draw(st.text("0123456789", min_size=2 * size, max_size=2 * size))
        return bytes([lvar]) + bytes.fromhex(digits)[::-1]
    return bytes([lvar]) + draw(st.binary(min_size=size, max_size=size))


@st.composite
def raw_records(draw: st.DrawFn) -> bytes:
    dif = draw(difs)
    return dif + draw(vifs()) + draw(data_fields(dif))


# ---- telegrams ---------------------------------------------------------------------------

bcd_ids = st.text("0123456789", min_size=8, max_size=8).map(lambda d: bytes.fromhex(d)[::-1])
addresses = st.builds(
    Address,
    m_field=st.integers(0x0421, 0x6B5A),
    id_bytes=bcd_ids,
    version=st.integers(0, 255),
    device_type=st.integers(0, 255),
)


LONG_HEADER_CIS = (0x72, 0x5B)


@st.composite
def specs(draw: st.DrawFn) -> TelegramSpec:
    mode = draw(st.sampled_from([0, 5, 7]))
    ell = draw(st.none() | st.builds(
        EllSpec,
        ci=st.sampled_from([0x8C, 0x8D, 0x8E, 0x8F]),
        cc=st.integers(0, 255),
        acc=st.integers(0, 255),
        address2=addresses,
        session_number=st.integers(0, 2**29 - 1),
    ))
    if ell is not None and ell.ci in (0x8D, 0x8F):
        ell = EllSpec(ell.ci, ell.cc, ell.acc, ell.address2, ell.session_number,
                      encrypt=draw(st.booleans()))
    # Mode 7 needs a CMAC of 8 bytes or more (AT 5-7); shorter: bad_mac (test_integrity.py).
    afl = draw(st.builds(AflSpec, mcr=st.integers(0, 2**32 - 1), mcl=st.sampled_from(
        [0x25, 0x26, 0x27]), ki=st.none() | st.integers(0, 0xFFFF),
        ml=st.none() | st.integers(0, 0xFFFF))) if mode == 7 else None
    # Both directions: a meter's data, or a gateway's command with records to the meter
    # (docs/protocol.md §2.3, §5.1), whose mode 7 keys are derived for that direction.
    to_meter = draw(st.booleans())
    if to_meter:
        c_field, cis = draw(st.sampled_from([0x53, 0x73, 0x43, 0x5A, 0x5B])), [0x5A, 0x5B]
    else:
        c_field = draw(st.sampled_from([0x44, 0x46, 0x08]))
        cis = [0x7A, 0x72] if mode else [0x7A, 0x72, 0x78]
    ci = draw(st.sampled_from(cis))
    tpl = TplSpec(
        ci=ci,
        acc=draw(st.integers(0, 255)),
        status=draw(st.integers(0, 255)),
        security_mode=mode,
        cw_flags=draw(st.integers(0, 0xFFFF)) & 0xE00F,
        address=draw(addresses) if ci in LONG_HEADER_CIS else None,
        clear_tail=b"".join(draw(st.lists(raw_records(), max_size=2))) if mode else b"",
    )
    payload = b"".join(draw(st.lists(raw_records(), max_size=5)))
    return TelegramSpec(draw(addresses), c_field, ell, afl, tpl, payload)
