"""Issue 12's hostile inputs against the real programs: ``python3 -m benchmarks.hostile [--quick]``

Everything runs on loopback (127.0.0.1 and ::1 only) against the real ``wmbus`` processes:
hostile rtl_tcp servers for ``wmbus listen``, hostile and many clients for ``wmbus serve``, the
README's serve + listen pair, mosquitto brokers killed or refusing the login under
``wmbus listen --mqtt``, bad files, bad values of every numeric option of every command, text from
the air that tries to drive a terminal or split JSON lines, mode-7 telegrams without their full
MAC, and wrong keys on the encrypted reference telegrams (decoded in process, as
``benchmarks/wrong_keys.py`` does).

For each category one row: inputs tried; tracebacks (stderr, or a server's log, containing
"Traceback"); hangs (a process or client not finished within its bound, then killed); telegrams
or messages lost, where the expected count is known ("-" where it is not): telegrams a listener
should have decoded against the recording's truth, MQTT messages that are neither delivered nor
counted as dropped, commands a server neither logged nor counted as suppressed, wrong keys
accepted with readings; and wrong answers, the contract of DESIGN.md ("Everything from outside
is hostile until parsed") not kept although nothing crashed: a bad value that is not a one-line
error naming it, a raw control character on a terminal, a JSON line split, a key or password in
the output, a stalled peer that is not reported. The exit status is 1 when any of the last four
columns is not 0; the problems are listed under the table with their command lines.

Short commands (bad options and files, terminal text, MAC variants) run in processes forked from
a process that has imported the command line already (a "zygote", one per core): the same
``sdr.cli.main`` with its own argv, stdout, stderr, working directory and exit status, without
paying the 1.4 s start-up of Python, numpy and scipy hundreds of times. Commands that meet
network peers are started as ``python3 -m sdr.cli``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import pwd
import random
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python3 benchmarks/hostile.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protocol.decoder import Decoder
from protocol.encoder import TelegramSpec, TplSpec, encode_telegram
from protocol.framing import add_crcs
from protocol.manufacturers import manufacturer_code
from protocol.modes import FrameFormat
from protocol.records import encode_record, make_dif
from protocol.telegram import Address, Telegram
from protocol.types import SecurityStatus
from sdr.io.names import parse_quantity
from sdr.io.rtltcp import COMMAND_BYTES, Command, DongleInfo, RtlTcpClient, pack_command
from sdr.sinks.mqtt import ANSWER_TIMEOUT_S
from tests.conftest import REPO
from tests.protocol.r5_variants import r5_cmac, r5_with_afl
from tests.protocol.spec_vectors import R3, R5, R5_KEY
from tests.sdr.live_support import (
    ISSUE48,
    ISSUE48_SAMPLES,
    Served,
    Subscriber,
    expected_telegrams,
    free_port,
    secure_mosquitto,
    serving,
    synthetic_recording,
    wait_for,
    wmbus_cmd,
)

# ---- bounds ----------------------------------------------------------------------------------
# Every process and client gets one; what is still running then is a hang, and is killed.
FORKED_TIMEOUT_S = 30.0  # a short command (most end in well under a second)
LISTEN_TIMEOUT_S = 40.0  # a listen session against a scripted server or `wmbus serve`
CLIENT_TIMEOUT_S = 20.0  # a client of `wmbus serve` reading what it asked for
STOP_TIMEOUT_S = 10.0  # a server after SIGTERM, a listener after SIGINT
PARALLEL = 2  # the machine's cores: forked commands and sessions side by side

RECORDING = ISSUE48  # a real T1 capture, 43 ms at 2.4 Msps, one telegram
RECORDING_BYTES = ISSUE48.read_bytes()
RECORDING_S = ISSUE48_SAMPLES / 2.4e6
SECRET_ENV = ("WMBUS_KEYS", "WMBUS_MQTT_PASSWORD")
VERBOSE = False  # --verbose: every command and its answer on stderr
SUMMARY = re.compile(
    r"(\d+) telegram\(s\), [\d.]+ s of samples, (\d+) overflow\(s\) \((\d+) samples dropped\)"
    r"(?:, \d+ duplicate\(s\) dropped)?(?:, MQTT (\d+) published, (\d+) delivered, (\d+) dropped)?"
)


# ---- outcomes and counts ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one command did: exit status (None: still running at its bound, killed) and
    output as bytes, so that raw control characters stay visible."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: bytes
    stderr: bytes
    written: tuple[str, ...] = ()  # files a forked command left in its fresh directory

    @property
    def hung(self) -> bool:
        return self.returncode is None

    @property
    def traceback(self) -> bool:
        return b"Traceback" in self.stderr

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    def describe(self) -> str:
        # repr() per argument: a hostile file name must not drive the terminal showing this.
        command = " ".join(
            (shlex.quote(a) if a.isprintable() else repr(a))[:100] for a in self.argv)
        status = "killed at its bound" if self.hung else f"exit {self.returncode}"
        tail = self.err.strip().splitlines()[-6:]
        return f"wmbus {command}  [{status}]" + "".join(
            f"\n      | {line!r}"[:200] for line in tail)


@dataclass
class Tally:
    """One row of the table."""

    name: str
    inputs: int = 0
    tracebacks: int = 0
    hangs: int = 0
    lost: int | None = None  # None: no input of the category has a known expected count
    wrong: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Sessions of a category run side by side in threads and count into one row.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def ran(self, outcome: Outcome, check: Callable[[Outcome], str | None] | None = None) -> None:
        """Count a command as one input; ``check`` says what is wrong with a finished one."""
        if VERBOSE:
            print(f"    {outcome.describe()}", file=sys.stderr, flush=True)
        why = None if outcome.hung or check is None else check(outcome)
        with self._lock:
            self.inputs += 1
            self.tracebacks += outcome.traceback
            self.hangs += outcome.hung
            self.wrong += why is not None
            if outcome.traceback or outcome.hung or why:
                what = "traceback" if outcome.traceback else "hang" if outcome.hung else why
                self.problems.append(f"{what}: {outcome.describe()}")

    def log_checked(self, name: str, log: str) -> None:
        """A server's log: a traceback in it counts like one on stderr."""
        if "Traceback" in log:
            with self._lock:
                self.tracebacks += 1
                self.problems.append(f"traceback in the log of {name}:\n{log[-2000:]}")

    def add_inputs(self, count: int) -> None:
        with self._lock:
            self.inputs += count

    def lose(self, count: int, what: str) -> None:
        with self._lock:
            self.lost = (self.lost or 0) + max(count, 0)
            if count:
                self.problems.append(f"{count} lost: {what}")

    def expect(self, ok: bool, what: str) -> None:
        if not ok:
            with self._lock:
                self.wrong += 1
                self.problems.append(f"wrong: {what}")

    def hang(self, what: str) -> None:
        with self._lock:
            self.hangs += 1
            self.problems.append(f"hang: {what}")

    def harness_failed(self, what: str) -> None:
        """The benchmark itself could not do what it meant to: counted, so it is not hidden."""
        with self._lock:
            self.wrong += 1
            self.problems.append(f"benchmark could not run: {what}")

    @property
    def failed(self) -> bool:
        return bool(self.tracebacks or self.hangs or self.lost or self.wrong)


def guarded(tally: Tally, run: Callable[[Tally], None]) -> Tally:
    """Run a category; an exception of the benchmark itself is counted, not fatal."""
    try:
        run(tally)
    except Exception:  # reported with its traceback below the table
        tally.harness_failed(traceback.format_exc(limit=6))
    return tally


# ---- running commands ------------------------------------------------------------------------


def run_process(
    argv: Sequence[str], timeout_s: float, *, env: dict[str, str] | None = None
) -> Outcome:
    """``python3 -m sdr.cli ARGV`` as a process of its own, killed at ``timeout_s``."""
    full_env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV} | (env or {})
    try:
        done = subprocess.run(
            wmbus_cmd(*argv), cwd=REPO, env=full_env, stdin=subprocess.DEVNULL,
            capture_output=True, timeout=timeout_s, check=False,
        )
    except subprocess.TimeoutExpired as exc:  # subprocess.run has killed it
        return Outcome(tuple(argv), None, _bytes(exc.stdout), _bytes(exc.stderr))
    return Outcome(tuple(argv), done.returncode, done.stdout, done.stderr)


def _bytes(data: bytes | str | None) -> bytes:
    return data.encode() if isinstance(data, str) else data or b""


