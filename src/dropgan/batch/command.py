"""The ``dropgan batch`` command: run a manifest, or write and run one for a folder of images."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..image import atomic_write
from .manifest import read_manifest
from .runner import plan, run_batch

__all__ = ["add_batch_command", "folder_jobs"]

SHORTCUT_TASKS = ("generate", "retarget")


def folder_jobs(
    images: list[Path],
    task: str,
    out: Path,
    n: int = 1,
    samples_per_job: int | None = None,
    seed: int = 0,
    engine: str | None = None,
    params: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The jobs of one task over images: one job per image, or per ``samples_per_job``
    samples of an image (split with ``start``, so that the pool shares one image's samples).

    Examples
    --------
    >>> jobs = folder_jobs([Path("/i/a.png")], "generate", Path("/o"), n=3, samples_per_job=2)
    >>> [(j["id"], j["start"], j["n"]) for j in jobs]
    [('a:0', 0, 2), ('a:2', 2, 1)]
    """
    step = n if samples_per_job is None or task != "generate" else samples_per_job
    if step < 1:
        raise InputError(f"samples per job must be at least 1, got {samples_per_job}")
    jobs = []
    for path in images:
        for start in range(0, n, step):
            job: dict[str, Any] = {"id": path.stem, "task": task}
            job["inputs"] = {"image": str(path.resolve())}
            if task == "generate":
                job.update(id=f"{path.stem}:{start}", n=min(step, n - start), start=start)
            if engine is not None:
                job["engine"] = engine
            job.update(seed=seed, params=dict(params or {}), out=str(out.resolve()))
            jobs.append(job)
    return jobs


def _shortcut_manifest(args: argparse.Namespace) -> Path:
    """Write the manifest of ``--task`` over ``--images`` and return its path."""
    from ..cli import _params
    from ..metrics.report import image_files

    if args.task is None or args.images is None or args.out is None:
        raise InputError("give a manifest, or --task, --images and --out")
    if args.task == "retarget" and args.size is None and args.scale is None:
        raise InputError("retarget needs --size or --scale")
    images = image_files(args.images)
    if not images:
        raise InputError(f"no images in {args.images}")
    params: dict[str, Any] = dict(_params(args))
    for key in ("size", "scale", "levels", "device"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    if args.task == "generate":
        params["sigma"] = args.sigma
    elif args.max_step is not None:
        params["max_step"] = args.max_step
    n = args.n if args.task == "generate" else 1
    jobs = folder_jobs(
        images, args.task, args.out, n, args.samples_per_job, args.seed, args.engine, params
    )
    manifest = args.manifest or args.out / "jobs.jsonl"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(job) + "\n" for job in jobs)
    atomic_write(manifest, lambda f: f.write(text.encode("utf-8")))
    return manifest


def _run(args: argparse.Namespace) -> int:
    shortcut = args.task is not None or args.images is not None
    if args.jobs is not None and shortcut:
        raise InputError("give a manifest or --task and --images, not both")
    manifest = args.jobs if args.jobs is not None else _shortcut_manifest(args)
    if args.dry_run:
        jobs, errors = read_manifest(manifest)
        works, more = plan(jobs, args.force)
        samples = sum(len(w.todo) for w in works)
        left = sum(1 for w in works if w.todo)
        print(f"{manifest}: {len(jobs) + len(errors)} jobs: {left} to run ({samples} images), "
              f"{len(works) - left} done, {len(errors) + len(more)} cannot run")  # fmt: skip
        for e in sorted(errors + more, key=lambda e: e.line):
            print(f"  line {e.line}{f' ({e.id})' if e.id else ''}: {e.reason}")
        return 1 if errors or more else 0
    ray: bool | str | None = args.ray
    report = run_batch(
        manifest,
        workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        ray=ray,
        results=args.results,
        failures=args.failures,
        force=args.force,
        progress=not args.quiet,
    )
    if not args.quiet or report.failed:
        print(f"dropgan: batch {manifest}: {report.summary()}", file=sys.stderr)
    return 0 if report.ok else 1


def add_batch_command(sub: argparse._SubParsersAction) -> None:
    """Add ``dropgan batch`` to the subcommands ``sub`` of the ``dropgan`` parser."""
    from ..cli import _engine_options, _number, _scale, _seed, _size

    p = sub.add_parser(
        "batch",
        parents=[_engine_options("generate")],
        help="run a manifest of jobs (or one task over a folder) on local workers or Ray",
        description="Run the jobs of JOBS (JSON Lines, one job a line; see docs/batch.md): "
        "jobs whose images exist with the same parameters are skipped, failures are recorded "
        "in JOBS.failures.jsonl and the others go on, and every job's outputs, time, memory "
        "and host go to JOBS.results.jsonl. Exit status 1 when a job failed. Or write and run "
        "the manifest of one task over a folder: --task generate --images DIR -n 50 --out OUT.",
    )
    p.add_argument("jobs", nargs="?", type=Path, help="the manifest (JSON Lines)")
    g = p.add_argument_group("where the jobs run")
    g.add_argument(
        "--workers", type=int, help="local worker processes; 0: in this process (default: cores)"
    )
    g.add_argument(
        "--threads-per-worker",
        type=int,
        help="torch threads per worker; workers x threads <= cores (default: cores / workers)",
    )
    g.add_argument(
        "--ray",
        nargs="?",
        const=True,
        metavar="ADDRESS",
        help="run each job as a Ray task: on a local Ray, or on the cluster at ADDRESS "
        "(inputs and outputs on a filesystem all nodes share; put --ray after JOBS)",
    )
    g = p.add_argument_group("records and output")
    g.add_argument("--results", type=Path, help="results file (default: JOBS.results.jsonl)")
    g.add_argument("--failures", type=Path, help="failures file (default: JOBS.failures.jsonl)")
    g.add_argument("--force", action="store_true", help="remake every image, replacing files")
    g.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    g.add_argument("--dry-run", action="store_true", help="check the jobs and say what is left")
    g = p.add_argument_group("one task over a folder (writes OUT/jobs.jsonl and runs it)")
    g.add_argument("--task", choices=SHORTCUT_TASKS, help="the task")
    g.add_argument("--images", type=Path, help="folder of input images")
    g.add_argument("--out", type=Path, help="output folder")
    g.add_argument("--manifest", type=Path, help="where to write the manifest")
    g.add_argument("-n", type=int, default=1, help="samples per image (generate; default: 1)")
    g.add_argument("--samples-per-job", type=int, help="split each image's samples into jobs")
    g.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    g.add_argument("--sigma", type=_number, default=0.75, help="noise (generate; default: 0.75)")
    size = g.add_mutually_exclusive_group()
    size.add_argument("--size", type=_size, help="output size WxH")
    size.add_argument("--scale", type=_scale, help="output size as F or SXxSY times the input's")
    g.add_argument("--max-step", type=_number, help="retarget: largest change per step")
    g.add_argument("--levels", type=int, help="pyramid depth N")
    g.add_argument("--device", help="cpu or cuda")
    p.set_defaults(run=_run)
