"""Reproduce the evaluation of random generation: generate, measure, and write a results page.

:func:`reproduce` generates samples of every image of a folder for each :class:`Run` (engine,
search backend, noise, samples per image), times them, measures them and reference folders
with :func:`~dropgan.metrics.evaluate_folders`, and writes one markdown page: a summary
table, per-image tables, the machine and the ``dropgan reproduce`` command that remakes it.

The samples are made by the batch runner (:func:`dropgan.batch.run_batch`), one job per image
and run, on the local pool of worker processes or on Ray: every image carries the job's
fingerprint and its own generation time in its metadata, so a rerun reuses the images whose
settings match (an interrupted run continues where it stopped, sample by sample) and makes
the rest; ``force`` regenerates everything.
"""

from __future__ import annotations

import os
import platform
import shlex
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..batch.manifest import Job, file_digest, parse_jobs
from ..batch.pool import WorkerPool, choose_workers
from ..batch.runner import BATCH_KEY, output_state, run_batch
from ..engines import get_engine
from ..errors import InputError, OutputError
from ..image import read_image, read_metadata
from ..outputs import check_writable
from ..search import default_backend
from ..tasks.common import resolve_device
from .patch_stats import SEARCHES
from .report import (
    COLUMNS,
    IMAGE_SUFFIXES,
    LEGEND,
    METRICS,
    _images,
    _write_text,
    check_metrics,
    evaluate_folders,
    markdown_table,
    pair_samples,
)

__all__ = ["Run", "cli_command", "reproduce"]

SUMMARY_COLUMNS = (
    "run",
    "samples",
    "copies",
    "sifid",
    "niqe",
    "coherence",
    "completeness",
    "diversity",
    "lpips",
    "seconds",
    "cpu_seconds",
)
# generate()'s own arguments that a Run or reproduce() sets; not GPNN parameters.
_SET_PER_RUN = {"image", "n", "sigma", "nn", "engine", "seed", "device", "progress"}
# A sample whose mean absolute difference to its source is below one 8-bit level is a copy.
COPY_TOLERANCE = 1 / 255
SUMMARY_LEGEND = (
    "Means over the images, except copies: the number of samples that copy their source "
    "image (mean absolute difference below one 8-bit level), failures however good their "
    "other measures (a copy scores 0 in SIFID, coherence and completeness). sifid: SinGAN's "
    "single-image FID, computed with the FID InceptionV3 weights (pytorch-fid's), not the "
    "torchvision Inception of SinGAN's code, so absolute values differ from the papers' and "
    "only rows of this table compare; niqe: no-reference quality of the samples (the row "
    "*source images* is the real images' own NIQE); coherence / completeness: mean MSE of "
    "patches to their nearest patch in the other image; diversity: SinGAN's pixel diversity; "
    "lpips: mean LPIPS between samples of one image; seconds / cpu_seconds: wall-clock / "
    "processor seconds (all threads) per generated sample on the machine below; on a shared "
    "machine the wall-clock time grows with the load, the processor time much less. Lower is "
    "better except for diversity and lpips. —: not measured (diversity and lpips need two "
    "samples per image; reference sets have one sample and no runtime)."
)


@dataclass(frozen=True)
class Run:
    """One generation setting: engine, search backend, noise and samples per image.

    Attributes
    ----------
    engine : str
        ``"gpnn"`` (or another engine :func:`~dropgan.generate` accepts).
    nn : str or None
        Search backend; None for the default of the device.
    sigma : float
        Noise at the coarsest level.
    samples : int
        Samples per image.

    Examples
    --------
    >>> run = Run.parse("nn=exact,sigma=0.75,samples=1")
    >>> run
    Run(engine='gpnn', nn='exact', sigma=0.75, samples=1)
    >>> run.name, run.spec()
    ('gpnn-exact-sigma0.75-n1', 'nn=exact,sigma=0.75,samples=1')
    """

    engine: str = "gpnn"
    nn: str | None = None
    sigma: float = 0.75
    samples: int = 4

    def __post_init__(self) -> None:
        if not (isinstance(self.samples, int) and self.samples >= 1):
            raise InputError(f"samples per image must be at least 1, got {self.samples}")
        if not self.sigma >= 0:
            raise InputError(f"sigma must be >= 0, got {self.sigma}")

    @classmethod
    def parse(cls, text: str) -> Run:
        """A run from ``key=value`` pairs separated by commas (keys: engine, nn, sigma,
        samples); unset keys keep their defaults."""
        fields: dict[str, object] = {}
        for item in filter(None, text.split(",")):
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or key not in cls.__dataclass_fields__ or key in fields:
                raise InputError(
                    f"bad run {text!r}: expected comma-separated engine=, nn=, sigma=, samples="
                )
            try:
                fields[key] = {"sigma": float, "samples": int}.get(key, str)(value)
            except ValueError:
                raise InputError(f"bad run {text!r}: {key} must be a number") from None
        return cls(**fields)

    def spec(self) -> str:
        """The text :meth:`parse` reads back into this run."""
        parts = [] if self.engine == "gpnn" else [f"engine={self.engine}"]
        parts += [] if self.nn is None else [f"nn={self.nn}"]
        return ",".join([*parts, f"sigma={self.sigma:g}", f"samples={self.samples}"])

    @property
    def name(self) -> str:
        """The run's folder name and table label."""
        search = self.nn or ("default" if self.engine == "gpnn" else None)
        parts = [self.engine, *([search] if search else []), f"sigma{self.sigma:g}"]
        return "-".join([*parts, f"n{self.samples}"])


