"""Live sample sources: RTL-SDR (pyrtlsdr), SoapySDR and rtl_tcp.

Each source reads its device in a producer thread and hands ``IQChunk``s to the consumer through
a bounded queue. When the consumer falls behind, the newest block is dropped and counted (an
overflow). Chunks are numbered by device sample, dropped ones included, so a dropped block is a
gap between one chunk's end and the next one's start: the receiver ends any burst in progress
there, and times stay true to the device clock. A source stops on its own when the device
disappears (``lost`` says why), when ``stop()`` is called (e.g. from a SIGINT handler), or after
the duration given to ``start``; whichever it is, what was received before is still delivered.

The hardware libraries are imported only by the backend that needs them, so the rest of the
package works without them and a missing one is a one-line error naming what to install.
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from dsp.bandplan import DEFAULT_CENTER_FREQ_HZ, DEFAULT_SAMPLE_RATE_HZ
from dsp.types import IQChunk
from sdr.errors import UserError
from sdr.health import clipped_float, clipped_offset_binary
from sdr.io.addresses import format_host_port, parse_host_port
from sdr.io.codecs import decode_samples
from sdr.io.rtltcp import R820T_GAINS_DB, RTL2832_RATES, RtlTcpClient, rtl2832_rate

# A live stream arrives paced, and every wake-up from idle runs cold: with 55 ms chunks
# (131,072 samples at 2.4 Msps) `listen` took 45-57 ms of CPU per second of signal, with 0.22 s
# chunks 36-40 ms (the same decoding back to back: about 25 ms). A fifth of a second is
# also soon enough for the gain loop and the clipping warning.
CHUNK_S = 0.2
# librtlsdr's asynchronous reads want buffers of whole USB transfers (multiples of 512 bytes);
# whole 16,384-sample units are that at any rate.
_CHUNK_UNIT_SAMPLES = 16_384


def default_chunk_samples(sample_rate_hz: float) -> int:
    """About CHUNK_S of samples, in whole units a dongle's asynchronous read takes."""
    return _CHUNK_UNIT_SAMPLES * max(1, round(sample_rate_hz * CHUNK_S / _CHUNK_UNIT_SAMPLES))
DEFAULT_BUFFER_S = 2.0
# SoapySDR reports a vanished device only as read timeouts; this long without samples = lost.
SOAPY_STALL_S = 3.0
# The full scale of the integers a SoapySDR device's CF32 samples were converted from: an 8-bit
# ADC's, or the smallest of the wider ones (12 bits), whose end also finds 14- and 16-bit ends.
SOAPY_8BIT_SCALE = 128.0
SOAPY_12BIT_SCALE = 2048.0
# After stop(), how long the consumer waits for the producer to hand over what it still holds.
STOP_GRACE_S = 5.0
# A network peer may pause; this long without samples from an rtl_tcp server is worth a warning.
STALL_WARN_S = 5.0
# The rate an rtl_tcp server delivers is measured over windows this long without a stall...
RATE_CHECK_S = 5.0
# ... and a difference larger than this from the rate asked for is reported (once).
RATE_TOLERANCE = 0.1

_END = object()


@dataclass(frozen=True, slots=True)
class TunerSettings:
    """What the user asked the tuner for; ``gain_db=None`` is the tuner's automatic gain,
    ``auto_gain`` our loop (``sdr.health.AutoGain``), which sets gains through ``set_gain``."""

    center_freq_hz: float = DEFAULT_CENTER_FREQ_HZ
    sample_rate_hz: float = DEFAULT_SAMPLE_RATE_HZ
    gain_db: float | None = None
    ppm: int = 0
    auto_gain: bool = False


@dataclass(frozen=True, slots=True)
class SourceStats:
    samples_received: int  # from the device, including dropped ones
    samples_delivered: int  # handed on to the consumer
    samples_dropped: int  # lost to queue overflows
    overflows: int  # blocks dropped because the consumer was behind
    lost: str | None  # why the source ended by itself (device gone), else None


