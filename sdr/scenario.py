"""Building simulator: meters transmitting on a schedule, heard at several receiver locations.

``wmbus simulate --scenario FILE.toml OUT_DIR`` writes one recording per location (cu8 by default,
named the rtl_433 way, e.g. ``basement_868.625M_2400k.cu8``) and ``truth.json`` listing every
transmission: meter, access number, sample range, channel, and per location the received power,
RSSI and Ec/N0, plus which transmissions overlap it in time on the same channel. Overlapping
transmissions are summed in the signal, so collisions happen in the recordings as on air.

Level mapping (documented in docs/survey.md): a location's ``full_scale_dbm`` is the input power
of a complex sinusoid of amplitude 1 (0 dBFS). Received power is ``tx_power_dbm - path_loss_db``;
noise is thermal, ``-174 dBm/Hz + noise_figure_db + 10·log10(sample_rate_hz)``, mapped the same
way. The 8-bit formats add quantisation noise, which the truth's Ec/N0 includes.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dsp.modulate import burst_chips, channel_offset_hz, modulate
from protocol.encoder import TelegramSpec, TplSpec, encode_telegram
from protocol.framing import add_crcs
from protocol.manufacturers import manufacturer_code
from protocol.modes import MODES, FrameFormat
from protocol.records import encode_record
from protocol.telegram import Address
from sdr.cmd_simulate import DEFAULT_CENTER_HZ, DEFAULT_RATE_HZ, FILLER, SHORT_TPL_LEN
from sdr.errors import UserError
from sdr.iqfile import SAMPLE_FORMATS, IQWriter
from sdr.progress import Progress

THERMAL_NOISE_DBM_HZ = -174.0
DEFAULT_FULL_SCALE_DBM = -70.0  # noise at NF 6 dB and 2.4 Msps then sits near -34 dBFS
DEFAULT_TX_POWER_DBM = 10.0
BLOCK_SAMPLES = 1 << 20
# Quantisation noise per complex sample (two components, step = 1 / full scale) of each format.
_QUANT_STEP = {"cu8": 1 / 127.5, "cs8": 1 / 128, "cs16": 1 / 32768, "cf32": 0.0}
VOLUME_DIF, VOLUME_VIF = b"\x04", b"\x13"  # 32-bit volume in litres


@dataclass(frozen=True, slots=True)
class MeterSpec:
    meter_id: str
    manufacturer: str
    mode: str
    frame_format: FrameFormat
    interval_s: float
    jitter_s: float
    length: int  # CRC-less link frame bytes (L + 1); rounded up to whole AES blocks if encrypted
    tx_power_dbm: float
    key: bytes | None
    version: int
    device_type: int
    first_access: int | None


@dataclass(frozen=True, slots=True)
class LocationSpec:
    name: str
    noise_figure_db: float
    cfo_spread_hz: float
    full_scale_dbm: float
    path_loss_db: Mapping[str, float]  # by meter id; meters not listed are not heard

    def noise_dbfs(self, sample_rate_hz: float) -> float:
        noise_dbm = THERMAL_NOISE_DBM_HZ + self.noise_figure_db + 10 * math.log10(sample_rate_hz)
        return noise_dbm - self.full_scale_dbm


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    duration_s: float
    sample_rate_hz: float
    center_freq_hz: float
    sample_format: str
    seed: int
    meters: tuple[MeterSpec, ...]
    locations: tuple[LocationSpec, ...]

    @property
    def num_samples(self) -> int:
        return round(self.duration_s * self.sample_rate_hz)


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


def _get(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str,
         default: Any = None) -> Any:
    value = table.get(key, default)
    if value is None:
        raise UserError(f"{where}: '{key}' is missing")
    if isinstance(value, bool) or not isinstance(value, kind):
        raise UserError(f"{where}: '{key}' has the wrong type ({value!r})")
    return value


def _meter(table: Mapping[str, Any], where: str) -> MeterSpec:
    meter_id = str(_get(table, "id", (str, int), where))
    if not re.fullmatch(r"\d{1,8}", meter_id):
        raise UserError(f"{where}: id must be up to 8 decimal digits, got {meter_id!r}")
    mode = str(_get(table, "mode", str, where, "T1")).upper()
    if mode not in MODES:
        raise UserError(f"{where}: unknown mode {mode!r}; choose from {', '.join(MODES)}")
    fmt_text = str(_get(table, "frame_format", str, where, "A")).upper()
    if fmt_text not in ("A", "B") or FrameFormat(fmt_text) not in MODES[mode].frame_formats:
        raise UserError(f"{where}: mode {mode} has no frame format {fmt_text!r}")
    key_text = table.get("key")
    try:
        key = bytes.fromhex(key_text) if key_text is not None else None
    except (TypeError, ValueError) as exc:
        raise UserError(f"{where}: key must be 32 hex digits") from exc
    if key is not None and len(key) != 16:
        raise UserError(f"{where}: key must be 32 hex digits")
    manufacturer = str(_get(table, "manufacturer", str, where, "KAM")).upper()
    if not re.fullmatch(r"[A-Z]{3}", manufacturer):
        raise UserError(f"{where}: manufacturer must be three letters")
    interval = float(_get(table, "interval_s", (int, float), where))
    jitter = float(_get(table, "jitter_s", (int, float), where, 0.0))
    if interval <= 0 or not 0 <= jitter < interval / 2:
        raise UserError(f"{where}: need interval_s > 0 and 0 <= jitter_s < interval_s / 2")
    length = int(_get(table, "length", int, where, 40))
    if not SHORT_TPL_LEN + len(VOLUME_DIF + VOLUME_VIF) + 4 <= length <= 200:
        raise UserError(f"{where}: length must be between 21 and 200 bytes")
    first = table.get("access_number")
    return MeterSpec(
        meter_id=meter_id.zfill(8),
        manufacturer=manufacturer,
        mode=mode,
        frame_format=FrameFormat(fmt_text),
        interval_s=interval,
        jitter_s=jitter,
        length=length,
        tx_power_dbm=float(_get(table, "tx_power_dbm", (int, float), where,
                                DEFAULT_TX_POWER_DBM)),
        key=key,
        version=int(_get(table, "version", int, where, 1)) & 0xFF,
        device_type=int(_get(table, "device_type", int, where, 7)) & 0xFF,
        first_access=None if first is None else int(first) % 256,
    )


def _location(table: Mapping[str, Any], where: str, meter_ids: set[str]) -> LocationSpec:
    name = str(_get(table, "name", str, where))
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", name):
        raise UserError(f"{where}: name must be letters, digits and '-', starting with a letter")
    losses = _get(table, "path_loss_db", dict, where, {})
    path_loss = {}
    for meter_id, loss in losses.items():
        key = str(meter_id).zfill(8)
        if key not in meter_ids:
            raise UserError(f"{where}: path_loss_db names unknown meter {meter_id!r}")
        if isinstance(loss, bool) or not isinstance(loss, int | float):
            raise UserError(f"{where}: path loss of {meter_id} must be a number")
        path_loss[key] = float(loss)
    return LocationSpec(
        name=name,
        noise_figure_db=float(_get(table, "noise_figure_db", (int, float), where, 6.0)),
        cfo_spread_hz=float(_get(table, "cfo_spread_hz", (int, float), where, 0.0)),
        full_scale_dbm=float(_get(table, "full_scale_dbm", (int, float), where,
                                  DEFAULT_FULL_SCALE_DBM)),
        path_loss_db=path_loss,
    )


def parse_scenario(text: str, source: str = "scenario") -> Scenario:
    """A scenario from TOML text; UserError naming the problem when it is not valid."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{source}: {exc}") from exc
    meters = tuple(
        _meter(t, f"{source}: meters[{i}]") for i, t in enumerate(doc.get("meters", []))
    )
    if not meters:
        raise UserError(f"{source}: no [[meters]]")
    ids = [m.meter_id for m in meters]
    if len(set(ids)) != len(ids):
        raise UserError(f"{source}: meter ids must be unique")
    locations = tuple(
        _location(t, f"{source}: locations[{i}]", set(ids))
        for i, t in enumerate(doc.get("locations", []))
    )
    if not locations:
        raise UserError(f"{source}: no [[locations]]")
    if len({loc.name for loc in locations}) != len(locations):
        raise UserError(f"{source}: location names must be unique")
    fmt = str(_get(doc, "sample_format", str, source, "cu8"))
    if fmt not in SAMPLE_FORMATS:
        raise UserError(f"{source}: sample_format must be one of {', '.join(SAMPLE_FORMATS)}")
    scenario = Scenario(
        name=str(_get(doc, "name", str, source, Path(source).stem)),
        duration_s=float(_get(doc, "duration_s", (int, float), source)),
        sample_rate_hz=float(_get(doc, "sample_rate_hz", (int, float), source, DEFAULT_RATE_HZ)),
        center_freq_hz=float(_get(doc, "center_freq_hz", (int, float), source,
                                  DEFAULT_CENTER_HZ)),
        sample_format=fmt,
        seed=int(_get(doc, "seed", int, source, 1)),
        meters=meters,
        locations=locations,
    )
    if scenario.duration_s <= 0:
        raise UserError(f"{source}: duration_s must be positive")
    for meter in meters:
        try:
            channel_offset_hz(MODES[meter.mode], scenario.sample_rate_hz, scenario.center_freq_hz)
        except ValueError as exc:
            raise UserError(f"{source}: meter {meter.meter_id}: {exc}") from exc
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a UTF-8 TOML file") from exc
    return parse_scenario(text, str(path))