def _few(names: Sequence[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _jobs(
    run: Run,
    sources: Sequence[Path],
    folder: Path,
    seed: int,
    device: torch.device,
    params: Mapping[str, object],
) -> list[dict[str, object]]:
    """The batch jobs of one run: one per source image, its samples named ``<stem>_<i>.png``."""
    given = {"sigma": run.sigma, **({"nn": run.nn} if run.nn else {}), "device": device.type}
    return [
        {
            "id": f"{folder.name}/{src.stem}",
            "task": "generate",
            "inputs": {"image": str(src.resolve())},
            "engine": run.engine,
            "params": {**given, **params},
            "seed": seed,
            "n": run.samples,
            "out": str(folder.resolve()),
            "name": "{stem}_{sample}.png",
        }
        for src in sources
    ]


def _check_folder(folder: Path, jobs: Sequence[Job], force: bool) -> None:
    """Refuse, before any work, a run folder holding an image the run does not write (it
    would be measured with the run's), or, unless ``force``, one that it writes but that was
    made with other settings."""
    expected = {p.resolve() for job in jobs for p in job.outputs().values()}
    strays = sorted(
        p.name
        for p in (folder.iterdir() if folder.is_dir() else ())
        if p.suffix.lower() in IMAGE_SUFFIXES and p.resolve() not in expected
    )
    if strays:
        raise OutputError(f"{folder} holds images this run does not make: {_few(strays)}")
    if force:
        return
    other = []
    for job in jobs:
        fingerprint = job.fingerprint({p: file_digest(p) for p in job.input_paths()})
        for i, path in job.outputs().items():
            if output_state(path, fingerprint, i) not in ("missing", "done"):
                other.append(path.name)
    if other:
        raise OutputError(
            f"{folder} holds images made with other settings: {_few(sorted(other))} "
            "(use --force to regenerate them)"
        )


def _timing(job: Job) -> dict[str, float]:
    """Per-sample means of the generation time stored with the job's images, the load after
    each, and the torch threads they ran with."""
    stored = [read_metadata(path)[BATCH_KEY] for path in job.outputs().values()]
    return {
        key: float(np.mean([float(t[key]) for t in stored if t.get(key) is not None] or [0]))
        for key in ("seconds", "cpu_seconds", "load", "threads")
    }


def _copies(real_dir: str | os.PathLike, fake_dir: str | os.PathLike) -> dict[str, int]:
    """Per real image (stem), how many of its samples are copies of it (see
    :data:`COPY_TOLERANCE`).

    Examples
    --------
    >>> import tempfile, torch
    >>> from dropgan.image import write_image
    >>> real, fake = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> x = torch.rand(3, 8, 8)
    >>> for folder, name, y in [(real, "a.png", x), (fake, "a_0.png", x), (fake, "a_1.png", 1 - x)]:
    ...     _ = write_image(y, os.path.join(folder, name))
    >>> _copies(real, fake)
    {'a': 1}
    """
    with warnings.catch_warnings():  # evaluate_folders has warned about unpaired files
        warnings.simplefilter("ignore")
        pairs = pair_samples(real_dir, fake_dir)
    counts = {}
    for real, samples in pairs.items():
        x = read_image(real, real.name)
        ys = [read_image(s, s.name) for s in samples]
        counts[real.stem] = sum(
            y.shape == x.shape and float((y - x).abs().mean()) < COPY_TOLERANCE for y in ys
        )
    return counts


def _measure(
    real_dir: str | os.PathLike,
    fake_dir: str | os.PathLike,
    metrics: Sequence[str],
    max_queries: int | None,
    cache_dir: str | os.PathLike | None,
    progress: bool,
    search: str = "patchmatch",
    pool: WorkerPool | None = None,
) -> list[dict[str, object]]:
    """The rows of :func:`evaluate_folders`, each with the number of copies among the image's
    samples."""
    rows = evaluate_folders(
        real_dir,
        fake_dir,
        metrics=metrics,
        max_queries=max_queries,
        cache_dir=cache_dir,
        progress=progress,
        search=search,
        pool=pool,
    )
    copies = _copies(real_dir, fake_dir)
    return [{**r, "copies": copies[r["image"]]} for r in rows]


def _mean(values: Sequence[object]) -> float | None:
    numbers = [float(v) for v in values if v is not None]
    return float(np.mean(numbers)) if numbers else None


def _summary(name: str, rows: Sequence[dict[str, object]], samples: int) -> dict[str, object]:
    """One summary row: the means over the images of a run's or a reference's rows."""
    row: dict[str, object] = {"run": name, "samples": samples}
    row["copies"] = sum(int(r["copies"]) for r in rows)
    for column in SUMMARY_COLUMNS[3:]:
        if any(column in r for r in rows):
            row[column] = _mean([r.get(column) for r in rows])
    return row


def _conditions(timings: Sequence[Mapping[str, float]]) -> str:
    """The load and threads the run's images were generated under, as stored with them."""
    load = _mean([t["load"] for t in timings])
    threads = sorted({int(t["threads"]) for t in timings})
    text = f"mean 1-minute load average after each generation {load:.1f}"
    return text + f", torch threads {', '.join(map(str, threads))}"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: fall back to what platform knows
    return platform.processor() or platform.machine()


def _machine(device: torch.device) -> str:
    gpu = f", GPU {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    return (
        f"{_cpu_model()}, {os.cpu_count()} logical cores{gpu}; torch {torch.__version__}, "
        f"Python {platform.python_version()}, dropgan {__version__}, device {device.type}"
    )


def cli_command(
    images_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    runs: Sequence[Run],
    *,
    references: Mapping[str, str | os.PathLike] | None = None,
    page: str | os.PathLike | None = None,
    seed: int = 0,
    device: str | None = None,
    metrics: Sequence[str] | None = None,
    max_queries: int | None = 10_000,
    cache_dir: str | os.PathLike | None = None,
    search: str = "patchmatch",
    workers: int | None = None,
    threads_per_worker: int | None = None,
    ray: bool | str | None = None,
    **params: object,
) -> str:
    """The ``dropgan reproduce`` command line equivalent to a :func:`reproduce` call.

    Examples
    --------
    >>> cli_command("imgs", "out", [Run(nn="exact", samples=1)], references={"a": "ref a"},
    ...             iters=2)
    "dropgan reproduce --images imgs --out out --run nn=exact,sigma=0.75,samples=1 \
--reference 'a=ref a' --iters 2"
    """
    words = ["dropgan", "reproduce", "--images", str(images_dir), "--out", str(out_dir)]
    if page is not None:
        words += ["--page", str(page)]
    for run in runs:
        words += ["--run", run.spec()]
    for name, folder in (references or {}).items():
        words += ["--reference", f"{name}={folder}"]
    if seed != 0:
        words += ["--seed", str(seed)]
    if device is not None:
        words += ["--device", str(device)]
    if metrics is not None:
        words += ["--metrics", ",".join(metrics)]
    if max_queries != 10_000:
        words += ["--max-queries", "all" if max_queries is None else str(max_queries)]
    if cache_dir is not None:
        words += ["--cache", str(cache_dir)]
    if search != "patchmatch":
        words += ["--search", search]
    if workers is not None:
        words += ["--workers", str(workers)]
    if threads_per_worker is not None:
        words += ["--threads-per-worker", str(threads_per_worker)]
    if ray:
        words += ["--ray"] + ([ray] if isinstance(ray, str) else [])
    for key, value in params.items():
        words += [f"--{key.replace('_', '-')}", str(value)]
    return shlex.join(words)


def _page(
    command: str,
    machine: str,
    summary: Sequence[dict[str, object]],
    described: Sequence[str],
    per_image: Mapping[str, Sequence[dict[str, object]]],
) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Results: random generation",
        "",
        f"Made on {stamp} by `dropgan.metrics.reproduce.reproduce`, the function behind this "
        "command, which remakes it (reusing the generated images that are still there):",
        "",
        "```sh",
        command,
        "```",
        "",
        f"Machine: {machine}.",
        "",
        "## Summary",
        "",
        markdown_table(summary, SUMMARY_COLUMNS, means=False, legend=False),
        SUMMARY_LEGEND,
        "",
        "Runs and references:",
        "",
        *described,
        "",
        "## Per image",
        "",
        LEGEND + " copies: samples that copy the source; seconds / cpu_seconds: wall-clock / "
        "processor seconds per sample.",
    ]
    for name, rows in per_image.items():
        columns = (*COLUMNS[:2], "copies", *COLUMNS[2:], "seconds", "cpu_seconds")
        table = markdown_table(rows, columns, legend=False)
        lines += ["", f"### {name}", "", table.rstrip("\n")]
    return "\n".join(lines) + "\n"


