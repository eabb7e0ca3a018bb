"""The decoded telegram and the headers of each layer (link, ELL, AFL, TPL).

All frozen and slotted. Header classes hold the fields as received plus properties that name
their bits; parsing lives in the layer modules (``link``, ``ell``, ``afl``, ``transport``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from protocol.device_types import device_type_name
from protocol.manufacturers import DiehlLayout, manufacturer_letters
from protocol.modes import S1, Direction, FrameFormat
from protocol.types import DecodeFailure, Frame, Reading, Record, SecurityStatus


@dataclass(frozen=True, slots=True)
class Address:
    """Manufacturer, identification number, version and device type of one station."""

    m_field: int  # 16-bit value (sent LE)
    id_bytes: bytes  # 4 bytes as on air (BCD, least significant digit pair first)
    version: int
    device_type: int

    @property
    def manufacturer(self) -> str:
        return manufacturer_letters(self.m_field)

    @property
    def id(self) -> str:
        """8 BCD digits; a meter using non-BCD nibbles shows as 8 hex digits."""
        return self.id_bytes[::-1].hex().upper()

    @property
    def id_is_bcd(self) -> bool:
        return all((b >> 4) <= 9 and (b & 0x0F) <= 9 for b in self.id_bytes)

    @property
    def device_type_name(self) -> str:
        return device_type_name(self.device_type, self.manufacturer)

    def link_order_bytes(self) -> bytes:
        """``M(2) ID(4) version type`` as the link layer sends it (and as IVs use it)."""
        return self.m_field.to_bytes(2, "little") + self.id_bytes + bytes(
            (self.version, self.device_type)
        )


# C-field function names, keyed by (PRM bit, function code); docs/protocol.md §2.3.
_C_NAMES: dict[tuple[int, int], str] = {
    (1, 0x0): "SND_NKE",
    (1, 0x4): "SND_NR",
    (1, 0x5): "SND_UD3",
    (1, 0x6): "SND_IR",
    (1, 0x7): "ACC_NR",
    (1, 0x8): "ACC_DMD",
    (1, 0xA): "REQ_UD1",
    (1, 0xB): "REQ_UD2",
    (0, 0x0): "ACK",
    (0, 0x1): "NACK",
    (0, 0x6): "CNF_IR",
    (0, 0x8): "RSP_UD",
}


def c_field_name(c_field: int) -> str:
    """Name of a C-field by its PRM bit and function code; anything else is named by value."""
    prm, function = (c_field >> 6) & 1, c_field & 0x0F
    if prm and function == 0x3:
        # SND_UD toggles FCB with FCV set; SND_UD2 (43) has FCV clear.
        return "SND_UD" if c_field & 0x10 else "SND_UD2"
    return _C_NAMES.get((prm, function), f"C_0x{c_field:02X}")


_M2O, _O2M = Direction.METER_TO_OTHER, Direction.OTHER_TO_METER
# Who sends each function (docs/protocol.md §2.3). ACK is sent by both sides and is missing here,
# as is any unnamed value: the channel or the exchange decides those (``protocol.direction``).
_C_DIRECTIONS: dict[str, Direction] = {
    "SND_NR": _M2O, "SND_IR": _M2O, "ACC_NR": _M2O, "ACC_DMD": _M2O, "RSP_UD": _M2O,
    "NACK": _M2O, "SND_NKE": _O2M, "SND_UD": _O2M, "SND_UD2": _O2M, "SND_UD3": _O2M,
    "REQ_UD1": _O2M, "REQ_UD2": _O2M, "CNF_IR": _O2M,
}


def c_field_direction(c_field: int) -> Direction | None:
    """The direction a C-field's function is sent in; None when both sides send it (ACK) or the
    value has no name."""
    return _C_DIRECTIONS.get(c_field_name(c_field))


@dataclass(frozen=True, slots=True)
class LinkHeader:
    l_field: int
    c_field: int
    address: Address  # normalised when a Diehl frame sends it in another layout
    layout: DiehlLayout | None = None  # Diehl-family frames only

    @property
    def c_name(self) -> str:
        return c_field_name(self.c_field)


@dataclass(frozen=True, slots=True)
class EllHeader:
    """Extended link layer (CI 8C-8F)."""

    ci: int
    cc: int
    acc: int
    address2: Address | None = None  # ELL III/IV second address
    session_number: int | None = None  # ELL II/IV SN as a 32-bit value

    @property
    def encryption(self) -> int:
        """ENC field of SN: 0 none, 1 AES-128-CTR, others reserved."""
        return 0 if self.session_number is None else self.session_number >> 29

    @property
    def session_counter(self) -> int | None:
        return None if self.session_number is None else self.session_number & 0x0F

    @property
    def session_time(self) -> int | None:
        return None if self.session_number is None else (self.session_number >> 4) & 0x1FFFFFF

    @property
    def cc_flags(self) -> tuple[str, ...]:
        names = ("reserved", "repeated_access", "accessibility", "priority", "hop",
                 "synchronised", "fast_response", "bidirectional")
        return tuple(name for bit, name in enumerate(names) if self.cc >> bit & 1)


@dataclass(frozen=True, slots=True)
class AflHeader:
    """Authentication and fragmentation layer (CI 90)."""

    afll: int
    fcl: int
    mcl: int | None = None
    ki: int | None = None
    mcr: int | None = None
    mac: bytes | None = None
    ml: int | None = None

    @property
    def fragment_id(self) -> int:
        return self.fcl & 0xFF

    @property
    def more_fragments(self) -> bool:
        return bool(self.fcl >> 14 & 1)

    @property
    def auth_type(self) -> int | None:
        return None if self.mcl is None else self.mcl & 0x0F


class HeaderKind(StrEnum):
    NONE = "none"
    SHORT = "short"
    LONG = "long"


@dataclass(frozen=True, slots=True)
class TplHeader:
    """Transport layer: CI, and for short/long headers ACC, ST, CW (+ CWE in mode 7)."""

    ci: int
    kind: HeaderKind
    acc: int | None = None
    status: int | None = None
    cw: int | None = None
    cwe: int | None = None
    address: Address | None = None  # long header only: the meter

    @property
    def security_mode(self) -> int:
        return 0 if self.cw is None else (self.cw >> 8) & 0x1F

    @property
    def encrypted_blocks(self) -> int:
        return 0 if self.cw is None else (self.cw >> 4) & 0x0F

    @property
    def bidirectional(self) -> bool:
        return self.cw is not None and bool(self.cw >> 15 & 1)

    @property
    def accessible(self) -> bool:
        return self.cw is not None and bool(self.cw >> 14 & 1)

    @property
    def synchronous(self) -> bool:
        return self.cw is not None and bool(self.cw >> 13 & 1)

    @property
    def status_flags(self) -> tuple[str, ...]:
        """ST bits by name (docs/protocol.md §5.3); empty when no error is signalled."""
        if self.status is None:
            return ()
        flags = [("", "application_busy", "application_error", "alarm")[self.status & 3]]
        flags += [name for bit, name in ((2, "power_low"), (3, "permanent_error"),
                                         (4, "temporary_error")) if self.status >> bit & 1]
        if self.status & 0xE0:
            flags.append(f"manufacturer_0x{self.status >> 5:X}")
        return tuple(f for f in flags if f)


@dataclass(frozen=True, slots=True)
class Answer:
    """How a frame answers an earlier one (docs/json-schema.md, "Exchanges").

    ``delay_ms`` runs from the answered frame's ``end_sample`` (after its last data chip) to this
    frame's ``start_sample`` (the first sample of its sync word), so it includes this frame's
    preamble; ``window_ms`` is the standard's response window measured the same way.
    """

    reply_to: int  # start_sample of the frame answered
    delay_ms: float
    window_ms: tuple[float, float]

    @property
    def in_window(self) -> bool:
        low, high = self.window_ms
        return low <= self.delay_ms <= high


@dataclass(frozen=True, slots=True)
class Exchange:
    """A frame's place in an exchange between a meter and a gateway (``protocol.conversation``)."""

    start_sample: int  # of the exchange's first frame: the exchange's name in the output
    mode: str  # OMS mode of the whole exchange: "S2", "T2" or "C2"
    answer: Answer | None = None  # None for the frame that opened the exchange


