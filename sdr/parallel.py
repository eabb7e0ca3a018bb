"""Work on many files in parallel processes, with results and printed output in input order.

``ordered_map(function, items, jobs)`` behaves like ``map(function, items)`` to its caller: what
``function`` prints to stdout and stderr appears, an exception it raises is raised, each at its
item's turn. With more than one job and more than one item, the calls run in worker processes:
their output is captured there and replayed here in order, and only a bounded number of items
is taken ahead of the one being handed back, so memory stays bounded for any number of items
(each call's printed output is held until its turn: that is per item, not bounded by jobs).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice
from typing import TYPE_CHECKING, Generic, TypeVar

from sdr.errors import UserError

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

T = TypeVar("T")
R = TypeVar("R")

# fork, measured on this machine (2 cores; `wmbus decode --jobs 2` of two 0.04-0.08 s files,
# wall clock from the call to the last line, three runs each): fork 0.08-0.12 s, forkserver
# 0.56-0.59 s, spawn 0.59-0.75 s (in-process, --jobs 1: 0.04-0.05 s). The parent has numpy and
# the receiver loaded already; a forked worker starts with them, while forkserver and spawn
# import them again in a fresh interpreter. Fork is safe here: the commands start the pool
# before any thread of theirs exists, and ProcessPoolExecutor forks all its workers before it
# starts its own manager thread.
START_METHOD = "fork"


def usable_cpus() -> int:
    """The cores this process may run on (its affinity mask, which containers and taskset set;
    ``os.cpu_count`` counts the machine's)."""
    return len(os.sched_getaffinity(0))


@dataclass(frozen=True, slots=True)
class Captured(Generic[R]):
    """A call's return value or exception, and what it printed: ``(to_stderr, text)`` in the
    order written, so stdout and stderr interleave as they did."""

    value: R | None
    error: BaseException | None
    output: tuple[tuple[bool, str], ...]

    def replay(self) -> R:
        """Print the output again, then return the value or raise the exception."""
        for to_stderr, text in self.output:
            (sys.stderr if to_stderr else sys.stdout).write(text)
        sys.stdout.flush()
        sys.stderr.flush()
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class _Recorder(io.TextIOBase):
    """One side (stdout or stderr) of a captured call; not a terminal, so no progress bar."""

    def __init__(self, to_stderr: bool, log: list[tuple[bool, str]]) -> None:
        self._to_stderr = to_stderr
        self._log = log

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._log.append((self._to_stderr, text))
        return len(text)


def capture(function: Callable[[T], R], item: T) -> Captured[R]:
    """``function(item)`` with its printed output and exception kept for replaying."""
    log: list[tuple[bool, str]] = []
    value: R | None = None
    error: BaseException | None = None
    with (
        contextlib.redirect_stdout(_Recorder(False, log)),
        contextlib.redirect_stderr(_Recorder(True, log)),
    ):
        try:
            value = function(item)
        # Raised again in the parent, at its turn; SystemExit too, after what was printed
        # before it (workers ignore SIGINT, so this does not swallow a Ctrl-C).
        except BaseException as exc:
            error = exc
    return Captured(value, error, tuple(log))


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _worker_start(parent_pid: int) -> None:
    # Ctrl-C reaches the whole process group; the parent alone handles it (and ends the workers),
    # so the user sees one message rather than a traceback per worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A parent killed outright (SIGKILL, OOM) cannot end its workers, which would wait for work
    # forever: the kernel ends them instead. Checked after, since the parent may be gone already.
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the workers now, busy or not (the results are no longer wanted). Python 3.14 has
    ``terminate_workers()``; before it, shutting down waits for the running calls to finish."""
    processes = list((pool._processes or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()


def ordered_map(
    function: Callable[[T], R], items: Iterable[T], jobs: int, ahead: int | None = None
) -> Iterator[R]:
    """``function(item)`` for each item, in order, on up to ``jobs`` processes; at most
    ``jobs + ahead`` (default ``2 * jobs``) items are taken from ``items`` before their results
    are handed back. With one job or a single item everything runs here, without a pool (and
    without capturing: output appears as it is printed). ``function`` must be picklable (a
    module-level function or a ``functools.partial`` of one), and so must items and results."""
    guarded = _guarded(items)
    # No more workers than items: a pool of forked processes costs memory and start-up each.
    first = list(islice(guarded, jobs)) if jobs > 1 else []
    workers = sum(not isinstance(item, _Raised) for item in first)
    if workers < 2:
        for item in chain(first, guarded):
            if isinstance(item, _Raised):
                raise item.error
            yield function(item)
        return
    yield from _in_pool(function, chain(first, guarded), workers, jobs if ahead is None else ahead)


@dataclass(frozen=True, slots=True)
class _Raised:
    """What ``items`` raised: raised at its turn, after the results of the items before it."""

    error: Exception


def _guarded(items: Iterable[T]) -> Iterator[T | _Raised]:
    try:
        yield from items
    except Exception as exc:
        yield _Raised(exc)


def _in_pool(
    function: Callable[[T], R], items: Iterator[T | _Raised], jobs: int, ahead: int
) -> Iterator[R]:
    # Imported here: a command on one file never needs them (start-up time).
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(
        jobs,
        multiprocessing.get_context(START_METHOD),
        initializer=_worker_start,
        initargs=(os.getpid(),),
    )
    pending: deque[Future[Captured[R]]] = deque()
    try:
        for item in items:
            if isinstance(item, _Raised):
                while pending:
                    yield _result(pending.popleft())
                raise item.error
            pending.append(pool.submit(capture, function, item))
            if len(pending) >= jobs + ahead:
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())
    finally:
        _stop(pool)


def _result(future: Future[Captured[R]]) -> R:
    from concurrent.futures.process import BrokenProcessPool

    try:
        captured = future.result()
    except BrokenProcessPool as exc:
        raise UserError(f"a worker process ended abruptly ({exc})") from None
    return captured.replay()