def telegram_bytes(meter: MeterSpec, access: int, reading_l: int) -> bytes:
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
    return (
        f"{location.name}_{scenario.center_freq_hz / 1e6:g}M_"
        f"{scenario.sample_rate_hz / 1e3:g}k.{scenario.sample_format}"
    )


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
            frame = telegram_bytes(meter, access, reading)
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
        chips = burst_chips(add_crcs(frame, meter.frame_format), mode, meter.frame_format)
        length = math.ceil(len(chips) / mode.chip_rate_hz * fs)  # as modulate() makes it
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
        "meters": [
            {
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
            for m in scenario.meters
        ],
        "transmissions": [
            {
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
                "overlaps": overlap[t.index],
            }
            for t in transmissions
        ],
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    return truth


def run_scenario(args: argparse.Namespace) -> int:
    """``wmbus simulate --scenario FILE.toml OUT_DIR``."""
    scenario = load_scenario(args.scenario)
    truth = simulate(scenario, args.out)
    print(
        f"wrote {len(truth['locations'])} recording(s) with {len(truth['transmissions'])} "
        f"transmissions and truth.json to {args.out}"
    )
    return 0


def random_scenario(
    seed: int,
    *,
    meters: int = 8,
    locations: int = 2,
    duration_s: float = 20.0,
    interval_s: tuple[float, float] = (0.3, 1.0),
    ecn0_db: tuple[float, float] = (6.0, 40.0),
    sample_rate_hz: float = DEFAULT_RATE_HZ,
    center_freq_hz: float = DEFAULT_CENTER_HZ,
) -> Scenario:
    """A random building: meters of every mode and format with short (accelerated) intervals,
    path losses drawn so that each meter's Ec/N0 at each location is uniform in ``ecn0_db``."""
    rng = np.random.default_rng(seed)
    kinds = [("T1", FrameFormat.A), ("C1", FrameFormat.A), ("C1", FrameFormat.B),
             ("S1", FrameFormat.A)]
    specs = []
    for i in range(meters):
        mode, fmt = kinds[i % len(kinds)]
        interval = float(rng.uniform(*interval_s))
        specs.append(MeterSpec(
            meter_id=f"{70000000 + 1111 * (i + 1):08d}",
            manufacturer=("KAM", "DME", "TCH", "ITW", "SEN", "APA")[i % 6],
            mode=mode,
            frame_format=fmt,
            interval_s=interval,
            jitter_s=0.1 * interval,
            length=int(rng.integers(24, 64)),
            tx_power_dbm=DEFAULT_TX_POWER_DBM,
            key=None,
            version=1,
            device_type=7,
            first_access=None,
        ))
    places = []
    for j in range(locations):
        place = LocationSpec(f"spot{j + 1}", 6.0, 20e3, DEFAULT_FULL_SCALE_DBM, {})
        noise_var = 10 ** (place.noise_dbfs(sample_rate_hz) / 10)
        losses = {}
        for m in specs:
            ecn0 = float(rng.uniform(*ecn0_db))
            rssi = ecn0 - 10 * math.log10(sample_rate_hz / (noise_var * MODES[m.mode].chip_rate_hz))
            losses[m.meter_id] = round(m.tx_power_dbm - (rssi + place.full_scale_dbm), 2)
        places.append(LocationSpec(place.name, place.noise_figure_db, place.cfo_spread_hz,
                                   place.full_scale_dbm, losses))
    return Scenario(f"random-{seed}", duration_s, sample_rate_hz, center_freq_hz, "cu8", seed,
                    tuple(specs), tuple(places))