@contextlib.contextmanager
def started(
    argv: Sequence[str], *, env: dict[str, str] | None = None, stderr: Any = subprocess.PIPE
) -> Iterator[subprocess.Popen]:
    """``python3 -m sdr.cli ARGV`` running; killed on leaving if it has not ended."""
    full_env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV} | (env or {})
    proc = subprocess.Popen(
        wmbus_cmd(*argv), cwd=REPO, env=full_env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=stderr,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def finish(proc: subprocess.Popen, argv: Sequence[str], timeout_s: float) -> Outcome:
    """Wait for a started command; killed (a hang) at ``timeout_s``."""
    try:
        out, err = proc.communicate(timeout=timeout_s)
        return Outcome(tuple(argv), proc.returncode, out or b"", err or b"")
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return Outcome(tuple(argv), None, out or b"", err or b"")


def _zygote() -> None:
    """A fork server for short commands: imports the command line once, then for each job read
    from stdin (a JSON line) forks a child that runs it as ``python3 -m sdr.cli ARGV`` would,
    waits for it up to the job's bound (then kills it) and answers its exit status (null for a
    hang). The zygote is single-threaded, so forking it is safe."""
    import sdr.cli
    from sdr.cli import main

    # Ctrl-C reaches the whole process group: the benchmark ends the zygote by closing its
    # job pipe, after the command running now has ended or been killed.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for module in sdr.cli.COMMANDS.values():
        importlib.import_module(module)
    requests = sys.stdin.buffer
    while line := requests.readline():
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _zygote_child(main, job)
        deadline = time.monotonic() + job["timeout_s"]
        status: int | None = None
        while True:
            done, wait_status = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(wait_status)
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            time.sleep(0.002)
        print(json.dumps({"status": status}), flush=True)


def _zygote_child(main: Callable[[list[str]], int], job: dict[str, Any]) -> None:
    """What ``python3 -m sdr.cli ARGV`` does once Python is up; an exception that escapes
    ``main`` is printed as the interpreter prints it. Never returns."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a new interpreter
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # not the zygote's job pipe
        for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        os.chdir(job["cwd"])
        for name in SECRET_ENV:
            os.environ.pop(name, None)
        os.environ.update(job["env"])
        code = main(job["argv"])
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
    except BaseException:  # as the interpreter: print, exit 1
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(int(code) & 0xFF)


@dataclass(frozen=True, slots=True)
class Job:
    """A short command for the zygotes: argv, extra environment, working directory (a fresh
    empty one when None, so that what a command writes can be seen)."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    cwd: Path | None = None
    timeout_s: float = FORKED_TIMEOUT_S


class Forker:
    """Runs short ``wmbus`` commands in processes forked from zygotes (``_zygote``), one per
    core; the 1.4 s start-up of Python, numpy and scipy is paid once per zygote."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._count = 0
        self._lock = threading.Lock()
        self._idle: list[subprocess.Popen] = []
        self._all: list[subprocess.Popen] = []
        self._idle_changed = threading.Condition(self._lock)

    def _zygote(self) -> subprocess.Popen:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if len(self._all) >= PARALLEL:
                while not self._idle:
                    self._idle_changed.wait()
                return self._idle.pop()
            proc = subprocess.Popen(
                [sys.executable, "-c", "import benchmarks.hostile as h; h._zygote()"],
                cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            )
            self._all.append(proc)
            return proc

    def run(self, job: Job) -> Outcome:
        with self._lock:
            self._count += 1
            base = self._workdir / f"job{self._count}"
        base.mkdir(parents=True)
        cwd = job.cwd or base / "cwd"
        cwd.mkdir(exist_ok=True)
        out, err = base / "stdout", base / "stderr"
        request = {"argv": list(job.argv), "env": dict(job.env), "cwd": str(cwd),
                   "stdout": str(out), "stderr": str(err), "timeout_s": job.timeout_s}
        zygote = self._zygote()
        try:
            assert zygote.stdin is not None and zygote.stdout is not None
            zygote.stdin.write(json.dumps(request).encode() + b"\n")
            zygote.stdin.flush()
            answer = zygote.stdout.readline()
        finally:
            with self._lock:
                self._idle.append(zygote)
                self._idle_changed.notify()
        if not answer:
            raise RuntimeError(f"the zygote died running {job.argv}")
        code = json.loads(answer)["status"]
        written = tuple(sorted(p.name for p in cwd.iterdir())) if job.cwd is None else ()
        return Outcome(job.argv, code, _read(out), _read(err), written)

    def run_all(self, jobs: Sequence[Job]) -> list[Outcome]:
        with ThreadPoolExecutor(PARALLEL) as pool:
            return list(pool.map(self.run, jobs))

    def close(self) -> None:
        """End the zygotes (end of their job pipe) and wait for them."""
        for proc in self._all:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


# ---- what answers must look like -------------------------------------------------------------


def our_lines(outcome: Outcome, command: str) -> str | None:
    """Every stderr line is a message of ours (``wmbus COMMAND: ...``)."""
    foreign = [
        line for line in outcome.err.splitlines()
        if line and not line.startswith(f"wmbus {command}")
    ]
    return f"stderr line not ours: {foreign[0]!r}" if foreign else None


def one_line_error(command: str, *names: str, status: int = 2) -> Callable[[Outcome], str | None]:
    """Exit ``status``, nothing on stdout, stderr one ``wmbus COMMAND: error:`` line naming one
    of ``names`` (the option, the file, the value)."""

    def check(o: Outcome) -> str | None:
        lines = o.err.splitlines()
        if o.returncode != status:
            return f"exit {o.returncode}, not {status}"
        if o.stdout:
            return "output on stdout"
        if o.written:
            return f"wrote {', '.join(o.written)}"
        if len(lines) != 1 or not lines[0].startswith(f"wmbus {command}: error: "):
            return "not one error line"
        if names and not any(name and name in lines[0] for name in names):
            return f"the error does not name {names[0]!r}"
        return None

    return check


def terminal_safe(data: bytes) -> str | None:
    """No C0 control but newline and tab, no DEL, no C1 control (as UTF-8 or as raw bytes)."""
    text = data.decode("utf-8", "replace")
    bad = [c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0]
    return f"raw control character {bad[0]!r} in the output" if bad else None


def json_lines_intact(data: bytes, count: int | None) -> str | None:
    """Lines that any line-based reader splits the same way, each a JSON object."""
    text = data.decode("utf-8", "replace")
    for separator in ("\x85", "\u2028", "\u2029", "\r"):
        if separator in text:
            return f"raw {separator!r} in a JSON line"
    lines = [line for line in text.split("\n") if line]
    try:
        objects = [strict_json(line) for line in lines]
    except ValueError as exc:
        return f"a line is not JSON ({exc})"
    if not all(isinstance(o, dict) for o in objects):
        return "a line is not a JSON object"
    if count is not None and len(objects) != count:
        return f"{len(objects)} JSON lines, expected {count}"
    return None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def strict_json(text: str | bytes) -> Any:
    """``json.loads`` without Python's NaN and Infinity, which strict readers (jq, browsers,
    most JSON libraries) refuse."""
    return json.loads(text, parse_constant=_no_constant)


def json_document(o: Outcome) -> str | None:
    """stdout is one strict JSON document (``survey --json``), safe on a terminal as well."""
    try:
        strict_json(o.stdout)
    except ValueError as exc:
        return f"not a JSON document ({exc})"
    return terminal_safe(o.stdout) or terminal_safe(o.stderr)


def all_of(*checks: Callable[[Outcome], str | None]) -> Callable[[Outcome], str | None]:
    def check(o: Outcome) -> str | None:
        return next((why for c in checks if (why := c(o)) is not None), None)

    return check


def truth(recording: Path, times: int = 1) -> Counter[tuple[str, str]]:
    """The telegrams independent decoders found in a recording (its NAME.json), ``times``
    over, as (mode, frame hex) - what a listener must print, whatever its floats say."""
    return Counter({(t["mode"], t["frame_hex"].upper()): times
                    for t in expected_telegrams(recording)})


def frames_of(json_lines: bytes | str) -> Counter[tuple[str, str]]:
    """(mode, frame hex) of the JSON lines a command printed."""
    text = json_lines.decode("utf-8", "replace") if isinstance(json_lines, bytes) else json_lines
    found: Counter[tuple[str, str]] = Counter()
    for line in text.splitlines():
        with contextlib.suppress(ValueError, AttributeError, KeyError):
            t = json.loads(line)
            found[(t["mode"], t["frame_hex"].upper())] += 1
    return found


def summary(outcome: Outcome) -> re.Match[str] | None:
    return SUMMARY.search(outcome.err)


# ---- hostile telegrams -----------------------------------------------------------------------

# LVAR text: clear the screen, ring the bell, DEL, a C1 CSI (colour), a C1 NEL (a new line for
# some readers), then a title change through a plain-text VIF unit.
LVAR_TEXT = "\x1b[2J\x07pwn\x7f\x9b31m\x85next\x1b]0;owned\x07"
UNIT_TEXT = "\x1b]0;owned\x07\x9d"
FABRICATION_NUMBER_VIF = 0x78


def hostile_frames() -> list[str]:
    """CRC-less link frames (hex) whose text fields try to drive a terminal."""
    frames = []
    for meter, text in (("78563412", LVAR_TEXT), ("11223344", "\r\x1bc\x9b2J\x08\x08ok\x00")):
        records = encode_record(make_dif(0x0D), bytes([FABRICATION_NUMBER_VIF]), text)
        unit = UNIT_TEXT.encode("latin-1")
        records += bytes([0x01, 0x7C, len(unit)]) + unit[::-1] + b"\x00"  # 8-bit value 0
        address = Address(manufacturer_code("KAM"), bytes.fromhex(meter), 1, 7)
        spec = TelegramSpec(address, tpl=TplSpec(ci=0x78), payload=records)
        frames.append(encode_telegram(spec).hex())
    return frames


# ---- mode 7 without its full MAC -------------------------------------------------------------

R5_METER = "43054304"  # the meter id of R5 (docs/protocol.md §9)


def mac_variants() -> list[tuple[str, bytes]]:
    """R5 with its MAC removed, shortened, or altered; none may be reported as decrypted."""
    full = r5_cmac(0x25)
    out = [("MAC removed (AT 5, FCL says none)", r5_with_afl(0x25, None)),
           ("AT 3: 2-byte MAC, right prefix", r5_with_afl(0x23, r5_cmac(0x23)[:2])),
           ("AT 4: 4-byte MAC, right prefix", r5_with_afl(0x24, r5_cmac(0x24)[:4])),
           ("AT 5: MAC of AT 4's input", r5_with_afl(0x25, r5_cmac(0x24)[:8]))]
    out += [(f"AT 5: MAC cut to {n} bytes", r5_with_afl(0x25, full[:n])) for n in range(8)]
    mac = int.from_bytes(full[:8], "big")
    out += [(f"AT 5: MAC bit {bit} flipped", r5_with_afl(0x25, (mac ^ 1 << bit).to_bytes(8, "big")))
            for bit in range(64)]
    return out


# ---- rtl_tcp servers that misbehave ----------------------------------------------------------


def _reset(conn: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0) instead of an orderly FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _greet(conn: socket.socket) -> None:
    conn.sendall(DongleInfo(5, 29).pack())


def _first_command(conn: socket.socket) -> None:
    conn.settimeout(10)
    conn.recv(COMMAND_BYTES)


def _orderly_close(conn: socket.socket) -> None:
    # Closing with the client's commands unread would reset the connection instead.
    conn.shutdown(socket.SHUT_WR)
    conn.settimeout(10)
    while conn.recv(4096):
        pass


@contextlib.contextmanager
def scripted_server(
    script: Callable[[socket.socket, threading.Event], None],
) -> Iterator[str]:
    """A loopback server for one connection running ``script(conn, stop)``; yields HOST:PORT.
    On leaving, ``stop`` is set, the connection closed and the thread joined."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(LISTEN_TIMEOUT_S)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def run() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conns.append(conn)
        try:
            script(conn, stop)
        except OSError:
            pass  # the client went first; what counts is the client's side
        finally:
            conn.close()

    thread = threading.Thread(target=run, daemon=True, name="hostile rtl_tcp")
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        thread.join(STOP_TIMEOUT_S)


