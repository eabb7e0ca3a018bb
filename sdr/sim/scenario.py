"""A building described in TOML: meters (mode, schedule, length, power, key), gateways that
answer some of them (exchanges: mode, request, response delays) and receiver locations (noise
figure, full scale, path loss per meter), parsed into typed specs.

Level mapping (documented in docs/survey.md): a location's ``full_scale_dbm`` is the input power
of a complex sinusoid of amplitude 1 (0 dBFS). Received power is ``tx_power_dbm - path_loss_db``;
noise is thermal, ``-174 dBm/Hz + noise_figure_db + 10·log10(sample_rate_hz)``, mapped the same
way. ``sdr.sim.building`` renders a scenario into recordings.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dsp.bandplan import (
    DEFAULT_CENTER_FREQ_HZ,
    DEFAULT_SAMPLE_RATE_HZ,
    METER_MODES,
    channel_offset_hz,
)
from protocol.conversation import response_window_ms
from protocol.modes import MODES, OMS_PHY, Direction, FrameFormat
from sdr.errors import UserError
from sdr.io.codecs import SAMPLE_FORMATS
from sdr.sim.telegrams import (
    GATEWAY_COMMANDS,
    GATEWAY_REQUESTS,
    SHORT_TPL_LEN,
    VOLUME_DIF,
    VOLUME_VIF,
)

_METER_PHYS = [mode.name for mode in METER_MODES]

THERMAL_NOISE_DBM_HZ = -174.0
DEFAULT_FULL_SCALE_DBM = -70.0  # noise at NF 6 dB and 2.4 Msps then sits near -34 dBFS
DEFAULT_TX_POWER_DBM = 10.0


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


# A gateway's requests (C field, CI) with a long header (so the frame names the meter besides
# the gateway, and pairs with it), and the C field of the meter's reply to each
# (docs/protocol.md §2.3): REQ_UD2 is answered by RSP_UD with data, SND_UD by ACK.
GATEWAY_REQUEST_KINDS: dict[str, tuple[tuple[int, int], int]] = {
    "REQ_UD2": (GATEWAY_REQUESTS[0], 0x08),
    "SND_UD": (GATEWAY_COMMANDS[1], 0x00),
}
_GATEWAY_MODES = ("S2", "T2", "C2")


@dataclass(frozen=True, slots=True)
class GatewaySpec:
    """A gateway answering some frames of its meters: each answered frame opens an exchange
    (the meter's frame offering access, the gateway's request, the meter's reply)."""

    gateway_id: str
    manufacturer: str
    mode: str  # S2, T2 or C2: the OMS mode of its exchanges
    meters: tuple[str, ...]
    answer_ratio: float  # share of the meters' frames it answers
    request: str  # a key of GATEWAY_REQUEST_KINDS
    fast: bool | None  # C2: ELL CC bit D (100 ms window) or not (1000 ms); None for S2 and T2
    delay_ms: float  # meter frame's end to the request's preamble
    reply_delay_ms: float  # request's end to the reply's preamble
    tx_power_dbm: float
    path_loss_db: Mapping[str, float]  # by location name; locations not listed do not hear it

    @property
    def window_ms(self) -> tuple[float, float]:
        """The standard's response window of its exchanges (docs/json-schema.md)."""
        return response_window_ms(self.mode, self.fast, 0.0)


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
    gateways: tuple[GatewaySpec, ...] = ()

    @property
    def num_samples(self) -> int:
        return round(self.duration_s * self.sample_rate_hz)



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
    if mode not in _METER_PHYS:
        # C2's 869.525 MHz channel is the gateways'; C2 meters send on C1's.
        raise UserError(
            f"{where}: unknown mode {mode!r} for a meter; choose from {', '.join(_METER_PHYS)}"
        )
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


def _gateway(table: Mapping[str, Any], where: str, meters: Mapping[str, MeterSpec],
             locations: set[str]) -> GatewaySpec:
    gateway_id = str(_get(table, "id", (str, int), where))
    if not re.fullmatch(r"\d{1,8}", gateway_id):
        raise UserError(f"{where}: id must be up to 8 decimal digits, got {gateway_id!r}")
    manufacturer = str(_get(table, "manufacturer", str, where, "KAM")).upper()
    if not re.fullmatch(r"[A-Z]{3}", manufacturer):
        raise UserError(f"{where}: manufacturer must be three letters")
    mode = str(_get(table, "mode", str, where)).upper()
    if mode not in _GATEWAY_MODES:
        raise UserError(f"{where}: unknown mode {mode!r}; choose from {', '.join(_GATEWAY_MODES)}")
    served = tuple(str(m).zfill(8) for m in _get(table, "meters", list, where))
    if not served:
        raise UserError(f"{where}: 'meters' names no meter")
    # The meters send on the physical layer of the exchange's meter frames (T2: T1's).
    phy = OMS_PHY[(mode, Direction.METER_TO_OTHER)].name
    for meter_id in served:
        if meter_id not in meters:
            raise UserError(f"{where}: meters names unknown meter {meter_id!r}")
        if meters[meter_id].mode != phy:
            raise UserError(f"{where}: a {mode} gateway answers {phy} meters, and meter "
                            f"{meter_id} is {meters[meter_id].mode}")
    ratio = float(_get(table, "answer_ratio", (int, float), where, 1.0))
    if not 0 <= ratio <= 1:
        raise UserError(f"{where}: answer_ratio must be between 0 and 1")
    request = str(_get(table, "request", str, where, "REQ_UD2")).upper()
    if request not in GATEWAY_REQUEST_KINDS:
        raise UserError(f"{where}: request must be one of {', '.join(GATEWAY_REQUEST_KINDS)}")
    response = table.get("response")
    if mode != "C2" and response is not None:
        raise UserError(f"{where}: 'response' (fast or slow) is for C2 gateways only")
    if response not in (None, "fast", "slow"):
        raise UserError(f"{where}: response must be 'fast' or 'slow'")
    fast = None if mode != "C2" else response != "slow"
    middle = sum(response_window_ms(mode, fast, 0.0)) / 2
    delays = [float(_get(table, key, (int, float), where, middle))
              for key in ("delay_ms", "reply_delay_ms")]
    if not all(0 <= d <= 60_000 for d in delays):  # also refuses TOML's nan and inf
        raise UserError(f"{where}: delay_ms and reply_delay_ms must be from 0 to 60000")
    losses = _get(table, "path_loss_db", dict, where, {})
    for name, loss in losses.items():
        if name not in locations:
            raise UserError(f"{where}: path_loss_db names unknown location {name!r}")
        if isinstance(loss, bool) or not isinstance(loss, int | float):
            raise UserError(f"{where}: path loss to {name} must be a number")
    return GatewaySpec(
        gateway_id=gateway_id.zfill(8),
        manufacturer=manufacturer,
        mode=mode,
        meters=served,
        answer_ratio=ratio,
        request=request,
        fast=fast,
        delay_ms=delays[0],
        reply_delay_ms=delays[1],
        tx_power_dbm=float(_get(table, "tx_power_dbm", (int, float), where,
                                DEFAULT_TX_POWER_DBM)),
        path_loss_db={name: float(loss) for name, loss in losses.items()},
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
    by_id = {m.meter_id: m for m in meters}
    gateways = tuple(
        _gateway(t, f"{source}: gateways[{i}]", by_id, {loc.name for loc in locations})
        for i, t in enumerate(doc.get("gateways", []))
    )
    # A gateway's id is the sender of its frames (levels and carrier offsets per sender).
    senders = ids + [g.gateway_id for g in gateways]
    if len(set(senders)) != len(senders):
        raise UserError(f"{source}: gateway ids must be unique and differ from meter ids")
    served = [m for g in gateways for m in g.meters]
    if len(set(served)) != len(served):
        raise UserError(f"{source}: a meter is answered by one gateway at most")
    fmt = str(_get(doc, "sample_format", str, source, "cu8"))
    if fmt not in SAMPLE_FORMATS:
        raise UserError(f"{source}: sample_format must be one of {', '.join(SAMPLE_FORMATS)}")
    scenario = Scenario(
        name=str(_get(doc, "name", str, source, Path(source).stem)),
        duration_s=float(_get(doc, "duration_s", (int, float), source)),
        sample_rate_hz=float(_get(doc, "sample_rate_hz", (int, float), source,
                                  DEFAULT_SAMPLE_RATE_HZ)),
        center_freq_hz=float(_get(doc, "center_freq_hz", (int, float), source,
                                  DEFAULT_CENTER_FREQ_HZ)),
        sample_format=fmt,
        seed=int(_get(doc, "seed", int, source, 1)),
        meters=meters,
        locations=locations,
        gateways=gateways,
    )
    if scenario.duration_s <= 0:
        raise UserError(f"{source}: duration_s must be positive")
    senders = [(f"meter {m.meter_id}", MODES[m.mode]) for m in meters] + [
        (f"gateway {g.gateway_id}", OMS_PHY[(g.mode, Direction.OTHER_TO_METER)])
        for g in gateways]
    for who, phy in senders:
        try:
            channel_offset_hz(phy, scenario.sample_rate_hz, scenario.center_freq_hz)
        except ValueError as exc:
            raise UserError(f"{source}: {who}: {exc}") from exc
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a UTF-8 TOML file") from exc
    return parse_scenario(text, str(path))



def random_scenario(
    seed: int,
    *,
    meters: int = 8,
    locations: int = 2,
    duration_s: float = 20.0,
    interval_s: tuple[float, float] = (0.3, 1.0),
    ecn0_db: tuple[float, float] = (6.0, 40.0),
    sample_rate_hz: float = DEFAULT_SAMPLE_RATE_HZ,
    center_freq_hz: float = DEFAULT_CENTER_FREQ_HZ,
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
