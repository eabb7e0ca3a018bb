"""The MQTT options of `listen`/`record`: login and TLS, and errors that never show the password."""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path

import pytest

from sdr.cli.live_options import MQTT_PASSWORD_ENV, add_live_arguments, mqtt_config
from sdr.errors import UserError
from sdr.live import MqttConfig, open_mqtt
from sdr.sinks.mqtt import DEFAULT_PORT, DEFAULT_TLS_PORT
from tests.sdr.live_support import write_certificate

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def no_password_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MQTT_PASSWORD_ENV, raising=False)


def config(*argv: str) -> MqttConfig | None:
    parser = argparse.ArgumentParser()
    add_live_arguments(parser)
    args = parser.parse_args(["--mqtt", "127.0.0.1", *argv], argparse.Namespace(command="listen"))
    return mqtt_config(args)


def test_the_password_comes_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "password"
    path.write_text(f"{PASSWORD}\r\n")
    from_file = config("--mqtt-user", "reader", "--mqtt-password-file", str(path))
    assert from_file is not None
    assert (from_file.username, from_file.password) == ("reader", PASSWORD)
    assert PASSWORD not in repr(from_file)
    assert config("--mqtt-user", "reader").password is None  # a login without a password

    monkeypatch.setenv(MQTT_PASSWORD_ENV, "from the environment")
    assert config("--mqtt-user", "reader").password == "from the environment"
    path.write_text(PASSWORD)
    assert config("--mqtt-user", "reader", "--mqtt-password-file", str(path)).password == PASSWORD
    assert config().password is None  # no user, no login


def test_a_password_file_others_may_read_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "password"
    path.write_text(PASSWORD)
    path.chmod(0o600)
    config("--mqtt-user", "reader", "--mqtt-password-file", str(path))
    assert capsys.readouterr().err == ""
    path.chmod(0o644)
    config("--mqtt-user", "reader", "--mqtt-password-file", str(path))
    err = capsys.readouterr().err
    assert err == (
        f"wmbus listen: warning: --mqtt-password-file {path}: group or others may read it "
        "(mode 0644); chmod 600 it\n"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read (No such file or directory)"),
        ("", "empty"),
        ("\n", "empty"),
        (f"{PASSWORD}\nsecond line\n", "expected the password on one line"),
        (PASSWORD * 200, "larger than 4 KiB, not a password file"),
        (b"\xff" + PASSWORD.encode(), "not UTF-8 text"),
    ],
    ids=["missing", "empty", "empty-line", "two-lines", "too-big", "not-utf8"],
)
def test_a_bad_password_file_is_a_one_line_error_without_it(
    tmp_path: Path, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / "password"
    if isinstance(content, str):
        path.write_text(content)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError) as error:
        config("--mqtt-user", "reader", "--mqtt-password-file", str(path))
    assert str(error.value) == f"--mqtt-password-file {path}: {message}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mqtt-password-file", "pw"], "--mqtt-password-file needs --mqtt-user"),
        (["--mqtt-ca", "ca.pem"], "--mqtt-ca needs --mqtt-tls"),
        (["--mqtt-cert", "c.pem"], "--mqtt-cert needs --mqtt-tls"),
        (["--mqtt-tls", "--mqtt-key", "c.key"], "--mqtt-key needs --mqtt-cert"),
    ],
)
def test_options_that_do_not_fit_together(argv: list[str], message: str) -> None:
    with pytest.raises(UserError, match=f"^{message}$"):
        config(*argv)


def test_tls_checks_the_files_first_and_moves_the_default_port(tmp_path: Path) -> None:
    write_certificate(tmp_path, "ca", None)
    with pytest.raises(UserError, match=r"^--mqtt-ca .*nothing: cannot read"):
        config("--mqtt-tls", "--mqtt-ca", str(tmp_path / "nothing"))
    tls = config("--mqtt-tls", "--mqtt-ca", str(tmp_path / "ca.pem"))
    assert isinstance(tls.tls, ssl.SSLContext) and tls.tls.check_hostname
    assert config().tls is None
    # Nothing listens there (loopback): the sinks only show which port they use.
    explicit = config("--mqtt", "127.0.0.1:1884", "--mqtt-tls")
    for mqtt, port in [(tls, DEFAULT_TLS_PORT), (config(), DEFAULT_PORT), (explicit, 1884)]:
        sink = open_mqtt(mqtt, {}, lambda line: None)
        sink.close(timeout_s=0)
        assert sink.port == port