def _stall_script(conn: socket.socket, stop: threading.Event) -> None:
    _greet(conn)
    _first_command(conn)
    half = len(RECORDING_BYTES) // 2
    conn.sendall(RECORDING_BYTES[:half])
    stop.wait(6.5)  # more than the client's 5-s stall warning
    conn.sendall(RECORDING_BYTES[half:])
    _orderly_close(conn)


def _slowloris_script(conn: socket.socket, stop: threading.Event) -> None:
    for byte in DongleInfo(5, 29).pack():  # the greeting a byte at a time, under 5 s in all
        conn.sendall(bytes([byte]))
        if stop.wait(0.3):
            return
    while not stop.wait(0.1):  # then a trickle of samples, about 320 per second
        conn.sendall(RECORDING_BYTES[:64])


def _flood_script(conn: socket.socket, stop: threading.Event) -> None:
    _greet(conn)
    noise = random.Random(12).randbytes(1 << 20)
    while not stop.is_set():
        conn.sendall(noise)


def _silent_script(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(LISTEN_TIMEOUT_S)


@dataclass(frozen=True)
class ServerCase:
    """A misbehaving server, the exit status listen must end with and a pattern its stderr
    must hold; ``telegrams``: the recording's telegrams must all be decoded; ``interrupt_s``:
    Ctrl-C after that long (a server that never ends by itself)."""

    name: str
    script: Callable[[socket.socket, threading.Event], None]
    status: int
    says: str
    telegrams: bool = False
    interrupt_s: float | None = None
    extra: tuple[str, ...] = ()


SERVER_CASES = (
    ServerCase("closes after its greeting", lambda c, s: _greet(c), 1,
               r"error: rtl_tcp server \S+ (closed|reset) the connection"),
    ServerCase("resets after the first command",
               lambda c, s: (_greet(c), _first_command(c), _reset(c)), 1,
               r"error: rtl_tcp server \S+ reset the connection"),
    ServerCase("resets right after its greeting", lambda c, s: (_greet(c), _reset(c)), 1,
               r"error: rtl_tcp server \S+ (closed|reset) the connection"),
    ServerCase("resets mid-stream",
               lambda c, s: (_greet(c), _first_command(c), c.sendall(RECORDING_BYTES[:100_000]),
                             s.wait(0.5), _reset(c)), 1,
               r"error: rtl_tcp server \S+ reset the connection"),
    ServerCase("stalls 6.5 s mid-stream", _stall_script, 1,
               r"warning: no samples from rtl_tcp server \S+ for 5 s\n"
               r"(.*\n)*wmbus listen: rtl_tcp server \S+ resumed after [6-9]\.\d s",
               telegrams=True),
    ServerCase("garbage greeting", lambda c, s: c.sendall(b"HTTP/1.0 400\r\n\r\n"), 2,
               r"error: cannot connect to rtl_tcp server \S+|is not an rtl_tcp server"),
    ServerCase("random greeting", lambda c, s: c.sendall(random.Random(3).randbytes(12)), 2,
               r"is not an rtl_tcp server"),
    ServerCase("short greeting", lambda c, s: c.sendall(b"RTL0\0"), 2,
               r"is not an rtl_tcp server"),
    ServerCase("absurd greeting values",
               lambda c, s: (c.sendall(b"RTL0" + b"\xff" * 8), _first_command(c),
                             c.sendall(RECORDING_BYTES), _orderly_close(c)), 1,
               r"error: rtl_tcp server \S+ closed the connection", telegrams=True),
    ServerCase("half a sample at the end",
               lambda c, s: (_greet(c), _first_command(c), c.sendall(RECORDING_BYTES + b"\x80"),
                             _orderly_close(c)), 1,
               r"error: rtl_tcp server \S+ closed the connection", telegrams=True),
    ServerCase("never greets", _silent_script, 2,
               r"error: cannot connect to rtl_tcp server \S+: timed out"),
    ServerCase("slowloris (a byte of greeting per 0.3 s, then a trickle)", _slowloris_script,
               130, r"interrupted|\d+ telegram\(s\)", interrupt_s=8.0),
    ServerCase("floods noise faster than real time", _flood_script, 0,
               r"0 telegram\(s\), 1\.000 s of samples", extra=("--duration", "1")),
)


def hostile_rtl_tcp_servers(
    tally: Tally, quick: bool, cases: Sequence[ServerCase] = SERVER_CASES
) -> None:
    """``wmbus listen --rtl-tcp`` against servers that misbehave, several at a time."""
    reference = truth(RECORDING)

    def one(case: ServerCase) -> tuple[ServerCase, Outcome]:
        with scripted_server(case.script) as address:
            argv = ("listen", "--rtl-tcp", address, "--json", *case.extra)
            if case.interrupt_s is None:
                return case, run_process(argv, LISTEN_TIMEOUT_S)
            with started(argv) as proc:
                time.sleep(case.interrupt_s)
                proc.send_signal(signal.SIGINT)
                return case, finish(proc, argv, STOP_TIMEOUT_S)

    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(one, cases))
    for case, outcome in results:

        def check(o: Outcome, case: ServerCase = case) -> str | None:
            if o.returncode != case.status:
                return f"{case.name}: exit {o.returncode}, not {case.status}"
            if not re.search(case.says, o.err):
                return f"{case.name}: stderr does not say /{case.says}/"
            return our_lines(o, "listen")

        tally.ran(outcome, check)
        if case.telegrams:
            tally.lose(sum((reference - frames_of(outcome.stdout)).values()),
                       f"{case.name}: telegrams of the recording not decoded")


# ---- wmbus serve and its clients -------------------------------------------------------------


def read_stream(port: int, limit: int, host: str = "127.0.0.1") -> bytes:
    """What a client gets (up to ``limit`` bytes, or to the server's end); TimeoutError when
    nothing comes for CLIENT_TIMEOUT_S."""
    client = RtlTcpClient(host, port, timeout_s=CLIENT_TIMEOUT_S)
    try:
        buf = bytearray(1 << 16)
        view = memoryview(buf)
        out = bytearray()
        while len(out) < limit:
            n = client.recv_into(view)
            if n == 0:
                break
            out += view[:n]
        return bytes(out)
    finally:
        client.close()


def _stopped(tally: Tally, served: Served, name: str) -> None:
    """After ``serving`` has sent SIGTERM: it ended by itself, with exit 0."""
    if served.proc.returncode is None or served.proc.returncode < 0:
        tally.hang(f"{name}: did not stop within {STOP_TIMEOUT_S:g} s of SIGTERM")
    else:
        tally.expect(served.proc.returncode == 0, f"{name}: exit {served.proc.returncode}")
    tally.log_checked(name, served.log)


