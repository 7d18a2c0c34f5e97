"""Evaluation of a folder of generated samples against a folder of real images.

Files are paired by name: the real ``stem.png`` goes with the samples ``stem.png`` and/or
``stem_0.png``, ``stem_1.png``, ... of the other folder (any image format on either side).
Each real image gets one row of measures; see :func:`evaluate_folders`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from ..batch.pool import WorkerPool, choose_workers
from ..errors import InputError, OutputError
from ..image import atomic_write, read_image, write_image
from .assets import load_asset
from .diversity import mean_pairwise_lpips, pixel_diversity
from .lpips import MIN_SIZE as LPIPS_MIN_SIZE
from .niqe import BLOCK as NIQE_BLOCK
from .niqe import niqe
from .patch_stats import SEARCHES, mean_nn_distance
from .sifid import sifid

__all__ = [
    "COLUMNS",
    "METRICS",
    "check_metrics",
    "evaluate_folders",
    "histogram_plot",
    "image_files",
    "markdown_table",
    "pair_samples",
]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
METRICS = ("sifid", "niqe", "coherence", "completeness", "diversity", "lpips")
# Table columns: the metrics, with the real image's NIQE beside the samples' for reference.
COLUMNS = (
    "image",
    "samples",
    "sifid",
    "niqe",
    "niqe_real",
    "coherence",
    "completeness",
    "diversity",
    "lpips",
)
_ASSET_OF = {"sifid": "sifid_inception", "niqe": "niqe_pristine", "lpips": "lpips_alex"}
_SAMPLE_NAME = re.compile(r"(.+)_(\d+)")
LEGEND = (
    "Means over each image's samples. sifid: SinGAN's single-image FID with the FID "
    "InceptionV3 weights (not comparable with the papers' values); niqe / niqe_real: NIQE of "
    "the samples / of the real image; coherence / completeness: mean MSE of patches to their "
    "nearest patch in the other image; diversity: SinGAN's pixel diversity; lpips: mean LPIPS "
    "between samples. Lower is better except for diversity and lpips. "
    "—: not applicable (NIQE needs two 96x96 blocks; diversity and lpips need two samples of "
    "one size, lpips at least 31x31 pixels)."
)


def _natural(path: Path) -> list[object]:
    """Sort key that puts ``2.png`` before ``10.png``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def image_files(folder: str | os.PathLike) -> list[Path]:
    """The image files of a folder (by suffix), in natural order (``2.png`` before ``10.png``).

    Raises
    ------
    InputError
        When the folder does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"no such folder: {folder}")
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural)


_images = image_files


def pair_samples(
    real_dir: str | os.PathLike, fake_dir: str | os.PathLike
) -> dict[Path, list[Path]]:
    """Each real image's samples, matched by file name.

    A sample named ``stem`` or ``stem_<number>`` belongs to the real image ``stem`` (an exact
    match wins, so a real ``a_1.png`` takes the sample ``a_1.png``). Samples come ordered by
    number, the unnumbered one first. Real images without samples and samples without a real
    image are left out with a warning.

    Raises
    ------
    InputError
        When a folder is missing, two real images share a stem, or nothing pairs up.

    Examples
    --------
    >>> import tempfile, torch
    >>> from dropgan.image import write_image
    >>> real, fake = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> for folder, name in [(real, "a.png"), (fake, "a_1.png"), (fake, "a_0.jpg")]:
    ...     _ = write_image(torch.zeros(3, 8, 8), os.path.join(folder, name))
    >>> {r.name: [s.name for s in ss] for r, ss in pair_samples(real, fake).items()}
    {'a.png': ['a_0.jpg', 'a_1.png']}
    """
    reals: dict[str, Path] = {}
    for p in _images(Path(real_dir)):
        if p.stem in reals:
            raise InputError(f"two real images named {p.stem}: {reals[p.stem].name}, {p.name}")
        reals[p.stem] = p
    found: dict[str, list[tuple[int, Path]]] = {stem: [] for stem in reals}
    unmatched = []
    for p in _images(Path(fake_dir)):
        m = _SAMPLE_NAME.fullmatch(p.stem)
        if p.stem in reals:
            found[p.stem].append((-1, p))
        elif m and m[1] in reals:
            found[m[1]].append((int(m[2]), p))
        else:
            unmatched.append(p.name)
    if unmatched:
        warnings.warn(
            f"samples without a real image, ignored: {', '.join(unmatched)}", stacklevel=2
        )
    alone = [reals[s].name for s, v in found.items() if not v]
    if alone:
        warnings.warn(f"real images without samples, ignored: {', '.join(alone)}", stacklevel=2)
    pairs = {reals[s]: [p for _, p in sorted(v)] for s, v in found.items() if v}
    if not pairs:
        raise InputError(f"no sample in {fake_dir} is named after a real image in {real_dir}")
    return pairs


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values))


def _niqe_fits(image: torch.Tensor) -> bool:
    """Whether the image holds the two 96x96 blocks NIQE needs."""
    return (image.shape[1] // NIQE_BLOCK) * (image.shape[2] // NIQE_BLOCK) >= 2


def _evaluate_image(
    real: torch.Tensor,
    samples: list[torch.Tensor],
    metrics: Sequence[str],
    patch_size: int,
    max_queries: int | None,
    cache_dir: str | os.PathLike | None,
    search: str = "patchmatch",
) -> tuple[dict[str, float | None], torch.Tensor | None]:
    """One row of measures, and the nearest-neighbour distances of the samples' patches
    (pooled, for the histogram) when coherence is measured."""
    row: dict[str, float | None] = {}
    distances = None
    if "sifid" in metrics:
        row["sifid"] = _mean([sifid(real, s, cache_dir) for s in samples])
    if "niqe" in metrics:
        big = [s for s in samples if _niqe_fits(s)]
        row["niqe"] = _mean([niqe(s, cache_dir) for s in big]) if big else None
        row["niqe_real"] = niqe(real, cache_dir) if _niqe_fits(real) else None
    kw = {"search": search, "max_queries": max_queries}
    if "coherence" in metrics:
        per_sample = [mean_nn_distance(s, real, patch_size, **kw) for s in samples]
        row["coherence"] = _mean([m for m, _ in per_sample])
        distances = torch.cat([d for _, d in per_sample])
    if "completeness" in metrics:
        row["completeness"] = _mean(
            [mean_nn_distance(real, s, patch_size, **kw)[0] for s in samples]
        )
    one_size = len(samples) >= 2 and len({tuple(s.shape) for s in samples}) == 1
    if "diversity" in metrics:
        row["diversity"] = pixel_diversity(samples, real) if one_size else None
    if "lpips" in metrics:
        fits = one_size and min(samples[0].shape[1:]) >= LPIPS_MIN_SIZE
        row["lpips"] = mean_pairwise_lpips(samples, cache_dir) if fits else None
    return row, distances


def _evaluate_files(item: tuple) -> tuple[dict[str, float | None], torch.Tensor | None]:
    """:func:`_evaluate_image` of one real image file and its samples' files (a pool job)."""
    real_path, sample_paths, *options = item
    real = read_image(real_path, real_path.name)
    samples = [read_image(p, p.name) for p in sample_paths]
    return _evaluate_image(real, samples, *options)


