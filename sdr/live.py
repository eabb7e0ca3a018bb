"""A live session: source -> receiver -> decoder -> outputs, built from a typed config.

Used by ``wmbus listen`` and ``wmbus record`` (which adds a recorder through ``observe`` and
``on_telegram``). Stopping (``LiveSession.stop``, e.g. from a signal handler) ends the source;
what is queued is still decoded, outputs are flushed and closed. A device or server that goes
away mid-stream ends the session the same way; the result says why.

The radio's health (``sdr.health``: clipping, noise floor, frequency error) is watched on the
way to the receiver: clipping is warned about, ``--gain auto`` acts on it, and
``LiveSession.health`` gives a snapshot to any thread.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from dsp.receiver import Receiver
from dsp.types import IQChunk
from protocol.decoder import Decoder
from protocol.modes import ModeSpec
from protocol.report import telegram_to_dict
from protocol.telegram import Telegram
from sdr.errors import UserError
from sdr.health import (
    CLIP_WARN_SHARE,
    AutoGain,
    ClipWarning,
    HealthMonitor,
    HealthSnapshot,
    SecondReport,
)
from sdr.io.addresses import parse_host_port
from sdr.io.sources import SourceStats, TunerSettings, open_source
from sdr.pipeline import DecodePipeline, modes_in_band
from sdr.sinks.dedupe import Deduper
from sdr.sinks.mqtt import DEFAULT_PORT, DEFAULT_TLS_PORT, MqttSink, MqttStats
from sdr.sinks.output import TelegramOutput

EXIT_SOURCE_LOST = 1
EXIT_INTERRUPTED = 130
# The health goes to MQTT this often (seconds of stream), and at once when clipping starts.
HEALTH_PUBLISH_S = 10


@dataclass(frozen=True, slots=True)
class MqttConfig:
    broker: str  # HOST[:PORT]; the port is 8883 with TLS, else 1883
    prefix: str
    queue_limit: int
    receiver_name: str | None  # None: the host name
    ha_discovery: bool
    username: str | None = None  # None: no login
    password: str | None = field(default=None, repr=False)  # never printed
    tls: ssl.SSLContext | None = None  # None: plain TCP

    def __post_init__(self) -> None:
        if self.queue_limit < 1:
            raise UserError("--mqtt-queue must be at least 1")


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """Everything a live session needs, parsed and checked (``check`` raises UserError)."""

    tuner: TunerSettings
    modes: tuple[ModeSpec, ...]
    keys: dict[str, bytes] = field(repr=False)  # never printed
    device: str | None = None  # rtlsdr[:INDEX|SERIAL] or soapy:ARGS
    rtl_tcp: str | None = None  # HOST[:PORT]
    buffer_s: float = 2.0
    duration_s: float | None = None
    json_output: bool = False
    output_path: str | None = None  # None: stdout
    dedupe_s: float | None = None
    mqtt: MqttConfig | None = None

    def __post_init__(self) -> None:
        if self.duration_s is not None and self.duration_s <= 0:
            raise UserError("--duration must be positive")
        if self.buffer_s <= 0:
            raise UserError("--buffer must be positive")
        if self.dedupe_s is not None and self.dedupe_s < 0:
            raise UserError("--dedupe must not be negative")


@dataclass(frozen=True, slots=True)
class SessionResult:
    telegrams: int
    duplicates: int
    sample_rate_hz: float
    source: SourceStats
    mqtt: MqttStats | None
    interrupted: bool
    health: HealthSnapshot

    @property
    def exit_status(self) -> int:
        if self.source.lost is not None:
            return EXIT_SOURCE_LOST
        return EXIT_INTERRUPTED if self.interrupted else 0

    def summary(self) -> str:
        s = self.source
        parts = [
            f"{self.telegrams} telegram(s)",
            f"{s.samples_delivered / self.sample_rate_hz:.3f} s of samples",
            f"{s.overflows} overflow(s) ({s.samples_dropped} samples dropped)",
        ]
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicate(s) dropped")
        h = self.health
        parts.append(
            f"{h.clipped_share_total:.3%} of samples clipped "
            f"({h.clipped_seconds} of {h.seconds} s over {CLIP_WARN_SHARE:.1%})"
        )
        if h.gain_db is not None:
            parts.append(f"gain {h.gain_db:g} dB")
        if self.mqtt is not None:
            m = self.mqtt
            parts.append(
                f"MQTT {m.published} published, {m.delivered} delivered, {m.dropped} dropped"
            )
        return ", ".join(parts)


def open_mqtt(
    config: MqttConfig, keys: dict[str, bytes], log: Callable[[str], None]
) -> MqttSink:
    host, port = parse_host_port(
        config.broker, DEFAULT_PORT if config.tls is None else DEFAULT_TLS_PORT
    )
    return MqttSink(
        host,
        port,
        config.prefix,
        receiver=config.receiver_name,
        ha_discovery=config.ha_discovery,
        known_meter_ids=keys,
        queue_limit=config.queue_limit,
        username=config.username,
        password=config.password,
        tls=config.tls,
        log=log,
    ).start()


Observer = Callable[[Iterator[IQChunk]], Iterator[IQChunk]]


class LiveSession:
    """One session; ``run`` blocks until the source ends or ``stop`` is called."""

    def __init__(self, config: LiveConfig, log: Callable[[str], None]) -> None:
        self.config = config
        self.log = log
        self.source = open_source(
            config.device, config.rtl_tcp, config.tuner, buffer_s=config.buffer_s, log=log
        )
        self.interrupted = False
        self.monitor = self._new_monitor()

    def _new_monitor(self) -> HealthMonitor:
        tuner = self.config.tuner
        return HealthMonitor(self.source.sample_rate_hz, tuner.ppm, tuner.gain_db)

    def health(self) -> HealthSnapshot:
        """The radio's health now; from any thread, at any time."""
        stats = self.source.stats()
        return self.monitor.snapshot(stats.overflows, stats.samples_dropped)

    def stop(self) -> None:
        """End the session from another thread or a signal handler."""
        self.interrupted = True
        self.source.stop()

    def _pipeline(self) -> tuple[DecodePipeline, tuple[ModeSpec, ...]]:
        source = self.source
        try:
            inside = modes_in_band(
                self.config.modes, source.sample_rate_hz, source.center_freq_hz,
                "the tuned band", "received", lambda message: self.log(f"warning: {message}"),
            )
        except UserError:
            source.stop()
            raise
        receiver = Receiver(source.sample_rate_hz, source.center_freq_hz, inside)
        return DecodePipeline(receiver, Decoder(self.config.keys)), inside

    def run(
        self,
        observe: Observer = lambda chunks: chunks,
        on_telegram: Callable[[Telegram], None] = lambda telegram: None,
    ) -> SessionResult:
        """``observe`` sees every chunk on its way to the receiver (the recorder),
        ``on_telegram`` every telegram kept after de-duplication."""
        config, source = self.config, self.source
        source.start(config.duration_s)
        self.monitor = self._new_monitor()  # at the rate the device settled on
        pipeline, inside = self._pipeline()
        deduper = Deduper(config.dedupe_s) if config.dedupe_s is not None else None
        mqtt: MqttSink | None = None
        kept = 0
        try:
            if config.mqtt is not None:
                mqtt = open_mqtt(config.mqtt, config.keys, self.log)
                mqtt.publish_event("started", source=source.description)
            self.log(f"receiving {','.join(m.name for m in inside)} from {source.description}")
            watch = _HealthWatch(self, mqtt)
            with TelegramOutput(config.output_path, as_json=config.json_output) as output:
                for result in pipeline.run(observe(watch.chunks())):
                    if not isinstance(result, Telegram):
                        continue
                    self.monitor.telegram(result)
                    if deduper is not None and not deduper.accept(result, _time_s(result)):
                        continue
                    kept += 1
                    output.write(result)
                    if mqtt is not None:
                        mqtt.publish_telegram(telegram_to_dict(result))
                    on_telegram(result)
        finally:
            source.stop()
            source.join()
            stats = source.stats()
            health = self.health()
            mqtt_stats = _close_mqtt(mqtt, stats, kept, health)
        duplicates = deduper.dropped if deduper else 0
        return SessionResult(
            kept, duplicates, source.sample_rate_hz, stats, mqtt_stats, self.interrupted, health
        )


