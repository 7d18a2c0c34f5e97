"""A local pool of worker processes, each with a fixed number of torch threads.

Several torch processes that each start one thread per core oversubscribe the machine: on the
2-core development machine four processes with default threads took 89 s of wall-clock time
for 4 s of work. The pool chooses ``workers x threads <= cores`` and gives every worker its
share: ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` in the environment the worker starts with
(read when torch loads), and :func:`torch.set_num_threads` in the worker's initializer.

Workers are started with the ``spawn`` method (a fresh interpreter: no copy of the parent's
torch state, threads or CUDA context) and, on Linux, die with the process that started them,
so killing a run (even with SIGKILL) leaves no worker behind writing files.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from ..errors import InputError

__all__ = ["WorkerPool", "available_cores", "choose_workers", "one_line"]

T = TypeVar("T")
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
WORKER_DIED = "a worker process died while this job ran (out of memory, or killed)"


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one, which
    a container or ``taskset`` can make fewer than the machine's).

    Examples
    --------
    >>> available_cores() >= 1
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def choose_workers(
    workers: int | None = None, threads: int | None = None, cores: int | None = None
) -> tuple[int, int]:
    """Workers and torch threads per worker such that ``workers x threads <= cores``.

    Neither given: one thread per worker, one worker per core (the fastest on a CPU for
    GPNN, whose steps scale less than linearly with threads). One given: the other fills the
    cores. ``workers=0`` runs the jobs in the calling process (threads as they are there).

    Raises
    ------
    InputError
        When a count is below 1 (workers below 0) or the product (with the other count at
        least 1) exceeds the cores.

    Examples
    --------
    >>> choose_workers(cores=8), choose_workers(2, cores=8), choose_workers(None, 3, cores=8)
    ((8, 1), (2, 4), (2, 3))
    """
    cores = available_cores() if cores is None else cores
    for name, value, low in (("workers", workers, 0), ("threads per worker", threads, 1)):
        if value is not None and (isinstance(value, bool) or int(value) != value or value < low):
            raise InputError(f"{name} must be an integer of at least {low}, got {value!r}")
    if workers == 0:
        return 0, threads or 1
    if workers is None and threads is None:
        return cores, 1
    if workers is None:
        workers = cores // threads
    elif threads is None:
        threads = cores // workers
    if workers * threads > cores or not workers or not threads:
        raise InputError(
            f"{workers or 1} workers x {threads or 1} threads is more than the {cores} cores "
            "available"
        )
    return workers, threads


def one_line(error: BaseException) -> str:
    """An exception as one line: dropgan's own errors by their message, others with their
    type; at most 300 characters.

    Examples
    --------
    >>> one_line(ZeroDivisionError("division by zero\\nmore"))
    'ZeroDivisionError: division by zero'
    """
    from ..errors import DropganError

    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if not isinstance(error, DropganError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before the request took effect
            os._exit(1)


def init_worker(threads: int) -> None:
    """Set up a worker: its torch threads, and its death with the parent."""
    _die_with_parent()
    # the parent handles Ctrl-C and stops the workers itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # already set, or inter-op work already ran
        torch.set_num_interop_threads(1)


@contextlib.contextmanager
def _thread_environment(threads: int) -> Iterator[None]:
    """``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` set to ``threads`` while workers start."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARIABLES}
    os.environ.update({k: str(threads) for k in _THREAD_VARIABLES})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class WorkerPool:
    """Worker processes that run a function over items and report each outcome as it
    finishes.

    Parameters
    ----------
    workers : int
        Worker processes; 0 runs every item in the calling process, one after another.
    threads : int
        Torch threads per worker.

    Examples
    --------
    >>> with WorkerPool(0, 1) as pool:
    ...     sorted(pool.map_unordered(abs, [-2, 1]))
    [(-2, 2, None), (1, 1, None)]
    """

    def __init__(self, workers: int, threads: int) -> None:
        self.workers, self.threads = workers, threads
        self._executor: cf.ProcessPoolExecutor | None = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, tb: Any) -> None:
        self.close(terminate=error is not None)

    def _start(self) -> cf.ProcessPoolExecutor:
        if self._executor is None:
            self._executor = cf.ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=init_worker,
                initargs=(self.threads,),
            )
        return self._executor

    def close(self, terminate: bool = False) -> None:
        """Stop the workers: at once with ``terminate`` (an interrupt), else when idle."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        if terminate:
            # the executor has no public way to stop a running job; its processes do
            for process in list(getattr(executor, "_processes", {}).values()):
                with contextlib.suppress(OSError):
                    process.terminate()
        executor.shutdown(wait=not terminate, cancel_futures=True)

    def map_unordered(
        self, function: Callable[[T], Any], items: Iterable[T], catch: bool = True
    ) -> Iterator[tuple[T, Any, str | None]]:
        """``(item, function(item), None)`` for every item as it finishes, or, with
        ``catch``, ``(item, None, reason)`` when it raised or its worker died (then the pool
        starts new workers); without ``catch`` the exception propagates.

        At most one item per worker is handed out at a time, so a dead worker takes with it
        only the items that were running, not a queue of waiting ones.
        """
        items = iter(items)
        if self.workers == 0:
            for item in items:
                try:
                    yield item, function(item), None
                except Exception as e:  # the job's failure, reported like a worker's
                    if not catch:
                        raise
                    yield item, None, one_line(e)
            return
        with _thread_environment(self.threads):
            running: dict[cf.Future, T] = {}
            while True:
                while len(running) < self.workers:
                    item = next(items, _END)
                    if item is _END:
                        break
                    running[self._start().submit(function, item)] = item
                if not running:
                    return
                done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                broken = False
                for future in done:
                    item = running.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        if not catch:
                            raise
                        broken = True
                        yield item, None, WORKER_DIED
                    except Exception as e:
                        if not catch:
                            raise
                        yield item, None, one_line(e)
                    else:
                        yield item, outcome, None
                if broken:  # every running item went down with the pool
                    for future, item in running.items():
                        future.cancel()
                        yield item, None, WORKER_DIED
                    running.clear()
                    self.close(terminate=True)


_END: Any = object()