def serve_clients(tally: Tally, quick: bool, workdir: Path) -> None:
    """Twenty clients at once, clients that never read or read a byte at a time, a command flood,
    garbage commands and absurd tunings, clients that reset at once, IPv6."""
    recording_bytes = len(RECORDING_BYTES)

    # -- 20 simultaneous clients; each gets the recording byte for byte --
    with serving(workdir, RECORDING) as served:
        results: list[bytes | str] = []
        start = threading.Barrier(20)

        def one_client() -> None:
            try:
                start.wait(10)
                results.append(read_stream(served.port, recording_bytes + 1))
            except (OSError, threading.BrokenBarrierError) as exc:
                results.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=one_client, daemon=True) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(CLIENT_TIMEOUT_S + 10)
        tally.inputs += 20
        for result in results:
            if isinstance(result, str):
                (tally.hang if "timed out" in result else tally.harness_failed)(
                    f"one of 20 clients: {result}")
        tally.lose(20 - sum(r == RECORDING_BYTES for r in results),
                   "of 20 simultaneous clients, some did not get the recording byte for byte")
        wait_for(lambda: served.log.count("closing connection") >= 20, CLIENT_TIMEOUT_S,
                 "20 clients served")
    _stopped(tally, served, "wmbus serve (20 clients)")
    tally.expect("stopped after 20 client(s)" in served.log,
                 "wmbus serve (20 clients) did not account for 20 clients")

    # -- clients that stop reading, read a byte at a time, or reset; one keeps reading --
    with serving(workdir, RECORDING, extra=("--loop", "--send-timeout", "1")) as served:
        stalled = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(3)]
        slow = socket.create_connection(("127.0.0.1", served.port))
        for _ in range(10):  # connect and reset at once
            with socket.create_connection(("127.0.0.1", served.port)) as conn:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        half_command = socket.create_connection(("127.0.0.1", served.port))
        half_command.sendall(b"\x02\x00")  # half a command, then silence
        tally.inputs += 3 + 1 + 10 + 1
        stop_slow = threading.Event()

        def read_slowly() -> None:
            with contextlib.suppress(OSError):
                while not stop_slow.wait(0.2) and slow.recv(1):
                    pass

        slow_reader = threading.Thread(target=read_slowly, daemon=True)
        slow_reader.start()
        try:
            time.sleep(3)  # their socket buffers are full: the server's sends to them block
            tally.inputs += 1
            try:
                data = read_stream(served.port, 10 * recording_bytes)
                tally.lose(0 if data == RECORDING_BYTES * 10 else 1,
                           "a reading client beside stalled ones did not get 10 recordings")
            except TimeoutError:
                tally.hang("a reading client beside stalled ones got nothing for "
                           f"{CLIENT_TIMEOUT_S:g} s")
            with contextlib.suppress(AssertionError):
                wait_for(lambda: served.log.count("stopped reading") >= 5, 15, "drops")
            drops = served.log.count("stopped reading for 1 s: dropped after")
            # 3 that never read, the slow reader, the one sending half a command and nothing.
            tally.expect(drops == 5, f"{drops} of 5 stalled clients dropped with one log line")
        finally:
            stop_slow.set()
            for conn in (*stalled, slow, half_command):
                conn.close()
            slow_reader.join(5)
    _stopped(tally, served, "wmbus serve (stalled clients)")

    # -- a command flood; garbage commands; absurd tunings; then a normal client --
    commands = 1000 if quick else 5000
    with serving(workdir, RECORDING, extra=("--loop",)) as served:
        with raw_client(served.port) as flood:
            flood.sendall(pack_command(Command.SET_GAIN, 300) * commands)
            tally.inputs += 1
            try:
                read_socket(flood, 4_800_000)  # about a second of samples
            except TimeoutError:
                tally.hang("the flooding client got no samples")
        log = wait_for(lambda: "disconnected" in served.log and served.log, 15, "flood logged")
        logged = log.count("set_gain 300 has no effect")
        suppressed = sum(int(n) for n in re.findall(r"… (\d+) more line\(s\) suppressed", log))
        # The client's limiter holds back gain lines and perhaps its own last line.
        tally.lose(commands - min(logged + suppressed, commands),
                   f"of {commands} commands, some neither logged nor counted as suppressed")
        tally.expect(len(log) < 4_000, f"{commands} commands grew the log to {len(log)} bytes")

        rng = random.Random(5)
        garbage = rng.randbytes(5 * 2000)
        tunings = [(Command.SET_SAMPLE_RATE, r) for r in
                   (0, 1, 900_001, 3_199_999, 0xFFFFFFFF, 2_048_000, 1_000_000)]
        tunings += [(Command.SET_FREQUENCY, f) for f in (0, 1, 0xFFFFFFFF, 868_950_000)]
        tunings += [(Command.SET_FREQ_CORRECTION, 0x80000000), (Command.SET_GAIN, 0xFFFFFFFF)]
        absurd = b"".join(pack_command(command, param) for command, param in tunings)
        for label, sent in (("2000 random commands", garbage), ("absurd tunings", absurd)):
            tally.inputs += 1
            try:
                with raw_client(served.port) as client:
                    client.sendall(sent)
                    data = read_socket(client, 200_000)
                tally.expect(len(data) >= 200_000, f"{label}: stream ended early")
            except TimeoutError:
                tally.hang(f"{label}: no samples for {CLIENT_TIMEOUT_S:g} s")
        tally.inputs += 1
        try:
            data = read_stream(served.port, 3 * recording_bytes)
            tally.lose(0 if data == RECORDING_BYTES * 3 else 1,
                       "a normal client after the hostile ones did not get the recording")
        except TimeoutError:
            tally.hang("a normal client after the hostile ones got nothing")
    _stopped(tally, served, "wmbus serve (command flood)")

    # -- IPv6 --
    tally.inputs += 1
    with serving(workdir, RECORDING, extra=("--host", "::1")) as served:
        try:
            data = read_stream(served.port, recording_bytes + 1, host="::1")
            tally.lose(0 if data == RECORDING_BYTES else 1, "over IPv6, the recording")
        except TimeoutError:
            tally.hang("a client over IPv6 got nothing")
    _stopped(tally, served, "wmbus serve --host ::1")


def raw_client(port: int) -> socket.socket:
    """A connection to ``wmbus serve`` past its greeting, for bytes no well-behaved client
    sends."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT_S)
    greeting = b""
    while len(greeting) < len(DongleInfo(0, 0).pack()):
        part = conn.recv(64)
        if not part:
            break
        greeting += part
    return conn


def read_socket(conn: socket.socket, limit: int) -> bytes:
    """Up to ``limit`` bytes (or to the end) from a raw connection."""
    out = bytearray()
    while len(out) < limit:
        part = conn.recv(1 << 16)
        if not part:
            break
        out += part
    return bytes(out)


# ---- serve + listen, as the README pairs them ------------------------------------------------


def serve_listen_pair(tally: Tally, quick: bool, workdir: Path) -> None:
    """``wmbus serve --loop`` paced like a radio, ``wmbus listen --duration`` of exactly N
    recordings: N telegrams, 0 samples dropped; over IPv4 and IPv6."""
    loops = 20 if quick else 60
    expected = truth(RECORDING, loops)
    for host in ("127.0.0.1", "::1"):
        with serving(workdir, RECORDING, extra=("--loop", "--host", host)) as served:
            argv = ("listen", "--rtl-tcp", served.address, "--json",
                    "--duration", f"{loops * RECORDING_S:.12f}")
            outcome = run_process(argv, LISTEN_TIMEOUT_S)

            def check(o: Outcome) -> str | None:
                if o.returncode != 0:
                    return f"exit {o.returncode}"
                match = summary(o)
                if match is None:
                    return "no summary line"
                return None if match.group(3) == "0" else f"{match.group(3)} samples dropped"

            tally.ran(outcome, all_of(check, lambda o: our_lines(o, "listen")))
            got = frames_of(outcome.stdout)
            tally.lose(sum((expected - got).values()),
                       f"serve + listen over {host}: {got.total()} of {expected.total()}")
            tally.expect(not got - expected, f"serve + listen over {host}: telegrams never sent "
                         f"{dict(got - expected)}")
        _stopped(tally, served, f"wmbus serve --loop --host {host}")


# ---- rates users have, and recording what a server sends -----------------------------------

SAMPLES2 = ISSUE48.parent / "rtlsdr_868.950M_1M6_samples2.cu8"  # real, 1.6 Msps at 868.95 MHz
RATES = ("0.9M", "1M", "3.2M", "6M", "10M", "20M")  # RTL-SDR edges, Airspy, HackRF


def rates_and_recording(tally: Tally, quick: bool, forker: Forker, workdir: Path) -> None:
    """``wmbus simulate`` at the rates of RTL-SDR, Airspy and HackRF, each decoded: every
    telegram of the truth file found. ``wmbus record`` (SigMF and cu8, default 2.4 Msps at
    868.625 MHz) from ``wmbus serve`` replaying a 1.6 Msps capture at 868.95 MHz: metadata
    that agrees with the samples, and the capture's telegrams decoded from the new file."""
    directory = workdir / "rates"
    directory.mkdir()
    rates = (*RATES[::2], "20M") if quick else RATES
    # Named with rtl_433 tokens, as simulate would name them, so decode reads the tuning.
    names = [f"sim_868.625M_{parse_quantity(rate) / 1e3:.0f}k.cu8" for rate in rates]
    made = forker.run_all([
        Job(("simulate", "--rate", rate, "--count", "3", "--mode", "T1,C1,S1", name),
            cwd=directory)
        for rate, name in zip(rates, names, strict=True)])
    decoded = forker.run_all([Job(("decode", "--json", name), cwd=directory) for name in names])
    for rate, name, simulated, outcome in zip(rates, names, made, decoded, strict=True):
        tally.ran(simulated, all_of(no_traceback_status(0), lambda o: our_lines(o, "simulate")))
        tally.ran(outcome, all_of(no_traceback_status(0), lambda o: our_lines(o, "decode")))
        truth_file = directory / Path(name).with_suffix(".json")
        if truth_file.exists():
            sent = Counter((t["mode"], t["frame_hex"].upper())
                           for t in json.loads(truth_file.read_text())["telegrams"])
            tally.lose(sum((sent - frames_of(outcome.stdout)).values()),
                       f"simulate --rate {rate}, then decode: telegrams not found")

    def record(fmt: str) -> None:
        out = workdir / f"record-{fmt}"
        out.mkdir()
        with serving(workdir, SAMPLES2) as served:
            argv = ("record", str(out / "capture"), "--format", fmt, "--rtl-tcp", served.address)
            # The server closes the connection after the capture: a lost source, exit 1.
            tally.ran(run_process(argv, LISTEN_TIMEOUT_S), all_of(
                no_traceback_status(1), lambda o: our_lines(o, "record")))
        _stopped(tally, served, f"wmbus serve (record --format {fmt})")
        if fmt == "sigmf":
            target = out / "capture.sigmf-meta"
            meta = json.loads(target.read_text()) if target.exists() else {}
            tuning = (meta.get("global", {}).get("core:sample_rate"),
                      (meta.get("captures") or [{}])[0].get("core:frequency"))
        else:
            found = sorted(out.glob("*.cu8"))
            target = found[0] if found else out / "capture.cu8"
            tuning = (2.4e6, 868.625e6) if "_868.625M_2400k" in target.name else (None, None)
        tally.expect(tuning == (2.4e6, 868.625e6),
                     f"record --format {fmt}: metadata says {tuning}, the samples are 2.4 Msps "
                     "at 868.625 MHz")
        outcome = forker.run(Job(("decode", "--json", str(target))))
        tally.ran(outcome, all_of(no_traceback_status(0), lambda o: our_lines(o, "decode")))
        tally.lose(sum((truth(SAMPLES2) - frames_of(outcome.stdout)).values()),
                   f"record --format {fmt} through serve: telegrams of the capture not found")

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(record, fmt) for fmt in ("sigmf", "cu8")]:
            future.result()


# ---- MQTT brokers that die, refuse us, or never answer ---------------------------------------


