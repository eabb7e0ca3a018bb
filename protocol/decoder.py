"""The telegram decoder: link -> ELL -> (NWL) -> AFL -> TPL -> security -> records.

Sans-IO: bytes or frames in, ``Telegram`` or ``DecodeFailure`` out. A ``DecodeFailure`` is
returned only when the link header itself is unusable; a failure above it is a ``Telegram``
whose ``error`` says what went wrong, keeping everything decoded before it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import partial

from protocol.afl import AFL_CI, parse_afl
from protocol.crc import crc16
from protocol.direction import contradicts_channel, frame_direction
from protocol.ell import ELL_LENGTHS, parse_ell
from protocol.link import LINK_HEADER_LEN, check_frame, locate_frame, parse_link_header
from protocol.manufacturers import DIEHL_DEFAULT_KEY, PROPRIETARY_PAYLOADS, DiehlLayout
from protocol.modes import Direction, FrameFormat
from protocol.records import RecordsResult, expand_compact, format_signature_bytes, parse_records
from protocol.security import FILLER, Opened, open_ell, open_tpl
from protocol.telegram import Address, Telegram, TplHeader
from protocol.transport import Content, ci_info, parse_tpl_header
from protocol.types import DecodeFailure, FailureReason, Frame, SecurityStatus
from protocol.vendors.registry import COMPACT_FORMATS, add_readings

NWL_CI = 0x81  # network layer: CI plus one byte (wmbusmeters skips it the same way)
FORMAT_CACHE_SIZE = 1024
MANUFACTURER_SECURITY_MODES = range(16, 32)
COMPACT_HEADER_LEN = 4  # format signature (2, LE) and full-frame CRC (2, LE)


def parse_hex(text: str) -> bytes | DecodeFailure:
    """Bytes of a hex string that may contain spaces, ``|`` separators and an ``0x`` prefix."""
    cleaned = "".join(text.split()).replace("|", "")
    if cleaned[:2].lower() == "0x":
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        bad = next((c for c in cleaned if c not in "0123456789abcdefABCDEF"), None)
        detail = f"not a hex digit: {bad!r}" if bad else f"odd number of digits ({len(cleaned)})"
        return DecodeFailure("input", FailureReason.BAD_HEX, detail)


def normalise_meter_id(meter_id: str) -> str:
    """Meter ids as keys: upper-case, 8 characters (ids are compared as printed)."""
    return meter_id.strip().upper()


@dataclass(slots=True)
class _Layers:
    """What the layers have found so far for one telegram (mutable while decoding)."""

    statuses: list[SecurityStatus] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def add(self, opened: Opened) -> None:
        self.statuses.append(opened.status)
        self.flags.extend(opened.flags)

    @property
    def status(self) -> SecurityStatus:
        fine = (SecurityStatus.NONE, SecurityStatus.DECRYPTED)
        failed = [s for s in self.statuses if s not in fine]
        if failed:
            return failed[0]
        if SecurityStatus.DECRYPTED in self.statuses:
            return SecurityStatus.DECRYPTED
        return SecurityStatus.NONE


@dataclass(frozen=True, slots=True)
class _Reached:
    """A telegram decoded up to some layer, and the bytes above that layer (plaintext once a
    layer below was opened)."""

    telegram: Telegram
    rest: bytes


@dataclass(frozen=True, slots=True)
class _Transport:
    """A telegram decoded up to its TPL header, and the bytes that header covers."""

    telegram: Telegram  # with ``tpl`` set
    tpl: TplHeader
    tpl_bytes: bytes  # from the TPL CI to the end: what an AFL MAC covers
    payload: bytes  # after the TPL header: plaintext once opened

    @property
    def content(self) -> Content:
        return ci_info(self.tpl.ci).content  # type: ignore[union-attr]  # parsed, so known

    @property
    def checkable_records(self) -> bool:
        """Whether the payload must read as records: its CI says so and the meter is not one
        known to send a proprietary layout under such a CI."""
        meter = self.tpl.address or self.telegram.link.address
        known = (meter.manufacturer, meter.version, meter.device_type) in PROPRIETARY_PAYLOADS
        return self.content is Content.RECORDS and not known


class Decoder:
    """Decodes frames into telegrams, decrypting with per-meter keys.

    ``keys`` maps 8-character meter ids (as printed: BCD digits, or hex for non-BCD ids) to
    AES-128 keys (16 bytes) or DES keys (8 bytes, deprecated mode 2). A key is looked up by the
    TPL long-header id first, then by the link-layer id. The decoder remembers the record layout
    of full frames to expand later compact frames (bounded cache).
    """

    __slots__ = ("_formats", "_keys")

    def __init__(self, keys: Mapping[str, bytes] | None = None) -> None:
        self._keys = {normalise_meter_id(k): bytes(v) for k, v in (keys or {}).items()}
        self._formats: OrderedDict[int, bytes] = OrderedDict(
            (crc16(f), f) for f in COMPACT_FORMATS
        )

    def __repr__(self) -> str:  # never show keys
        return f"Decoder(keys for {len(self._keys)} meters, {len(self._formats)} cached formats)"

    # --- entry points -------------------------------------------------------------------------

    def decode_hex(self, text: str) -> Telegram | DecodeFailure:
        raw = parse_hex(text)
        return raw if isinstance(raw, DecodeFailure) else self.decode_bytes(raw)

    def decode_bytes(self, raw: bytes) -> Telegram | DecodeFailure:
        """Decode a frame with block CRCs (format A or B, detected) or without any."""
        located = locate_frame(bytes(raw))
        if isinstance(located, DecodeFailure):
            return located
        frame, frame_format = located
        return self._decode(frame, frame_format)

    def decode_frame(self, frame: Frame) -> Telegram | DecodeFailure:
        """Decode a CRC-checked frame from the receiver (``frame.data`` without CRCs)."""
        failure = check_frame(frame)
        if failure is not None:
            return replace(failure, start_sample=frame.burst.start_sample if frame.burst else None)
        return self._decode(frame, frame.frame_format)

    # --- layers -------------------------------------------------------------------------------

    def _key(self, *addresses: Address | None) -> bytes | None:
        for address in addresses:
            if address is not None and address.id in self._keys:
                return self._keys[address.id]
        return None

    def _decode(self, frame: Frame, frame_format: FrameFormat | None) -> Telegram:
        link = parse_link_header(frame.data)
        layers = _Layers()
        if link.layout not in (None, DiehlLayout.OMS):
            layers.flags.append(f"diehl_address_{link.layout}")
        if contradicts_channel(link.c_field, frame.mode):
            layers.flags.append("c_field_contradicts_channel")
        start = _Reached(Telegram(frame, frame_format, link), frame.data[LINK_HEADER_LEN:])
        telegram = self._above_link(start, layers)
        telegram = replace(telegram, security=layers.status, flags=tuple(layers.flags),
                           direction=_direction(telegram))
        if telegram.direction is Direction.OTHER_TO_METER:
            return telegram  # a gateway's records are commands to the meter, not its readings
        return add_readings(telegram, self._key(telegram.meter_address, link.address))

    def _above_link(self, start: _Reached, layers: _Layers) -> Telegram:
        """The layers in turn; a step that returns a ``Telegram`` ends the decoding there."""
        ell = self._ell(start, layers)
        if isinstance(ell, Telegram):
            return ell
        afl = _afl(_skip_nwl(ell))
        if isinstance(afl, Telegram):
            return afl
        transport = _tpl(afl)
        if isinstance(transport, Telegram):
            return transport
        opened = self._open_tpl(transport, layers)
        if isinstance(opened, Telegram):
            return opened
        return self._application(opened, layers)

    def _ell(self, at: _Reached, layers: _Layers) -> _Reached | Telegram:
        """The extended link layer, when there is one; an SN means its payload CRC (and
        possibly encryption) protects everything after it."""
        if not at.rest or at.rest[0] not in ELL_LENGTHS:
            return at
        parsed = parse_ell(at.rest, 0)
        if isinstance(parsed, DecodeFailure):
            return replace(at.telegram, error=parsed, payload=at.rest)
        ell, sn, after = parsed
        telegram = replace(at.telegram, ell=ell)
        rest = at.rest[after:]
        if not sn:
            return _Reached(telegram, rest)
        link = telegram.link.address
        opened = open_ell(ell, sn, rest, link, self._key(link), partial(_reads_above_ell, telegram))
        layers.add(opened)
        if opened.failure is not None:
            return replace(telegram, error=opened.failure, payload=opened.payload)
        return _Reached(telegram, opened.payload)

    def _open_tpl(self, at: _Transport, layers: _Layers) -> _Transport | Telegram:
        """The TPL payload decrypted with the key of the TPL long-header meter, else the link's."""
        link = at.telegram.link.address
        key = self._key(at.tpl.address, link)
        opened = _open_transport(at, at.tpl.address or link, key)
        layers.add(opened)
        if opened.failure is not None:
            return replace(at.telegram, error=opened.failure, payload=opened.payload)
        if key is not None and layers.status is SecurityStatus.NONE and not opened.flags:
            layers.flags.append("key_given_but_not_encrypted")
        return replace(at, payload=opened.payload)

    def _application(self, at: _Transport, layers: _Layers) -> Telegram:
        """The records of the (opened) TPL payload, as far as its CI says what it holds."""
        content = at.content
        if content is Content.RECORDS:
            found = self._records(at.payload, learn=True)
        elif content is Content.COMPACT:
            layers.flags.append("compact_frame")
            # Modes 5/7 checked that the plaintext starts with 2F 2F; the compact header follows.
            found = self._compact(at.payload[len(FILLER) :] if at.tpl.security_mode else at.payload)
        elif content is Content.FORMAT:
            found = RecordsResult((), DecodeFailure(
                "records", FailureReason.UNKNOWN_FORMAT, "format frame (layout not supported)"))
        else:
            found = RecordsResult(())
        return replace(
            at.telegram,
            payload=at.payload,
            records=found.records,
            manufacturer_data=found.manufacturer_data,
            more_records_follow=found.more_records_follow,
            error=found.failure,
        )

    def _records(self, area: bytes, *, learn: bool) -> RecordsResult:
        result = parse_records(area)
        if learn and result.failure is None and result.records:
            signature = format_signature_bytes(area)
            fs = crc16(signature)
            self._formats[fs] = signature
            self._formats.move_to_end(fs)
            while len(self._formats) > FORMAT_CACHE_SIZE:
                self._formats.popitem(last=False)
        return result

    def _compact(self, body: bytes) -> RecordsResult:
        if len(body) < COMPACT_HEADER_LEN:
            return RecordsResult((), DecodeFailure(
                "records", FailureReason.TRUNCATED, "compact frame shorter than its 4-byte header"))
        fs = int.from_bytes(body[0:2], "little")
        full_crc = int.from_bytes(body[2:4], "little")
        signature = self._formats.get(fs)
        if signature is None:
            return RecordsResult((), DecodeFailure(
                "records", FailureReason.UNKNOWN_FORMAT,
                f"compact frame with format signature 0x{fs:04X}: no full frame of that format seen"
            ))
        data = body[COMPACT_HEADER_LEN:]
        # Decrypted compact frames end in 2F fill bytes up to the block boundary.
        area = _expand(signature, data) or _expand(signature, data.rstrip(FILLER[:1]))
        if area is None or crc16(area) != full_crc:
            return RecordsResult((), DecodeFailure(
                "records", FailureReason.CRC,
                f"compact frame does not rebuild with format 0x{fs:04X} (full-frame CRC)"))
        self._formats.move_to_end(fs)
        return self._records(area, learn=False)


