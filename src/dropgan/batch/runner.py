"""Running a manifest: plan what is left to do, run it on a local pool or Ray, record it.

Idempotent and resumable. Every image a job writes carries the API's metadata
(:meth:`dropgan.Result.metadata_of`) plus a ``batch`` entry: the job's fingerprint
(:meth:`~dropgan.batch.manifest.Job.fingerprint`: task, engine, parameters as given, seed,
the inputs' sha256, dropgan's version) and the time the image took. Before any work, each
job's files are read (their metadata only): a sample whose file holds the job's fingerprint
and its index is done and kept; the others are made, one API call per sample (``start=i,
n=1``; sample ``i`` depends on the seed and ``i`` only), each written as soon as it is made.
Files are written to a temporary name and renamed, so a killed run (even by SIGKILL) leaves
whole files or none; its temporary files are removed by the next run, which makes only the
missing samples.

A file in a job's place that the job did not make (other parameters, other inputs, not made
by ``dropgan batch``) fails that job, unless ``force``, which remakes every sample of every job;
a file there that is not a readable image is made again.

Isolated failures: a job that cannot run (bad entry, missing input, a corrupt image, the API
refusing a parameter, a worker dying) is recorded in the failures file (JSON Lines: line,
id, job, reason) and in the results file, and the other jobs go on.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import socket
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import InputError, OutputError
from ..image import read_metadata, write_image
from ..result import Result
from .manifest import (
    INPUT_ROLES,
    SAMPLED_TASKS,
    Job,
    ManifestError,
    file_digest,
    parse_jobs,
    read_manifest,
    task_function,
)
from .pool import WorkerPool, choose_workers, one_line

__all__ = ["BATCH_KEY", "BatchReport", "Work", "execute", "output_state", "plan", "run_batch"]

#: The key, in an image's metadata, of what ``dropgan batch`` adds to the API's metadata.
BATCH_KEY = "batch"
# image.atomic_write's temporary files: ".<name>.<8 random characters>.tmp" beside the file
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp")


@dataclass
class Work:
    """A job and what is left of it: the samples to make and those already made."""

    job: Job
    fingerprint: dict[str, Any]
    todo: list[int]
    kept: list[int]

    def payload(self) -> dict[str, Any]:
        """What a worker needs (plain JSON values)."""
        return {"job": self.job.payload(), "fingerprint": self.fingerprint, "todo": self.todo}


def output_state(path: Path, fingerprint: Mapping[str, Any], sample: int) -> str:
    """``"missing"`` (no file, or one that is not a readable image), ``"done"`` (the file
    holds the job's fingerprint and this sample index), or why the file is not the job's
    output."""
    if not path.exists():
        return "missing"
    try:
        meta = read_metadata(path)
    except InputError:  # damaged: nobody's finished output, so it is made again
        return "missing"
    stored = meta.get(BATCH_KEY)
    if not isinstance(stored, dict):
        return "was not made by dropgan batch"
    if stored.get("job") != fingerprint or meta.get("sample") != sample:
        return "was made with other parameters or inputs"
    return "done"


def _remove_temporary(jobs: Iterable[Job]) -> None:
    """Delete the temporary files that a killed run left beside the jobs' outputs."""
    by_folder: dict[Path, set[str]] = {}
    for job in jobs:
        for path in job.outputs().values():
            by_folder.setdefault(path.parent, set()).add(path.name)
    for folder, names in by_folder.items():
        with contextlib.suppress(OSError):  # a folder not made yet
            for entry in os.scandir(folder):
                m = _TEMPORARY.fullmatch(entry.name)
                if m and m["name"] in names:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


def plan(jobs: Sequence[Job], force: bool = False) -> tuple[list[Work], list[ManifestError]]:
    """What is left of each job, and the jobs that cannot run (an input that cannot be
    read, a file in the way). Reads the inputs (for their sha256) and the metadata of the
    outputs that exist; writes nothing.

    Examples
    --------
    >>> plan([])
    ([], [])
    """
    digests: dict[Path, str] = {}
    works, errors = [], []
    for job in jobs:
        try:
            for p in job.input_paths():
                if p not in digests:
                    digests[p] = file_digest(p)
        except OSError as e:
            reason = f"cannot read input {e.filename}: {e.strerror}"
            errors.append(ManifestError(job.line, job.id, job.source, reason))
            continue
        fingerprint = job.fingerprint(digests)
        todo, kept, foreign = [], [], []
        for i, path in job.outputs().items():
            state = "missing" if force else output_state(path, fingerprint, i)
            if state == "done":
                kept.append(i)
            elif state == "missing" or force:
                todo.append(i)
            else:
                foreign.append(f"{path} {state}")
        if foreign:
            reason = f"{foreign[0]} (force to replace it)"
            if len(foreign) > 1:
                reason = f"{foreign[0]}, and {len(foreign) - 1} more (force to replace them)"
            errors.append(ManifestError(job.line, job.id, job.source, reason))
            continue
        works.append(Work(job, fingerprint, todo, kept))
    return works, errors


# --- in the worker ----------------------------------------------------------------------------


def _peak_memory_mb() -> float:
    """The process's peak resident memory so far, in MiB (ru_maxrss: KiB on Linux, bytes on
    macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1 << 20 if sys.platform == "darwin" else 1 << 10), 1)


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # not available on this system
        return None


def execute(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Make the missing samples of one job, writing each as soon as it is made.

    Runs in a worker process (or a Ray task); never raises for the job's own failure: the
    returned record has ``reason`` (one line) and the samples made before it.

    Returns
    -------
    dict
        ``made`` (sample indices), ``reason`` (None when all went well), ``seconds`` and
        ``cpu_seconds`` (this call), ``peak_memory_mb`` (the worker's peak resident memory
        so far: an upper bound of the job's), ``host``, ``pid``, ``threads`` (torch's) and
        ``notes`` (the API's warnings).
    """
    import torch

    job = Job.from_payload(payload["job"])
    host, threads = socket.gethostname(), torch.get_num_threads()
    start, cpu_start = time.perf_counter(), time.process_time()
    made: list[int] = []
    reason = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            function = task_function(job.task)
            inputs = [job.inputs[role] for role in INPUT_ROLES[job.task]]
            for i in payload["todo"]:
                t, c = time.perf_counter(), time.process_time()
                kwargs = {**job.params, "engine": job.engine, "seed": job.seed, "progress": False}
                if job.task in SAMPLED_TASKS:
                    result = function(*inputs, 1, start=i, **kwargs)
                else:
                    result = function(*inputs, **kwargs)
                timing = {
                    "seconds": round(time.perf_counter() - t, 4),
                    "cpu_seconds": round(time.process_time() - c, 4),
                    "load": _load(),
                    "threads": threads,
                    "host": host,
                }
                meta = {**result.metadata, BATCH_KEY: {"job": payload["fingerprint"], **timing}}
                path = job.output(i)
                path.parent.mkdir(parents=True, exist_ok=True)
                write_image(
                    Result(result.images, meta, result.per_image), path, force=True, index=0
                )
                made.append(i)
        except Exception as e:  # the job's failure, whatever it is, is recorded
            reason = one_line(e)
    notes = list(dict.fromkeys(str(w.message) for w in caught))
    return {
        "made": made,
        "reason": reason,
        "seconds": round(time.perf_counter() - start, 3),
        "cpu_seconds": round(time.process_time() - cpu_start, 3),
        "peak_memory_mb": _peak_memory_mb(),
        "host": host,
        "pid": os.getpid(),
        "threads": threads,
        "notes": notes,
    }


# --- recording --------------------------------------------------------------------------------


class _Records:
    """The results file (appended to, locked for the run) and the failures file (rewritten
    each run). Each record is one ``write`` of one line, so a kill never leaves half a line
    that the next record would continue."""

    def __init__(self, results: Path | None, failures: Path | None) -> None:
        self.results_path, self.failures_path = results, failures
        self._results: int | None = None
        self._failures: int | None = None

    def __enter__(self) -> _Records:
        try:
            if self.results_path is not None:
                self.results_path.parent.mkdir(parents=True, exist_ok=True)
                self._results = os.open(self.results_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                self._lock(self._results)
                size = os.fstat(self._results).st_size
                if size and _last_byte(self.results_path) != b"\n":  # a killed run's last line
                    os.write(self._results, b"\n")
            if self.failures_path is not None:
                self.failures_path.parent.mkdir(parents=True, exist_ok=True)
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND
                self._failures = os.open(self.failures_path, flags)
        except OSError as e:
            self.__exit__(None, None, None)
            raise OutputError(f"cannot write {e.filename}: {e.strerror}") from None
        return self

    def _lock(self, fd: int) -> None:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise OutputError(
                f"another dropgan batch is running with the results file {self.results_path}"
            ) from None

    def __exit__(self, *exc: object) -> None:
        for fd in (self._results, self._failures):
            if fd is not None:
                os.close(fd)  # closing releases the lock
        self._results = self._failures = None

    def result(self, record: Mapping[str, Any]) -> None:
        if self._results is not None:
            os.write(self._results, _line(record))

    def failure(self, record: Mapping[str, Any]) -> None:
        if self._failures is not None:
            os.write(self._failures, _line(record))


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)


def _line(record: Mapping[str, Any]) -> bytes:
    return (json.dumps(record, default=str) + "\n").encode("utf-8")


@dataclass
class BatchReport:
    """What a run did.

    Attributes
    ----------
    done, skipped, failed : list of dict
        The results records of the jobs run, of those whose outputs were all there already,
        and of those that failed (each with ``reason``).
    results, failures : Path or None
        The files written.
    """

    done: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    results: Path | None = None
    failures: Path | None = None

    @property
    def ok(self) -> bool:
        """Whether every job succeeded."""
        return not self.failed

    def summary(self) -> str:
        """One line: the counts, and where the failures are listed."""
        text = f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed"
        if self.failed and self.failures is not None:
            text += f" (see {self.failures})"
        return text


def _job_record(job: Job, run: str) -> dict[str, Any]:
    return {"run": run, "line": job.line, "id": job.id, "task": job.task}


def _default_paths(manifest: Path) -> tuple[Path, Path]:
    return manifest.with_suffix(".results.jsonl"), manifest.with_suffix(".failures.jsonl")


def _local(
    workers: int, threads: int, works: Sequence[Work], pool: WorkerPool | None
) -> Iterator[tuple[int, Any, Any]]:
    """The jobs on ``pool``, or on a pool of ``workers`` started for them."""
    with contextlib.ExitStack() as stack:
        if pool is None:
            pool = stack.enter_context(WorkerPool(workers, threads))
        items = [(i, w.payload()) for i, w in enumerate(works)]
        for (i, _), outcome, reason in pool.map_unordered(_indexed_execute, items):
            yield i, outcome, reason


def _indexed_execute(item: tuple[int, Mapping[str, Any]]) -> dict[str, Any]:
    return execute(item[1])


def run_batch(
    jobs: str | os.PathLike | Sequence[Mapping[str, Any]],
    *,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    ray: bool | str | None = None,
    results: str | os.PathLike | None = None,
    failures: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = False,
    pool: WorkerPool | None = None,
) -> BatchReport:
    """Run the jobs of a manifest: those already done are skipped, failures are recorded
    and the others go on.

    Parameters
    ----------
    jobs : path or sequence of dict
        A manifest file (JSON Lines, see ``docs/batch.md``; relative paths in it are relative
        to its folder), or the jobs as dicts (relative paths are relative to the working
        directory).
    workers : int, optional
        Local worker processes; 0 runs the jobs in this process. Default: as many as
        :func:`~dropgan.batch.pool.choose_workers` fits on the cores.
    threads_per_worker : int, optional
        Torch threads per worker; ``workers x threads_per_worker`` may not exceed the cores.
    ray : bool or str, optional
        Run each job as a Ray task instead: True starts a local Ray (or uses the one this
        process is connected to), a string is the address of a cluster to join. Inputs and
        outputs must be at the same paths on every node (a shared filesystem).
    results, failures : path, optional
        The results file (JSON Lines, appended to: one record per job and run) and the
        failures file (rewritten each run). Default for a manifest ``jobs.jsonl``:
        ``jobs.results.jsonl`` and ``jobs.failures.jsonl`` beside it; none for a list of jobs.
    force : bool
        Remake every sample, replacing whatever is in its place.
    progress : bool
        A progress bar over the jobs, with the time left, on stderr.
    pool : WorkerPool, optional
        A pool to run the jobs on (and keep for other work) instead of starting one;
        ``workers`` and ``threads_per_worker`` are then not used.

    Returns
    -------
    BatchReport

    Raises
    ------
    InputError
        When the manifest cannot be read, the worker counts do not fit the cores, or Ray is
        asked for and not installed.
    OutputError
        When the results or failures file cannot be written, or another run holds them.

    Examples
    --------
    >>> import tempfile, torch, dropgan
    >>> folder = tempfile.mkdtemp()
    >>> _ = dropgan.write_image(torch.rand(3, 32, 32), f"{folder}/a.png")
    >>> job = {"task": "generate", "inputs": {"image": f"{folder}/a.png"}, "n": 2,
    ...        "params": {"iters": 1, "levels": 1, "nn": "exact"}, "out": f"{folder}/out"}
    >>> report = run_batch([job], workers=0)
    >>> report.summary(), sorted(p.name for p in Path(folder, "out").iterdir())
    ('1 done, 0 skipped, 0 failed', ['a_0.png', 'a_1.png'])
    >>> run_batch([job], workers=0).summary()  # a second run has nothing left to do
    '0 done, 1 skipped, 0 failed'
    """
    if isinstance(jobs, (str, os.PathLike)):
        manifest = Path(jobs)
        parsed, errors = read_manifest(manifest)
        default_results, default_failures = _default_paths(manifest)
        results = default_results if results is None else results
        failures = default_failures if failures is None else failures
    else:
        parsed, errors = parse_jobs(list(enumerate(jobs, 1)))
    if pool is None:
        n_workers, threads = choose_workers(workers, threads_per_worker)
    else:
        n_workers, threads = pool.workers, pool.threads
    works, planned_errors = plan(parsed, force)
    errors += planned_errors
    run = f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}-{os.getpid()}"
    report = BatchReport(
        results=None if results is None else Path(results),
        failures=None if failures is None else Path(failures),
    )
    with _Records(report.results, report.failures) as records:

        def fail(job_record: dict[str, Any], error: ManifestError) -> None:
            record = {**job_record, "status": "failed", "reason": error.reason}
            report.failed.append(record)
            records.result(record)
            records.failure(error.record())

        for error in sorted(errors, key=lambda e: e.line):
            base = {"run": run, "line": error.line, "id": error.id, "task": None}
            if isinstance(error.job, dict):
                base["task"] = error.job.get("task")
            fail(base, error)
        todo = []
        for work in works:
            if work.todo:
                todo.append(work)
                continue
            outputs = [str(p) for p in work.job.outputs().values()]
            record = {**_job_record(work.job, run), "status": "skipped", "outputs": outputs}
            report.skipped.append(record)
            records.result(record)
        _remove_temporary(w.job for w in todo)
        if ray:
            from .ray_executor import run_on_ray

            address = ray if isinstance(ray, str) else None
            outcomes = run_on_ray([w.payload() for w in todo], address, threads)
            executor = "ray"
        else:
            outcomes = _local(n_workers, threads, todo, pool)
            executor = "local" if (pool.workers if pool else n_workers) else "in-process"
        from tqdm import tqdm

        with tqdm(total=len(todo), unit="job", disable=not progress, dynamic_ncols=True) as bar:
            for index, outcome, crash in outcomes:
                work = todo[index]
                record = {
                    **_job_record(work.job, run),
                    "status": "done",
                    "outputs": [str(p) for p in work.job.outputs().values()],
                    "kept": work.kept,
                    "executor": executor,
                    **(outcome or {"made": []}),
                }
                reason = crash or record.get("reason")
                if reason is None:
                    record.pop("reason", None)
                    report.done.append(record)
                    records.result(record)
                else:
                    error = ManifestError(work.job.line, work.job.id, dict(work.job.source), reason)
                    fail({**record, "status": "failed"}, error)
                bar.update(1)
                if report.failed:
                    bar.set_postfix(failed=len(report.failed))
    return report
