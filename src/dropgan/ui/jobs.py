"""The web app's job queue: at most ``concurrency`` runs at a time, the others wait in order
with their position known, and Stop cancels a job whether it waits or runs.

Gradio cannot stop a synchronous function running in a worker thread (its ``cancels=`` only
abandons the thread), so cancellation goes through the API's progress callback instead: the
callback of a job checks the job's :class:`threading.Event` at every event and raises
:class:`Cancelled`, which stops the run within one step (:mod:`dropgan.progress`). The queue
itself knows nothing of Gradio: a job belongs to a session key (Gradio's session hash).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..progress import ProgressEvent

__all__ = ["Cancelled", "Job", "JobQueue"]


class Cancelled(Exception):
    """The user stopped the job."""


@dataclass(eq=False)
class Job:
    """One run asked for by one session; ``cancel`` is set by :meth:`JobQueue.stop`."""

    id: int
    session: str
    cancel: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        """Raise :class:`Cancelled` if the job was stopped."""
        if self.cancel.is_set():
            raise Cancelled(f"job {self.id} was stopped")


class JobQueue:
    """First come, first served, ``concurrency`` jobs at a time.

    Examples
    --------
    >>> q = JobQueue(concurrency=1)
    >>> with q.slot("alice") as job:
    ...     q.position(job)
    0
    >>> q.running, q.waiting
    (0, 0)
    """

    def __init__(self, concurrency: int = 1) -> None:
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a whole number >= 1, got {concurrency!r}")
        self.concurrency = concurrency
        self._cond = threading.Condition()
        self._queue: list[Job] = []  # waiting jobs, oldest first
        self._active: set[Job] = set()
        self._ids = itertools.count(1)

    @property
    def running(self) -> int:
        """Jobs running now."""
        with self._cond:
            return len(self._active)

    @property
    def waiting(self) -> int:
        """Jobs waiting for their turn."""
        with self._cond:
            return len(self._queue)

    def submit(self, session: str) -> Job:
        """A new job of ``session``, at the end of the queue."""
        with self._cond:
            job = Job(next(self._ids), session)
            self._queue.append(job)
            self._cond.notify_all()
            return job

    def position(self, job: Job) -> int:
        """How many jobs are ahead of ``job``: those running plus those waiting before it;
        0 once it runs (or has run)."""
        with self._cond:
            if job not in self._queue:
                return 0
            return len(self._active) + self._queue.index(job)

    def _may_start(self, job: Job) -> bool:
        free = self.concurrency - len(self._active)
        return job in self._queue[:free]

    def wait_turn(
        self, job: Job, on_wait: Callable[[int], object] | None = None, poll: float = 0.2
    ) -> None:
        """Block until ``job`` may run, calling ``on_wait(position)`` when its position
        changes; raise :class:`Cancelled` (and leave the queue) if it is stopped first."""
        last = None
        with self._cond:
            while True:
                if job.cancel.is_set():
                    self._queue.remove(job)
                    self._cond.notify_all()
                    raise Cancelled(f"job {job.id} was stopped while waiting")
                if self._may_start(job):
                    self._queue.remove(job)
                    self._active.add(job)
                    return
                pos = self.position(job)
                if on_wait is not None and pos != last:
                    last = pos
                    self._cond.release()  # never call out while holding the lock
                    try:
                        on_wait(pos)
                    finally:
                        self._cond.acquire()
                    continue
                # a stop sets an Event, not the condition: wake up now and then to see it
                self._cond.wait(poll)

    def done(self, job: Job) -> None:
        """``job`` has finished (or failed, or was stopped): its slot is free."""
        with self._cond:
            self._active.discard(job)
            if job in self._queue:
                self._queue.remove(job)
            self._cond.notify_all()

    def stop(self, session: str) -> int:
        """Stop every job of ``session``, waiting or running; returns how many there were."""
        with self._cond:
            jobs = [j for j in [*self._queue, *self._active] if j.session == session]
            for job in jobs:
                job.cancel.set()
            self._cond.notify_all()
            return len(jobs)

    @contextmanager
    def slot(self, session: str, on_wait: Callable[[int], object] | None = None) -> Iterator[Job]:
        """Submit a job of ``session``, wait for its turn, and free its slot on exit."""
        job = self.submit(session)
        try:
            self.wait_turn(job, on_wait)
            yield job
        finally:
            self.done(job)


def progress_callback(
    job: Job, report: Callable[[ProgressEvent], object] | None = None, interval: float = 0.1
) -> Callable[[ProgressEvent], None]:
    """The ``progress=`` callable of ``job``'s run: raises :class:`Cancelled` once the job is
    stopped (so the run ends within one step), and passes events on to ``report`` at most
    every ``interval`` seconds (a page need not redraw a hundred times a second), the last
    one always.

    Examples
    --------
    >>> job = Job(1, "s")
    >>> seen = []
    >>> cb = progress_callback(job, seen.append, interval=0)
    >>> cb(ProgressEvent(0.5, "level 1/2", None, 0.1)); len(seen)
    1
    >>> job.cancel.set()
    >>> cb(ProgressEvent(0.6, "level 2/2", None, 0.2))
    Traceback (most recent call last):
    ...
    dropgan.ui.jobs.Cancelled: job 1 was stopped
    """
    last = [-float("inf")]

    def callback(event: ProgressEvent) -> None:
        job.check()
        now = time.monotonic()
        if report is not None and (now - last[0] >= interval or event.fraction >= 1.0):
            last[0] = now
            report(event)

    return callback
