"""Telegrams as JSON-ready dicts (schema: docs/json-schema.md) and as readable text.

Keys follow rtl_433's Wireless-MBus output where the meaning is the same (``model``, ``M``,
``id``, ``version``, ``type``, ``C``, ``CI``, ``AC``, ``ST``, ``CW``, integers as rtl_433
prints them in JSON). Keys never appear: no structure here holds one. Text from the air (LVAR
text, plain-text units, anything in a failure's detail) reaches the readable text only through
``printable``, so a telegram cannot send escape sequences to a terminal.
"""

from __future__ import annotations

from typing import Any

from protocol.link import LINK_HEADER_LEN
from protocol.records import record_to_dict
from protocol.telegram import (
    Address,
    AflHeader,
    EllHeader,
    Exchange,
    HeaderKind,
    Telegram,
    TplHeader,
)
from protocol.types import DecodeFailure, Record

MODEL = "Wireless-MBus"
# C0 controls, DEL and C1 controls (NEL, CSI, ...) as \xNN; ISO 8859-1 air text holds no others.
_CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


def printable(text: str) -> str:
    """``text`` with its control characters escaped (ESC as the four characters ``\\x1b``): safe
    on a terminal, and one line."""
    return text.translate(_CONTROL_ESCAPES)


def failure_to_dict(failure: DecodeFailure) -> dict[str, Any]:
    out: dict[str, Any] = {"model": MODEL, "error": _error(failure)}
    if failure.start_sample is not None:
        out["start_sample"] = failure.start_sample
    return out


def _error(failure: DecodeFailure) -> dict[str, str]:
    return {"reason": str(failure.reason), "stage": failure.stage, "detail": failure.detail}


def _ell(ell: EllHeader) -> dict[str, Any]:
    out: dict[str, Any] = {"ci": ell.ci, "cc": ell.cc, "acc": ell.acc,
                           "cc_flags": list(ell.cc_flags)}
    if ell.address2 is not None:
        out["address2"] = {"M": ell.address2.manufacturer, "id": ell.address2.id,
                           "version": ell.address2.version, "type": ell.address2.device_type}
    if ell.session_number is not None:
        out.update(session_counter=ell.session_counter, session_time=ell.session_time,
                   encryption=ell.encryption)
    return out


def _afl(afl: AflHeader) -> dict[str, Any]:
    out: dict[str, Any] = {"fcl": afl.fcl, "fragment_id": afl.fragment_id,
                           "more_fragments": afl.more_fragments}
    for name in ("mcl", "ki", "mcr", "ml"):
        value = getattr(afl, name)
        if value is not None:
            out[name] = value
    if afl.auth_type is not None:
        out["auth_type"] = afl.auth_type
    if afl.mac is not None:
        out["mac"] = afl.mac.hex().upper()
    return out


def _tpl(tpl: TplHeader) -> dict[str, Any]:
    out: dict[str, Any] = {"ci": tpl.ci, "header": str(tpl.kind)}
    if tpl.address is not None:
        out.update(M=tpl.address.manufacturer, id=tpl.address.id,
                   version=tpl.address.version, type=tpl.address.device_type)
    if tpl.cw is not None:
        out.update(
            acc=tpl.acc,
            status=list(tpl.status_flags),
            security_mode=tpl.security_mode,
            encrypted_blocks=tpl.encrypted_blocks,
            bidirectional=tpl.bidirectional,
            accessible=tpl.accessible,
            synchronous=tpl.synchronous,
        )
    if tpl.cwe is not None:
        out["cwe"] = tpl.cwe
    return out


def _exchange(exchange: Exchange) -> dict[str, Any]:
    out: dict[str, Any] = {"exchange": exchange.start_sample}
    answer = exchange.answer
    if answer is not None:
        low, high = answer.window_ms
        out.update(
            reply_to=answer.reply_to,
            response_delay_ms=round(answer.delay_ms, 3),
            response_window_ms=[round(low, 3), round(high, 3)],
            in_window=answer.in_window,
        )
    return out


def _station(address: Address) -> dict[str, str]:
    return {"M": address.manufacturer, "id": address.id}


def telegram_to_dict(t: Telegram) -> dict[str, Any]:
    address = t.link.address
    out: dict[str, Any] = {
        "model": MODEL,
        "mode": t.mode,
        "M": address.manufacturer,
        "id": int(address.id) if address.id_is_bcd else None,
        "version": address.version,
        "type": address.device_type,
        "C": t.link.c_field,
    }
    if len(t.frame.data) > LINK_HEADER_LEN:
        out["CI"] = t.frame.data[LINK_HEADER_LEN]
    if t.tpl is not None and t.tpl.cw is not None:
        out.update(AC=t.tpl.acc, ST=t.tpl.status, CW=t.tpl.cw)
    out.update(
        manufacturer=t.meter_address.manufacturer,
        meter_id=t.meter_id,
        device_type=t.meter_address.device_type_name,
        c_name=t.link.c_name,
        direction=str(t.direction),
        frame_format=None if t.frame_format is None else str(t.frame_format),
        frame_hex=t.frame.data.hex().upper(),
        security=str(t.security),
        flags=list(t.flags),
    )
    if t.ell is not None:
        out["ell"] = _ell(t.ell)
    if t.afl is not None:
        out["afl"] = _afl(t.afl)
    if t.tpl is not None:
        out["tpl"] = _tpl(t.tpl)
    out["records"] = [record_to_dict(r) for r in t.records]
    if t.readings:
        out["family"] = t.family
        out["readings"] = {r.name: r.value for r in t.readings}
    if t.manufacturer_data:
        out["manufacturer_data"] = t.manufacturer_data.hex().upper()
    if t.more_records_follow:
        out["more_records_follow"] = True
    if t.payload and not t.records and not t.manufacturer_data:
        out["payload_hex"] = t.payload.hex().upper()
    if t.error is not None:
        out["error"] = _error(t.error)
    if t.gateway_address is not None:
        out["gateway"] = _station(t.gateway_address)
    burst = t.frame.burst
    if burst is not None:
        out.update(
            start_sample=burst.start_sample,
            time_s=round(burst.start_s, 6),
            rssi_dbfs=round(burst.rssi_dbfs, 2),
            snr_db=round(burst.snr_db, 2),
            cfo_hz=round(burst.cfo_hz, 1),
            chip_rate_hz=round(burst.chip_rate_hz, 1),
            freq_hz=burst.freq_hz,
            corrected_errors=t.frame.corrected_errors,
        )
        if t.exchange is not None:
            out.update(_exchange(t.exchange))
    return out


