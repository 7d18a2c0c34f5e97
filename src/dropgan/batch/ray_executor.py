"""Jobs as Ray tasks: on a local Ray, or on a cluster that this process joins.

Each job is one task (:func:`dropgan.batch.runner.execute`) that reserves ``num_cpus`` (the
threads per worker, by default) and ``num_gpus`` (one when the job's ``device`` is ``cuda``,
by default), or what the job's ``resources`` say; the task runs with that many torch threads.
Results come back as tasks finish (:func:`ray.wait`), so the progress bar and the results
file follow the cluster.

Assumption: every node sees the inputs and the output folders at the same absolute paths (a
shared filesystem such as NFS); tasks read and write files there themselves, and only the
records travel through Ray. dropgan (and torch) must be installed on every node, in the same
version: a task checks nothing of that, but the fingerprint stored with every image names the
dropgan version that made it.

Ray is optional (``pip install "dropgan[ray]"``); it is imported only here.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ..errors import InputError
from .pool import available_cores, one_line

__all__ = ["job_resources", "run_on_ray"]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError(
            'Ray is not installed: pip install "dropgan[ray]" (or pip install ray)'
        ) from None
    return ray


def job_resources(payload: Mapping[str, Any], threads: int) -> dict[str, float]:
    """The Ray resources of one job: its own ``resources``, else ``threads`` CPUs and one GPU
    for a job on ``cuda``.

    Examples
    --------
    >>> job = {"params": {"device": "cuda"}, "resources": {}}
    >>> job_resources({"job": job}, 2)
    {'num_cpus': 2, 'num_gpus': 1}
    """
    job = payload["job"]
    device = str(job["params"].get("device") or "")
    default = {"num_cpus": threads, "num_gpus": 1 if device.startswith("cuda") else 0}
    return {**default, **job.get("resources", {})}


def _task(payload: Mapping[str, Any], threads: int) -> dict[str, Any]:
    """The body of a Ray task: the job, with ``threads`` torch threads."""
    import torch

    from .runner import execute

    torch.set_num_threads(threads)
    return execute(payload)


def run_on_ray(
    payloads: Sequence[Mapping[str, Any]], address: str | None, threads: int
) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Run every job as a Ray task and yield ``(index, record, None)`` as each finishes, or
    ``(index, None, reason)`` when its task failed (a worker or node lost).

    Without ``address`` a local Ray is started (all the cores) unless this process is
    connected to one already; with it, this process joins that cluster. Ray is imported and
    started at once (so that a missing or unreachable Ray is an error before any job); a Ray
    started or joined here is shut down when the results have all been read.

    Raises
    ------
    InputError
        When Ray is not installed, or cannot be started or joined.
    """
    ray = _import_ray()
    started = False
    printer = builtins.print
    if not ray.is_initialized():
        options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
        if address is None:
            options["num_cpus"] = available_cores()
        else:
            options["address"] = address
        try:
            ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = address or "this machine"
            raise InputError(f"cannot start or join Ray at {where}: {one_line(e)}") from None
        started = True
    return _stream(ray, payloads, threads, started, printer)


def _stream(
    ray: Any,
    payloads: Sequence[Mapping[str, Any]],
    threads: int,
    started: bool,
    printer: Callable[..., None],
) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    pending: dict[Any, int] = {}
    try:
        remote = ray.remote(_task)
        for index, payload in enumerate(payloads):
            res = job_resources(payload, threads)
            cpus = max(1, int(res["num_cpus"]))
            ref = remote.options(max_retries=1, **res).remote(payload, cpus)
            pending[ref] = index
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                index = pending.pop(ref)
                try:
                    yield index, ray.get(ref), None
                except Exception as e:  # a task that died: the job fails, the others go on
                    yield index, None, f"Ray task failed: {one_line(e)}"
    except BaseException:
        for ref in pending:  # an interrupt: stop what still runs
            with contextlib.suppress(Exception):  # a task that has finished or is gone
                ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
            # a local Ray replaces print with its own, which outlives it
            builtins.print = printer
