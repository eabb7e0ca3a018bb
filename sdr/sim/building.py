"""A building scenario rendered on air: every meter's transmissions on its schedule, heard at each
receiver location with its path loss, noise and carrier offset.

``simulate`` writes one recording per location (cu8 by default, named the rtl_433 way, e.g.
``basement_868.625M_2400k.cu8``) and ``truth.json`` listing every transmission: meter, access
number, sample range, channel, direction and OMS mode, for the frames of an exchange the
transmission answered and the response delay, and per location the received power, RSSI and
Ec/N0, plus which transmissions overlap it in time on the same channel. Overlapping
transmissions are summed in the signal, so collisions happen in the recordings as on air. The
8-bit formats add quantisation noise, which the truth's Ec/N0 includes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dsp.bandplan import burst_samples
from dsp.modulate import modulate
from protocol.conversation import CC_ACCESSIBLE, CC_BIDIRECTIONAL, CC_FAST
from protocol.encoder import EllSpec, TelegramSpec, TplSpec, encode_telegram
from protocol.framing import add_crcs
from protocol.manufacturers import manufacturer_code
from protocol.modes import Direction
from protocol.records import encode_record
from protocol.telegram import Address
from sdr.errors import UserError
from sdr.io.names import tuned_name
from sdr.io.writers import IQWriter
from sdr.progress import Progress
from sdr.sim.scenario import (
    GATEWAY_REQUEST_KINDS,
    GatewaySpec,
    LocationSpec,
    MeterSpec,
    Scenario,
)
from sdr.sim.stream import ModeFormat
from sdr.sim.telegrams import FILLER, SHORT_TPL_LEN, VOLUME_DIF, VOLUME_VIF, gateway_frame

BLOCK_SAMPLES = 1 << 20
# TPL CW bits B and A (docs/protocol.md §5.4): the meter is bidirectional and listens after
# its frame; what makes an S2 or T2 meter's frame offer access (protocol.conversation).
CW_ACCESS = 0xC000
GATEWAY_DEVICE_TYPE = 0x31  # communication controller (docs/protocol.md §2.5)
# Quantisation noise per complex sample (two components, step = 1 / full scale) of each format.
_QUANT_STEP = {"cu8": 1 / 127.5, "cs8": 1 / 128, "cs16": 1 / 32768, "cf32": 0.0}


@dataclass(frozen=True, slots=True)
class Heard:
    """One transmission as one location receives it."""

    power_dbm: float
    rssi_dbfs: float
    ecn0_db: float
    cfo_hz: float


@dataclass(frozen=True, slots=True)
class Transmission:
    index: int
    meter_id: str  # the meter that sent it, or that the gateway addressed
    kind: ModeFormat  # physical layer, frame format, preamble and direction
    in_exchange: bool  # its OMS mode is then the exchange's (S2, T2, C2), else the PHY's
    access_number: int
    start_sample: int
    end_sample: int
    frame_hex: str
    gateway_id: str | None = None  # the gateway of its exchange
    reply_to: int | None = None  # index of the transmission it answers
    response_delay_ms: float | None = None  # answered one's end to its preamble's start
    heard: Mapping[str, Heard] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        """The OMS mode, named as the receiver names it (docs/json-schema.md)."""
        return self.kind.name if self.in_exchange else self.kind.mode.name

    @property
    def freq_hz(self) -> float:
        return self.kind.mode.center_freq_hz

    @property
    def sender(self) -> str:
        """Who transmitted it: the meter, or the gateway of a frame to the meter."""
        if self.kind.direction is Direction.OTHER_TO_METER and self.gateway_id is not None:
            return self.gateway_id
        return self.meter_id



def _address(manufacturer: str, id_digits: str, version: int, device_type: int) -> Address:
    return Address(
        m_field=manufacturer_code(manufacturer),
        id_bytes=bytes.fromhex(id_digits)[::-1],
        version=version,
        device_type=device_type,
    )


def meter_address(meter: MeterSpec) -> Address:
    return _address(meter.manufacturer, meter.meter_id, meter.version, meter.device_type)


def access_ell(gateway: GatewaySpec | None, access: int) -> EllSpec | None:
    """The ELL of the frames of a C2 gateway's exchanges: CC bits B and A (the meter listens)
    and D by the gateway's response delay, which the conversation tracker reads."""
    if gateway is None or gateway.fast is None:
        return None
    cc = CC_BIDIRECTIONAL | CC_ACCESSIBLE | (CC_FAST if gateway.fast else 0)
    return EllSpec(cc=cc, acc=access)