def _present(rows: Sequence[dict[str, object]], columns: Sequence[str] = COLUMNS) -> list[str]:
    """The ``columns`` that the rows hold, in that order."""
    return [c for c in columns if any(c in r for r in rows)]


def _format(value: object) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown_table(
    rows: Sequence[dict[str, object]],
    columns: Sequence[str] = COLUMNS,
    *,
    means: bool = True,
    legend: bool = True,
) -> str:
    """A markdown table of result rows (as :func:`evaluate_folders` returns them), with a last
    row of means over the images and a legend.

    Parameters
    ----------
    rows : sequence of dict
        One dict per table row; a missing or None value shows as "—".
    columns : sequence of str
        The columns, in order; those no row holds are left out. With ``means``, the first two
        are labels (image, samples) and the others are averaged.
    means, legend : bool
        Add the row of means; add :data:`LEGEND` below the table.

    Examples
    --------
    >>> print(markdown_table([{"image": "a", "samples": 2, "sifid": 0.5},
    ...                       {"image": "b", "samples": 2, "sifid": 0.25}]).splitlines()[2:4])
    ['| a | 2 | 0.5 |', '| b | 2 | 0.25 |']
    >>> print(markdown_table([{"run": "x", "seconds": 2.0}], ["run", "seconds"],
    ...                      means=False, legend=False), end="")
    | run | seconds |
    |---|---|
    | x | 2 |
    """
    cols = _present(rows, columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_format(r.get(c)) for c in cols) + " |" for r in rows]
    if means:
        averages = []
        for c in cols[2:]:
            values = [r[c] for r in rows if r.get(c) is not None]
            averages.append(_format(_mean(values) if values else None))
        lines.append("| **mean** |  | " + " | ".join(averages) + " |")
    return "\n".join(lines) + ("\n\n" + LEGEND if legend else "") + "\n"


