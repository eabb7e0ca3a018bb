"""A small part of ``python3 -m benchmarks.hostile`` through the same code: hostile files, bad
and odd option values, mode-7 MACs, a few misbehaving rtl_tcp servers and wrong keys, all with
zero tracebacks, hangs, lost telegrams and wrong answers. And the benchmark's own detectors, on
inputs they must flag: a benchmark that cannot see a hang or an escape sequence proves nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import hostile
from benchmarks.hostile import Forker, Job, Outcome, Tally


@pytest.fixture(scope="module")
def forker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Forker]:
    zygotes = Forker(tmp_path_factory.mktemp("forked"))
    yield zygotes
    zygotes.close()


def assert_clean(tally: Tally, at_least: int) -> None:
    assert tally.inputs >= at_least
    counts = (tally.tracebacks, tally.hangs, tally.lost or 0, tally.wrong)
    assert counts == (0, 0, 0, 0), "\n".join(tally.problems)


def test_hostile_files_and_mode7_macs(tmp_path: Path, forker: Forker) -> None:
    files, macs = Tally("files"), Tally("mac")
    hostile.bad_files(files, True, forker, tmp_path)
    hostile.mode7_macs(macs, True, forker, tmp_path)
    assert_clean(files, 100)
    assert_clean(macs, 78)


def test_bad_and_odd_option_values(tmp_path: Path, forker: Forker) -> None:
    tally = Tally("options")
    hostile.bad_options(
        tally, True, forker, tmp_path,
        options=[("listen", "--duration"), ("serve", "--max-clients"), ("decode", "--rate")],
        # A duration under one sample used to run forever.
        edges=[("listen", "--duration", "1e-7"), ("record", "--duration", "1e-300")],
        addresses=["127.0.0.1:nan", "[::1"],
    )
    assert_clean(tally, 30)


def test_listen_against_a_few_hostile_rtl_tcp_servers() -> None:
    tally = Tally("rtl_tcp")
    cases = [c for c in hostile.SERVER_CASES
             if c.name in ("closes after its greeting", "random greeting", "absurd greeting values",
                           "resets mid-stream")]
    assert len(cases) == 4
    hostile.hostile_rtl_tcp_servers(tally, True, cases)
    assert_clean(tally, 4)
    assert tally.lost == 0  # the absurd greeting's capture: its telegram was counted, and found


def test_wrong_keys_part() -> None:
    name, tried, accepted, with_records, keys = hostile._wrong_keys_part("R5", 300, "t")
    assert (name, tried, accepted, with_records, keys) == ("R5", 300, 0, 0, [])


def outcome(returncode: int | None, stdout: bytes = b"", stderr: bytes = b"") -> Outcome:
    return Outcome(("decode", "x"), returncode, stdout, stderr)


def test_the_detectors_flag_what_they_count(forker: Forker) -> None:
    tally = Tally("detectors")
    tally.ran(outcome(1, stderr=b"Traceback (most recent call last):\n  ...\nValueError\n"))
    tally.ran(outcome(None))
    tally.ran(outcome(2, stderr=b"wmbus decode: error: a\nwmbus decode: error: b\n"),
              hostile.one_line_error("decode", "--rate"))
    assert (tally.inputs, tally.tracebacks, tally.hangs, tally.wrong) == (3, 1, 1, 1)
    assert len(tally.problems) == 3 and tally.failed

    assert hostile.terminal_safe(b"meter \x1b[2J") is not None
    assert hostile.terminal_safe("C1 \x9b31m".encode()) is not None  # as UTF-8
    assert hostile.terminal_safe(br"escaped \x1b[2J" + b"\n\t") is None
    assert hostile.json_lines_intact('{"a": "x\u2028y"}\n'.encode(), 1) is not None
    assert hostile.json_lines_intact(b'{"a": NaN}\n', 1) is not None
    assert hostile.json_lines_intact(b'{"a": "x\\u2028y"}\n{"b": 1}\n', 2) is None

    # The zygote kills a command still running at its bound, and says so: a server with no
    # client never ends by itself.
    hung = forker.run(Job(("serve", str(hostile.RECORDING), "--port", "0"), timeout_s=1.5))
    assert hung.hung and "serving 1 recording(s)" in hung.err
    done = forker.run(Job(("decode", "--rate=nan", "x.cu8")))
    assert done.returncode == 2 and not done.hung
    assert hostile.one_line_error("decode", "--rate")(done) is None
