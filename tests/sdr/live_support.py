"""Helpers for the live-path tests: real `wmbus` processes, a real mosquitto, the fake librtlsdr.

No tests here; the test modules of listen, serve, record, sources and mqtt import these.
"""

from __future__ import annotations

import datetime
import functools
import io
import ipaddress
import json
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.conftest import RECORDINGS, REPO, require_program

ISSUE48 = RECORDINGS / "rtlsdr_868.625M_2M4_issue48.cu8"
ISSUE48_SAMPLES = ISSUE48.stat().st_size // 2
FAKE_RTLSDR_C = REPO / "tests" / "c" / "fake_rtlsdr.c"
SYSTEM_SOAPY = Path("/usr/lib/python3/dist-packages")


def expected_telegrams(recording: Path) -> list[dict]:
    """The telegrams independent decoders found in a recording (its NAME.json)."""
    return json.loads(recording.with_suffix(".json").read_text())["telegrams"]


def wmbus_cmd(*args: str | os.PathLike) -> list[str]:
    return [sys.executable, "-m", "sdr.cli", *map(str, args)]


def wmbus(*args: str | os.PathLike, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        wmbus_cmd(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout, **kwargs
    )


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def decoded_by_file(recording: Path) -> list[dict]:
    """`wmbus decode --json` on a recording, without the per-file field (run in this process:
    it is the reference, not the subject, and starting the CLI costs seconds)."""
    from sdr.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["decode", "--json", str(recording)]) == 0
    return [{k: v for k, v in t.items() if k != "file"} for t in json_lines(out.getvalue())]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout_s: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Served:
    """A running `wmbus serve` process."""

    proc: subprocess.Popen
    log_path: Path
    port: int
    host: str = "127.0.0.1"

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    @property
    def address(self) -> str:
        """HOST:PORT as `--rtl-tcp` and rtl_433 take it (IPv6 in brackets)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@contextmanager
def serving(tmp_path: Path, *files: os.PathLike, extra: tuple[str, ...] = ()) -> Iterator[Served]:
    """`wmbus serve FILES --port 0 EXTRA`; the address is read from its "serving" log line."""
    log_path = tmp_path / f"serve-{time.monotonic_ns()}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            wmbus_cmd("serve", *files, "--port", "0", *extra),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        match = wait_for(
            lambda: proc.poll() is None
            and re.search(r" on \[?([0-9a-f.:]+?)\]?:(\d+)\n", log_path.read_text()),
            what="wmbus serve to listen",
        )
        yield Served(proc, log_path, int(match.group(2)), match.group(1))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def running_until_telegrams(
    served: Served, output: Path, *args: str | os.PathLike, count: int = 2
) -> subprocess.Popen:
    """`wmbus ARGS --rtl-tcp SERVED --json --output OUTPUT`, once COUNT telegrams are written."""
    proc = subprocess.Popen(
        wmbus_cmd(*args, "--rtl-tcp", served.address, "--json", "--output", output),
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    wait_for(lambda: output.exists() and output.read_text().count("\n") >= count,
             timeout_s=20, what="telegrams from the live stream")
    return proc


@contextmanager
def mosquitto(port: int | None = None, settings: str = "allow_anonymous true") -> Iterator[int]:
    """Debian's mosquitto listening on a free loopback port, with SETTINGS for that listener."""
    binary = shutil.which("mosquitto") or require_program("mosquitto")
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="mosquitto-") as directory:
        config = Path(directory) / "mosquitto.conf"
        # Started as root, mosquitto would switch to the `mosquitto` user, who cannot read the
        # test's files; as anyone else `user` has no effect.
        config.write_text(
            f"user {pwd.getpwuid(os.getuid()).pw_name}\nlistener {port} 127.0.0.1\n{settings}\n"
        )
        proc = subprocess.Popen(
            [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

        def accepting() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
            except OSError:
                return False

        try:
            wait_for(accepting, what="mosquitto to accept connections")
            yield port
        finally:
            proc.terminate()
            proc.wait(10)


@dataclass(frozen=True)
class SecureBroker:
    """A mosquitto that wants TLS and a password; the client certificate and key are signed by
    the same CA as the broker's."""

    port: int
    ca: Path
    client_cert: Path
    client_key: Path
    user: str
    password: str = field(repr=False)

    def client_context(self, with_certificate: bool = True) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca)
        if with_certificate:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context


def write_certificate(
    directory: Path, name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    **extensions: x509.ExtensionType,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """NAME.pem and NAME.key; self-signed (a CA) without ISSUER."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"wmbus test {name}")])
    issuer_cert, issuer_key = issuer or (None, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    for extension in extensions.values():
        builder = builder.add_extension(extension, critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


@contextmanager
def secure_mosquitto(directory: Path, require_certificate: bool) -> Iterator[SecureBroker]:
    """mosquitto on loopback with TLS (a CA, a certificate for 127.0.0.1 and localhost) and a
    password file; client certificates required or not."""
    passwd = shutil.which("mosquitto_passwd") or require_program("mosquitto_passwd")
    ca = write_certificate(directory, "ca", None)
    write_certificate(
        directory, "server", ca,
        san=x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        ),
        usage=x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
    )
    write_certificate(
        directory, "client", ca, usage=x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    )
    user, password = "meter-reader", "s3cret-Pa55word"
    # `mosquitto_passwd -U` hashes a plain `user:password` file in place: no password in argv.
    (directory / "passwd").write_text(f"{user}:{password}\n")
    subprocess.run([passwd, "-U", str(directory / "passwd")], check=True, capture_output=True)
    settings = "\n".join([
        f"cafile {directory / 'ca.pem'}",
        f"certfile {directory / 'server.pem'}",
        f"keyfile {directory / 'server.key'}",
        f"require_certificate {str(require_certificate).lower()}",
        f"password_file {directory / 'passwd'}",
        "allow_anonymous false",
    ])
    with mosquitto(settings=settings) as port:
        yield SecureBroker(
            port, directory / "ca.pem", directory / "client.pem", directory / "client.key", user,
            password,
        )


class Subscriber:
    """A paho subscriber collecting (topic, payload, retain) triples."""

    def __init__(
        self,
        port: int,
        topic: str = "#",
        *,
        tls: ssl.SSLContext | None = None,
        login: tuple[str, str] | None = None,
    ) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        if tls is not None:
            self._client.tls_set_context(tls)
        if login is not None:
            self._client.username_pw_set(*login)
        subscribed = []
        self._client.on_message = lambda c, u, m: self.messages.append(
            (m.topic, m.payload, m.retain)
        )
        self._client.on_subscribe = lambda *a: subscribed.append(True)
        self._client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        wait_for(lambda: subscribed, what="MQTT subscription")

    def on(self, topic: str) -> list[dict]:
        return [json.loads(p) for t, p, _ in self.messages if t == topic]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@functools.cache
def fake_librtlsdr_dir() -> Path:
    """tests/c/fake_rtlsdr.c built with gcc as librtlsdr.so.0 (and .so) in a temp directory."""
    gcc = shutil.which("gcc") or require_program("gcc")
    out = Path(tempfile.mkdtemp(prefix="fake-rtlsdr-"))
    subprocess.run(
        [gcc, "-shared", "-fPIC", "-O2", "-Wall", "-fvisibility=hidden",
         "-Wl,-soname,librtlsdr.so.0", "-o", str(out / "librtlsdr.so.0"), str(FAKE_RTLSDR_C)],
        check=True,
        capture_output=True,
    )
    (out / "librtlsdr.so").symlink_to("librtlsdr.so.0")
    return out


# pyrtlsdr loads pyrtlsdrlib's bundled librtlsdr first; pointing that loader at the fake is the
# only change: everything after (pyrtlsdr's ctypes calls, our source, the CLI) runs unmodified.
_WITH_FAKE_PYRTLSDR = """
import ctypes, os, sys
try:
    import pyrtlsdrlib
    pyrtlsdrlib.load_librtlsdr = lambda: ctypes.CDLL(os.environ["FAKE_RTLSDR_LIB"])
except ImportError:  # pyrtlsdr then searches LD_LIBRARY_PATH itself
    pass
from sdr.cli import main
sys.exit(main(sys.argv[1:]))
"""


def fake_env(recording: Path | None, log: Path | None = None, **extra: str) -> dict[str, str]:
    lib = fake_librtlsdr_dir()
    env = dict(os.environ)
    env.pop("FAKE_RTLSDR_FILE", None)
    if recording is not None:
        env["FAKE_RTLSDR_FILE"] = str(recording)
    if log is not None:
        env["FAKE_RTLSDR_LOG"] = str(log)
    env["FAKE_RTLSDR_LIB"] = str(lib / "librtlsdr.so.0")
    env["LD_LIBRARY_PATH"] = f"{lib}:{env.get('LD_LIBRARY_PATH', '')}".rstrip(":")
    env.update(extra)
    return env


def wmbus_with_fake_rtlsdr(
    env: dict[str, str], *args: str | os.PathLike, timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _WITH_FAKE_PYRTLSDR, *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def soapy_pythonpath(tmp_path: Path) -> Path:
    """A directory holding only Debian's SoapySDR bindings (what a .pth line would add)."""
    files = [SYSTEM_SOAPY / "SoapySDR.py", *SYSTEM_SOAPY.glob("_SoapySDR*.so")]
    if not files[0].exists() or len(files) < 2:
        if os.environ.get("CI"):
            pytest.fail("python3-soapysdr is not installed (`.ci/run` installs it)")
        pytest.skip("python3-soapysdr is not installed")
    out = tmp_path / "soapy"
    out.mkdir()
    for f in files:
        (out / f.name).symlink_to(f)
    return out


def synthetic_recording(
    path: Path, frames: list[tuple[str, str]], sample_rate_hz: float, center_freq_hz: float
) -> Path:
    """(mode name, frame hex) bursts in frame format A from the modulator, 50 ms apart, noisy."""
    from dsp.modulate import add_noise, modulate
    from protocol.framing import add_crcs
    from protocol.modes import MODES, T1, FrameFormat
    from sdr.io.writers import write_iq

    gap = np.zeros(round(0.05 * sample_rate_hz), np.complex64)
    parts = [gap]
    for mode, frame_hex in frames:
        raw = add_crcs(bytes.fromhex(frame_hex), FrameFormat.A)
        parts += [
            modulate(raw, MODES[mode], FrameFormat.A, sample_rate_hz, center_freq_hz,
                     amplitude=0.5),
            gap,
        ]
    iq = add_noise(
        np.concatenate(parts), 30.0, T1.chip_rate_hz, sample_rate_hz, np.random.default_rng(1),
        0.5,
    )
    write_iq(path, iq, "cu8")
    return path