def meter_telegram(meter: MeterSpec, access: int, reading_l: int,
                   gateway: GatewaySpec | None = None, c_field: int = 0x44) -> bytes:
    """CRC-less link frame of one transmission: a volume record padded to the meter's length.
    A meter a gateway answers offers access in every frame (CW bits for S2 and T2, the ELL for
    C2); ``c_field`` 0x08 or 0x00 makes it its reply (RSP_UD or ACK) to the gateway."""
    area = encode_record(VOLUME_DIF, VOLUME_VIF, reading_l / 1000)
    area += bytes([FILLER]) * max(0, meter.length - SHORT_TPL_LEN - len(area))
    cw = CW_ACCESS if gateway is not None and gateway.fast is None else 0
    tpl = TplSpec(ci=0x7A, acc=access, security_mode=5 if meter.key else 0, cw_flags=cw)
    spec = TelegramSpec(address=meter_address(meter), c_field=c_field,
                        ell=access_ell(gateway, access), tpl=tpl, payload=area)
    return encode_telegram(spec, meter.key)


def recording_name(scenario: Scenario, location: LocationSpec) -> str:
    """``NAME_868.625M_2400k.cu8``: centre and rate readable from the name (rtl_433 style)."""
    return tuned_name(
        location.name, scenario.center_freq_hz, scenario.sample_rate_hz, scenario.sample_format
    ).name


def _samples(kind: ModeFormat, frame: bytes, fs: float) -> int:
    return burst_samples(kind.mode, kind.frame_format, len(add_crcs(frame, kind.frame_format)),
                         fs, preamble_chips=kind.preamble_chips)


def _exchange(meter: MeterSpec, gateway: GatewaySpec, opener: Transmission, reading: int,
              fs: float) -> list[Transmission]:
    """``opener`` as the exchange's first frame, the gateway's request answering it after the
    delay and the meter's reply after the reply delay; indices and reply_to are positions in
    the schedule being built (the request goes right after ``opener``)."""
    opener = replace(opener, in_exchange=True, gateway_id=gateway.gateway_id)
    access = opener.access_number
    request_kind, reply_c = GATEWAY_REQUEST_KINDS[gateway.request]
    command = encode_record(VOLUME_DIF, VOLUME_VIF, reading / 1000)
    sender = _address(gateway.manufacturer, gateway.gateway_id, 1, GATEWAY_DEVICE_TYPE)
    request = gateway_frame(meter_address(meter), access, request_kind, command, sender=sender,
                            ell=access_ell(gateway, access))
    to_meter = ModeFormat.of(gateway.mode, Direction.OTHER_TO_METER)
    start = opener.end_sample + round(gateway.delay_ms * 1e-3 * fs)
    asked = Transmission(opener.index + 1, meter.meter_id, to_meter, True, access, start,
                         start + _samples(to_meter, request, fs), request.hex(),
                         gateway.gateway_id, opener.index, gateway.delay_ms)
    reply = meter_telegram(meter, access, reading, gateway, reply_c)
    start = asked.end_sample + round(gateway.reply_delay_ms * 1e-3 * fs)
    answer = Transmission(opener.index + 2, meter.meter_id, opener.kind, True, access, start,
                          start + _samples(opener.kind, reply, fs), reply.hex(),
                          gateway.gateway_id, asked.index, gateway.reply_delay_ms)
    return [opener, asked, answer]


