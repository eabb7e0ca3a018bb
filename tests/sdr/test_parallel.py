"""``sdr.parallel.ordered_map``: real worker processes, results and output in input order."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator

import pytest

from sdr.errors import UserError
from sdr.parallel import ordered_map, usable_cpus


def _slow_first(item: int) -> tuple[int, int]:
    """Earlier items take longer, so the workers finish them after later ones."""
    time.sleep(0.05 * (4 - item))
    print(f"out {item}")
    print(f"err {item}", file=sys.stderr)
    print(f"out {item} again")
    return item * item, os.getpid()


def _fails_on_two(item: int) -> int:
    print(f"before {item}", file=sys.stderr)
    if item == 2:
        raise UserError(f"item {item} is bad")
    return item


def _dies_on_one(item: int) -> int:
    if item == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return item


def _identity(item: int) -> int:
    return item


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_results_and_output_come_in_input_order_whatever_finishes_first(capsys, jobs) -> None:
    results = list(ordered_map(_slow_first, range(4), jobs))
    assert [value for value, _ in results] == [0, 1, 4, 9]
    captured = capsys.readouterr()
    assert captured.out == "".join(f"out {i}\nout {i} again\n" for i in range(4))
    assert captured.err == "".join(f"err {i}\n" for i in range(4))
    in_workers = {pid for _, pid in results} - {os.getpid()}
    assert bool(in_workers) == (jobs > 1)


def test_one_item_runs_here_without_a_pool(capsys) -> None:
    ((value, pid),) = ordered_map(_slow_first, [3], 2)
    assert (value, pid) == (9, os.getpid())
    assert capsys.readouterr().out == "out 3\nout 3 again\n"


def test_an_exception_is_raised_at_its_turn_after_the_output_before_it(capsys) -> None:
    results = ordered_map(_fails_on_two, range(5), 2)
    assert [next(results), next(results)] == [0, 1]
    with pytest.raises(UserError, match="item 2 is bad"):
        next(results)
    # Items after the failing one may have run in a worker; their output is never shown.
    assert capsys.readouterr().err == "before 0\nbefore 1\nbefore 2\n"


def test_items_are_taken_only_a_bounded_way_ahead_of_the_consumer() -> None:
    taken: list[int] = []

    def items() -> Iterator[int]:
        for item in range(1000):
            taken.append(item)
            yield item

    results = ordered_map(_identity, items(), 2, ahead=3)
    assert next(results) == 0
    assert len(taken) <= 2 + 3
    assert next(results) == 1
    assert len(taken) <= 2 + 3 + 1
    assert list(results) == list(range(2, 1000))


def test_a_worker_killed_outright_is_a_one_line_error_not_a_hang() -> None:
    with pytest.raises(UserError, match="worker process ended abruptly"):
        list(ordered_map(_dies_on_one, range(4), 2))


def test_usable_cpus_is_the_affinity_mask() -> None:
    assert usable_cpus() == len(os.sched_getaffinity(0)) >= 1


def _exits_on_one(item: int) -> int:
    print(f"start {item}")
    if item == 1:
        sys.exit(f"item {item} ends the program")
    return item


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_system_exit_keeps_what_was_printed_before_it(capsys, jobs) -> None:
    with pytest.raises(SystemExit, match="item 1 ends the program"):
        list(ordered_map(_exits_on_one, range(3), jobs))
    assert capsys.readouterr().out == "start 0\nstart 1\n"


def _items_then_failure() -> Iterator[int]:
    yield from range(3)
    raise UserError("the fourth input cannot be read")


@pytest.mark.parametrize("jobs", [1, 2, 4])
def test_items_that_fail_to_come_raise_after_the_results_before_them(jobs) -> None:
    got: list[int] = []
    with pytest.raises(UserError, match="the fourth input"):
        for value in ordered_map(_identity, _items_then_failure(), jobs):
            got.append(value)
    assert got == [0, 1, 2]
