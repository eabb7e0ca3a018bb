"""The rtl_tcp protocol: a client for live streams and a server that replays recordings.

Wire format (as rtl_tcp from the rtl-sdr project speaks it): the server opens with a 12-byte
greeting, ``"RTL0"`` followed by the tuner type and the number of tuner gains as big-endian
uint32. The client then sends 5-byte commands, a command byte and a big-endian uint32
parameter, at any time, while the server streams unsigned 8-bit interleaved I/Q (cu8).
"""

from __future__ import annotations

import contextlib
import math
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from dsp.retune import Retuner, rate_ratio
from sdr.io.addresses import format_host_port, is_loopback
from sdr.io.codecs import encode_samples
from sdr.io.files import IQFileInfo, read_iq_chunks

GREETING_MAGIC = b"RTL0"
_GREETING = struct.Struct(">4sII")
_COMMAND = struct.Struct(">BI")
GREETING_BYTES = _GREETING.size
COMMAND_BYTES = _COMMAND.size

# How long a client gets to close its end after the recordings ended.
CLOSE_TIMEOUT_S = 5.0
# A client that takes no samples for this long is dropped (it would hold its thread forever).
SEND_TIMEOUT_S = 10.0
# Clients served at once; more are refused. Connections waiting to be accepted: the backlog.
MAX_CLIENTS_AT_ONCE = 32
BACKLOG = 32
# Log lines let through per second for each client and for the whole server; a client sending
# commands as fast as it can must not grow the log faster than this.
CLIENT_LOG_LINES_PER_S = 10
SERVER_LOG_LINES_PER_S = 100
# Streaming starts once the client's first commands (its tuning) have stopped coming for
# SETTLE_QUIET_S, or after SETTLE_MAX_S at the latest.
SETTLE_QUIET_S = 0.2
SETTLE_MAX_S = 1.0
# Sample rates librtlsdr accepts (Hz, inclusive).
RTL2832_RATES_HZ = ((225_001, 300_000), (900_001, 3_200_000))
RTL2832_RATES = "0.225–0.3 or 0.9–3.2 Msps"
# Tuner type numbers of librtlsdr's ``enum rtlsdr_tuner``.
TUNER_R820T = 5
# The R820T's gains (librtlsdr's table, dB); clients use their count to size gain sliders, and
# librtlsdr rounds a request for any other tuner to its nearest gain.
R820T_GAINS_DB = (
    0.0, 0.9, 1.4, 2.7, 3.7, 7.7, 8.7, 12.5, 14.4, 15.7, 16.6, 19.7, 20.7, 22.9, 25.4, 28.0,
    29.7, 32.8, 33.8, 36.4, 37.2, 38.6, 40.2, 42.1, 43.4, 43.9, 44.5, 48.0, 49.6,
)
R820T_GAIN_COUNT = len(R820T_GAINS_DB)


class Command(IntEnum):
    """rtl_tcp command bytes."""

    SET_FREQUENCY = 0x01
    SET_SAMPLE_RATE = 0x02
    SET_GAIN_MODE = 0x03  # 0 = automatic, 1 = manual
    SET_GAIN = 0x04  # tenths of a dB
    SET_FREQ_CORRECTION = 0x05  # ppm, two's complement
    SET_IF_GAIN = 0x06  # stage << 16 | gain
    SET_TEST_MODE = 0x07
    SET_AGC_MODE = 0x08
    SET_DIRECT_SAMPLING = 0x09
    SET_OFFSET_TUNING = 0x0A
    SET_RTL_XTAL = 0x0B
    SET_TUNER_XTAL = 0x0C
    SET_GAIN_BY_INDEX = 0x0D
    SET_BIAS_TEE = 0x0E


@dataclass(frozen=True, slots=True)
class DongleInfo:
    """The greeting's content."""

    tuner_type: int
    gain_count: int

    def pack(self) -> bytes:
        return _GREETING.pack(GREETING_MAGIC, self.tuner_type, self.gain_count)

    @classmethod
    def unpack(cls, data: bytes) -> DongleInfo:
        if len(data) != GREETING_BYTES:
            raise ValueError(f"greeting is {len(data)} bytes, expected {GREETING_BYTES}")
        magic, tuner_type, gain_count = _GREETING.unpack(data)
        if magic != GREETING_MAGIC:
            raise ValueError(f"greeting starts with {magic!r}, not {GREETING_MAGIC!r}")
        return cls(tuner_type, gain_count)


