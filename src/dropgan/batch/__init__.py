"""Many images: job manifests run on a local pool of workers or on Ray, resumable and
idempotent (``dropgan batch``; see ``docs/batch.md``).

>>> from dropgan.batch import check_schema
>>> check_schema({"task": "generate", "inputs": {"image": "a.png"}, "out": "o", "seed": -1})
['seed: must be at least 0, not -1']
"""

from .command import add_batch_command, folder_jobs
from .manifest import Job, check_schema, job_schema, parse_job, read_manifest
from .pool import WorkerPool, choose_workers
from .runner import BatchReport, plan, run_batch

__all__ = [
    "BatchReport",
    "Job",
    "WorkerPool",
    "add_batch_command",
    "check_schema",
    "choose_workers",
    "folder_jobs",
    "job_schema",
    "parse_job",
    "plan",
    "read_manifest",
    "run_batch",
]