@contextlib.contextmanager
def broker(port: int, directory: Path, settings: str = "allow_anonymous true") -> Iterator[
        subprocess.Popen]:
    """Debian's mosquitto on loopback PORT (as live_support.mosquitto, but the process is ours to
    kill with SIGKILL)."""
    binary = shutil.which("mosquitto")
    if binary is None:
        raise RuntimeError("mosquitto is not installed (Debian package mosquitto)")
    config = directory / f"mosquitto-{port}-{time.monotonic_ns()}.conf"
    # Started as root, mosquitto would switch to the `mosquitto` user; as anyone else no effect.
    config.write_text(
        f"user {pwd.getpwuid(os.getuid()).pw_name}\nlistener {port} 127.0.0.1\n{settings}\n"
    )
    proc = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)

    def accepting() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return proc.poll() is not None  # ended: the wait is over, the caller will see

    try:
        wait_for(accepting, 10, "mosquitto to accept connections")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(STOP_TIMEOUT_S)


def mqtt_counts(tally: Tally, outcome: Outcome, name: str, telegrams: int | None) -> int | None:
    """Check the listen summary: published = delivered + dropped, and published is what the
    session produced (two messages per telegram, the started and stopped events, and
    source_lost when the server went away); returns delivered."""
    match = summary(outcome)
    if match is None or match.group(4) is None:
        tally.expect(False, f"{name}: no MQTT summary in {outcome.err[-300:]!r}")
        return None
    got, published, delivered, dropped = (int(match.group(i)) for i in (1, 4, 5, 6))
    tally.lose(abs(published - delivered - dropped),
               f"{name}: MQTT {published} published but {delivered} delivered + {dropped} "
               "dropped")
    events = 2 + ("source_lost" in outcome.err or outcome.returncode == 1)
    tally.lose(abs(published - (2 * got + events)),
               f"{name}: {published} MQTT messages published for {got} telegrams")
    if telegrams is not None:
        tally.lose(telegrams - got, f"{name}: {got} telegrams decoded of {telegrams}")
    return delivered


def mqtt_brokers(tally: Tally, quick: bool, workdir: Path) -> None:
    """``wmbus listen --mqtt`` fed by ``wmbus serve``: the broker killed (SIGKILL) and
    restarted twice; a broker refusing the login (TLS, wrong password); one that never answers;
    none at all; and a healthy one whose subscriber must see every telegram."""
    loops = 80 if quick else 160  # 23 telegrams a second of samples
    telegrams = truth(RECORDING, loops).total()
    password = "wrong-horse-battery"

    def listen_argv(served: Served, port: int, *extra: str, loops: int = loops) -> tuple[str, ...]:
        return ("listen", "--rtl-tcp", served.address, "--duration",
                f"{loops * RECORDING_S:.12f}", "--json", "--mqtt", f"127.0.0.1:{port}",
                "--mqtt-name", "bench", *extra)

    def healthy() -> None:
        """A healthy broker: nothing dropped, the subscriber sees every telegram."""
        with serving(workdir, RECORDING, extra=("--loop",)) as served:
            port = free_port()
            with broker(port, workdir):
                sub = Subscriber(port, "wmbus/meter/#")
                try:
                    outcome = run_process(listen_argv(served, port), LISTEN_TIMEOUT_S)
                    tally.ran(outcome, lambda o: our_lines(o, "listen"))
                    delivered = mqtt_counts(tally, outcome, "healthy broker", telegrams)
                    with contextlib.suppress(AssertionError):
                        wait_for(lambda: len(sub.messages) >= telegrams, 5, "the subscriber")
                    tally.lose(telegrams - len(sub.messages),
                               f"healthy broker: subscriber got {len(sub.messages)} of "
                               f"{telegrams}")
                    match = summary(outcome)
                    tally.expect(delivered is not None and match is not None
                                 and match.group(6) == "0", "healthy broker: messages dropped")
                finally:
                    sub.close()
        _stopped(tally, served, "wmbus serve (healthy broker)")

    kill_loops = 140 if quick else 240
    output, errors = workdir / "killed.jsonl", workdir / "killed.err"

    def written() -> int:
        return output.read_text().count("\n") if output.exists() else 0

    def killed() -> None:
        """The broker killed (SIGKILL) and restarted twice while telegrams flow."""
        with serving(workdir, RECORDING, extra=("--loop",)) as served:
            port = free_port()
            argv = listen_argv(served, port, "--output", str(output), loops=kill_loops)
            running = contextlib.ExitStack()  # the broker of the moment, replaced at each restart
            try:
                running.enter_context(broker(port, workdir))
                with open(errors, "wb") as err, started(argv, stderr=err) as proc:
                    for kill in (1, 2):
                        # Connected (again) and telegrams coming: then the broker dies.
                        seen = written()
                        wait_for(lambda kill=kill, seen=seen: proc.poll() is not None or (
                            errors.read_text().count("MQTT connected") >= kill
                            and written() >= seen + 5), 20, f"MQTT connection {kill}")
                        running.close()  # SIGKILL: no goodbye to the clients
                        time.sleep(0.5)
                        running = contextlib.ExitStack()
                        running.enter_context(broker(port, workdir))
                    outcome = replace(finish(proc, argv, LISTEN_TIMEOUT_S),
                                      stderr=errors.read_bytes())
            finally:
                running.close()
            tally.ran(outcome, lambda o: our_lines(o, "listen") or (
                None if o.err.count("MQTT connected") == 3 else "not 3 connections"))
            expected = truth(RECORDING, kill_loops).total()
            mqtt_counts(tally, outcome, "broker killed twice", expected)
            tally.lose(expected - written(),
                       f"broker killed twice: {written()} telegrams written of {expected}")
        _stopped(tally, served, "wmbus serve (broker killed)")

    def unwelcoming() -> None:
        """A broker that refuses the login (TLS, wrong password), one that never answers, none."""
        (workdir / "tls").mkdir()
        with contextlib.ExitStack() as stack:
            secure = stack.enter_context(
                secure_mosquitto(workdir / "tls", require_certificate=False))
            silent = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
            nobody = free_port()
            cases = [
                ("login refused", secure.port, ("--mqtt-tls", "--mqtt-ca", str(secure.ca),
                                                "--mqtt-user", secure.user),
                 {"WMBUS_MQTT_PASSWORD": password}, r"warning: MQTT broker \S+ refused the login"),
                ("broker never answers", silent.getsockname()[1], (), {},
                 r"warning: MQTT broker \S+ has not answered within"),
                ("no broker", nobody, (), {}, r"warning: cannot connect to MQTT broker \S+"),
            ]

            def one(case: tuple[str, int, tuple[str, ...], dict[str, str], str]) -> None:
                name, port, extra, env, says = case
                # The warning about a silent broker comes after ANSWER_TIMEOUT_S (6 s): a longer
                # session, so that it must be there.
                case_loops = loops
                if "answer" in name:
                    case_loops = round(1.4 * ANSWER_TIMEOUT_S / RECORDING_S)
                with serving(workdir, RECORDING, extra=("--loop",)) as served:
                    outcome = run_process(listen_argv(served, port, *extra, loops=case_loops),
                                          LISTEN_TIMEOUT_S, env=env)

                    def check(o: Outcome) -> str | None:
                        if o.returncode != 0:
                            return f"{name}: exit {o.returncode}"
                        warned = re.findall(says, o.err)
                        if len(warned) != 1:
                            return f"{name}: {len(warned)} warnings like /{says}/, not one"
                        if password in o.out + o.err or secure.password in o.out + o.err:
                            return f"{name}: a password is in the output"
                        return our_lines(o, "listen")

                    tally.ran(outcome, check)
                    delivered = mqtt_counts(tally, outcome, name,
                                            truth(RECORDING, case_loops).total())
                    tally.expect(delivered in (0, None), f"{name}: {delivered} delivered")
                _stopped(tally, served, f"wmbus serve ({name})")

            with ThreadPoolExecutor(len(cases)) as pool:
                list(pool.map(one, cases))

    with ThreadPoolExecutor(3) as pool:
        for future in [pool.submit(f) for f in (healthy, killed, unwelcoming)]:
            future.result()


# ---- bad files -------------------------------------------------------------------------------


def sigmf_pair(directory: Path, name: str, meta: Any, data: bytes | None = RECORDING_BYTES,
               raw: str | None = None) -> Path:
    """NAME.sigmf-meta holding ``meta`` as JSON (or ``raw`` text) beside NAME.sigmf-data."""
    if data is not None:
        (directory / f"{name}.sigmf-data").write_bytes(data)
    path = directory / f"{name}.sigmf-meta"
    path.write_text(raw if raw is not None else json.dumps(meta))
    return path


def good_meta(**changes: Any) -> dict[str, Any]:
    glob = {"core:datatype": "cu8", "core:sample_rate": 2.4e6, "core:version": "1.0.0",
            "core:num_channels": 1}
    capture = {"core:sample_start": 0, "core:frequency": 868.625e6}
    for key, value in changes.items():
        section, _, name = key.partition("__")
        target = glob if section == "g" else capture
        if value is _DROP:
            target.pop(f"core:{name}", None)
        else:
            target[f"core:{name}"] = value
    return {"global": glob, "captures": [capture], "annotations": []}


_DROP = object()
NAN, INF = float("nan"), float("inf")


