"""``sdr.keys``: --key / --keys parsing, precedence, and error messages that never show keys."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sdr.cli.common import add_key_arguments, keys_from_args
from sdr.errors import UserError

AES = "28F64A24988064A079AA2C807D6102AE"


def parse(*argv: str) -> dict[str, bytes]:
    parser = argparse.ArgumentParser()
    add_key_arguments(parser)
    return keys_from_args(parser.parse_args(list(argv)))


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
