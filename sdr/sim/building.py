"""A building scenario rendered on air: every meter's transmissions on its schedule, heard at each
receiver location with its path loss, noise and carrier offset.

``simulate`` writes one recording per location (cu8 by default, named the rtl_433 way, e.g.
``basement_868.625M_2400k.cu8``) and ``truth.json`` listing every transmission: meter, access
number, sample range, channel, and per location the received power, RSSI and Ec/N0, plus which
transmissions overlap it in time on the same channel. Overlapping transmissions are summed in the
signal, so collisions happen in the recordings as on air. The 8-bit formats add quantisation
noise, which the truth's Ec/N0 includes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dsp.bandplan import burst_samples
from dsp.modulate import modulate
from protocol.encoder import TelegramSpec, TplSpec, encode_telegram
from protocol.framing import add_crcs
from protocol.manufacturers import manufacturer_code
from protocol.modes import MODES, FrameFormat
from protocol.records import encode_record
from protocol.telegram import Address
from sdr.errors import UserError
from sdr.io.names import tuned_name
from sdr.io.writers import IQWriter
from sdr.progress import Progress
from sdr.sim.scenario import LocationSpec, MeterSpec, Scenario
from sdr.sim.telegrams import FILLER, SHORT_TPL_LEN, VOLUME_DIF, VOLUME_VIF

BLOCK_SAMPLES = 1 << 20
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
    meter_id: str
    mode: str
    frame_format: str
    access_number: int
    start_sample: int
    end_sample: int
    freq_hz: float
    frame_hex: str
    heard: Mapping[str, Heard] = field(default_factory=dict)



def meter_telegram(meter: MeterSpec, access: int, reading_l: int) -> bytes:
    """CRC-less link frame of one transmission: a volume record padded to the meter's length."""
    address = Address(
        m_field=manufacturer_code(meter.manufacturer),
        id_bytes=bytes.fromhex(meter.meter_id)[::-1],
        version=meter.version,
        device_type=meter.device_type,
    )
    area = encode_record(VOLUME_DIF, VOLUME_VIF, reading_l / 1000)
    area += bytes([FILLER]) * max(0, meter.length - SHORT_TPL_LEN - len(area))
    tpl = TplSpec(ci=0x7A, acc=access, security_mode=5 if meter.key else 0)
    return encode_telegram(TelegramSpec(address=address, tpl=tpl, payload=area), meter.key)


def recording_name(scenario: Scenario, location: LocationSpec) -> str:
    """``NAME_868.625M_2400k.cu8``: centre and rate readable from the name (rtl_433 style)."""
    return tuned_name(
        location.name, scenario.center_freq_hz, scenario.sample_rate_hz, scenario.sample_format
    ).name


def schedule(scenario: Scenario, rng: np.random.Generator) -> list[Transmission]:
    """Every transmission that fits inside the recording, in time order, without levels."""
    fs = scenario.sample_rate_hz
    total = scenario.num_samples
    planned: list[tuple[int, MeterSpec, int, bytes]] = []
    for meter in scenario.meters:
        access = meter.first_access if meter.first_access is not None else int(rng.integers(256))
        reading = int(rng.integers(10**6))
        t = float(rng.uniform(0, meter.interval_s))
        while True:
            frame = meter_telegram(meter, access, reading)
            start = round(t * fs)
            if start >= total:
                break
            planned.append((start, meter, access, frame))
            t += meter.interval_s + float(rng.uniform(-meter.jitter_s, meter.jitter_s))
            access = (access + 1) % 256
            reading += int(rng.integers(0, 20))
    planned.sort(key=lambda p: p[0])
    out = []
    for start, meter, access, frame in planned:
        mode = MODES[meter.mode]
        on_air = len(add_crcs(frame, meter.frame_format))
        length = burst_samples(mode, meter.frame_format, on_air, fs)
        if start + length > total:
            continue
        out.append(Transmission(len(out), meter.meter_id, meter.mode, str(meter.frame_format),
                                access, start, start + length, mode.center_freq_hz, frame.hex()))
    return out


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


def _levels(scenario: Scenario, transmissions: list[Transmission],
            rng: np.random.Generator) -> list[Transmission]:
    fs = scenario.sample_rate_hz
    meters = {m.meter_id: m for m in scenario.meters}
    quant = 2 * _QUANT_STEP[scenario.sample_format] ** 2 / 12
    cfo = {
        (loc.name, m.meter_id): float(rng.uniform(-loc.cfo_spread_hz, loc.cfo_spread_hz))
        for loc in scenario.locations
        for m in scenario.meters
    }
    out = []
    for t in transmissions:
        heard = {}
        for loc in scenario.locations:
            loss = loc.path_loss_db.get(t.meter_id)
            if loss is None:
                continue
            power = meters[t.meter_id].tx_power_dbm - loss
            rssi = power - loc.full_scale_dbm
            noise_var = 10 ** (loc.noise_dbfs(fs) / 10) + quant
            ecn0 = rssi + 10 * math.log10(fs / (noise_var * MODES[t.mode].chip_rate_hz))
            heard[loc.name] = Heard(power, rssi, ecn0, cfo[(loc.name, t.meter_id)])
        out.append(Transmission(t.index, t.meter_id, t.mode, t.frame_format, t.access_number,
                                t.start_sample, t.end_sample, t.freq_hz, t.frame_hex, heard))
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
                fmt = FrameFormat(t.frame_format)
                waves[t.index] = modulate(
                    add_crcs(bytes.fromhex(t.frame_hex), fmt), MODES[t.mode], fmt, fs,
                    scenario.center_freq_hz, amplitude=10 ** (heard.rssi_dbfs / 20),
                    cfo_hz=heard.cfo_hz, start_phase_rad=float(rng.uniform(0, 2 * np.pi)),
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


def _transmission_truth(t: Transmission, fs: float, overlapping: list[int]) -> dict[str, Any]:
    return {
        "index": t.index,
        "meter_id": t.meter_id,
        "mode": t.mode,
        "frame_format": t.frame_format,
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
        "transmissions": [_transmission_truth(t, fs, overlap[t.index]) for t in transmissions],
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    return truth