def bad_file_jobs(d: Path) -> list[tuple[Job, Callable[[Outcome], str | None]]]:
    """(command, what its answer must be) for files that are empty, truncated, endless,
    directories, hostile SigMF metadata, key files and logs."""
    cu8 = "_868.625M_2400k.cu8"
    (d / f"empty{cu8}").write_bytes(b"")
    (d / f"one_byte{cu8}").write_bytes(b"\x80")
    (d / f"odd{cu8}").write_bytes(RECORDING_BYTES[:-1])
    (d / "three_bytes_868.625M_2400k.cs16").write_bytes(b"\0\0\0")
    (d / "seven_bytes_868.625M_2400k.cf32").write_bytes(b"\0" * 7)
    (d / f"dir{cu8}").mkdir()
    (d / "dir.sigmf-meta").mkdir()
    (d / "no_tokens.cu8").write_bytes(RECORDING_BYTES)
    (d / "keys_empty").write_text("")
    (d / "keys_swapped").write_text("C173CBADD6B89DD65541B8E87C4A37C7 20096221\n")
    (d / "keys_binary").write_bytes(random.Random(1).randbytes(4096))
    (d / "keys_big").write_text("20096221 C173CBADD6B89DD65541B8E87C4A37C7\n" * 30_000)
    (d / "keys_nul").write_bytes(b"20096221 C173CBADD6B89DD65541B8E87C4A37C7\0\n")
    (d / "keys_dir").mkdir()
    for path in d.glob("keys_*"):
        if path.is_file():
            path.chmod(0o600)
    secret = "C173CBADD6B89DD65541B8E87C4A37C7"

    metas: list[tuple[str, Any, str | None]] = [
        ("rate_nan", good_meta(g__sample_rate=NAN), None),
        ("rate_inf", good_meta(g__sample_rate=INF), None),
        ("rate_-inf", good_meta(g__sample_rate=-INF), None),
        ("rate_1e12", good_meta(g__sample_rate=1e12), None),
        ("rate_1e300", good_meta(g__sample_rate=1e300), None),
        ("rate_0", good_meta(g__sample_rate=0), None),
        ("rate_negative", good_meta(g__sample_rate=-2.4e6), None),
        ("rate_text", good_meta(g__sample_rate="2.4M"), None),
        ("rate_true", good_meta(g__sample_rate=True), None),
        ("rate_list", good_meta(g__sample_rate=[2.4e6]), None),
        ("rate_missing", good_meta(g__sample_rate=_DROP), None),
        ("channels_0", good_meta(g__num_channels=0), None),
        ("channels_2", good_meta(g__num_channels=2), None),
        ("channels_text", good_meta(g__num_channels="1"), None),
        ("channels_1e300", good_meta(g__num_channels=1e300), None),
        ("freq_nan", good_meta(c__frequency=NAN), None),
        ("freq_inf", good_meta(c__frequency=INF), None),
        ("freq_0", good_meta(c__frequency=0), None),
        ("freq_1e300", good_meta(c__frequency=1e300), None),
        ("freq_text", good_meta(c__frequency="868.95M"), None),
        ("datatype_number", good_meta(g__datatype=8), None),
        ("datatype_unknown", good_meta(g__datatype="ci99_le"), None),
        ("datatype_complex_float64", good_meta(g__datatype="cf64_le"), None),
        ("offset_negative", good_meta(g__offset=-1), None),
        ("trailing_negative", good_meta(g__trailing_bytes=-5), None),
        ("trailing_huge", good_meta(g__trailing_bytes=10**30), None),
        ("sample_start_huge", good_meta(c__sample_start=10**30), None),
        ("sample_start_negative", good_meta(c__sample_start=-10), None),
        ("not_json", None, "this is not JSON"),
        ("empty", None, ""),
        ("array", None, "[1, 2, 3]"),
        ("global_list", {"global": [], "captures": []}, None),
        ("captures_text", {"global": good_meta()["global"], "captures": "x"}, None),
        ("nested_100000", None, "[" * 100_000 + "]" * 100_000),
        ("utf16", None, json.dumps(good_meta()).encode("utf-16").decode("latin-1")),
    ]
    jobs: list[tuple[Job, Callable[[Outcome], str | None]]] = []
    for name, meta, raw in metas:
        path = sigmf_pair(d, f"meta_{name}", meta, raw=raw)
        jobs.append((Job(("decode", str(path))), all_of(
            lambda o: our_lines(o, "decode"), no_traceback_status(0, 2))))
    (d / "meta_no_data.sigmf-meta").write_text(json.dumps(good_meta()))
    jobs.append((Job(("decode", str(d / "meta_no_data.sigmf-meta"))),
                 one_line_error("decode", "meta_no_data")))
    sigmf_pair(d, "meta_dir_data", good_meta(), data=None)
    (d / "meta_dir_data.sigmf-data").mkdir()
    jobs.append((Job(("decode", str(d / "meta_dir_data.sigmf-meta"))),
                 all_of(lambda o: our_lines(o, "decode"), no_traceback_status(0, 2))))

    def decode_answers(o: Outcome) -> str | None:
        return our_lines(o, "decode") or no_traceback_status(0, 1, 2)(o)

    for name in (f"empty{cu8}", f"one_byte{cu8}", f"odd{cu8}", "three_bytes_868.625M_2400k.cs16",
                 "seven_bytes_868.625M_2400k.cf32", f"dir{cu8}", "dir.sigmf-meta", "no_tokens.cu8",
                 "missing.cu8"):
        jobs.append((Job(("decode", str(d / name))), decode_answers))
        jobs.append((Job(("survey", str(d / name))),
                     all_of(lambda o: our_lines(o, "survey"), no_traceback_status(0, 1, 2))))
        if name != f"odd{cu8}":  # a recording with half a sample more: served like any other
            jobs.append((Job(("serve", "--port", "0", "--max-clients", "1", str(d / name)),
                             timeout_s=10), one_line_error("serve", name)))
    jobs.append((Job(("decode", str(d))), decode_answers))
    jobs.append((Job(("decode", "/dev/null")), decode_answers))
    jobs.append((Job(("decode", "--rate", "2.4M", "--center", "868.625M", "--format", "cu8",
                      "/dev/null")), decode_answers))

    def key_error(*names: str) -> Callable[[Outcome], str | None]:
        def check(o: Outcome) -> str | None:
            if secret in o.out + o.err or secret.lower() in o.out + o.err:
                return "the key is in the output"
            return one_line_error("telegram", *names)(o)

        return check

    for keys in ("/dev/zero", "keys_empty", "keys_swapped", "keys_binary", "keys_big",
                 "keys_nul", "keys_dir", "missing_keys"):
        path = keys if keys.startswith("/") else str(d / keys)
        if keys == "keys_empty":  # an empty file gives no keys: the telegram is just not decrypted
            check: Callable[[Outcome], str | None] = all_of(
                lambda o: our_lines(o, "telegram"), no_traceback_status(1))
        else:
            check = key_error(keys, "line", "--keys")
        jobs.append((Job(("telegram", "--keys", path, R3)), check))
    for value in (f"20096221={secret[:-1]}", f"{secret}=20096221", f"20096221 {secret}",
                  "=", f"2009622={secret}", f"20096221={secret}0"):
        jobs.append((Job(("telegram", "--key", value, R3)), key_error("--key", "meter")))
        jobs.append((Job(("telegram", R3), env=(("WMBUS_KEYS", value),)),
                     key_error("WMBUS_KEYS", "item")))

    # Survey logs: a line nested 1,000 and 100,000 deep, NaN, wrong types, binary, huge lines.
    line = {"meter_id": "12345678", "time_s": 1.0, "mode": "T1", "rssi_dbfs": -40.0}
    logs = {
        "deep_list": "[" * 1000 + "]" * 1000,
        "deep_dict": '{"a":' * 1000 + "1" + "}" * 1000,
        "deep_in_telegram": json.dumps(line)[:-1] + ', "x": ' + "[" * 1000 + "]" * 1000 + "}",
        "deep_100000": "[" * 100_000 + "]" * 100_000,
        "nan": json.dumps({**line, "rssi_dbfs": NAN, "time_s": NAN}),
        "inf": json.dumps({**line, "time_s": INF, "snr_db": -INF}),
        "types": json.dumps({**line, "meter_id": 5, "time_s": "x", "AC": True}),
        "types2": json.dumps({**line, "rssi_dbfs": "loud", "AC": 1e300, "ell": [1]}),
        "huge_numbers": json.dumps({**line, "time_s": 1e308, "freq_hz": 1e308}),
        "binary": "\x00\xff\xfe garbage",
    }
    for name, text in logs.items():
        path = d / f"log_{name}.jsonl"
        # Two readable receptions beside the hostile line: the survey still has something.
        path.write_text(f"{json.dumps(line)}\n{text}\n{json.dumps({**line, 'time_s': 9.0})}\n")
        jobs.append((Job(("survey", str(path))),
                     all_of(lambda o: our_lines(o, "survey"), no_traceback_status(0, 2))))
        jobs.append((Job(("survey", "--json", str(path))), all_of(
            lambda o: our_lines(o, "survey"), no_traceback_status(0, 2),
            lambda o: None if o.returncode else json_document(o))))
    (d / "log_binary.jsonl").write_bytes(b"\xff\xfe\x00" * 1000)
    return jobs


def no_traceback_status(*statuses: int) -> Callable[[Outcome], str | None]:
    def check(o: Outcome) -> str | None:
        return None if o.returncode in statuses else f"exit {o.returncode}, not {statuses}"

    return check


def bad_files(tally: Tally, quick: bool, forker: Forker, workdir: Path) -> None:
    directory = workdir / "files"
    directory.mkdir()
    jobs = bad_file_jobs(directory)
    for (_, check), outcome in zip(jobs, forker.run_all([j for j, _ in jobs]), strict=True):
        tally.ran(outcome, check)


# ---- bad option values -----------------------------------------------------------------------

# Bad for every numeric option ("--opt=-inf" keeps argparse from taking it for an option).
NOT_NUMBERS = ("nan", "NaN", "inf", "-inf", "Infinity", "1e300", "-1e300", "1e999", "x", "",
               " ", "0x10", "1,5")
