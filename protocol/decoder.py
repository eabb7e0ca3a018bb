"""The telegram decoder: link -> ELL -> (NWL) -> AFL -> TPL -> security -> records.

Sans-IO: bytes or frames in, ``Telegram`` or ``DecodeFailure`` out. A ``DecodeFailure`` is
returned only when the link header itself is unusable; a failure above it is a ``Telegram``
whose ``error`` says what went wrong, keeping everything decoded before it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from protocol.afl import AFL_CI, parse_afl
from protocol.crc import crc16
from protocol.ell import ELL_LENGTHS, parse_ell
from protocol.link import LINK_HEADER_LEN, check_frame, locate_frame, parse_link_header
from protocol.manufacturers import DIEHL_DEFAULT_KEY, DiehlLayout
from protocol.modes import FrameFormat
from protocol.records import expand_compact, format_signature_bytes, parse_records
from protocol.security import FILLER, Opened, open_ell, open_tpl
from protocol.telegram import Address, Telegram
from protocol.transport import Content, ci_info, parse_tpl_header
from protocol.types import DecodeFailure, FailureReason, Frame, SecurityStatus

NWL_CI = 0x81  # network layer: CI plus one byte (wmbusmeters skips it the same way)
FORMAT_CACHE_SIZE = 1024
MANUFACTURER_SECURITY_MODES = range(16, 32)
COMPACT_HEADER_LEN = 4  # format signature (2, LE) and full-frame CRC (2, LE)
# Record layouts of Kamstrup meters (Multical 21, flowIQ) that send mostly compact frames, as
# wmbusmeters knows them; each is checked against its signature (CRC) and every rebuilt frame
# against its full-frame CRC, so a wrong entry cannot produce readings.
KNOWN_COMPACT_FORMATS = tuple(
    bytes.fromhex(h)
    for h in (
        "02FF2004134413615B6167",
        "02FF20041392013BA1015B8101E7FF0F",
        "02FF2004134413A1015B8101E7FF0F",
        "02FF2004134413615B5167",
        "02FF2004134413",
    )
)


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
            (crc16(f), f) for f in KNOWN_COMPACT_FORMATS
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
        telegram = Telegram(frame, frame_format, link)

        def finish(**changes: object) -> Telegram:
            return replace(telegram, security=layers.status, flags=tuple(layers.flags), **changes)

        rest = frame.data[LINK_HEADER_LEN:]
        if rest and rest[0] in ELL_LENGTHS:
            parsed = parse_ell(rest, 0)
            if isinstance(parsed, DecodeFailure):
                return finish(error=parsed, payload=rest)
            ell, sn, after = parsed
            telegram = replace(telegram, ell=ell)
            rest = rest[after:]
            if sn:
                opened = open_ell(ell, sn, rest, link.address, self._key(link.address))
                layers.add(opened)
                if opened.failure is not None:
                    return finish(error=opened.failure, payload=opened.payload)
                rest = opened.payload
        if rest and rest[0] == NWL_CI:
            rest = rest[2:]
        if rest and rest[0] == AFL_CI:
            parsed_afl = parse_afl(rest, 0)
            if isinstance(parsed_afl, DecodeFailure):
                return finish(error=parsed_afl, payload=rest)
            afl, after = parsed_afl
            telegram = replace(telegram, afl=afl)
            rest = rest[after:]
            if afl.more_fragments or afl.fragment_id:
                return finish(payload=rest, error=DecodeFailure(
                    "afl", FailureReason.UNKNOWN_FORMAT,
                    f"fragment {afl.fragment_id} of a fragmented message (no reassembly)"))
        if not rest:
            return finish()
        parsed_tpl = parse_tpl_header(rest, 0)
        if isinstance(parsed_tpl, DecodeFailure):
            return finish(error=parsed_tpl, payload=rest)
        tpl, after = parsed_tpl
        telegram = replace(telegram, tpl=tpl)
        payload = rest[after:]
        content = ci_info(tpl.ci).content  # type: ignore[union-attr]  # parsed, so known
        meter = tpl.address or link.address
        key = self._key(tpl.address, link.address)
        opened = open_tpl(tpl, telegram.afl, rest, payload, meter, key)
        if (
            opened.status is SecurityStatus.NO_KEY
            and link.layout is DiehlLayout.OMS
            and tpl.security_mode == 5
        ):
            # Diehl meters without an installer key use the published default key.
            with_default = open_tpl(tpl, telegram.afl, rest, payload, meter, DIEHL_DEFAULT_KEY)
            if with_default.status is SecurityStatus.DECRYPTED:
                flags = (*with_default.flags, "manufacturer_default_key")
                opened = replace(with_default, flags=flags)
        if (
            opened.status is SecurityStatus.UNSUPPORTED
            and tpl.security_mode in MANUFACTURER_SECURITY_MODES
            and content is Content.RECORDS
        ):
            opened = _manufacturer_mode_as_plaintext(payload) or opened
        layers.add(opened)
        if opened.failure is not None:
            return finish(error=opened.failure, payload=opened.payload)
        payload = opened.payload
        if key is not None and layers.status is SecurityStatus.NONE and not opened.flags:
            layers.flags.append("key_given_but_not_encrypted")
        if content is Content.RECORDS:
            return finish(payload=payload, **self._records(payload, learn=True))
        if content is Content.COMPACT:
            layers.flags.append("compact_frame")
            # Modes 5/7 checked that the plaintext starts with 2F 2F; the compact header follows.
            body = payload[len(FILLER) :] if tpl.security_mode else payload
            return finish(payload=payload, **self._compact(body))
        if content is Content.FORMAT:
            return finish(payload=payload, error=DecodeFailure(
                "records", FailureReason.UNKNOWN_FORMAT, "format frame (layout not supported)"))
        return finish(payload=payload)

    def _records(self, area: bytes, *, learn: bool) -> dict[str, object]:
        result = parse_records(area)
        if learn and result.failure is None and result.records:
            signature = format_signature_bytes(area)
            fs = crc16(signature)
            self._formats[fs] = signature
            self._formats.move_to_end(fs)
            while len(self._formats) > FORMAT_CACHE_SIZE:
                self._formats.popitem(last=False)
        return {
            "records": result.records,
            "manufacturer_data": result.manufacturer_data,
            "more_records_follow": result.more_records_follow,
            "error": result.failure,
        }

    def _compact(self, body: bytes) -> dict[str, object]:
        if len(body) < COMPACT_HEADER_LEN:
            return {"error": DecodeFailure("records", FailureReason.TRUNCATED,
                                           "compact frame shorter than its 4-byte header")}
        fs = int.from_bytes(body[0:2], "little")
        full_crc = int.from_bytes(body[2:4], "little")
        signature = self._formats.get(fs)
        if signature is None:
            return {"error": DecodeFailure(
                "records", FailureReason.UNKNOWN_FORMAT,
                f"compact frame with format signature 0x{fs:04X}: no full frame of that format seen"
            )}
        data = body[COMPACT_HEADER_LEN:]
        # Decrypted compact frames end in 2F fill bytes up to the block boundary.
        area = _expand(signature, data) or _expand(signature, data.rstrip(FILLER[:1]))
        if area is None or crc16(area) != full_crc:
            return {"error": DecodeFailure(
                "records", FailureReason.CRC,
                f"compact frame does not rebuild with format 0x{fs:04X} (full-frame CRC)")}
        self._formats.move_to_end(fs)
        return self._records(area, learn=False)


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