def _skip_nwl(at: _Reached) -> _Reached:
    if at.rest and at.rest[0] == NWL_CI:
        return _Reached(at.telegram, at.rest[2:])
    return at


def _afl(at: _Reached) -> _Reached | Telegram:
    """The authentication and fragmentation layer, when there is one."""
    if not at.rest or at.rest[0] != AFL_CI:
        return at
    parsed = parse_afl(at.rest, 0)
    if isinstance(parsed, DecodeFailure):
        return replace(at.telegram, error=parsed, payload=at.rest)
    afl, after = parsed
    telegram, rest = replace(at.telegram, afl=afl), at.rest[after:]
    if afl.more_fragments or afl.fragment_id:
        return replace(telegram, payload=rest, error=DecodeFailure(
            "afl", FailureReason.UNKNOWN_FORMAT,
            f"fragment {afl.fragment_id} of a fragmented message (no reassembly)"))
    return _Reached(telegram, rest)


def _tpl(at: _Reached) -> _Transport | Telegram:
    """The TPL header; a frame that ends before one (e.g. an ACK) is complete as it is."""
    if not at.rest:
        return at.telegram
    parsed = parse_tpl_header(at.rest, 0)
    if isinstance(parsed, DecodeFailure):
        return replace(at.telegram, error=parsed, payload=at.rest)
    tpl, after = parsed
    return _Transport(replace(at.telegram, tpl=tpl), tpl, at.rest, at.rest[after:])


