"""Option values from the command line are parsed at the boundary (DESIGN.md, "Everything from
outside is hostile"): NaN, infinities, text and absurd numbers are one-line usage errors with
exit status 2, never a traceback; and the options users must be able to give are accepted."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from sdr.cli import main
from sdr.cli.common import center_arg, gain_arg, rate_arg
from tests.conftest import REPO

# Bad for every numeric option; "--opt=-inf" keeps argparse from taking it for an option.
NOT_NUMBERS = ["nan", "inf", "-inf", "1e300", "-1e300", "x", ""]
# (command line before the option, option, values absurd for that option in particular)
OPTIONS = [
    (["decode", "x.cu8"], "--rate", ["0", "2.4", "1000000000000", "-2.4M", "2.4e6"]),
    (["decode", "x.cu8"], "--center", ["0", "868.625", "99999G"]),
    (["decode", "x.cu8"], "--chunk-samples", ["0", "-5", "1.5"]),
    (["survey", "x.cu8"], "--rate", ["1"]),
    (["survey", "x.cu8"], "--center", ["1"]),
    (["listen"], "--rate", ["0"]),
    (["listen"], "--center", ["0"]),
    (["listen"], "--gain", ["1000", "-1000", "autox"]),
    (["listen"], "--ppm", ["1000000000000", "1.5"]),
    (["listen"], "--buffer", ["0", "-1", "1e9"]),
    (["listen"], "--duration", ["0", "-1", "1e12"]),
    (["listen"], "--dedupe", ["-1", "1e12"]),
    (["listen"], "--mqtt-queue", ["0", "-1", "1.5", "1e12"]),
    (["record", "out"], "--rate", ["0"]),
    (["record", "out"], "--gain", ["1e6"]),
    (["record", "out"], "--duration", ["0"]),
    (["simulate", "out.cu8"], "--ecn0", ["1000", "-1000"]),
    (["simulate", "out.cu8"], "--count", ["-1", "1e3", "1000000000"]),
    (["simulate", "out.cu8"], "--cfo", ["1e9", "-1e9"]),
    (["simulate", "out.cu8"], "--rate-error", ["-1", "5"]),
    (["simulate", "out.cu8"], "--rate", ["0"]),
    (["simulate", "out.cu8"], "--center", ["0"]),
    (["simulate", "out.cu8"], "--seed", ["-1", "1.5"]),
    (["simulate", "out.cu8"], "--length", ["5", "1000", "-1"]),
    (["serve", "x.cu8"], "--max-clients", ["0", "-1", "1e3"]),
    (["serve", "x.cu8"], "--rate", ["0"]),
    (["serve", "x.cu8"], "--center", ["0"]),
]
CASES = [
    pytest.param(head, option, value, id=f"{head[0]} {option}={value}")
    for head, option, specific in OPTIONS
    for value in NOT_NUMBERS + specific
]


def one_usage_error(err: str, command: str, option: str) -> None:
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"wmbus {command}: error: argument {option}: must be "), err


@pytest.mark.parametrize(("head", "option", "value"), CASES)
def test_a_bad_value_is_a_one_line_usage_error(
    capsys: pytest.CaptureFixture, head: list[str], option: str, value: str
) -> None:
    assert main([*head, f"{option}={value}"]) == 2
    one_usage_error(capsys.readouterr().err, head[0], option)


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["decode", "x.cu8", "--rate=nan"], "--rate"),
        (["survey", "x.cu8", "--center=inf"], "--center"),
        (["listen", "--gain=nan"], "--gain"),
        (["record", "out", "--duration=nan"], "--duration"),
        (["simulate", "out.cu8", "--rate-error=-1"], "--rate-error"),
        (["serve", "x.cu8", "--max-clients=0"], "--max-clients"),
    ],
)
def test_the_command_as_a_process_says_so_in_one_line(
    tmp_path: Path, argv: list[str], option: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sdr.cli", *argv],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
    )
    assert done.returncode == 2 and not done.stdout
    one_usage_error(done.stderr, argv[0], option)
    assert not list(tmp_path.iterdir())  # nothing written


def test_the_values_users_give_are_accepted() -> None:
    # Airspy, HackRF, SDRplay and RTL-SDR rates; rtl_433 spellings; tuner gains.
    assert [rate_arg(t) for t in ("0.9M", "2M4", "2400k", "6M", "10M", "20M", "2400000")] == [
        0.9e6, 2.4e6, 2.4e6, 6e6, 10e6, 20e6, 2.4e6
    ]
    assert [center_arg(t) for t in ("868.625M", "868950000", "0.86895G")] == [
        868.625e6, 868.95e6, 868.95e6
    ]
    assert [gain_arg(t) for t in ("auto", "AUTO", "agc", "49.6", "0", "-5")] == [
        "auto", "auto", "agc", 49.6, 0.0, -5.0
    ]


def test_version_comes_from_the_package_metadata() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sdr.cli", "--version"],
        capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wmbus {version('wmbus-sdr')}\n"