class LiveSource:
    """Base class: subclasses implement ``_open`` (in the caller's thread, so that errors are
    reported before streaming starts), ``_produce`` (the producer thread, which calls
    ``_push``) and ``_interrupt`` (makes a blocked ``_produce`` return)."""

    description = "source"

    def __init__(
        self,
        settings: TunerSettings,
        *,
        chunk_samples: int | None = None,  # None: default_chunk_samples of the rate
        buffer_s: float = DEFAULT_BUFFER_S,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.settings = settings
        self.log = log
        self.sample_rate_hz = settings.sample_rate_hz
        self.center_freq_hz = settings.center_freq_hz
        self.chunk_samples = chunk_samples or default_chunk_samples(settings.sample_rate_hz)
        blocks = max(1, math.ceil(buffer_s * settings.sample_rate_hz / self.chunk_samples))
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=blocks)
        self._stop = threading.Event()
        self._consumer_gone = threading.Event()
        self._thread: threading.Thread | None = None
        self._limit: int | None = None
        self._received = 0
        self._dropped = 0
        self._overflows = 0
        self._lost: str | None = None
        self._consumed_to_end = False
        self._delivered = 0

    # -- producer side -------------------------------------------------------------------

    def _open(self) -> None:
        raise NotImplementedError

    def _produce(self) -> None:
        raise NotImplementedError

    def _interrupt(self) -> None:
        """Called by ``stop()``; backends blocked in a read override it."""

    def _close(self) -> None:
        """Release the device after the producer has finished."""

    def gains_db(self) -> tuple[float, ...]:
        """The tuner gains the device offers (after ``start``)."""
        return R820T_GAINS_DB

    def set_gain(self, gain_db: float) -> int:
        """Switch to a manual gain while streaming (any thread); returns how many samples the
        device had delivered when it was sent: later ones may still come at the old gain."""
        raise UserError(f"{self.description} cannot change its gain")

    def _push(self, samples: np.ndarray, clipped: np.ndarray | None = None) -> None:
        """``clipped``: per sample, whether the ADC was at full scale (None: no sample was, or
        the backend cannot tell)."""
        start = self._received
        if self._limit is not None:
            # Samples past the duration are not part of the session: not received, not dropped.
            keep = max(0, self._limit - start)
            samples = samples[:keep]
            clipped = None if clipped is None else clipped[:keep]
            if not len(samples):
                self.stop()  # a limit of 0 samples (a duration under one sample) ends it too
                return
        self._received += len(samples)
        try:
            self._queue.put_nowait((start, samples, clipped))
        except queue.Full:
            self._overflows += 1
            self._dropped += len(samples)
        if self._received == self._limit:
            self.stop()

    def _push_cu8(self, raw: bytes | bytearray | np.ndarray) -> None:
        # The raw bytes are the one place the ADC's full scale is still visible.
        self._push(decode_samples(raw, "cu8"), clipped_offset_binary(np.frombuffer(raw, np.uint8)))

    def _run(self) -> None:
        try:
            self._produce()
        except Exception as exc:  # whatever the backend raised, the stream has ended
            if not self._stop.is_set():
                self._lost = f"{self.description}: {exc}"
        finally:
            if self._lost is None and not self._stop.is_set():
                self._lost = f"{self.description}: stream ended"
            self._close()
            # The end marker waits behind the queued samples, which the consumer still
            # decodes, stopped or not; nobody needs it once the consumer has gone.
            while not self._consumer_gone.is_set():
                try:
                    self._queue.put(_END, timeout=0.1)
                    break
                except queue.Full:
                    pass

    # -- consumer side -------------------------------------------------------------------

    def start(self, duration_s: float | None = None) -> LiveSource:
        """Open the device and start reading; ``duration_s`` of device time (drops included,
        at the rate the device settled on) ends the stream."""
        self._open()
        if duration_s is not None:
            self._limit = round(duration_s * self.sample_rate_hz)
        self._thread = threading.Thread(target=self._run, name=self.description, daemon=True)
        self._thread.start()
        return self

    def chunks(self) -> Iterator[IQChunk]:
        """The stream until the device is lost, ``stop()`` is called or the duration passed;
        after a stop, what the producer had received is still delivered."""
        return (chunk for chunk, _ in self.clipped_chunks())

    def clipped_chunks(self) -> Iterator[tuple[IQChunk, np.ndarray | None]]:
        """``chunks`` with, per sample, whether the ADC was at full scale (None: no sample was,
        or the backend cannot tell)."""
        if self._thread is None:
            self.start()
        assert self._thread is not None
        grace_ends: float | None = None
        try:
            while True:
                try:
                    item = self._queue.get(timeout=0.2)
                except queue.Empty:
                    if self._stop.is_set():
                        # A producer that ignores stop() must not hold the consumer forever.
                        now = time.monotonic()
                        grace_ends = grace_ends or now + STOP_GRACE_S
                        if not self._thread.is_alive() or now > grace_ends:
                            return
                    continue
                if item is _END:
                    self._consumed_to_end = True
                    return
                device_start, samples, clipped = item
                yield self._chunk(device_start, samples), clipped
        finally:
            self._consumer_gone.set()

    def _chunk(self, device_start: int, samples: np.ndarray) -> IQChunk:
        self._delivered += len(samples)
        return IQChunk(samples, device_start, self.sample_rate_hz, self.center_freq_hz)

    def stop(self) -> None:
        """Ask the producer to end; safe to call from a signal handler or twice."""
        if not self._stop.is_set():
            self._stop.set()
            self._interrupt()

    def join(self, timeout_s: float = 5.0) -> None:
        """Wait for the producer; the caller reads no more chunks."""
        self._consumer_gone.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def lost(self) -> str | None:
        """Why the device stopped; None while running or when the consumer stopped first."""
        return self._lost if self._consumed_to_end else None

    def stats(self) -> SourceStats:
        return SourceStats(
            self._received, self._delivered, self._dropped, self._overflows, self.lost
        )


