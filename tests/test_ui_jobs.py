"""The web app's queue and Stop, without Gradio: turns in order, positions, and a real run
stopped within one step through the API's progress callback."""

from __future__ import annotations

import threading
import time

import pytest

import dropgan
from dropgan.progress import ProgressEvent
from dropgan.ui.jobs import Cancelled, Job, JobQueue, progress_callback


def _wait_for(condition, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.01)


def _waiter(queue: JobQueue, job: Job, log: list, positions: list) -> threading.Thread:
    def run():
        try:
            queue.wait_turn(job, positions.append, poll=0.01)
            log.append(("start", job.id))
        except Cancelled:
            log.append(("cancelled", job.id))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_jobs_take_turns_in_order_and_know_their_position():
    q = JobQueue(concurrency=1)
    a = q.submit("alice")
    q.wait_turn(a)  # free slot: runs at once
    assert q.position(a) == 0 and q.running == 1
    b, c = q.submit("bob"), q.submit("carol")
    assert (q.position(b), q.position(c)) == (1, 2)  # one running ahead of b; a and b of c
    log, pos_b, pos_c = [], [], []
    tb, tc = _waiter(q, b, log, pos_b), _waiter(q, c, log, pos_c)
    _wait_for(lambda: pos_b and pos_c)
    assert log == []  # nobody starts while a runs
    q.done(a)
    _wait_for(lambda: log == [("start", b.id)])
    assert q.position(c) == 1
    q.done(b)
    tb.join(5), tc.join(5)
    assert log == [("start", b.id), ("start", c.id)]
    assert pos_b[0] == 1 and pos_c[:2] == [2, 1]  # c saw its position go down
    q.done(c)
    assert (q.running, q.waiting) == (0, 0)


def test_stop_removes_a_waiting_job_without_touching_others():
    q = JobQueue(concurrency=1)
    a = q.submit("alice")
    q.wait_turn(a)
    b, c = q.submit("bob"), q.submit("carol")
    log = []
    threads = [_waiter(q, b, log, []), _waiter(q, c, log, [])]
    assert q.stop("bob") == 1
    _wait_for(lambda: ("cancelled", b.id) in log)
    assert q.position(c) == 1 and q.waiting == 1  # b left the queue: c is next
    assert not a.cancel.is_set()
    q.done(a)
    _wait_for(lambda: ("start", c.id) in log)
    for t in threads:
        t.join(5)
    assert q.stop("nobody") == 0


def test_concurrency_runs_that_many_at_once():
    q = JobQueue(concurrency=2)
    a, b, c = q.submit("a"), q.submit("b"), q.submit("c")
    q.wait_turn(a)
    q.wait_turn(b)
    assert q.running == 2 and q.position(c) == 2
    log = []
    t = _waiter(q, c, log, [])
    time.sleep(0.05)
    assert log == []
    q.done(b)
    t.join(5)
    assert log == [("start", c.id)]


def test_slot_frees_its_place_when_the_run_fails():
    q = JobQueue(concurrency=1)
    with pytest.raises(RuntimeError), q.slot("alice"):
        raise RuntimeError("boom")
    with q.slot("bob") as job:  # would block forever if alice kept the slot
        assert q.position(job) == 0


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_concurrency_must_be_a_positive_whole_number(bad):
    with pytest.raises(ValueError, match="concurrency"):
        JobQueue(bad)


def test_callback_throttles_reports_but_checks_every_event():
    job = Job(1, "s")
    seen = []
    cb = progress_callback(job, seen.append, interval=3600)
    for k in range(5):
        cb(ProgressEvent(0.1 * k, "x", None, 0.0))
    cb(ProgressEvent(1.0, "done", 0.0, 1.0))
    assert [e.fraction for e in seen] == [0.0, 1.0]  # the first, then only the end
    job.cancel.set()
    with pytest.raises(Cancelled):
        cb(ProgressEvent(0.5, "x", None, 0.0))


def test_stop_ends_a_real_run_within_one_step(small_photo):
    """Stop during dropgan.generate: no progress event is reported after the stop, the run
    raises Cancelled, and the slot is free again."""
    q = JobQueue(concurrency=1)
    events, after, outcome = [], [], []
    stopped = threading.Event()

    def report(e: ProgressEvent) -> None:
        (after if stopped.is_set() else events).append(e)
        if len(events) == 2 and not stopped.is_set():
            q.stop("alice")
            stopped.set()

    def run():
        try:
            with q.slot("alice") as job:
                dropgan.generate(
                    small_photo,
                    n=50,
                    iters=3,
                    nn="exact",
                    progress=progress_callback(job, report, 0),
                )
            outcome.append("finished")
        except Cancelled:
            outcome.append("cancelled")

    t = threading.Thread(target=run)
    start = time.perf_counter()
    t.start()
    t.join(60)
    assert outcome == ["cancelled"]
    assert after == []  # the first event after the stop raised: nothing more ran
    assert events[-1].fraction < 0.1  # far from the end of the 50 samples
    assert time.perf_counter() - start < 30
    assert (q.running, q.waiting) == (0, 0)