NOT_NUMBERS_QUICK = ("nan", "-inf", "1e300", "x", "")
# Values absurd for one option in particular.
ABSURD = {
    "--rate": ("0", "2.4", "-2.4M", "1000000000000", "1e12", "2.4e6", "101M"),
    "--center": ("0", "868.625", "99999G", "-868M"),
    "--chunk-samples": ("0", "-5", "1.5", "16777217"),
    "--gain": ("1000", "-1000", "autox", "101"),
    "--ppm": ("1000000000000", "1.5", "1001", "-1001"),
    "--buffer": ("0", "-1", "1e9", "61"),
    "--duration": ("0", "-1", "1e12", "-0"),
    "--dedupe": ("-1", "1e12", "86401"),
    "--mqtt-queue": ("0", "-1", "1.5", "1e12", "10000001"),
    "--ecn0": ("1000", "-1000"),
    "--count": ("-1", "1e3", "1000000000"),
    "--cfo": ("1e9", "-1e9"),
    "--rate-error": ("-1", "5"),
    "--seed": ("-1", "1.5", "99999999999999999999999"),
    "--length": ("5", "1000", "-1"),
    "--max-clients": ("0", "-1", "1e3", "1000001"),
    "--send-timeout": ("0", "-1", "3601"),
    "--port": ("-1", "65536", "99999999999999999999"),
}
# Odd values that are valid: they must work, not hang or fail (a duration under one sample once
# ran forever). (command, option, value)
VALID_EDGES = (
    ("listen", "--duration", "1e-7"), ("listen", "--duration", "1e-300"),
    ("record", "--duration", "1e-7"), ("listen", "--buffer", "1e-9"),
    ("listen", "--dedupe", "0"), ("listen", "--gain", "1e-300"), ("listen", "--gain", "-50"),
    ("listen", "--ppm", "-1000"), ("listen", "--rate", "0.9M"), ("listen", "--rate", "20M"),
    ("listen", "--center", "869.525M"), ("decode", "--chunk-samples", "1000"),
)
# HOST:PORT values: the port part as bad as the numbers above.
BAD_ADDRESSES = ("127.0.0.1:nan", "127.0.0.1:inf", "127.0.0.1:0", "127.0.0.1:65536",
                 "127.0.0.1:-1", "127.0.0.1:", "127.0.0.1:1e3", "127.0.0.1:x", "[::1", "[::1]:",
                 "::1:99999", ":", "127.0.0.1:99999999999999999999")


def numeric_options() -> list[tuple[str, str]]:
    """(command, option) for every option of every command whose value is parsed as a number
    (an argparse ``type``): derived from the parser, so a new option is covered at once."""
    from sdr.cli import build_parser

    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [
        (command, action.option_strings[-1])
        for command, subparser in sub.choices.items()
        for action in subparser._actions
        if action.option_strings and action.type is not None and action.nargs != 0
    ]


def quiet_rtl_tcp_server(stop: threading.Event) -> tuple[str, threading.Thread]:
    """A loopback rtl_tcp server for any number of clients that greets and sends silence (for
    listen and record commands that would otherwise open a dongle)."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    listener.settimeout(0.2)
    silence = b"\x7f\x80" * 65_536

    def serve_one(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            _greet(conn)
            conn.settimeout(1)
            while not stop.is_set():
                conn.sendall(silence)
                time.sleep(0.02)

    def run() -> None:
        with listener:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=run, daemon=True, name="quiet rtl_tcp")
    thread.start()
    return f"127.0.0.1:{listener.getsockname()[1]}", thread


def bad_options(
    tally: Tally, quick: bool, forker: Forker, workdir: Path,
    options: Sequence[tuple[str, str]] | None = None,
    edges: Sequence[tuple[str, str, str]] = VALID_EDGES, addresses: Sequence[str] = BAD_ADDRESSES,
) -> None:
    """Every numeric option of every command (``options``, default all) with NaN, infinities,
    text and absurd values, and HOST:PORT options with bad ports: each a one-line usage error
    naming the option, exit 2, nothing written. Odd values that are valid (``edges``) work."""
    stop = threading.Event()
    address, thread = quiet_rtl_tcp_server(stop)
    recording = str(RECORDING)
    heads = {
        "decode": ("decode", recording),
        "survey": ("survey", recording),
        "simulate": ("simulate", "out.cu8", "--count", "1"),
        "serve": ("serve", recording, "--port", "0", "--max-clients", "1"),
        "listen": ("listen", "--rtl-tcp", address, "--duration", "0.2"),
        "record": ("record", "out", "--rtl-tcp", address, "--duration", "0.2"),
        "telegram": ("telegram", "2E44"),
    }
    generic = NOT_NUMBERS_QUICK if quick else NOT_NUMBERS
    jobs: list[tuple[Job, Callable[[Outcome], str | None]]] = []
    for command, option in numeric_options() if options is None else options:
        for value in dict.fromkeys(generic + ABSURD.get(option, ())):
            argv = (*heads[command], f"{option}={value}")
            jobs.append((Job(argv, timeout_s=15), one_line_error(command, option)))
    for command in ("listen", "record"):
        for value in addresses:
            jobs.append((Job((*heads[command], f"--rtl-tcp={value}"), timeout_s=15),
                         one_line_error(command, "--rtl-tcp", value)))
            if value != "::1:99999":  # a host name to MQTT (no brackets): warned, retried
                jobs.append((Job((*heads[command], f"--mqtt={value}"), timeout_s=15),
                             one_line_error(command, "--mqtt", value)))
    for value in ("", "X1", "T9", "S1,T9", ",", "T1" * 5000):
        jobs.append((Job((*heads["decode"], f"--modes={value}")),
                     one_line_error("decode", "--modes", "mode")))
    for command, option, value in edges:
        jobs.append((Job((*heads[command], f"{option}={value}"), timeout_s=20), all_of(
            no_traceback_status(0), lambda o, c=command: our_lines(o, c))))
    try:
        outcomes = forker.run_all([j for j, _ in jobs])
    finally:
        stop.set()
        thread.join(STOP_TIMEOUT_S)
    for (_, check), outcome in zip(jobs, outcomes, strict=True):
        tally.ran(outcome, check)
    if options is None:
        tally.notes.append(f"{len(numeric_options())} numeric options in "
                           f"{len({c for c, _ in numeric_options()})} commands")


# ---- text from the air on a terminal and in JSON lines ---------------------------------------


def terminal_injection(tally: Tally, quick: bool, forker: Forker, workdir: Path) -> None:
    """Telegrams with ESC, BEL, DEL, C1 and NEL in their text, through telegram, decode, survey
    and listen (fed by serve): text output escaped, JSON lines one line each; a recording whose
    file name holds U+2028 and NEL in decode's JSON lines."""
    frames = hostile_frames()
    with_crcs = [add_crcs(bytes.fromhex(f), FrameFormat.A).hex() for f in frames]
    directory = workdir / "air"
    directory.mkdir()
    recording = synthetic_recording(directory / "hostile_868.625M_2400k.cu8",
                                    [("T1", f) for f in frames], 2.4e6, 868.625e6)
    odd_name = directory / "line\u2028sep\x85nel\u2029_868.625M_2400k.cu8"
    shutil.copy(recording, odd_name)
    count = len(frames)
    log = directory / "hostile.jsonl"
    hostile_log = [{"meter_id": "\x1b[2J\x07", "manufacturer": "\x9b31m", "mode": "T1\u2028",
                    "time_s": t, "rssi_dbfs": -40.0, "frame_hex": "00"} for t in (1.0, 9.0)]
    log.write_text("".join(json.dumps(line) + "\n" for line in hostile_log))

    def text(o: Outcome) -> str | None:
        return terminal_safe(o.stdout) or terminal_safe(o.stderr)

    def intact(o: Outcome) -> str | None:
        """The text reaches JSON readers as it came, escaped only for the transport."""
        values = {r.get("value") for line in o.out.splitlines() if line.strip()
                  for r in json.loads(line).get("records", [])}
        return None if LVAR_TEXT in values else "the LVAR text is not in the JSON as sent"

    def lines(n: int | None) -> Callable[[Outcome], str | None]:
        return lambda o: json_lines_intact(o.stdout, n) or terminal_safe(o.stderr) or intact(o)

    def decoded(n: int) -> Callable[[Outcome], str | None]:
        def check(o: Outcome) -> str | None:
            return None if o.out.count("fabrication_number") == n else (
                f"{o.out.count('fabrication_number')} telegrams shown, not {n}")

        return check

    jobs = [
        (Job(("telegram", *with_crcs)), all_of(text, decoded(count))),
        (Job(("telegram", "--json", *with_crcs)), lines(count)),
        (Job(("decode", str(recording))), all_of(text, decoded(count))),
        (Job(("decode", "--json", str(recording))), lines(count)),
        (Job(("decode", "--json", str(odd_name))), lines(count)),
        (Job(("survey", str(recording))), text),
        (Job(("survey", str(log))), text),
        (Job(("survey", "--json", str(log))), json_document),
    ]
    sent = Counter(("T1", f.upper()) for f in frames)
    for (job, check), outcome in zip(jobs, forker.run_all([j for j, _ in jobs]), strict=True):
        tally.ran(outcome, check)
        if job.argv[:2] == ("decode", "--json"):
            tally.lose(sum((sent - frames_of(outcome.stdout)).values()),
                       f"{outcome.describe()}: hostile telegrams not decoded")

    def listen(as_json: bool) -> None:
        with serving(workdir, recording) as served:
            argv = ("listen", "--rtl-tcp", served.address, *(("--json",) if as_json else ()))
            outcome = run_process(argv, LISTEN_TIMEOUT_S)
            tally.ran(outcome, lines(count) if as_json else all_of(text, decoded(count)))
            if as_json:
                tally.lose(sum((sent - frames_of(outcome.stdout)).values()),
                           "listen fed by serve: hostile telegrams not decoded")
        _stopped(tally, served, "wmbus serve (hostile recording)")

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(listen, as_json) for as_json in (False, True)]:
            future.result()


# ---- mode 7 MACs -----------------------------------------------------------------------------