def _csv_text(rows: Sequence[dict[str, object]]) -> str:
    """One line per image; empty cells where a measure does not apply."""
    cols = _present(rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, cols, lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: "" if r.get(c) is None else r[c] for c in cols} for r in rows)
    return out.getvalue()


def _write_text(text: str, path: Path) -> None:
    """Write atomically: a temporary file beside ``path``, renamed into place."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def histogram_plot(
    values: torch.Tensor | np.ndarray,
    title: str = "",
    xlabel: str = "MSE to the nearest source patch",
    bins: int = 50,
    size: tuple[int, int] = (640, 400),
) -> Image.Image:
    """A bar chart of the histogram of ``values`` (fraction per bin over ``[0, max]``), drawn
    with Pillow; for the nearest-neighbour distances of output patches (GPNN, Fig. 10).

    Examples
    --------
    >>> histogram_plot(np.random.default_rng(0).random(1000), "test").size
    (640, 400)
    """
    v = np.asarray(values.cpu() if isinstance(values, torch.Tensor) else values, np.float64)
    top = float(v.max()) if v.size and v.max() > 0 else 1.0  # all zero: an exact copy
    counts, _ = np.histogram(v, bins=bins, range=(0.0, top))
    frac = counts / max(v.size, 1)
    w, h = size
    left, right, upper, lower = 60, 30, 30, 50  # margins for labels
    im = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default()
    plot_w, plot_h = w - left - right, h - upper - lower
    ymax = float(frac.max()) or 1.0
    for i, f in enumerate(frac):
        x0 = left + plot_w * i / bins
        x1 = left + plot_w * (i + 1) / bins
        draw.rectangle([x0, h - lower - plot_h * f / ymax, x1 - 1, h - lower], fill=(70, 110, 180))
    draw.line([(left, upper), (left, h - lower), (w - right, h - lower)], fill="black")
    for t in (0.0, 0.5, 1.0):
        x, y = left + plot_w * t, h - lower - plot_h * t
        draw.line([(x, h - lower), (x, h - lower + 4)], fill="black")
        draw.text((x, h - lower + 6), f"{top * t:.3g}", fill="black", font=font, anchor="ma")
        draw.line([(left - 4, y), (left, y)], fill="black")
        draw.text((left - 6, y), f"{ymax * t:.2g}", fill="black", font=font, anchor="rm")
    draw.text((left + plot_w / 2, h - 8), xlabel, fill="black", font=font, anchor="md")
    draw.text((left + plot_w / 2, 8), title, fill="black", font=font, anchor="ma")
    draw.text((8, upper - 16), "fraction", fill="black", font=font)
    return im


def check_metrics(
    metrics: Sequence[str] | None, cache_dir: str | os.PathLike | None = None
) -> list[str]:
    """The metrics to measure (default: all of :data:`METRICS`), checked before any work: the
    names are known and the weights they need are set up.

    Raises
    ------
    InputError
        For an unknown metric, or weights that are not set up (the message says to run
        ``dropgan setup-metrics``).

    Examples
    --------
    >>> check_metrics(["coherence", "diversity"])
    ['coherence', 'diversity']
    """
    metrics = list(METRICS if metrics is None else metrics)
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise InputError(f"unknown metrics {', '.join(unknown)}; choose from {', '.join(METRICS)}")
    for m in metrics:
        if m in _ASSET_OF:
            load_asset(_ASSET_OF[m], cache_dir)
    return metrics


def evaluate_folders(
    real_dir: str | os.PathLike,
    fake_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    patch_size: int = 7,
    metrics: Sequence[str] | None = None,
    max_queries: int | None = 10_000,
    cache_dir: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = False,
    *,
    search: str = "patchmatch",
    workers: int | None = 1,
    threads_per_worker: int | None = None,
    pool: WorkerPool | None = None,
) -> list[dict[str, object]]:
    """Measure every real image's samples: SIFID, NIQE, coherence, completeness, diversity.

    Parameters
    ----------
    real_dir, fake_dir : path
        The real images and the generated samples, paired by name (see :func:`pair_samples`).
    out_dir : path, optional
        Where to write ``results.md`` (:func:`markdown_table`), ``results.csv`` (one row per
        image) and, with coherence, ``<stem>_nn_hist.png``: the histogram of the distances
        of the samples' patches to their nearest real patch. Created if missing.
    patch_size : int
        Patch size of coherence and completeness.
    metrics : sequence of str, optional
        A subset of :data:`METRICS` (default: all). SIFID, NIQE and LPIPS need the files of
        :func:`~dropgan.metrics.setup_metrics`; coherence, completeness and diversity do not.
    max_queries : int or None
        With ``search="exact"``, coherence and completeness average over at most this many
        patches per image, a fixed random subset (None: all; exact but slow on large
        images). Not used by PatchMatch, which covers every patch.
    cache_dir : path, optional
        Where :func:`~dropgan.metrics.setup_metrics` put the weights.
    force : bool
        Replace existing result files in ``out_dir``.
    progress : bool
        Show a progress bar over the images.
    search : str
        How coherence and completeness find nearest patches: ``"patchmatch"`` (default,
        about 1 s per 250 px image pair and direction on one core, within a few percent of
        exhaustive search; see :mod:`dropgan.metrics.patch_stats`) or ``"exact"``.
    workers, threads_per_worker : int, optional
        Evaluate the images on this many worker processes with this many torch threads each
        (the pool of ``dropgan batch``, :class:`~dropgan.batch.pool.WorkerPool`); 1 (the
        default) evaluates in this process, None uses every core.
    pool : WorkerPool, optional
        A pool to evaluate on (and keep for other work), instead of ``workers``.

    Returns
    -------
    list of dict
        One row per real image: ``image`` (stem), ``samples`` (count) and one value per
        column of :data:`COLUMNS` measured; a value is None where the measure does not apply
        (see :data:`LEGEND`). SIFID, NIQE, coherence and completeness are means over the
        samples; diversity and lpips are computed across them.

    Raises
    ------
    InputError
        For an unknown metric, unpaired folders, or weights that are not set up (before any
        computation, with a message saying to run ``dropgan setup-metrics``).
    OutputError
        When a result file exists and ``force`` is not set.

    Examples
    --------
    >>> rows = evaluate_folders("real", "fake", "results")  # doctest: +SKIP
    >>> print(markdown_table(rows))  # doctest: +SKIP
    """
    metrics = check_metrics(metrics, cache_dir)  # fail now, not after minutes of work
    if search not in SEARCHES:
        raise InputError(f"unknown search {search!r} (choose from {', '.join(SEARCHES)})")
    n_workers, threads = choose_workers(workers, threads_per_worker)
    pairs = pair_samples(real_dir, fake_dir)
    outputs: list[Path] = []
    if out_dir is not None:
        out = Path(out_dir)
        outputs = [out / "results.md", out / "results.csv"]
        if "coherence" in metrics:
            outputs += [out / f"{real.stem}_nn_hist.png" for real in pairs]
        existing = [p.name for p in outputs if p.exists()]
        if existing and not force:
            raise OutputError(f"{out} holds {', '.join(existing)} (use --force to overwrite)")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create {out}: {e.strerror}") from None
    options = (metrics, patch_size, max_queries, cache_dir, search)
    items = [(real, samples, *options) for real, samples in pairs.items()]
    found: dict[Path, tuple[dict, torch.Tensor | None]] = {}
    with contextlib.ExitStack() as stack:
        if pool is None:  # one worker works in this process: no process to start
            pool = stack.enter_context(WorkerPool(0 if n_workers == 1 else n_workers, threads))
        bar = stack.enter_context(tqdm(total=len(items), disable=not progress, unit="image"))
        for item, outcome, _ in pool.map_unordered(_evaluate_files, items, catch=False):
            found[item[0]] = outcome
            bar.update(1)
    rows: list[dict[str, object]] = []
    for real_path, sample_paths in pairs.items():
        values, distances = found[real_path]
        rows.append({"image": real_path.stem, "samples": len(sample_paths), **values})
        if out_dir is not None and distances is not None:
            title = f"{real_path.stem}: {len(sample_paths)} sample(s), {len(distances)} patches"
            plot = histogram_plot(distances, title)
            write_image(plot, Path(out_dir) / f"{real_path.stem}_nn_hist.png", force=force)
    if out_dir is not None:
        _write_text(markdown_table(rows), outputs[0])
        _write_text(_csv_text(rows), outputs[1])
    return rows