class _HealthWatch:
    """Between the source and the receiver: feeds the health monitor, warns about clipping,
    runs ``--gain auto`` and sends the health to MQTT every ``HEALTH_PUBLISH_S`` of stream."""

    def __init__(self, session: LiveSession, mqtt: MqttSink | None) -> None:
        self.session = session
        self.mqtt = mqtt
        self.auto: AutoGain | None = None
        if session.config.tuner.auto_gain:
            self.auto = AutoGain(session.source.gains_db())
            self._set_gain(self.auto.gain_db, "start mid-range")

    def chunks(self) -> Iterator[IQChunk]:
        monitor = self.session.monitor
        for chunk, clipped in self.session.source.clipped_chunks():
            self._handle(*monitor.observe(chunk.start_sample, chunk.samples, clipped))
            yield chunk
        self._handle(*monitor.flush())
        if self.mqtt is not None:
            self.mqtt.publish_health(self.session.health().to_dict())

    def _handle(self, seconds: list[SecondReport], warning: ClipWarning | None) -> None:
        if warning is not None:
            self._warn(warning)
        for second in seconds:
            if self.auto is not None:
                step = self.auto.decide(second)
                if step is not None:
                    self._set_gain(step, _gain_reason(second))
        due = any((second.index + 1) % HEALTH_PUBLISH_S == 0 for second in seconds)
        if self.mqtt is not None and (warning is not None or due):
            self.mqtt.publish_health(self.session.health().to_dict())

    def _warn(self, warning: ClipWarning) -> None:
        advice = (
            "--gain auto is lowering the gain" if self.auto is not None
            else "lower the gain (--gain DB, or --gain auto)"
        )
        self.session.log(
            f"warning: the ADC clips: {warning.second.clipped_share:.2%} of the samples of "
            f"second {warning.second.index} were at full scale (stream time "
            f"{warning.stream_time_s:.1f} s); a strong signal drowns the telegrams: {advice}"
        )

    def _set_gain(self, gain_db: float, reason: str) -> None:
        session = self.session
        old = session.monitor.gain_db
        sent_at = session.source.set_gain(gain_db)
        assert self.auto is not None
        self.auto.applied(sent_at, session.source.sample_rate_hz)
        session.monitor.set_gain(gain_db)
        before = "" if old is None else f"{old:g} -> "
        session.log(f"gain auto: {before}{gain_db:g} dB ({reason})")


def _gain_reason(second: SecondReport) -> str:
    if second.clipping:
        return f"{second.clipped_share:.2%} of second {second.index} clipped"
    return (
        f"noise floor {second.noise_floor_dbfs:.1f} dBFS in second {second.index}: at the "
        "ADC's quantisation floor"
    )


def _time_s(telegram: Telegram) -> float:
    burst = telegram.frame.burst
    return burst.start_s if burst is not None else 0.0


def _close_mqtt(
    mqtt: MqttSink | None, stats: SourceStats, kept: int, health: HealthSnapshot
) -> MqttStats | None:
    if mqtt is None:
        return None
    if stats.lost is not None:
        mqtt.publish_event("source_lost", reason=stats.lost)
    mqtt.publish_event(
        "stopped",
        telegrams=kept,
        overflows=stats.overflows,
        # Where the stream ended on the telegrams' clock (their time_s): a subscriber's window
        # for this receiver ends there, not when the message happened to arrive.
        stream_s=stats.samples_delivered / health.sample_rate_hz,
        clipped_share_total=health.clipped_share_total,
        ppm_suggested=health.ppm_suggested,
    )
    return mqtt.close()