def pack_command(command: Command, param: int) -> bytes:
    """One 5-byte command; negative parameters (ppm) travel as two's complement."""
    return _COMMAND.pack(command, param & 0xFFFFFFFF)


def signed_param(param: int) -> int:
    """A command parameter read back as the signed int rtl_tcp hands to librtlsdr."""
    return param - (1 << 32) if param & 0x80000000 else param


class CommandParser:
    """Splits a byte stream from a client into (command byte, parameter) pairs (sans-IO)."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[tuple[int, int]]:
        buf = self._pending + data
        whole = len(buf) - len(buf) % COMMAND_BYTES
        self._pending = buf[whole:]
        return [tuple(c) for c in _COMMAND.iter_unpack(buf[:whole])]  # type: ignore[misc]


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    parts: list[bytes] = []
    while count > 0:
        part = sock.recv(count)
        if not part:
            break
        parts.append(part)
        count -= len(part)
    return b"".join(parts)


class RtlTcpClient:
    """A connection to an rtl_tcp server. Raises OSError (connection) or ValueError (greeting)."""

    def __init__(self, host: str, port: int, timeout_s: float = 5.0) -> None:
        self.host = host
        self.port = port
        self._sock = socket.create_connection((host, port), timeout=timeout_s)
        try:
            self.info = DongleInfo.unpack(_recv_exactly(self._sock, GREETING_BYTES))
        except (OSError, ValueError):
            self._sock.close()
            raise

    def command(self, command: Command, param: int) -> None:
        self._sock.sendall(pack_command(command, param))

    def set_center_freq(self, freq_hz: float) -> None:
        self.command(Command.SET_FREQUENCY, round(freq_hz))

    def set_sample_rate(self, rate_hz: float) -> None:
        self.command(Command.SET_SAMPLE_RATE, round(rate_hz))

    def set_gain(self, gain_db: float | None) -> None:
        """``None`` selects the tuner's automatic gain."""
        if gain_db is None:
            self.command(Command.SET_GAIN_MODE, 0)
        else:
            self.command(Command.SET_GAIN_MODE, 1)
            self.command(Command.SET_GAIN, round(gain_db * 10))

    def set_freq_correction(self, ppm: int) -> None:
        self.command(Command.SET_FREQ_CORRECTION, ppm)

    def recv_into(self, buffer: memoryview) -> int:
        """Bytes of the cu8 stream read into ``buffer``; 0 when the server closed the stream."""
        return self._sock.recv_into(buffer)

    def settimeout(self, timeout_s: float | None) -> None:
        self._sock.settimeout(timeout_s)

    def shutdown(self) -> None:
        """Unblock a reader in another thread; the server sees the connection end."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._sock.close()


class RateLimitedLog:
    """Passes at most ``per_second`` lines in any second; the lines held back are counted and
    reported as one line when the next second's first line comes, or at ``close``. Chained
    limiters (per client, then for the whole server) each count what they hold back, so every
    line is either logged or counted exactly once."""

    def __init__(
        self,
        log: Callable[[str], None],
        per_second: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self.per_second = per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._window_start = -math.inf
        self._passed = 0
        self._held = 0

    def __call__(self, line: str) -> None:
        with self._lock:
            now = self._clock()
            if now - self._window_start >= 1.0:
                self._window_start, self._passed = now, 0
                self._report()
            if self._passed < self.per_second:
                self._passed += 1
                self._log(line)
            else:
                self._held += 1

    def close(self) -> None:
        with self._lock:
            self._report()

    def _report(self) -> None:
        if self._held:
            self._log(f"… {self._held} more line(s) suppressed")
            self._held = 0


def _mhz(freq_hz: float) -> str:
    return f"{freq_hz / 1e6:.6g} MHz"


def _msps(rate_hz: float) -> str:
    return f"{rate_hz / 1e6:.6g} Msps"


def _band(center_freq_hz: float, low_hz: float, high_hz: float) -> str:
    return f"{(center_freq_hz + low_hz) / 1e6:.6g}–{(center_freq_hz + high_hz) / 1e6:.6g} MHz"


def rtl2832_rate(rate_hz: float) -> bool:
    """Whether librtlsdr accepts a sample rate (it refuses others and keeps the old one)."""
    return any(low <= rate_hz <= high for low, high in RTL2832_RATES_HZ)


class ReplayServer:
    """An rtl_tcp server whose "dongle" plays recordings.

    Every client is served from the start of the playlist in threads of its own, so a client
    that stops reading holds up nobody else: after ``send_timeout_s`` without progress it is
    dropped. Like a radio, the stream is paced at its sample rate unless ``paced`` is False, and
    it follows the client's tuning: a rate or centre other than the recording's gets the
    recording resampled and shifted (``dsp.retune``); what the asked band holds beyond the
    recording is empty, and a rate an RTL2832 cannot do is refused, as librtlsdr refuses it.
    Log lines are rate-limited per client and for the whole server. At the end of the playlist
    the connection is closed unless ``loop`` is set.

    ``emulate_gain_db`` (the gain the recordings were made at) makes the gain commands act as
    on a dongle: a manual gain scales the samples by its difference to that gain before they
    are quantised to cu8, which clips them at full scale; automatic gain plays them as recorded.
    """

    def __init__(
        self,
        files: Sequence[IQFileInfo],
        host: str = "127.0.0.1",
        port: int = 1234,
        *,
        loop: bool = False,
        paced: bool = True,
        max_clients: int | None = None,
        send_timeout_s: float = SEND_TIMEOUT_S,
        chunk_samples: int = 65_536,
        emulate_gain_db: float | None = None,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        if not files:
            raise ValueError("no recordings to serve")
        first = files[0]
        for info in files[1:]:
            if (info.sample_rate_hz, info.center_freq_hz) != (
                first.sample_rate_hz,
                first.center_freq_hz,
            ):
                # The stream carries no metadata, so a client could not notice a change.
                raise ValueError(
                    f"{info.path} ({_mhz(info.center_freq_hz)}, {_msps(info.sample_rate_hz)}) "
                    f"differs from {first.path} ({_mhz(first.center_freq_hz)}, "
                    f"{_msps(first.sample_rate_hz)}); serve recordings of one tuning together"
                )
        self.files = tuple(files)
        self.sample_rate_hz = first.sample_rate_hz
        self.center_freq_hz = first.center_freq_hz
        self.loop = loop
        self.paced = paced
        self.max_clients = max_clients
        self.send_timeout_s = send_timeout_s
        self.chunk_samples = chunk_samples
        self.emulate_gain_db = emulate_gain_db
        self.log = RateLimitedLog(log, SERVER_LOG_LINES_PER_S)
        self.clients_served = 0
        self._stop = threading.Event()
        # Reentrant: stop() may run in a signal handler that interrupted the accepting thread.
        self._lock = threading.RLock()
        self._clients: set[_Client] = set()
        self._threads: list[threading.Thread] = []
        family, _, _, _, sockaddr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        self._listener = socket.create_server(sockaddr[:2], family=family, backlog=BACKLOG)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]

    def recorded_band(self) -> str:
        half = self.sample_rate_hz / 2
        return _band(self.center_freq_hz, -half, half)

    def serve(self) -> None:
        """Accept and serve clients until ``stop()``, or until ``max_clients`` have been
        accepted and all of them served."""
        if not is_loopback(self.address[0]):
            self.log(
                f"warning: {self.address[0]} is not a loopback address: the recordings are "
                "served to the network"
            )
        self.log(
            f"serving {len(self.files)} recording(s) at {_mhz(self.center_freq_hz)}, "
            f"{_msps(self.sample_rate_hz)} on {format_host_port(*self.address)}"
        )
        try:
            self._accept()
        except BaseException:
            self.stop()
            raise
        finally:
            self._listener.close()
            for thread in self._threads:
                thread.join()
            self.log.close()

    def _accept(self) -> None:
        accepted = 0
        while not self._stop.is_set() and (self.max_clients is None or accepted < self.max_clients):
            try:
                conn, peer = self._listener.accept()
            except OSError:
                if self._stop.is_set():
                    break
                raise
            name = format_host_port(*peer[:2])
            with self._lock:
                busy = len(self._clients) >= MAX_CLIENTS_AT_ONCE
                if not busy:
                    client = _Client(self, conn, name)
                    self._clients.add(client)
            if busy:
                self.log(f"client {name} refused: {MAX_CLIENTS_AT_ONCE} clients are being served")
                conn.close()
                continue
            accepted += 1
            self.log(f"client {name} connected")
            thread = threading.Thread(
                target=self._run_client, args=(client,), daemon=True, name=f"rtltcp {name}"
            )
            thread.start()
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _run_client(self, client: _Client) -> None:
        try:
            client.run()
        finally:
            with self._lock:
                self._clients.discard(client)
                self.clients_served += 1

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self, seconds: float) -> None:
        """Sleep, but wake up when the server stops."""
        self._stop.wait(seconds)

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            client.interrupt()


class _Tuning:
    """The rate and centre a client asked for: set by its command reader, read by its streamer
    between chunks; ``version`` counts the changes."""

    def __init__(self, sample_rate_hz: float, center_freq_hz: float) -> None:
        self._lock = threading.Lock()
        self._state = (0, sample_rate_hz, center_freq_hz)

    def get(self) -> tuple[int, float, float]:
        with self._lock:
            return self._state

    def set(self, sample_rate_hz: float | None = None, center_freq_hz: float | None = None) -> None:
        with self._lock:
            version, rate, center = self._state
            self._state = (
                version + 1,
                rate if sample_rate_hz is None else sample_rate_hz,
                center if center_freq_hz is None else center_freq_hz,
            )


class _Client:
    """One connection: a command reader thread and the streamer (the caller of ``run``)."""

    def __init__(self, server: ReplayServer, conn: socket.socket, name: str) -> None:
        self.server = server
        self.conn = conn
        self.log = RateLimitedLog(
            lambda line: server.log(f"client {name}: {line}"), CLIENT_LOG_LINES_PER_S
        )
        self.tuning = _Tuning(server.sample_rate_hz, server.center_freq_hz)
        self.sent = 0
        # Set by the command reader, read by the streamer: one float, replaced whole.
        self.gain_factor = 1.0
        self._manual_gain = False
        self._last_command = time.monotonic()
        self._started = 0.0
        self._clock_s = 0.0

    def interrupt(self) -> None:
        """Unblock this client's reads and sends (the server is stopping)."""
        with contextlib.suppress(OSError):
            self.conn.shutdown(socket.SHUT_RDWR)

    def run(self) -> None:
        server, conn = self.server, self.conn
        # A send that makes no progress for this long means the client stopped reading.
        conn.settimeout(server.send_timeout_s)
        reader = threading.Thread(target=self._read_commands, daemon=True, name="rtltcp-commands")
        try:
            conn.sendall(DongleInfo(TUNER_R820T, R820T_GAIN_COUNT).pack())
            self._last_command = time.monotonic()
            reader.start()
            self._settle()
            if self._stream():
                self.log(f"end of recordings after {self.sent} samples; closing connection")
                # Half-close, then let the command reader see the client's end: closing a
                # socket with unread commands would reset the connection and lose the last
                # samples.
                conn.shutdown(socket.SHUT_WR)
                reader.join(CLOSE_TIMEOUT_S)
        except TimeoutError:
            self.log(
                f"stopped reading for {server.send_timeout_s:g} s: dropped after {self.sent} "
                "samples"
            )
        except OSError as exc:
            if not server.stopping:
                self.log(f"disconnected after {self.sent} samples ({exc.strerror or exc})")
        finally:
            self.interrupt()
            conn.close()
            self.log.close()

    def _settle(self) -> None:
        """Wait for the tuning a client sends right after the greeting, so that its first
        samples are already at the rate and centre it asked for."""
        deadline = time.monotonic() + SETTLE_MAX_S
        while not self.server.stopping and time.monotonic() < min(
            deadline, self._last_command + SETTLE_QUIET_S
        ):
            self.server.wait(SETTLE_QUIET_S / 10)

    def _stream(self) -> bool:
        """Send the playlist (forever with ``loop``); False when the server stopped first."""
        server = self.server
        retuner: Retuner | None = None
        version = -1
        self._started = time.monotonic()
        while True:
            for info in server.files:
                for chunk in read_iq_chunks(info, server.chunk_samples):
                    if server.stopping:
                        return False
                    current, rate_hz, center_freq_hz = self.tuning.get()
                    if current != version:
                        if retuner is not None:
                            self._send(retuner.flush(), retuner.out_rate_hz)
                        retuner, version = self._retuner(rate_hz, center_freq_hz), current
                    assert retuner is not None
                    self._send(retuner.process(chunk.samples), retuner.out_rate_hz)
            if not server.loop:
                break
        if retuner is not None:
            self._send(retuner.flush(), retuner.out_rate_hz)
        return True

    def _retuner(self, rate_hz: float, center_freq_hz: float) -> Retuner:
        server = self.server
        retuner = Retuner(server.sample_rate_hz, rate_hz, server.center_freq_hz - center_freq_hz)
        low, high = retuner.passband_hz
        half = retuner.out_rate_hz / 2
        asked = _band(center_freq_hz, -half, half)
        if high <= low:
            self.log(
                f"the band {asked} is outside the recording's {server.recorded_band()}: "
                "the stream is empty"
            )
        elif (low, high) != (-half, half):
            self.log(
                f"the band {asked} reaches beyond the recording's {server.recorded_band()}: "
                f"only {_band(center_freq_hz, low, high)} holds signal"
            )
        return retuner

    def _send(self, samples: np.ndarray, rate_hz: float) -> None:
        if self.server.paced:
            # A dongle delivers each block once it has been received.
            delay = self._started + self._clock_s - time.monotonic()
            if delay > 0:
                self.server.wait(delay)
        if self.gain_factor != 1.0:
            samples = samples * np.float32(self.gain_factor)
        self.conn.sendall(encode_samples(samples, "cu8"))
        self.sent += len(samples)
        self._clock_s += len(samples) / rate_hz

    def _read_commands(self) -> None:
        parser = CommandParser()
        while True:
            try:
                data = self.conn.recv(4096)
            except TimeoutError:
                continue  # the timeout is meant for sends; a client may stay quiet
            except OSError:
                return
            if not data:
                return
            for command, param in parser.feed(data):
                self._last_command = time.monotonic()
                self.log(self._command(command, param))

    def _command(self, command: int, param: int) -> str:
        """Apply a command; one log line saying what it did to the replayed recording."""
        server = self.server
        if command == Command.SET_FREQUENCY:
            self.tuning.set(center_freq_hz=param)
            if abs(param - server.center_freq_hz) < 1.0:
                return f"tuned to {_mhz(param)} (the recording's centre)"
            return (
                f"tuned to {_mhz(param)} (the recording, centred at "
                f"{_mhz(server.center_freq_hz)}, is shifted by "
                f"{(server.center_freq_hz - param) / 1e3:+.6g} kHz)"
            )
        if command == Command.SET_SAMPLE_RATE:
            return self._set_rate(param)
        if server.emulate_gain_db is not None and command in (
            Command.SET_GAIN_MODE, Command.SET_GAIN
        ):
            return self._emulate_gain(command, param, server.emulate_gain_db)
        try:
            name = Command(command).name.lower()
        except ValueError:
            return f"unknown command 0x{command:02x} ({param}) ignored"
        if command == Command.SET_FREQ_CORRECTION:
            param = signed_param(param)
        return f"{name} {param} has no effect on a recording"

    def _emulate_gain(self, command: int, param: int, recorded_db: float) -> str:
        if command == Command.SET_GAIN_MODE:
            self._manual_gain = param == 1
            if not self._manual_gain:
                self.gain_factor = 1.0
                return "automatic gain: the recording plays as recorded"
            return "manual gain"
        asked_db = signed_param(param) / 10
        if not self._manual_gain:
            return f"gain {asked_db:g} dB ignored: automatic gain is on"
        # As librtlsdr does: the tuner's gain nearest to the one asked for (any number a client
        # sends ends up inside the table).
        gain_db = min(R820T_GAINS_DB, key=lambda g: abs(g - asked_db))
        self.gain_factor = 10 ** ((gain_db - recorded_db) / 20)
        return (
            f"gain {gain_db:g} dB: the recording (made at {recorded_db:g} dB) is scaled by "
            f"{gain_db - recorded_db:+.1f} dB and clipped at full scale"
        )

    def _set_rate(self, rate_hz: int) -> str:
        recorded = self.server.sample_rate_hz
        current = _msps(self.tuning.get()[1])
        if not rtl2832_rate(rate_hz):
            return (
                f"asked for {_msps(rate_hz)}, which an RTL2832 cannot do ({RTL2832_RATES}); "
                f"the rate stays {current}"
            )
        try:
            ratio = rate_ratio(recorded, rate_hz)
        except ValueError as exc:
            return f"asked for {_msps(rate_hz)}: {exc}; the rate stays {current}"
        self.tuning.set(sample_rate_hz=rate_hz)
        if ratio == 1:
            line = f"sample rate {_msps(rate_hz)} (the recording's rate)"
        else:
            line = f"sample rate {_msps(rate_hz)} (the recording's {_msps(recorded)} × {ratio})"
        served = recorded * ratio
        if abs(served - rate_hz) >= 0.5:
            line += f"; served at {served:.1f} sps, {(served / rate_hz - 1) * 1e6:+.2g} ppm off"
        return line