def schedule(scenario: Scenario, rng: np.random.Generator) -> list[Transmission]:
    """Every transmission that fits inside the recording, in time order, without levels; an
    exchange only when all its frames fit."""
    fs = scenario.sample_rate_hz
    total = scenario.num_samples
    serving = {meter_id: g for g in scenario.gateways for meter_id in g.meters}
    planned: list[Transmission] = []  # index: position in this list until sorted
    for meter in scenario.meters:
        gateway = serving.get(meter.meter_id)
        # A bidirectional meter sends as its gateway's mode says (S2: the short preamble).
        kind = ModeFormat.of(gateway.mode if gateway else meter.mode, Direction.METER_TO_OTHER,
                             meter.frame_format)
        access = meter.first_access if meter.first_access is not None else int(rng.integers(256))
        reading = int(rng.integers(10**6))
        t = float(rng.uniform(0, meter.interval_s))
        while True:
            frame = meter_telegram(meter, access, reading, gateway)
            start = round(t * fs)
            if start >= total:
                break
            sent = Transmission(len(planned), meter.meter_id, kind, False, access, start,
                                start + _samples(kind, frame, fs), frame.hex())
            exchange = (_exchange(meter, gateway, sent, reading, fs)
                        if gateway is not None and rng.random() < gateway.answer_ratio else [])
            planned += exchange if exchange and exchange[-1].end_sample <= total else [sent]
            t += meter.interval_s + float(rng.uniform(-meter.jitter_s, meter.jitter_s))
            access = (access + 1) % 256
            reading += int(rng.integers(0, 20))
    kept = sorted((p for p in planned if p.end_sample <= total), key=lambda p: p.start_sample)
    index = {p.index: i for i, p in enumerate(kept)}
    return [
        replace(p, index=i, reply_to=None if p.reply_to is None else index[p.reply_to])
        for i, p in enumerate(kept)
    ]


def overlaps(transmissions: list[Transmission]) -> dict[int, list[int]]:
    """For each transmission, the others on the same channel that overlap it in time."""
    found: dict[int, list[int]] = {t.index: [] for t in transmissions}
    by_channel: dict[float, list[Transmission]] = {}
    for t in transmissions:
        by_channel.setdefault(t.freq_hz, []).append(t)
    for group in by_channel.values():
        group.sort(key=lambda t: t.start_sample)
        open_: list[Transmission] = []
        for t in group:
            open_ = [o for o in open_ if o.end_sample > t.start_sample]
            for o in open_:
                found[t.index].append(o.index)
                found[o.index].append(t.index)
            open_.append(t)
    return {k: sorted(v) for k, v in found.items()}


def _links(scenario: Scenario) -> dict[str, tuple[float, dict[str, float]]]:
    """Per sender (meters, then gateways): transmit power and path loss by location name."""
    links = {
        m.meter_id: (m.tx_power_dbm, {loc.name: loc.path_loss_db[m.meter_id]
                                      for loc in scenario.locations
                                      if m.meter_id in loc.path_loss_db})
        for m in scenario.meters
    }
    links.update((g.gateway_id, (g.tx_power_dbm, dict(g.path_loss_db)))
                 for g in scenario.gateways)
    return links


def _levels(scenario: Scenario, transmissions: list[Transmission],
            rng: np.random.Generator) -> list[Transmission]:
    fs = scenario.sample_rate_hz
    links = _links(scenario)
    quant = 2 * _QUANT_STEP[scenario.sample_format] ** 2 / 12
    cfo = {
        (loc.name, sender): float(rng.uniform(-loc.cfo_spread_hz, loc.cfo_spread_hz))
        for loc in scenario.locations
        for sender in links
    }
    out = []
    for t in transmissions:
        heard = {}
        tx_power_dbm, losses = links[t.sender]
        for loc in scenario.locations:
            loss = losses.get(loc.name)
            if loss is None:
                continue
            power = tx_power_dbm - loss
            rssi = power - loc.full_scale_dbm
            noise_var = 10 ** (loc.noise_dbfs(fs) / 10) + quant
            ecn0 = rssi + 10 * math.log10(fs / (noise_var * t.kind.mode.chip_rate_hz))
            heard[loc.name] = Heard(power, rssi, ecn0, cfo[(loc.name, t.sender)])
        out.append(replace(t, heard=heard))
    return out


def _render_location(scenario: Scenario, location: LocationSpec,
                     transmissions: list[Transmission], path: Path,
                     rng: np.random.Generator) -> None:
    fs = scenario.sample_rate_hz
    total = scenario.num_samples
    sigma = math.sqrt(10 ** (location.noise_dbfs(fs) / 10) / 2)
    mine = [t for t in transmissions if location.name in t.heard]
    waves: dict[int, np.ndarray] = {}
    pending = 0
    with IQWriter(path, scenario.sample_format) as writer, Progress(
        total, label=path.name
    ) as progress:
        for block_start in range(0, total, BLOCK_SAMPLES):
            block_end = min(total, block_start + BLOCK_SAMPLES)
            noise = rng.standard_normal((2, block_end - block_start)) * sigma
            x = (noise[0] + 1j * noise[1]).astype(np.complex64)
            while pending < len(mine) and mine[pending].start_sample < block_end:
                t = mine[pending]
                heard = t.heard[location.name]
                kind = t.kind
                waves[t.index] = modulate(
                    add_crcs(bytes.fromhex(t.frame_hex), kind.frame_format), kind.mode,
                    kind.frame_format, fs, scenario.center_freq_hz,
                    amplitude=10 ** (heard.rssi_dbfs / 20), cfo_hz=heard.cfo_hz,
                    preamble_chips=kind.preamble_chips,
                    start_phase_rad=float(rng.uniform(0, 2 * np.pi)),
                )
                pending += 1
            for index in list(waves):
                t = transmissions[index]
                lo, hi = max(t.start_sample, block_start), min(t.end_sample, block_end)
                wave = waves[index]
                x[lo - block_start : hi - block_start] += wave[lo - t.start_sample :
                                                               hi - t.start_sample]
                if t.end_sample <= block_end:
                    del waves[index]
            writer.write(x)
            progress.update(block_end)