def _reads_above_ell(telegram: Telegram, rest: bytes) -> bool:
    """Whether the bytes an ELL payload CRC covers read as the layers above it: a known CI with
    a complete header and, when the TPL adds no encryption of its own, records up to the end.

    A CRC that matches by chance (a wrong key's output or a ciphertext, one in 65,536) leaves
    random bytes, which mostly do not (docs/protocol.md §6.5).
    """
    afl = _afl(_skip_nwl(_Reached(telegram, rest)))
    if isinstance(afl, Telegram):  # a malformed AFL, or a fragment (which cannot be checked)
        return afl.error is None or afl.error.reason is FailureReason.UNKNOWN_FORMAT
    transport = _tpl(afl)
    if isinstance(transport, Telegram):
        return transport.error is None
    if transport.tpl.security_mode == 0 and transport.checkable_records:
        return parse_records(transport.payload).failure is None
    return True


def _direction(telegram: Telegram) -> Direction:
    """Which way the frame went, as far as the frame itself shows (``protocol.direction``)."""
    ci = telegram.tpl.ci if telegram.tpl is not None else None
    return frame_direction(telegram.link.c_field, telegram.frame.mode, ci)


def _open_transport(at: _Transport, meter: Address, key: bytes | None) -> Opened:
    """``open_tpl``, and the ways in that some meters need when it finds none."""
    records = at.checkable_records
    direction = _direction(at.telegram)
    opened = open_tpl(at.tpl, at.telegram.afl, at.tpl_bytes, at.payload, meter, key,
                      records=records, direction=direction)
    if (
        opened.status is SecurityStatus.NO_KEY
        and at.telegram.link.layout is DiehlLayout.OMS
        and at.tpl.security_mode == 5
    ):
        # Diehl meters without an installer key use the published default key.
        with_default = open_tpl(
            at.tpl, at.telegram.afl, at.tpl_bytes, at.payload, meter, DIEHL_DEFAULT_KEY,
            records=records, direction=direction,
        )
        if with_default.status is SecurityStatus.DECRYPTED:
            flags = (*with_default.flags, "manufacturer_default_key")
            opened = replace(with_default, flags=flags)
    if (
        opened.status is SecurityStatus.UNSUPPORTED
        and at.tpl.security_mode in MANUFACTURER_SECURITY_MODES
        and at.content is Content.RECORDS
    ):
        opened = _manufacturer_mode_as_plaintext(at.payload) or opened
    return opened


def _expand(signature: bytes, data: bytes) -> bytes | None:
    try:
        return expand_compact(signature, data)
    except ValueError:
        return None


def _manufacturer_mode_as_plaintext(payload: bytes) -> Opened | None:
    """Manufacturer-specific security modes (16-31) whose payload parses cleanly as records.

    Some meters (e.g. Diehl IZAR RS) set such a mode on plaintext records; anything that does not
    parse completely stays ``unsupported`` so that ciphertext never becomes readings.
    """
    result = parse_records(payload)
    if result.failure is None and result.records and not result.manufacturer_data:
        return Opened(SecurityStatus.NONE, payload, ("manufacturer_security_mode_plaintext",))
    return None
