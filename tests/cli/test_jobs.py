"""``--jobs N`` of ``wmbus decode`` and ``wmbus survey``: real recordings, real processes; the
output of several worker processes is byte for byte that of one process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import RECORDINGS, REPO
from tests.sdr import live_support

# Real captures and simulated ones of several formats and tunings (the 1.2 Msps cf32 one lacks
# S1's and C2's channels, which is a warning per file).
FILES = [
    "rtlsdr_868.625M_2M4_issue48.cu8",
    "sim_mixed_868.625M_2400k.cu8",
    "sim_t1c1_868.95M_1200k.cf32",
    "sim_s1_868.625M_2400k.cu8",
    "rtlsdr_868.950M_1M6_samples2.cu8",
    "sim_t1cs8_868.625M_2400k.cs8",
    "sim_c1b_868.625M_2400k.cu8",
]


def wmbus(*args: str | Path) -> subprocess.CompletedProcess:
    return live_support.wmbus(*args, timeout=300)


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The recordings, a SigMF pair named twice (as a shell glob does), a file that is no
    recording, a missing file and an empty one in the middle."""
    tmp = tmp_path_factory.mktemp("jobs")
    for path in RECORDINGS.iterdir():
        if path.name in FILES or path.name.startswith("sim_t1sigmf_"):
            shutil.copy(path, tmp)
    (tmp / "empty_868.625M_2400k.cu8").touch()
    sigmf = [tmp / f"sim_t1sigmf_868.625M_2400k.sigmf-{part}" for part in ("data", "meta")]
    ordered = [tmp / name for name in FILES]
    return [
        *ordered[:2],
        tmp / "missing_868.625M_2400k.cu8",
        *sigmf,
        tmp / "sim_t1sigmf_868.625M_2400k.json",
        *ordered[2:4],
        tmp / "empty_868.625M_2400k.cu8",
        *ordered[4:],
    ]


def _files_in_order(run: subprocess.CompletedProcess, as_json: bool) -> list[str]:
    """The names of the files whose telegrams were printed, in the order printed."""
    if as_json:
        names = [json.loads(line)["file"] for line in run.stdout.splitlines()]
    else:
        names = [line.split()[0].removeprefix("file=") for line in run.stdout.splitlines()
                 if line.startswith("file=")]
    return [Path(name).name for name in dict.fromkeys(names)]