def _record_line(r: Record) -> str:
    where = [f"{name} {value}" for name, value in
             (("storage", r.storage), ("tariff", r.tariff), ("subunit", r.subunit)) if value]
    if r.function.value != "instantaneous":
        where.append(str(r.function))
    where.extend(r.extensions)
    value = record_to_dict(r)["value"]
    if value is None:
        value = "-"
    unit = f" {r.unit}" if r.unit else ""
    extra = f"  ({', '.join(where)})" if where else ""
    return f"    {r.quantity}: {value}{unit}{extra}  [{(r.dif + r.vif).hex().upper()}]"


def _answer_line(exchange: Exchange, sample_rate_hz: float) -> str:
    answer = exchange.answer
    if answer is None:
        return f"exchange {exchange.mode}: opens it"
    low, high = answer.window_ms
    verdict = "" if answer.in_window else "  OUTSIDE ITS WINDOW"
    return (
        f"exchange {exchange.mode}: answers the frame at t={answer.reply_to / sample_rate_hz:.6f} s"
        f" after {answer.delay_ms:.3f} ms (window {low:.3f}-{high:.3f} ms){verdict}"
    )


def failure_summary(failure: DecodeFailure) -> str:
    return printable(f"error: {failure.reason} ({failure.stage}): {failure.detail}")


def telegram_summary(t: Telegram) -> str:
    """Readable multi-line description of a telegram, control characters escaped line by line."""
    a = t.link.address
    fmt = "no CRCs" if t.frame_format is None else f"format {t.frame_format}"
    mode = f", mode {t.mode}" if t.mode else ""
    lines = [
        f"{a.manufacturer} {a.id} {a.device_type_name} ver 0x{a.version:02X}  "
        f"C 0x{t.link.c_field:02X} {t.link.c_name} {t.direction}  ({fmt}{mode})"
    ]
    b = t.frame.burst
    if b is not None:
        lines.append(
            f"  radio: t={b.start_s:.6f} s  {b.freq_hz / 1e6:.3f} MHz  RSSI {b.rssi_dbfs:.1f} dBFS"
            f"  SNR {b.snr_db:.1f} dB  CFO {b.cfo_hz / 1e3:+.1f} kHz"
            f"  {b.chip_rate_hz / 1e3:.2f} kchip/s  corrected {t.frame.corrected_errors}"
        )
        if t.exchange is not None:
            lines.append(f"  {_answer_line(t.exchange, b.sample_rate_hz)}")
    if t.gateway_address is not None:
        lines.append(f"  gateway: {t.gateway_address.manufacturer} {t.gateway_address.id}")
    if t.ell is not None:
        sn = "" if t.ell.session_number is None else (
            f" session {t.ell.session_counter} enc {t.ell.encryption}")
        lines.append(f"  ELL 0x{t.ell.ci:02X}: CC 0x{t.ell.cc:02X} ACC 0x{t.ell.acc:02X}{sn}")
    if t.afl is not None:
        mcr = "" if t.afl.mcr is None else f" MCR {t.afl.mcr}"
        lines.append(f"  AFL: FCL 0x{t.afl.fcl:04X}{mcr}")
    if t.tpl is not None:
        kind = "no" if t.tpl.kind is HeaderKind.NONE else t.tpl.kind
        text = f"  TPL 0x{t.tpl.ci:02X} ({kind} header)"
        if t.tpl.address is not None:
            text += f" meter {t.tpl.address.manufacturer} {t.tpl.address.id}"
        if t.tpl.cw is not None:
            status = ", ".join(t.tpl.status_flags) or "ok"
            text += (f" ACC 0x{t.tpl.acc:02X} status {status} CW 0x{t.tpl.cw:04X}"
                     f" (mode {t.tpl.security_mode})")
        lines.append(text)
    flags = f" ({', '.join(t.flags)})" if t.flags else ""
    lines.append(f"  security: {t.security}{flags}")
    if t.readings:
        lines.append(f"  readings ({t.family}):")
        lines.extend(f"    {r.name}: {r.value}" for r in t.readings)
    if t.records:
        lines.append("  records:")
        lines.extend(_record_line(r) for r in t.records)
    if t.manufacturer_data:
        lines.append(f"  manufacturer data: {t.manufacturer_data.hex().upper()}")
    elif t.payload and not t.records:
        lines.append(f"  payload: {t.payload.hex().upper()}")
    if t.error is not None:
        lines.append(f"  {failure_summary(t.error)}")
    return "\n".join(printable(line) for line in lines)