# -- rtl_tcp ---------------------------------------------------------------------------------


class StreamWatch:
    """The timing of a network stream, told to the user through ``log``.

    A stall of ``STALL_WARN_S`` is a warning, and so is the data resuming. The rtl_tcp protocol
    never confirms a tuning, so the delivered rate is the one fact a client can check: measured
    over ``RATE_CHECK_S`` without a stall, it is compared with the rate asked for, and a server
    that is off (one that replays a recording without honouring the rate, or a network too slow
    for the stream) is reported once."""

    def __init__(
        self,
        description: str,
        rate_hz: float,
        log: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.description = description
        self.rate_hz = rate_hz
        self.log = log
        self.clock = clock
        self._last_data = clock()
        self._stalled = False
        self._window_start: float | None = None
        self._window_samples = 0.0
        self._rate_checked = False

    def timed_out(self) -> None:
        """A read waited ``STALL_WARN_S`` in vain."""
        if not self._stalled:
            self._stalled = True
            self.log(
                f"warning: no samples from {self.description} for "
                f"{self.clock() - self._last_data:.0f} s"
            )

    def received(self, samples: float) -> None:
        now = self.clock()
        if self._stalled:
            self._stalled = False
            self._window_start = None
            self.log(f"{self.description} resumed after {now - self._last_data:.1f} s")
        self._last_data = now
        if self._window_start is None:
            # What the first read returns may have waited in buffers: the window starts after it.
            self._window_start, self._window_samples = now, 0.0
            return
        self._window_samples += samples
        elapsed = now - self._window_start
        if elapsed >= RATE_CHECK_S and not self._rate_checked:
            self._rate_checked = True
            self._check_rate(self._window_samples / elapsed)

    def _check_rate(self, measured_hz: float) -> None:
        if abs(measured_hz / self.rate_hz - 1) <= RATE_TOLERANCE:
            return
        asked = f"{self.rate_hz / 1e6:.6g} Msps"
        if measured_hz < self.rate_hz:
            why = (
                "the network or the server cannot keep up, or the server does not honour "
                "the rate asked for"
            )
        else:
            why = "a replay not paced like a radio, or one that does not honour the rate asked for"
        self.log(
            f"warning: {self.description} delivers about {measured_hz / 1e6:.3g} Msps, not the "
            f"{asked} asked for ({why}); times and recorded metadata assume {asked}"
        )


def _connection_error(exc: OSError) -> str:
    if isinstance(exc, ConnectionResetError):
        return "reset the connection"
    if isinstance(exc, BrokenPipeError):
        return "closed the connection"
    return f"failed: {exc.strerror or exc}"


class RtlTcpSource(LiveSource):
    """Samples from an rtl_tcp server (rtl_tcp, ``wmbus serve``, SDR servers speaking it)."""

    def __init__(self, host: str, port: int, settings: TunerSettings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.host = host
        self.port = port
        self.description = f"rtl_tcp server {format_host_port(host, port)}"
        self._client: RtlTcpClient | None = None
        # The tuning goes out from the producer thread, a gain change from the session's: the
        # lock keeps a change from being overtaken by the initial tuning.
        self._gain_lock = threading.Lock()
        self._gain_db = settings.gain_db
        self._tuned = False

    def _open(self) -> None:
        try:
            client = RtlTcpClient(self.host, self.port)
        except OSError as exc:
            raise UserError(f"cannot connect to {self.description}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise UserError(f"{self.description} is not an rtl_tcp server: {exc}") from exc
        # Reads wake up this often to notice a stall; stop() unblocks them at once by shutting
        # the socket down.
        client.settimeout(STALL_WARN_S)
        self._client = client
        if not rtl2832_rate(self.sample_rate_hz):
            # rtl_tcp passes the rate to librtlsdr, which refuses it and keeps the old one.
            self.log(
                f"warning: {self.sample_rate_hz / 1e6:g} Msps is not a rate an RTL2832 can do "
                f"({RTL2832_RATES}): an rtl_tcp server on a dongle keeps its previous rate, and "
                "times and frequencies will be wrong"
            )

    def _tune(self, client: RtlTcpClient) -> None:
        # Sent from the producer: a server that goes away right after its greeting is a lost
        # source, like one that goes away later.
        s = self.settings
        client.set_sample_rate(s.sample_rate_hz)
        client.set_center_freq(s.center_freq_hz)
        client.set_freq_correction(s.ppm)
        with self._gain_lock:
            client.set_gain(self._gain_db)
            self._tuned = True

    def set_gain(self, gain_db: float) -> int:
        with self._gain_lock:
            self._gain_db = gain_db
            if self._tuned and self._client is not None:
                # The producer notices the connection's end and reports it.
                with contextlib.suppress(OSError):
                    self._client.set_gain(gain_db)
            return self._received

    def _produce(self) -> None:
        client = self._client
        assert client is not None
        watch = StreamWatch(self.description, self.sample_rate_hz, self.log)
        buf = bytearray(2 * self.chunk_samples)
        view = memoryview(buf)
        filled = 0
        ended = "closed the connection"
        try:
            self._tune(client)
            while not self._stop.is_set():
                try:
                    n = client.recv_into(view[filled:])
                except TimeoutError:
                    watch.timed_out()
                    continue
                if n == 0:
                    break
                watch.received(n / 2)
                filled += n
                if filled == len(buf):
                    self._push_cu8(buf)
                    filled = 0
        except OSError as exc:
            ended = _connection_error(exc)
        finally:
            # The block being filled when the stream ends is decoded too, whatever ended it.
            usable = filled - filled % 2
            if usable:
                self._push_cu8(bytes(buf[:usable]))
        if not self._stop.is_set():
            self._lost = f"{self.description} {ended}"

    def _interrupt(self) -> None:
        if self._client is not None:
            self._client.shutdown()

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()


# -- RTL-SDR through pyrtlsdr ----------------------------------------------------------------


class RtlSdrSource(LiveSource):
    """An RTL-SDR dongle through pyrtlsdr's asynchronous reads (``pip install pyrtlsdr[lib]``)."""

    def __init__(self, device: str, settings: TunerSettings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.device = device
        self.description = f"RTL-SDR {device or '0'}"
        self._sdr: Any = None
        self._device_lock = threading.Lock()
        self._gains_db = R820T_GAINS_DB

    def _open(self) -> None:
        try:
            from rtlsdr import RtlSdr, librtlsdr
        except ImportError as exc:
            raise UserError(
                f"--device rtlsdr needs pyrtlsdr with librtlsdr ({exc}); "
                "install it with: pip install 'pyrtlsdr[lib]'"
            ) from exc
        # As rtl_sdr's tools do: a number below the device count is an index, else a serial
        # (serials are often digits too, like the factory default 00000001).
        kwargs: dict[str, Any] = {}
        if self.device.isdigit() and int(self.device) < librtlsdr.rtlsdr_get_device_count():
            kwargs["device_index"] = int(self.device)
        elif self.device:
            kwargs["serial_number"] = self.device
        try:
            sdr = RtlSdr(**kwargs)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot open {self.description}: {exc}") from exc
        s = self.settings
        try:
            sdr.sample_rate = s.sample_rate_hz
            sdr.center_freq = s.center_freq_hz
            if s.ppm:
                sdr.freq_correction = s.ppm
            sdr.gain = "auto" if s.gain_db is None else s.gain_db
            self._gains_db = tuple(float(g) for g in sdr.valid_gains_db) or R820T_GAINS_DB
            # The dongle rounds the rate to what its resampler can do.
            self.sample_rate_hz = float(sdr.sample_rate)
        except OSError as exc:
            sdr.close()
            raise UserError(f"{self.description}: {exc}") from exc
        self._sdr = sdr

    def _produce(self) -> None:
        def on_bytes(buffer: Any, _context: Any) -> None:
            self._push_cu8(np.ctypeslib.as_array(buffer))

        self._sdr.read_bytes_async(on_bytes, 2 * self.chunk_samples)
        # librtlsdr's async loop returns by itself only when the dongle went away.
        if not self._stop.is_set():
            self._lost = f"{self.description} stopped delivering samples (unplugged?)"

    def gains_db(self) -> tuple[float, ...]:
        return self._gains_db

    def set_gain(self, gain_db: float) -> int:
        # librtlsdr takes gain changes during its asynchronous read, as rtl_tcp relies on.
        with self._device_lock:
            if self._sdr is not None:
                try:
                    self._sdr.gain = gain_db
                except OSError as exc:
                    self.log(f"warning: {self.description}: gain {gain_db:g} dB refused ({exc})")
            return self._received

    def _interrupt(self) -> None:
        # librtlsdr dereferences the device handle: never cancel one that is already closed.
        with self._device_lock:
            if self._sdr is not None:
                self._sdr.cancel_read_async()

    def _close(self) -> None:
        with self._device_lock:
            if self._sdr is not None:
                self._sdr.close()
                self._sdr = None


# -- SoapySDR --------------------------------------------------------------------------------


class SoapySource(LiveSource):
    """Any SoapySDR device (Debian's python3-soapysdr); ``args`` like ``driver=rtlsdr``."""

    def __init__(self, args: str, settings: TunerSettings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.args = args
        self.description = f"SoapySDR device '{args}'"
        self._soapy: Any = None
        self._device: Any = None
        self._stream: Any = None
        self._full_scale = SOAPY_12BIT_SCALE  # of the integers its CF32 was converted from
        self._gains_db = R820T_GAINS_DB

    def _open(self) -> None:
        try:
            import SoapySDR
        except ImportError as exc:
            raise UserError(
                "--device soapy needs the SoapySDR Python bindings: apt install python3-soapysdr "
                "(a virtualenv must be created with --system-site-packages; see docs/live.md)"
            ) from exc
        self._soapy = SoapySDR
        if not SoapySDR.Device.enumerate(self.args):
            raise UserError(f"no {self.description} found")
        rx = SoapySDR.SOAPY_SDR_RX
        s = self.settings
        try:
            device = SoapySDR.Device(self.args)
            device.setSampleRate(rx, 0, s.sample_rate_hz)
            device.setFrequency(rx, 0, s.center_freq_hz)
            if s.ppm:
                device.setFrequencyCorrection(rx, 0, float(s.ppm))
            device.setGainMode(rx, 0, s.gain_db is None)
            if s.gain_db is not None:
                device.setGain(rx, 0, s.gain_db)
            self.sample_rate_hz = float(device.getSampleRate(rx, 0))
            # The bindings cannot return getNativeStreamFormat's full scale; a device that
            # offers CS8 has an 8-bit ADC (RTL-SDR, HackRF), the others 12 bits or more.
            formats = device.getStreamFormats(rx, 0)
            self._full_scale = SOAPY_8BIT_SCALE if SoapySDR.SOAPY_SDR_CS8 in formats else (
                SOAPY_12BIT_SCALE
            )
            self._gains_db = _gain_steps(device.getGainRange(rx, 0))
            stream = device.setupStream(rx, SoapySDR.SOAPY_SDR_CF32)
            device.activateStream(stream)
        except RuntimeError as exc:
            raise UserError(f"{self.description}: {exc}") from exc
        self._device, self._stream = device, stream

    def _produce(self) -> None:
        soapy = self._soapy
        buf = np.empty(self.chunk_samples, np.complex64)
        filled = 0
        timeout_us = 100_000
        stalled_s = 0.0
        while not self._stop.is_set() and self._lost is None:
            result = self._device.readStream(
                self._stream, [buf[filled:]], len(buf) - filled, timeoutUs=timeout_us
            )
            if result.ret == soapy.SOAPY_SDR_TIMEOUT:
                stalled_s += timeout_us / 1e6
                if stalled_s >= SOAPY_STALL_S:
                    self._lost = f"{self.description} delivered no samples for {SOAPY_STALL_S:g} s"
            elif result.ret == soapy.SOAPY_SDR_OVERFLOW:
                pass  # samples lost inside the driver; it does not say how many
            elif result.ret < 0:
                self._lost = f"{self.description}: {soapy.errToStr(result.ret)}"
            else:
                stalled_s = 0.0
                filled += result.ret
                if filled == len(buf):
                    self._push(buf.copy(), clipped_float(buf, self._full_scale))
                    filled = 0
        if filled:
            self._push(buf[:filled].copy(), clipped_float(buf[:filled], self._full_scale))

    def gains_db(self) -> tuple[float, ...]:
        return self._gains_db

    def set_gain(self, gain_db: float) -> int:
        rx = self._soapy.SOAPY_SDR_RX
        try:
            self._device.setGainMode(rx, 0, False)
            self._device.setGain(rx, 0, gain_db)
        except (RuntimeError, AttributeError) as exc:  # AttributeError: closed meanwhile
            self.log(f"warning: {self.description}: gain {gain_db:g} dB refused ({exc})")
        return self._received

    def _close(self) -> None:
        if self._device is not None:
            self._device.deactivateStream(self._stream)
            self._device.closeStream(self._stream)
            self._device = None


def _gain_steps(gain_range: Any) -> tuple[float, ...]:
    """A SoapySDR gain range as a list of gains at least 1 dB apart."""
    low, high = float(gain_range.minimum()), float(gain_range.maximum())
    step = max(float(gain_range.step()), 1.0)
    if not high > low:
        return (low,)
    return tuple(float(g) for g in np.arange(low, high + step / 2, step) if g <= high)


# -- choosing a source -----------------------------------------------------------------------


def open_source(
    device: str | None,
    rtl_tcp: str | None,
    settings: TunerSettings,
    *,
    buffer_s: float = DEFAULT_BUFFER_S,
    log: Callable[[str], None] = lambda line: None,
) -> LiveSource:
    """The source named by ``--device rtlsdr[:INDEX|SERIAL]`` / ``soapy:ARGS`` or ``--rtl-tcp``
    (not yet started); ``log`` hears its warnings. Raises UserError for a malformed name."""
    if device and rtl_tcp:
        raise UserError("give either --device or --rtl-tcp, not both")
    if rtl_tcp:
        host, port = parse_host_port(rtl_tcp, 1234)
        return RtlTcpSource(host, port, settings, buffer_s=buffer_s, log=log)
    kind, _, rest = (device or "rtlsdr").partition(":")
    if kind == "rtlsdr":
        return RtlSdrSource(rest, settings, buffer_s=buffer_s, log=log)
    if kind == "soapy":
        return SoapySource(rest, settings, buffer_s=buffer_s, log=log)
    raise UserError(f"--device {device!r}: use rtlsdr[:INDEX|SERIAL] or soapy:ARGS")
