"""``sdr.keys``: --key / --keys / WMBUS_KEYS parsing, precedence, warnings, and error messages
that never show keys.

The tests about what reaches the user run ``wmbus telegram`` as a process; the parsing details
are checked in this process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sdr.cli.common import add_key_arguments, keys_from_args
from sdr.errors import UserError
from sdr.keys import MAX_FILE_BYTES
from tests.protocol.spec_vectors import R1, R1_KEY

AES = "28F64A24988064A079AA2C807D6102AE"
REPO = Path(__file__).parents[2]
R1_KEY_HEX = R1_KEY.hex().upper()


@pytest.fixture(autouse=True)
def no_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WMBUS_KEYS", raising=False)


def parse(*argv: str) -> dict[str, bytes]:
    parser = argparse.ArgumentParser()
    add_key_arguments(parser)
    return keys_from_args(parser.parse_args(list(argv), argparse.Namespace(command="test")))


def wmbus_telegram(*args: str, env: dict[str, str] | None = None,
                   stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``wmbus telegram ARGS`` as a process, with ``WMBUS_KEYS`` only when ``env`` sets it."""
    environ = {k: v for k, v in os.environ.items() if k != "WMBUS_KEYS"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "sdr.cli", "telegram", *args], input=stdin, env=environ,
        capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
    )


def shows(done: subprocess.CompletedProcess[str], key_hex: str) -> bool:
    """Whether the key appears in the output, in any case."""
    return key_hex.upper() in (done.stdout + done.stderr).upper()


def test_key_options_and_file_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# comment\n\n76348799 {AES}\n2009622a   {'11' * 16}  # hex id\n"
                    f"43054304 0102030405060708\n")
    keys = parse("--keys", str(path), "--key", f"76348799={'22' * 16}", "--key", f"12345678={AES}")
    assert keys == {
        "76348799": bytes.fromhex("22" * 16),  # --key wins over the file
        "2009622A": bytes.fromhex("11" * 16),
        "43054304": bytes.fromhex("0102030405060708"),  # DES, mode 2
        "12345678": bytes.fromhex(AES),
    }
    assert parse() == {}


def test_environment_keys_and_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WMBUS_KEYS", f" 76348799={'11' * 16},\n12345678={AES} 43054304={AES}")
    path = tmp_path / "keys"
    path.write_text(f"43054304 {'22' * 16}\n")
    path.chmod(0o600)
    assert parse("--keys", str(path), "--key", f"12345678={'33' * 16}") == {
        "76348799": bytes.fromhex("11" * 16),
        "43054304": bytes.fromhex("22" * 16),  # the file wins over the environment
        "12345678": bytes.fromhex("33" * 16),  # --key wins over both
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--key", AES], "expected ID=KEY"),
        (["--key", f"1234567={AES}"], "meter id must be 8"),
        (["--key", f"12345678={AES[:-2]}"], "has 15 bytes"),
        (["--key", f"12345678={AES[:-1]}X"], "is not hex"),
    ],
)
def test_bad_key_options(argv: list[str], message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        parse(*argv)
    assert AES[:24] not in str(info.value) and "\n" not in str(info.value)


def test_bad_key_files(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"76348799 {AES}\n76348799 {AES} extra\n")
    with pytest.raises(UserError, match="line 2: expected 'ID KEY', got 3 fields") as info:
        parse("--keys", str(path))
    assert AES not in str(info.value)
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UserError, match="not a text file"):
        parse("--keys", str(path))
    with pytest.raises(UserError, match="cannot read"):
        parse("--keys", str(tmp_path / "missing"))


@pytest.mark.parametrize(
    ("args", "env", "where"),
    [
        (["--keys", "FILE"], None, "line 2: meter id must be 8 digits"),  # columns swapped
        (["--key", f"{R1_KEY_HEX}=76348799"], None, "--key #1: meter id must be 8 digits"),
        ([], {"WMBUS_KEYS": f"{R1_KEY_HEX}=76348799"}, "WMBUS_KEYS item #1: meter id"),
    ],
)
def test_key_errors_name_the_place_never_the_key(
    tmp_path: Path, args: list[str], env: dict[str, str] | None, where: str
) -> None:
    path = tmp_path / "meters.keys"
    path.write_text(f"# meters\n{R1_KEY_HEX} 76348799\n")
    path.chmod(0o600)
    done = wmbus_telegram(R1, *[str(path) if a == "FILE" else a for a in args], env=env)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert where in line and "got 32 characters (a key? the meter id comes first)" in line
    assert not shows(done, R1_KEY_HEX)


def test_keys_from_the_environment_decrypt(tmp_path: Path) -> None:
    done = wmbus_telegram(R1, env={"WMBUS_KEYS": f"12345678={AES}, 76348799={R1_KEY_HEX}"})
    assert done.returncode == 0 and done.stderr == ""
    assert "security: decrypted" in done.stdout and not shows(done, R1_KEY_HEX)


def test_key_file_from_a_pipe_and_warnings_about_the_file(tmp_path: Path) -> None:
    piped = wmbus_telegram(R1, "--keys", "/dev/stdin", stdin=f"76348799 {R1_KEY_HEX}\n")
    assert "security: decrypted" in piped.stdout and piped.stderr == ""  # no mode to judge
    path = tmp_path / "meters.keys"
    path.write_text(f"76348799 {AES}\n12345678 {AES}\n76348799 {R1_KEY_HEX}\n")
    path.chmod(0o644)
    done = wmbus_telegram(R1, "--keys", str(path))
    assert "security: decrypted" in done.stdout  # the later key of the meter counts
    assert done.stderr.splitlines() == [
        f"wmbus telegram: warning: --keys {path}: group or others may read it (mode 0644); "
        "chmod 600 it",
        f"wmbus telegram: warning: --keys {path} line 3: meter 76348799 was given before "
        f"(--keys {path} line 1); the later key is used",
    ]
    assert not shows(done, R1_KEY_HEX) and not shows(done, AES)


def test_key_file_without_end_is_refused() -> None:
    done = wmbus_telegram(R1, "--keys", "/dev/zero")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        "wmbus telegram: error: --keys /dev/zero: larger than 1 MiB, not a key file\n")


def test_key_file_size_limit_and_permissions(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                             ) -> None:
    path = tmp_path / "meters.keys"
    line = f"76348799 {AES}\n"
    path.write_text(line + "#" * (MAX_FILE_BYTES - len(line)))
    path.chmod(0o600)
    assert parse("--keys", str(path)) == {"76348799": bytes.fromhex(AES)}
    assert capsys.readouterr().err == ""  # exactly 1 MiB, private: no warning
    with path.open("a") as stream:
        stream.write("#")
    with pytest.raises(UserError, match="larger than 1 MiB"):
        parse("--keys", str(path))
    with pytest.raises(UserError, match="cannot read"):
        parse("--keys", str(tmp_path))  # a directory