def reproduce(
    images_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    runs: Sequence[Run | str] = (Run(),),
    *,
    references: Mapping[str, str | os.PathLike] | None = None,
    page: str | os.PathLike | None = None,
    seed: int = 0,
    device: str | None = None,
    metrics: Sequence[str] | None = None,
    max_queries: int | None = 10_000,
    cache_dir: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = False,
    search: str = "patchmatch",
    workers: int | None = None,
    threads_per_worker: int | None = None,
    ray: bool | str | None = None,
    **params: object,
) -> Path:
    """Generate samples of every image for each run, measure them and reference sets, and
    write a results page.

    Parameters
    ----------
    images_dir : path
        The source images (any format); every one is generated from.
    out_dir : path
        Where each run's samples go, as ``<run name>/<stem>_<i>.png`` (see :attr:`Run.name`).
    runs : sequence of Run or str
        The settings to generate with; a string is read by :meth:`Run.parse`.
    references : mapping of name to folder, optional
        Samples made elsewhere (one or more per image, named as :func:`pair_samples` pairs
        them), measured the same way and shown beside the runs.
    page : path, optional
        The results page to write (default ``out_dir/results.md``); it is replaced if it
        exists: it derives from the images.
    seed : int
        Seed of every generation.
    device : str, optional
        Where to generate (default: CUDA when available); also picks the default backend.
    metrics : sequence of str, optional
        A subset of :data:`~dropgan.metrics.report.METRICS` (default all); see
        :func:`evaluate_folders`.
    max_queries : int or None
        Patches sampled per image for coherence and completeness.
    cache_dir : path, optional
        Where :func:`~dropgan.metrics.setup_metrics` put the metric weights.
    force : bool
        Regenerate every image, even those whose stored settings match.
    progress : bool
        Progress bars on stderr.
    search : str
        How coherence and completeness search: ``"patchmatch"`` or ``"exact"`` (see
        :func:`evaluate_folders`).
    workers, threads_per_worker : int, optional
        The local pool that generates (and evaluates) the images, as for
        :func:`dropgan.batch.run_batch`: by default one single-threaded worker per core;
        ``workers=0`` works in this process.
    ray : bool or str, optional
        Generate on Ray instead (True: a local Ray; a string: the address of a cluster whose
        nodes share the filesystem); the evaluation runs here.
    **params
        Passed to :func:`~dropgan.generate` for every run (``iters``, ``levels``, ...).

    Returns
    -------
    Path
        The page written.

    Raises
    ------
    InputError
        For a bad run, engine, parameter or metric, a missing folder, or metric weights not
        set up, before any generation; when a generation job fails (after the others, all
        listed in ``out_dir/reproduce.failures.jsonl``).
    OutputError
        When a run folder holds images this run would not write (other settings, other
        names) and ``force`` is not set; before any generation.

    Examples
    --------
    >>> reproduce("images/sigd16", "out/reproduce", ["sigma=0.75,samples=4"],
    ...           references={"singan": "images/reference/sigd16_singan"},
    ...           page="docs/results.md")  # doctest: +SKIP
    PosixPath('docs/results.md')
    """
    runs = [Run.parse(r) if isinstance(r, str) else r for r in runs]
    clash = sorted(set(params) & _SET_PER_RUN)
    if clash:
        raise InputError(f"set {', '.join(clash)} per run or as reproduce's own argument")
    metrics = check_metrics(metrics, cache_dir)
    dev = resolve_device(device)
    sources = _images(Path(images_dir))
    if not sources:
        raise InputError(f"no images in {images_dir}")
    stems = [p.stem for p in sources]
    shared = sorted({s for s in stems if stems.count(s) > 1})
    if shared:  # their samples would have the same names
        raise InputError(f"images in {images_dir} share a name: {_few(shared)}")
    for name, folder in (references or {}).items():
        if not Path(folder).is_dir():
            raise InputError(f"reference {name}: no such folder {folder}")
    if search not in SEARCHES:
        raise InputError(f"unknown search {search!r} (choose from {', '.join(SEARCHES)})")
    choose_workers(workers, threads_per_worker)  # counts that fit the cores, before any work
    out = Path(out_dir)
    check_writable(out / "results.md" if page is None else page)  # written after hours of work
    plans, entries = [], []
    for run in runs:
        takes_nn = "nn" in {f.name for f in fields(get_engine(run.engine).params_type)}
        # the default backend is named, so that the page says which search ran
        used = replace(run, nn=default_backend(dev)) if takes_nn and run.nn is None else run
        jobs = _jobs(used, sources, out / used.name, seed, dev, params)
        plans.append((run, used, len(entries), len(entries) + len(jobs)))
        entries += jobs
    names = [used.name for _, used, _, _ in plans] + list(references or {})
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"runs or references named alike: {', '.join(twice)}")
    parsed, errors = parse_jobs(list(enumerate(entries, 1)))
    if errors:  # a bad parameter: the same for every job
        raise InputError(errors[0].reason)
    for _, used, first, last in plans:
        _check_folder(out / used.name, parsed[first:last], force)

    # one pool generates and then measures (Ray, if asked for, only generates)
    with WorkerPool(*choose_workers(workers, threads_per_worker)) as pool:
        report = run_batch(
            entries,
            ray=ray,
            results=out / "reproduce.results.jsonl",
            failures=out / "reproduce.failures.jsonl",
            force=force,
            progress=progress,
            pool=pool,
        )
        if report.failed:
            first = report.failed[0]
            raise InputError(
                f"{len(report.failed)} generation job(s) failed ({first['id']}: "
                f"{first['reason']}); all are listed in {report.failures}"
            )
        measure = {"search": search, "pool": pool}
        summary, per_image, described = [], {}, []
        for run, used, first, last in plans:
            timings = {job.input_paths()[0].stem: _timing(job) for job in parsed[first:last]}
            rows = _measure(
                images_dir, out / used.name, metrics, max_queries, cache_dir, progress, **measure
            )
            for row in rows:
                row["seconds"] = timings[row["image"]]["seconds"]
                row["cpu_seconds"] = timings[row["image"]]["cpu_seconds"]
            summary.append(_summary(used.name, rows, used.samples))
            per_image[used.name] = rows
            described.append(
                f"- **{used.name}**: engine {used.engine}, search {used.nn}"
                + (" (the default)" if run.nn is None else "")
                + f", sigma {used.sigma:g}, {used.samples} sample(s) per image, seed {seed}"
                + (f", parameters {params}" if params else "")
                + f"; images in `{out / used.name}`; {_conditions(list(timings.values()))}"
            )
        for name, folder in (references or {}).items():
            rows = _measure(
                images_dir, folder, metrics, max_queries, cache_dir, progress, **measure
            )
            summary.append(_summary(name, rows, max(int(r["samples"]) for r in rows)))
            per_image[name] = rows
            described.append(f"- **{name}** (reference): `{folder}`")
    real = {r["image"]: r.get("niqe_real") for rows in per_image.values() for r in rows}
    if any(v is not None for v in real.values()):  # NIQE measured, and the images fit it
        summary.append({"run": "source images", "niqe": _mean(list(real.values()))})

    command = cli_command(
        images_dir,
        out_dir,
        runs,
        references=references,
        page=page,
        seed=seed,
        device=device,
        metrics=metrics if len(metrics) < len(METRICS) else None,
        max_queries=max_queries,
        cache_dir=cache_dir,
        search=search,
        workers=workers,
        threads_per_worker=threads_per_worker,
        ray=ray,
        **params,
    )
    text = _page(command, _machine(dev), summary, described, per_image)
    target = out / "results.md" if page is None else Path(page)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_text(text, target)
    return target