def mode7_macs(tally: Tally, quick: bool, forker: Forker, workdir: Path) -> None:
    """R5 without its MAC, with a short one, or an altered one: bad_mac, never decrypted with
    readings, in process and through ``wmbus telegram`` with the key in a key file."""
    variants = mac_variants()
    decoder = Decoder({R5_METER: R5_KEY})
    control = decoder.decode_bytes(bytes.fromhex(R5))
    tally.expect(isinstance(control, Telegram) and control.security is SecurityStatus.DECRYPTED,
                 "R5 with its own MAC is not decrypted: the variants prove nothing")
    for name, frame in variants:
        tally.inputs += 1
        t = decoder.decode_bytes(frame)
        if isinstance(t, Telegram) and (t.security is SecurityStatus.DECRYPTED or t.records):
            tally.lose(1, f"{name}: accepted as {t.security.value} with {len(t.records)} records")
        elif isinstance(t, Telegram):
            # bad_mac, or a malformed AFL (the MAC announced but not there): a failure reason.
            tally.expect(t.error is not None, f"{name}: {t.security.value} without a failure")
    keys = workdir / "r5.keys"
    keys.write_text(f"{R5_METER} {R5_KEY.hex()}\n")
    keys.chmod(0o600)
    hexes = [frame.hex() for _, frame in variants]
    for extra in ((), ("--json",)):
        outcome = forker.run(Job(("telegram", "--keys", str(keys), *extra, *hexes)))
        tally.ran(outcome, all_of(no_traceback_status(1), lambda o: our_lines(o, "telegram")))
        if extra:
            shown = [json.loads(line) for line in outcome.out.splitlines() if line.strip()]
            accepted = sum(t.get("security") == "decrypted" or bool(t.get("records"))
                           for t in shown)
            tally.expect(len(shown) == len(hexes), f"{len(shown)} JSON lines for {len(hexes)}")
        else:
            accepted = outcome.out.count("security: decrypted") + outcome.out.count("records:")
        tally.lose(accepted, "MAC variants shown by `wmbus telegram` as decrypted or with records")


# ---- wrong keys ------------------------------------------------------------------------------


def _wrong_keys_part(name: str, count: int, seed: str) -> tuple[str, int, int, int, list[str]]:
    """``count`` random keys on one reference telegram (benchmarks.wrong_keys.Reference):
    (name, tried, accepted, accepted with records, accepted keys)."""
    from benchmarks.wrong_keys import REFERENCES, Reference

    what, hex_text = next((w, h) for n, w, h in REFERENCES if n == name)
    ref = Reference.of(name, what, hex_text)
    rng = random.Random(seed)
    accepted, with_records = [], 0
    for _ in range(count):
        key = rng.randbytes(16)
        t = ref.decode(key)
        if t is not None:
            accepted.append(key.hex().upper())
            with_records += bool(t.records)
    return name, count, len(accepted), with_records, accepted


def _wrong_keys_worker() -> None:
    """Child process: the parts given as JSON in argv[1]; results as one JSON line. At the
    lowest priority: it runs beside the live sessions, which must keep up with their servers."""
    os.nice(19)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the benchmark ends it (WrongKeys.stop)
    parts = json.loads(sys.argv[1])
    print(json.dumps([_wrong_keys_part(*part) for part in parts]))


# docs/protocol.md §6.5: a wrong key passes the check after the marker about once in 470,000
# (R1) to 680,000 (R4) tries per telegram; 570,000 is the order of it, for the note.
DOCUMENTED_WRONG_KEY_RATE = 1 / 570_000


@dataclass
class WrongKeys:
    """The key-trying processes, started first (they take the longest) and read at the end."""

    workers: list[subprocess.Popen]
    keys_per_telegram: int

    @classmethod
    def start(cls, total: int, seed: int) -> WrongKeys:
        from benchmarks.wrong_keys import REFERENCES

        per_part = total // (len(REFERENCES) * PARALLEL)
        parts = [(name, per_part, f"hostile-{seed}-{name}-{i}")
                 for name, _, _ in REFERENCES for i in range(PARALLEL)]
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", "import benchmarks.hostile as h; h._wrong_keys_worker()",
                 json.dumps(parts[i::PARALLEL])],
                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
            for i in range(PARALLEL)
        ]
        return cls(workers, per_part * PARALLEL)

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()

    def count(self, tally: Tally) -> None:
        """Wait for the workers; a key accepted with readings is a telegram of garbage that
        would reach MQTT and Home Assistant: counted as lost."""
        results = []
        for proc in self.workers:
            outcome = finish(proc, ("(wrong keys worker)",), 900)
            if outcome.hung or outcome.returncode != 0:
                tally.ran(outcome)
                tally.harness_failed(f"wrong-keys worker: exit {outcome.returncode}: "
                                     f"{outcome.err[-500:]}")
                continue
            results += json.loads(outcome.stdout)
        by_name: dict[str, list[int]] = {}
        for name, tried, accepted, with_records, keys in results:
            tally.add_inputs(tried)
            counts = by_name.setdefault(name, [0, 0, 0])
            counts[0] += tried
            counts[1] += accepted
            counts[2] += with_records
            tally.lose(with_records,
                       f"{name}: wrong key(s) accepted with readings: {', '.join(keys)}")
        tally.notes.append("keys tried / accepted / of them with readings: " + "; ".join(
            f"{n} {c[0]:,}/{c[1]}/{c[2]}" for n, c in by_name.items()))
        checked = len([n for n in by_name if n != "R5"])  # R5: the MAC decides (2^-64)
        tally.notes.append(
            f"docs/protocol.md §6.5 expects about "
            f"{checked * self.keys_per_telegram * DOCUMENTED_WRONG_KEY_RATE:.1f} wrong keys "
            "accepted here (1 in 470,000-680,000 per mode-5/ELL telegram)")


def wrong_keys_total(quick: bool) -> int:
    """1,000,000 random keys (``--quick`` 100,000) spread over the encrypted reference
    telegrams (R3, R4, R10 mode 5; R1 ELL AES-CTR; R5 mode 7)."""
    return 100_000 if quick else 1_000_000


# ---- the table -------------------------------------------------------------------------------

COLUMNS = ("inputs", "tracebacks", "hangs", "lost", "wrong")


def print_table(tallies: Sequence[Tally], elapsed_s: float) -> None:
    width = max(len(t.name) for t in tallies)
    print(f"{'category':{width}}  " + "  ".join(f"{c:>10}" for c in COLUMNS))
    for t in tallies:
        lost = "-" if t.lost is None else f"{t.lost:,}"
        cells = (f"{t.inputs:,}", f"{t.tracebacks:,}", f"{t.hangs:,}", lost, f"{t.wrong:,}")
        print(f"{t.name:{width}}  " + "  ".join(f"{c:>10}" for c in cells))
    total = [sum(getattr(t, c) or 0 for t in tallies) for c in COLUMNS]
    print(f"{'all':{width}}  " + "  ".join(f"{v:>10,}" for v in total))
    for t in tallies:
        for note in t.notes:
            print(f"  {t.name}: {note}")
    problems = [(t.name, p) for t in tallies for p in t.problems]
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for name, problem in problems:
            print(f"- [{name}] {problem}")
    print(f"\n(took {elapsed_s:.0f} s)")


CATEGORIES = ("rtl_tcp", "serve", "pair", "record", "mqtt", "files", "options", "terminal",
              "mac", "wrong_keys")


def run(quick: bool, only: Sequence[str] = CATEGORIES, seed: int = 1,
        workdir: Path | None = None) -> list[Tally]:
    """The chosen categories in order; every server, broker and process they start is stopped
    before this returns, whatever happens."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hostile-")))
        forker = Forker(workdir / "forked")
        stack.callback(forker.close)
        # The wrong keys take longest and need no network: their processes run, at the lowest
        # priority, beside everything else.
        keys = None
        if "wrong_keys" in only:
            keys = WrongKeys.start(wrong_keys_total(quick), seed)
            stack.callback(keys.stop)
        steps: list[tuple[str, str, Callable[[Tally], None]]] = [
            ("rtl_tcp", "listen vs hostile rtl_tcp servers",
             lambda t: hostile_rtl_tcp_servers(t, quick)),
            ("serve", "serve vs hostile and many clients",
             lambda t: serve_clients(t, quick, workdir)),
            ("pair", "serve + listen (README pair)",
             lambda t: serve_listen_pair(t, quick, workdir)),
            ("record", "rates 0.9-20 Msps; record from serve",
             lambda t: rates_and_recording(t, quick, forker, workdir)),
            ("mqtt", "listen --mqtt: brokers killed/refusing",
             lambda t: mqtt_brokers(t, quick, workdir)),
            ("files", "bad files (recordings, SigMF, keys, logs)",
             lambda t: bad_files(t, quick, forker, workdir)),
            ("options", "option values (bad; odd but valid)",
             lambda t: bad_options(t, quick, forker, workdir)),
            ("terminal", "text from the air (terminal, JSON)",
             lambda t: terminal_injection(t, quick, forker, workdir)),
            ("mac", "mode 7: missing/short/altered MAC",
             lambda t: mode7_macs(t, quick, forker, workdir)),
            ("wrong_keys", "wrong keys on encrypted references",
             lambda t: keys.count(t) if keys else None),
        ]
        tallies = []
        for key, name, step in steps:
            if key in only:
                started_at = time.perf_counter()
                tallies.append(guarded(Tally(name), step))
                print(f"  ({name}: {time.perf_counter() - started_at:.0f} s)", file=sys.stderr,
                      flush=True)
        return tallies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer option values and wrong keys, shorter sessions (~1.5 min)")
    parser.add_argument("--only", default=",".join(CATEGORIES),
                        help=f"comma-separated subset of {', '.join(CATEGORIES)}")
    parser.add_argument("--seed", type=int, default=1, help="of the wrong keys")
    parser.add_argument("--verbose", action="store_true",
                        help="every command and the end of its stderr, as it finishes")
    args = parser.parse_args(argv)
    global VERBOSE
    VERBOSE = args.verbose
    only = [c.strip() for c in args.only.split(",") if c.strip()]
    if unknown := [c for c in only if c not in CATEGORIES]:
        parser.error(f"unknown categories: {', '.join(unknown)}")

    # SIGTERM unwinds like Ctrl-C, so that the servers and brokers started are stopped.
    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    began = time.perf_counter()
    try:
        tallies = run(args.quick, only, args.seed)
    except KeyboardInterrupt:
        print("hostile: interrupted; every server, broker and process it started is stopped",
              file=sys.stderr)
        return 130
    print_table(tallies, time.perf_counter() - began)
    return 1 if any(t.failed for t in tallies) else 0


if __name__ == "__main__":
    sys.exit(main())
