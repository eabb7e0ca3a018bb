"""`wmbus listen --rtl-tcp` against rtl_tcp servers that misbehave: scripted servers in a thread
of the test (greeting, then whatever the script does), and `wmbus serve` as the README runs it."""

from __future__ import annotations

import re
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sdr.io.rtltcp import COMMAND_BYTES, DongleInfo
from tests.conftest import REPO
from tests.sdr.live_support import (
    ISSUE48,
    ISSUE48_SAMPLES,
    decoded_by_file,
    json_lines,
    serving,
    wmbus,
    wmbus_cmd,
)

ERROR_LINE = re.compile(r"^wmbus listen: error: .*$", re.MULTILINE)


@pytest.fixture(scope="module")
def reference() -> list[dict]:
    return decoded_by_file(ISSUE48)


@contextmanager
def scripted_server(script: Callable[[socket.socket], None]) -> Iterator[str]:
    """One connection: the rtl_tcp greeting, then ``script(conn)``; yields HOST:PORT."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)
    done = threading.Event()

    def run() -> None:
        with listener:
            conn, _ = listener.accept()
        try:
            conn.sendall(DongleInfo(5, 29).pack())
            script(conn)
        except OSError:
            pass  # the client went first; what the test checks is the client's side
        finally:
            conn.close()
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        done.wait(30)


def reset(conn: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0) instead of an orderly FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def first_command(conn: socket.socket) -> None:
    conn.settimeout(30)
    conn.recv(COMMAND_BYTES)


def assert_lost(done: subprocess.CompletedProcess, how: str) -> None:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    [error] = ERROR_LINE.findall(done.stderr)
    assert re.fullmatch(rf"wmbus listen: error: rtl_tcp server 127\.0\.0\.1:\d+ {how}", error)
    assert re.search(r"\d+ telegram\(s\), [\d.]+ s of samples", done.stderr)


def test_a_server_closing_after_its_greeting_is_a_lost_source() -> None:
    with scripted_server(lambda conn: None) as address:
        done = wmbus("listen", "--rtl-tcp", address)
    # The client may still be sending its tuning, which the closed socket answers with a reset.
    assert_lost(done, "(closed|reset) the connection")


def test_a_server_resetting_the_connection_is_a_lost_source() -> None:
    def script(conn: socket.socket) -> None:
        first_command(conn)
        reset(conn)

    with scripted_server(script) as address:
        done = wmbus("listen", "--rtl-tcp", address)
    assert_lost(done, "reset the connection")


def test_samples_of_a_part_filled_block_are_decoded_when_the_server_resets(reference) -> None:
    # The capture is shorter than one 131,072-sample block: all of it sits in the block being
    # filled when the connection breaks.
    def script(conn: socket.socket) -> None:
        first_command(conn)
        conn.sendall(ISSUE48.read_bytes())
        time.sleep(1.0)
        reset(conn)

    with scripted_server(script) as address:
        done = wmbus("listen", "--rtl-tcp", address, "--json")
    assert_lost(done, "reset the connection")
    assert json_lines(done.stdout) == reference


def test_ctrl_c_decodes_the_part_filled_block(reference) -> None:
    sent = threading.Event()
    finished = threading.Event()

    def script(conn: socket.socket) -> None:
        first_command(conn)
        conn.sendall(ISSUE48.read_bytes())
        sent.set()
        finished.wait(30)  # then silent, the connection open

    with scripted_server(script) as address:
        listen = subprocess.Popen(
            wmbus_cmd("listen", "--rtl-tcp", address, "--json"),
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert sent.wait(30)
            time.sleep(1.0)  # the client has read it by now
            listen.send_signal(signal.SIGINT)
            stdout, stderr = listen.communicate(timeout=20)
        finally:
            finished.set()
            if listen.poll() is None:
                listen.kill()
    assert listen.returncode == 130, stderr
    assert json_lines(stdout) == reference
    assert f"{len(reference)} telegram(s), {ISSUE48_SAMPLES / 2.4e6:.3f} s of samples" in stderr


def test_a_stall_is_a_warning_and_so_is_the_data_resuming(reference) -> None:
    data = ISSUE48.read_bytes()
    half = len(data) // 2

    def script(conn: socket.socket) -> None:
        first_command(conn)
        conn.sendall(data[:half])
        time.sleep(6.5)
        conn.sendall(data[half:])
        # An orderly end: closing with the client's commands unread would reset the connection.
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(4096):
            pass

    with scripted_server(script) as address:
        done = wmbus("listen", "--rtl-tcp", address, "--json")
    assert_lost(done, "closed the connection")
    lines = done.stderr.splitlines()
    stalled = [line for line in lines if "no samples" in line]
    assert stalled == [f"wmbus listen: warning: no samples from rtl_tcp server {address} for 5 s"]
    [resumed] = [line for line in lines if "resumed" in line]
    seconds = float(re.fullmatch(rf"wmbus listen: rtl_tcp server {address} resumed after "
                                 r"([\d.]+) s", resumed).group(1))
    assert 6.0 <= seconds < 9.0
    assert json_lines(done.stdout) == reference  # the stall is no gap: no sample was lost


def test_the_readme_pair_serve_and_listen_loses_no_samples(tmp_path: Path) -> None:
    # `wmbus serve --loop` paces like a radio; listen keeps up and counts exactly its duration.
    samples = 20 * ISSUE48_SAMPLES
    with serving(tmp_path, ISSUE48, extra=("--loop",)) as served:
        done = wmbus("listen", "--rtl-tcp", served.address, "--duration",
                     f"{samples / 2.4e6:.12f}", "--json")
    assert done.returncode == 0, done.stderr
    assert len(json_lines(done.stdout)) == 20
    assert (f"20 telegram(s), {samples / 2.4e6:.3f} s of samples, 0 overflow(s) "
            "(0 samples dropped)") in done.stderr


def test_listen_over_ipv6(tmp_path: Path, reference) -> None:
    with serving(tmp_path, ISSUE48, extra=("--host", "::1")) as served:
        assert served.address.startswith("[::1]:")
        done = wmbus("listen", "--rtl-tcp", served.address, "--json")
    assert json_lines(done.stdout) == reference
    assert f"error: rtl_tcp server {served.address} closed the connection" in done.stderr