def _meter_truth(m: MeterSpec) -> dict[str, Any]:
    return {
        "meter_id": m.meter_id,
        "manufacturer": m.manufacturer,
        "mode": m.mode,
        "frame_format": str(m.frame_format),
        "interval_s": m.interval_s,
        "jitter_s": m.jitter_s,
        "length": m.length,
        "tx_power_dbm": m.tx_power_dbm,
        "encrypted": m.key is not None,
    }


def _gateway_truth(g: GatewaySpec) -> dict[str, Any]:
    return {
        "gateway_id": g.gateway_id,
        "manufacturer": g.manufacturer,
        "mode": g.mode,
        "meters": list(g.meters),
        "answer_ratio": g.answer_ratio,
        "request": g.request,
        "response": None if g.fast is None else ("fast" if g.fast else "slow"),
        "window_ms": list(g.window_ms),
        "delay_ms": g.delay_ms,
        "reply_delay_ms": g.reply_delay_ms,
        "tx_power_dbm": g.tx_power_dbm,
    }


def _transmission_truth(t: Transmission, fs: float, overlapping: list[int]) -> dict[str, Any]:
    return {
        "index": t.index,
        "meter_id": t.meter_id,
        "mode": t.mode,
        "direction": str(t.kind.direction),
        "frame_format": str(t.kind.frame_format),
        "access_number": t.access_number,
        "start_sample": t.start_sample,
        "end_sample": t.end_sample,
        "start_s": round(t.start_sample / fs, 6),
        "end_s": round(t.end_sample / fs, 6),
        "freq_hz": t.freq_hz,
        "frame_hex": t.frame_hex.upper(),
        "locations": {
            name: {
                "power_dbm": round(h.power_dbm, 2),
                "rssi_dbfs": round(h.rssi_dbfs, 2),
                "ecn0_db": round(h.ecn0_db, 2),
                "cfo_hz": round(h.cfo_hz, 1),
            }
            for name, h in t.heard.items()
        },
        "overlaps": overlapping,
        "gateway_id": t.gateway_id,
        "reply_to": t.reply_to,
        "response_delay_ms": t.response_delay_ms,
    }


def simulate(scenario: Scenario, out_dir: str | Path) -> dict[str, Any]:
    """Write every location's recording and ``truth.json`` into ``out_dir``; returns the truth."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out}: cannot create directory ({exc.strerror or exc})") from exc
    rng = np.random.default_rng(scenario.seed)
    transmissions = _levels(scenario, schedule(scenario, rng), rng)
    overlap = overlaps(transmissions)
    fs = scenario.sample_rate_hz
    locations = []
    for location in scenario.locations:
        name = recording_name(scenario, location)
        _render_location(scenario, location, transmissions, out / name, rng)
        locations.append({
            "name": location.name,
            "file": name,
            "noise_figure_db": location.noise_figure_db,
            "full_scale_dbm": location.full_scale_dbm,
            "noise_dbfs": round(location.noise_dbfs(fs), 3),
            "cfo_spread_hz": location.cfo_spread_hz,
        })
    truth = {
        "scenario": scenario.name,
        "sample_rate_hz": fs,
        "center_freq_hz": scenario.center_freq_hz,
        "duration_s": scenario.duration_s,
        "num_samples": scenario.num_samples,
        "seed": scenario.seed,
        "locations": locations,
        "meters": [_meter_truth(m) for m in scenario.meters],
        "gateways": [_gateway_truth(g) for g in scenario.gateways],
        "transmissions": [_transmission_truth(t, fs, overlap[t.index]) for t in transmissions],
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    return truth
