"""``wmbus telegram``: output, exit status, errors, keys never shown.

One test runs the real command as a process; the others call ``sdr.cli.main`` in this process
(the command line imports every subcommand, which costs seconds per process start).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sdr.cli import main
from tests.protocol.spec_vectors import R1, R1_KEY, R5, R5_KEY, R6, R7

REPO = Path(__file__).parents[2]


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def wmbus(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Done]:
    def run(*args: str, stdin: str = "") -> Done:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(["telegram", *args])
        out, err = capsys.readouterr()
        return Done(code, out, err)

    return run


def test_real_process_exit_status_stdin_and_errors() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sdr.cli", "telegram", "--json", "-", "zz"],
        input=f"{R7}\n", capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    ok, bad = (json.loads(line) for line in done.stdout.splitlines())
    assert ok["meter_id"] == "00010206" and bad["error"]["reason"] == "bad_hex"


def test_json_of_a_decrypted_telegram_uses_rtl433_keys(wmbus: Callable[..., Done]) -> None:
    done = wmbus("--json", "--key", f"76348799={R1_KEY.hex()}", R1)
    assert done.returncode == 0, done.stderr
    (obj,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert obj["model"] == "Wireless-MBus"
    assert (obj["M"], obj["id"], obj["version"], obj["type"], obj["C"], obj["CI"]) == (
        "KAM", 76348799, 0x1B, 0x16, 0x44, 0x8D)
    assert (obj["manufacturer"], obj["meter_id"], obj["device_type"]) == (
        "KAM", "76348799", "cold_water")
    assert obj["security"] == "decrypted" and "error" not in obj
    assert obj["frame_hex"] == R1 and obj["frame_format"] is None
    volume = next(r for r in obj["records"] if r["dif"] == "04" and r["vif"] == "13")
    assert (volume["quantity"], volume["unit"], volume["value"]) == ("volume", "m3", 6.408)
    assert {"storage", "tariff", "subunit", "function"} <= set(volume)


def test_tpl_fields_and_frame_format_with_crcs(wmbus: Callable[..., Done]) -> None:
    done = wmbus("--json", "--key", f"43054304={R5_KEY.hex()}", R5, R6)
    assert done.returncode == 0, done.stderr
    r5, r6 = (json.loads(line) for line in done.stdout.splitlines())
    assert (r5["frame_format"], r5["AC"], r5["ST"], r5["CW"]) == ("B", 0x0E, 0, 0x0790)
    assert r5["afl"]["mcr"] == 155273 and r5["tpl"]["security_mode"] == 7
    assert r6["frame_format"] == "A" and r6["frame_hex"][:2] == "34"
    assert len(r6["frame_hex"]) == 2 * (0x34 + 1)


def test_bad_inputs_give_reasons_and_exit_1_while_others_decode(wmbus: Callable[..., Done]) -> None:
    truncated = R7[:30]
    done = wmbus(R7, "0x2G", truncated, "20" + R7[2:], R7[:-1])
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = done.stderr.splitlines()
    assert any("input 2: error: bad_hex" in e for e in errors)
    assert any("input 3: error: truncated" in e for e in errors)
    assert any("input 5: error: bad_hex" in e and "odd number" in e for e in errors)
    assert done.stdout.count("LAS 00010206") == 2  # input 1, and input 4 (L too small: cut)


def test_json_failures_are_objects_too(wmbus: Callable[..., Done]) -> None:
    done = wmbus("--json", R7, "zz", R1)
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o.get("error", {}).get("reason") for o in lines] == [None, "bad_hex", "no_key"]
    assert lines[1]["input"] == 2 and lines[2]["meter_id"] == "76348799"


def test_wrong_key_reason_without_readings(wmbus: Callable[..., Done]) -> None:
    done = wmbus("--json", "--key", f"76348799={'00' * 16}", R1)
    assert done.returncode == 1
    obj = json.loads(done.stdout)
    assert obj["security"] == "wrong_key" and obj["records"] == []
    assert obj["error"]["reason"] == "wrong_key"


def test_stdin_lines_and_readable_summary(wmbus: Callable[..., Done]) -> None:
    done = wmbus("-", stdin=f"{R7}\n\n# a comment\n{R7[:20]} | {R7[20:]}\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("LAS 00010206") == 2
    assert "dimensionless: 4711" in done.stdout and "(subunit 1)" in done.stdout


def test_keys_file_and_secrecy(wmbus: Callable[..., Done], tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# meters\n76348799  {R1_KEY.hex()}  # kitchen\n\n")
    keys.chmod(0o600)  # else a warning says that others may read it (test_telegram_keys)
    done = wmbus("--json", "--keys", str(keys), R1)
    assert done.returncode == 0 and json.loads(done.stdout)["security"] == "decrypted"
    keys.write_text(f"76348799 {R1_KEY.hex()[:-2]}\n")
    bad = wmbus("--keys", str(keys), R1)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "line 1" in bad.stderr
    for output in (done.stdout, done.stderr, bad.stdout, bad.stderr):
        assert R1_KEY.hex()[:-2] not in output.lower()


def test_bad_key_argument_is_a_one_line_error(wmbus: Callable[..., Done]) -> None:
    secret = "28F64A24988064A079AA2C807D61ZZZZ"
    done = wmbus("--key", f"76348799={secret}", R1)
    assert done.returncode == 2
    assert done.stderr.startswith("wmbus telegram: error: --key #1") and secret not in done.stderr
    missing = wmbus("--keys", "/nonexistent/keys.txt", R1)
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_options_may_sit_between_telegrams(wmbus: Callable[..., Done]) -> None:
    done = wmbus(R5, "--json", R6, "--key", f"43054304={R5_KEY.hex()}")
    assert done.returncode == 0, done.stderr
    r5, r6 = (json.loads(line) for line in done.stdout.splitlines())
    assert r5["tpl"]["security_mode"] == 7 and "error" not in r5
    assert r6["frame_format"] == "A"


def test_the_telegram_command_loads_nothing_of_the_radio() -> None:
    # `wmbus telegram` is the quick one: it must not pay for scipy, the receiver or live sessions.
    probe = (
        "import sys, sdr.cli, sdr.cli.telegram; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'dsp', 'paho') "
        "or m in ('sdr.live', 'sdr.io.sources', 'sdr.sinks.mqtt')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