@pytest.mark.parametrize("flags", [[], ["--json"], ["--stats"], ["--json", "--stats"]])
def test_decode_output_is_the_same_with_any_number_of_jobs(paths: list[Path], flags) -> None:
    one = wmbus("decode", *paths, *flags, "--jobs", "1")
    assert one.returncode == 2  # the missing and the empty file
    errors = [line for line in one.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 2 and "missing_" in errors[0] and "empty_" in errors[1]
    assert "Traceback" not in one.stderr
    # Every recording's telegrams, in the order of the paths, the SigMF pair once.
    expected = [p.name for p in paths if p.name in FILES]
    expected.insert(2, "sim_t1sigmf_868.625M_2400k.sigmf-meta")
    assert _files_in_order(one, "--json" in flags) == expected
    for jobs in ("2", "3"):
        many = wmbus("decode", *paths, *flags, "--jobs", jobs)
        assert (many.returncode, many.stdout, many.stderr) == (
            one.returncode, one.stdout, one.stderr
        ), f"--jobs {jobs}"


@pytest.mark.parametrize("flags", [[], ["--json"]])
def test_survey_is_the_same_with_any_number_of_jobs(paths: list[Path], tmp_path: Path, flags):
    recordings = [p for p in paths if p.name in FILES]
    log = tmp_path / "hall.jsonl"  # a log of `wmbus decode --json` is an input too
    decoded = wmbus("decode", recordings[0], "--json")
    log.write_text(decoded.stdout + "not a telegram\n")
    inputs = [*recordings[:3], log, *recordings[3:]]
    one = wmbus("survey", *inputs, *flags, "--jobs", "1")
    assert one.returncode == 0, one.stderr
    assert "skipped 1 line(s)" in one.stderr and "outside this recording" in one.stderr
    if flags:
        labels = [location["label"] for location in json.loads(one.stdout)["locations"]]
        assert labels == ["rtlsdr_issue48", "sim_mixed", "sim_t1c1", "hall", "sim_s1",
                          "rtlsdr_samples2", "sim_t1cs8", "sim_c1b"]
    many = wmbus("survey", *inputs, *flags, "--jobs", "2")
    assert (many.returncode, many.stdout, many.stderr) == (one.returncode, one.stdout, one.stderr)


def test_a_bad_survey_input_in_the_middle_is_the_same_one_line_error(paths: list[Path]) -> None:
    recordings = [p for p in paths if p.name in FILES]
    inputs = [*recordings[:3], paths[2], *recordings[3:]]  # paths[2] is missing
    runs = [wmbus("survey", *inputs, "--jobs", jobs) for jobs in ("1", "2")]
    for run in runs:
        assert run.returncode == 2 and run.stdout == ""
        *warnings, error = run.stderr.splitlines()
        assert error == f"wmbus survey: error: {paths[2]}: no such file"
        assert all(": warning: " in line for line in warnings)
    assert runs[0].stderr == runs[1].stderr


@pytest.mark.parametrize("command", ["decode", "survey"])
@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_jobs_below_one_or_no_whole_number_is_a_usage_error(command: str, value: str) -> None:
    run = wmbus(command, RECORDINGS / FILES[0], RECORDINGS / FILES[1], f"--jobs={value}")
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr == (
        f"wmbus {command}: error: argument --jobs: must be a whole number of processes from 1 "
        f"to 256, not '{value}'\n"
    )


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # not a process, or gone meanwhile
            continue
        if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    """Whether the process exists and has not ended (a zombie waits only to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _busy(command: str) -> tuple[subprocess.Popen, list[int]]:
    """``wmbus COMMAND`` of four files with two workers, busy for minutes (one sample per chunk),
    in a session of its own; returns it once both workers run."""
    files = [RECORDINGS / name for name in FILES[:4]]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sdr.cli", command, *map(str, files), "--jobs", "2",
         "--chunk-samples", "1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(workers := _children(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(workers) == 2
    return proc, workers


@pytest.mark.parametrize("command", ["decode", "survey"])
def test_ctrl_c_ends_the_workers_and_the_command_in_one_line(command: str) -> None:
    proc, workers = _busy(command)
    try:
        time.sleep(0.5)  # the workers inside their first file
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the process group
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert (proc.returncode, err) == (130, f"wmbus {command}: interrupted\n")
    assert not any(_running(pid) for pid in workers)


def test_workers_end_when_the_command_is_killed_outright() -> None:
    proc, workers = _busy("decode")
    try:
        proc.kill()  # SIGKILL: the command cannot end its workers itself
        proc.wait(timeout=30)  # (its pipes stay open while a worker lives)
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        alive = [pid for pid in workers if _running(pid)]
        for pid in alive:  # not left behind when the test fails
            os.kill(pid, signal.SIGKILL)
        for pipe in (proc.stdout, proc.stderr):
            assert pipe is not None
            pipe.close()
    assert not alive


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_a_name_the_system_refuses_is_one_line_after_the_files_before_it(jobs: str) -> None:
    """A name longer than the system takes fails in stat (not as a missing file): one line,
    status 2, and the file before it is still decoded and printed."""
    first = RECORDINGS / "sim_t1_868.625M_2400k.cu8"
    alone = wmbus("decode", first)
    done = wmbus("decode", first, "a" * 300 + ".cu8", "--jobs", jobs)
    assert done.returncode == 2
    assert done.stdout == alone.stdout
    assert done.stderr == f"wmbus decode: error: {'a' * 300}.cu8: File name too long\n"
