"""Hostile input through ``wmbus telegram`` as a process: text from the air that tries to drive
the terminal or break JSON lines, and a wrong key that passes the 2F 2F marker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from protocol.encoder import TelegramSpec, TplSpec, encode_telegram
from protocol.manufacturers import manufacturer_code
from protocol.records import encode_record, make_dif
from protocol.telegram import Address
from sdr.sinks.output import json_line
from tests.protocol.spec_vectors import R3

REPO = Path(__file__).parents[2]
# LVAR text: clear the screen, ring the bell, DEL, a C1 CSI (colour) and a C1 NEL (new line).
LVAR_TEXT = "\x1b[2J\x07pwn\x7f\x9b31m\x85next"
UNIT_TEXT = "\x1b]0;owned\x07"  # plain-text VIF unit: set the terminal title
FABRICATION_NUMBER_VIF = 0x78


def hostile_telegram() -> str:
    records = encode_record(make_dif(0x0D), bytes([FABRICATION_NUMBER_VIF]), LVAR_TEXT)
    unit = UNIT_TEXT.encode("latin-1")
    records += bytes([0x01, 0x7C, len(unit)]) + unit[::-1] + b"\x00"  # 8-bit value 0
    address = Address(manufacturer_code("KAM"), bytes.fromhex("78563412"), 1, 7)
    return encode_telegram(TelegramSpec(address, tpl=TplSpec(ci=0x78), payload=records)).hex()


def wmbus_telegram(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "sdr.cli", "telegram", *args],
                          capture_output=True, cwd=REPO, timeout=120, check=False)


def test_air_text_reaches_the_terminal_escaped() -> None:
    done = wmbus_telegram(hostile_telegram())
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert not [b for b in out if b < 0x20 and b != 0x0A], out
    assert 0x7F not in out
    text = out.decode("utf-8")
    assert not [c for c in text if 0x80 <= ord(c) < 0xA0], text  # no C1 as characters either
    assert r"fabrication_number: \x1b[2J\x07pwn\x7f\x9b31m\x85next" in text
    assert r"plain_text: 0 \x1b]0;owned\x07" in text


def test_air_text_keeps_json_lines_one_line_and_intact() -> None:
    done = wmbus_telegram("--json", hostile_telegram(), hostile_telegram())
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode("utf-8").splitlines()  # splits at NEL, U+2028, U+2029 too
    assert len(lines) == 2
    records = json.loads(lines[0])["records"]
    assert (records[0]["value"], records[1]["unit"]) == (LVAR_TEXT, UNIT_TEXT)


def test_json_line_escapes_what_line_readers_split_at() -> None:
    value = "a\u2028b\u2029c\x85d\x1ce\x7f"
    line = json_line({"text": value})
    assert line.splitlines() == [line] and "\x85" not in line and "\x7f" not in line
    assert json.loads(line) == {"text": value}


def test_wrong_key_passing_2f2f_is_reported_as_wrong_key() -> None:
    # The key of issue 12: its plaintext starts with 2F 2F; it used to print readings such as
    # "pressure: 85120.3 bar".
    done = wmbus_telegram(R3, "--key", "20096221=C173CBADD6B89DD65541B8E87C4A37C7")
    text = done.stdout.decode()
    assert done.returncode == 1
    assert "security: wrong_key" in text and "records:" not in text and "bar" not in text
