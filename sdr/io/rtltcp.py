"""The rtl_tcp protocol: a client for live streams and a server that replays recordings.

Wire format (as rtl_tcp from the rtl-sdr project speaks it): the server opens with a 12-byte
greeting, ``"RTL0"`` followed by the tuner type and the number of tuner gains as big-endian
uint32. The client then sends 5-byte commands, a command byte and a big-endian uint32
parameter, at any time, while the server streams unsigned 8-bit interleaved I/Q (cu8).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from sdr.io.codecs import encode_samples
from sdr.io.files import IQFileInfo, read_iq_chunks

GREETING_MAGIC = b"RTL0"
_GREETING = struct.Struct(">4sII")
_COMMAND = struct.Struct(">BI")
GREETING_BYTES = _GREETING.size
COMMAND_BYTES = _COMMAND.size

# How long a client gets to close its end after the recordings ended.
CLOSE_TIMEOUT_S = 5.0
# Tuner type numbers of librtlsdr's ``enum rtlsdr_tuner``.
TUNER_R820T = 5
# The R820T reports 29 gain steps; clients use the count to size gain sliders.
R820T_GAIN_COUNT = 29


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


def _mhz(freq_hz: float) -> str:
    return f"{freq_hz / 1e6:.6g} MHz"


def _msps(rate_hz: float) -> str:
    return f"{rate_hz / 1e6:.6g} Msps"


class ReplayServer:
    """An rtl_tcp server whose "dongle" plays recordings.

    Clients are served one after another, each from the start of the playlist. Commands are
    answered with a log line: tuning or rate requests the recordings cannot honour say so
    (samples are sent unchanged), gain commands are acknowledged as having no effect. At the end
    of the playlist the connection is closed unless ``loop`` is set.
    """

    def __init__(
        self,
        files: Sequence[IQFileInfo],
        host: str = "127.0.0.1",
        port: int = 1234,
        *,
        loop: bool = False,
        realtime: bool = False,
        max_clients: int | None = None,
        chunk_samples: int = 65_536,
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
        self.realtime = realtime
        self.max_clients = max_clients
        self.chunk_samples = chunk_samples
        self.log = log
        self.clients_served = 0
        self._stop = threading.Event()
        self._listener = socket.create_server((host, port), backlog=4)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]

    def serve(self) -> None:
        """Accept and serve clients until ``stop()`` or ``max_clients`` have been served."""
        self.log(
            f"serving {len(self.files)} recording(s) at {_mhz(self.center_freq_hz)}, "
            f"{_msps(self.sample_rate_hz)} on {self.address[0]}:{self.address[1]}"
        )
        try:
            while not self._stop.is_set() and (
                self.max_clients is None or self.clients_served < self.max_clients
            ):
                try:
                    conn, peer = self._listener.accept()
                except OSError:
                    if self._stop.is_set():
                        break
                    raise
                with conn:
                    self._serve_client(conn, f"{peer[0]}:{peer[1]}")
                self.clients_served += 1
        finally:
            self._listener.close()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()

    def _serve_client(self, conn: socket.socket, peer: str) -> None:
        self.log(f"client {peer} connected")
        commands = threading.Thread(
            target=self._read_commands, args=(conn, peer), daemon=True, name="rtltcp-commands"
        )
        try:
            conn.sendall(DongleInfo(TUNER_R820T, R820T_GAIN_COUNT).pack())
            commands.start()
            sent = self._stream(conn)
        except OSError as exc:
            self.log(f"client {peer} disconnected ({exc.strerror or exc})")
            return
        if sent is not None:
            self.log(f"client {peer}: end of recordings after {sent} samples; closing connection")
            # Half-close, then let the command reader see the client's end: closing a socket
            # with unread commands would reset the connection and lose the last samples.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_WR)
            commands.join(CLOSE_TIMEOUT_S)

    def _stream(self, conn: socket.socket) -> int | None:
        """Send the playlist (forever with ``loop``); the sample count, or None when stopped."""
        sent = 0
        started = time.monotonic()
        while True:
            for info in self.files:
                for chunk in read_iq_chunks(info, self.chunk_samples):
                    if self._stop.is_set():
                        return None
                    if self.realtime:
                        due = started + sent / self.sample_rate_hz
                        delay = due - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                    conn.sendall(encode_samples(chunk.samples, "cu8"))
                    sent += len(chunk.samples)
            if not self.loop:
                return sent

    def _read_commands(self, conn: socket.socket, peer: str) -> None:
        parser = CommandParser()
        while True:
            try:
                data = conn.recv(4096)
            except OSError:
                return
            if not data:
                return
            for command, param in parser.feed(data):
                self.log(f"client {peer}: {self.describe_command(command, param)}")

    def describe_command(self, command: int, param: int) -> str:
        """One log line saying what a command does to a replayed recording."""
        if command == Command.SET_FREQUENCY:
            if abs(param - self.center_freq_hz) < 1.0:
                return f"tuned to {_mhz(param)} (the recording's centre)"
            return (
                f"asked for centre {_mhz(param)}, but the recording is centred at "
                f"{_mhz(self.center_freq_hz)}; its samples are sent unchanged"
            )
        if command == Command.SET_SAMPLE_RATE:
            if abs(param - self.sample_rate_hz) < 1.0:
                return f"sample rate {_msps(param)} (the recording's rate)"
            return (
                f"asked for {_msps(param)}, but the recording has {_msps(self.sample_rate_hz)}; "
                "its samples are sent unchanged"
            )
        try:
            name = Command(command).name.lower()
        except ValueError:
            return f"unknown command 0x{command:02x} ({param}) ignored"
        if command == Command.SET_FREQ_CORRECTION:
            param = signed_param(param)
        return f"{name} {param} has no effect on a recording"