@dataclass(frozen=True, slots=True)
class Telegram:
    """Everything decoded from one link-layer frame.

    ``error`` is set when a layer above the link header failed; the headers decoded before the
    failure (and records decoded before a record error) are kept. ``direction`` comes from the
    C-field and the channel (``protocol.direction``); a conversation tracker sets ``exchange``
    and, for an ACK, the direction its exchange shows.
    """

    frame: Frame
    frame_format: FrameFormat | None  # None: the input carried no CRCs, so the format is unknown
    link: LinkHeader
    ell: EllHeader | None = None
    afl: AflHeader | None = None
    tpl: TplHeader | None = None
    security: SecurityStatus = SecurityStatus.NONE
    flags: tuple[str, ...] = ()  # e.g. "plaintext_marked_encrypted", "compact_frame"
    payload: bytes = b""  # application data after the TPL header (plaintext when decrypted)
    records: tuple[Record, ...] = ()
    manufacturer_data: bytes = b""
    more_records_follow: bool = False
    error: DecodeFailure | None = None
    family: str | None = None  # the meter family (protocol/vendors) that gave the readings
    readings: tuple[Reading, ...] = ()
    direction: Direction = Direction.METER_TO_OTHER
    exchange: Exchange | None = None

    @property
    def mode(self) -> str | None:
        """The OMS mode: the exchange's (S2, T2, C2) for a frame in one; else S2 for a frame to
        a meter on the S channel (868.3 MHz), and the receiver's mode for everything else."""
        if self.exchange is not None:
            return self.exchange.mode
        if self.direction is Direction.OTHER_TO_METER and self.frame.mode == S1.name:
            return "S2"
        return self.frame.mode

    @property
    def meter_id(self) -> str:
        """The meter's id: the TPL long-header address when present, else the link address."""
        return self.meter_address.id

    @property
    def meter_address(self) -> Address:
        if self.tpl is not None and self.tpl.address is not None:
            return self.tpl.address
        return self.link.address

    @property
    def gateway_address(self) -> Address | None:
        """The sender of a frame to a meter, when the frame names it: a link address other than
        the meter's in the TPL long header (OMS). None otherwise: a frame to a meter whose link
        address is the meter's, as EN 13757-4 has it, does not say which gateway sent it."""
        meter = self.meter_address
        link = self.link.address
        if self.direction is not Direction.OTHER_TO_METER or (
            (link.m_field, link.id_bytes) == (meter.m_field, meter.id_bytes)
        ):
            return None
        return link
