"""GPNN: generative patch nearest neighbours (Granot et al., "Drop the GAN", CVPR 2022).

The engine knows nothing of tasks: it receives source pyramids, an initial guess at the
coarsest level and the output size at every level, and refines the guess coarse to fine with
PNN steps. It knows nothing of search either: a :class:`~dropgan.search.NearestNeighbourSearch`
answers every nearest-neighbour question.

Keys at a finer level (``keys``): the paper (§2.2) and the authors' code keep the blurry keys
(the coarser source level upscaled) for all T steps of the level (``keys="blurred"``). Our
default ``keys="sharp"`` is our own variant: the first step matches the blurry upscaled query
against blurry keys, the later steps match the now sharp output against the sharp source
(K = V). The distance is the mean squared error over the ``3 p^2`` values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch

from ..errors import InputError
from ..params import MAX_ITERS, check_count, finite_positive, is_int, is_real, parse_bytes
from ..patches import (
    PatchTable,
    extract_patches,
    fold_indexed,
    fold_weights,
    gaussian_window,
    grid_shape,
    valid_patches,
)
from ..progress import Progress
from ..pyramid import resize
from ..search import BACKENDS, NearestNeighbourSearch, PatchLayout, default_backend, make_backend
from .base import Engine, Problem, Run, Source

__all__ = ["GPNN", "GPNNParams", "pnn_step", "synthesize"]


#: The key schemes of a finer level's steps after the first (see :class:`GPNNParams`).
KEY_SCHEMES = ("sharp", "blurred")


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class GPNNParams:
    """The method's parameters, with the GPNN authors' defaults for random generation.

    Attributes
    ----------
    patch_size : int
        Side p of the square patches (odd, >= 3). Default 7.
    ratio : float
        Pyramid downscaling factor r per level, 0 < r < 1. Default 0.75.
    alpha : float
        Completeness knob of the normalised score; ``math.inf`` is plain MSE. Default inf.
    iters : int
        PNN steps T per level. Default 10.
    coarsest_iters : int
        PNN steps at the coarsest level. Default 1 (the authors' value for generation); 0
        keeps the initial guess there as it is.
    keys : {"sharp", "blurred"}
        Keys of the steps after the first at a finer level: the sharp source level (ours,
        default) or the coarser level upscaled, as in the first step (the paper's and the
        authors' code).
    blend_sigma : float or None
        Standard deviation, in pixels, of the Gaussian weights that average overlapping
        patches; ``None`` for uniform weights. Default 7.0: wide, nearly uniform.
    nn : str or None
        Search backend (:data:`dropgan.search.BACKENDS`); None for the device's default:
        exact search on a GPU, PatchMatch on a CPU.
    memory_budget : int or None
        Bytes for the exact search's distance tiles; None for 1 GiB.
    """

    patch_size: int = field(default=7, metadata=_help("patch side p, odd"))
    ratio: float = field(default=0.75, metadata=_help("pyramid downscaling factor r"))
    alpha: float = field(default=math.inf, metadata=_help("completeness knob; inf = plain MSE"))
    iters: int = field(default=10, metadata=_help("PNN steps per level"))
    coarsest_iters: int = field(
        default=1, metadata=_help("PNN steps at the coarsest level; 0 keeps the initial guess")
    )
    keys: str = field(
        default="sharp",
        metadata=_help(
            "keys after a level's first step: sharp (ours) or blurred (the paper's and the "
            "authors')"
        ),
    )
    blend_sigma: float | None = field(
        default=7.0, metadata=_help("Gaussian weight of overlapping patches, px")
    )
    nn: str | None = field(
        default=None,
        metadata={
            **_help(f"nearest-neighbour backend: {', '.join(BACKENDS)}"),
            "default_text": "exact on a GPU, patchmatch on a CPU",
        },
    )
    memory_budget: int | None = field(
        default=None,
        metadata={
            **_help("bytes for exact search tiles, e.g. 512M"),
            "default_text": "1G",
            "cli_type": str,  # "512M" is parsed, and checked, by the dataclass
        },
    )

    def __post_init__(self) -> None:
        p = self.patch_size
        if not is_int(p) or p < 3 or p % 2 == 0:
            raise InputError(f"patch size must be an odd integer >= 3, got {p!r}")
        if not (is_real(self.ratio) and 0.0 < self.ratio < 1.0):
            raise InputError(f"pyramid ratio must be between 0 and 1, got {self.ratio!r}")
        finite_positive("alpha", self.alpha, allow_inf=True)
        check_count("iters", self.iters, 1, MAX_ITERS)
        check_count("coarsest_iters", self.coarsest_iters, 0, MAX_ITERS)
        if self.keys not in KEY_SCHEMES:
            raise InputError(f"keys must be one of {', '.join(KEY_SCHEMES)}, got {self.keys!r}")
        if self.blend_sigma is not None:
            finite_positive("blend sigma", self.blend_sigma)
        if self.nn is not None and self.nn not in BACKENDS:
            raise InputError(
                f"unknown nearest-neighbour backend {self.nn!r} (choose from {', '.join(BACKENDS)})"
            )
        if self.memory_budget is not None:
            budget = parse_bytes(self.memory_budget)
            if budget < 1 << 20:
                raise InputError(f"memory budget must be at least 1 MiB, got {budget} bytes")
            object.__setattr__(self, "memory_budget", budget)


def pnn_step(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: PatchTable,
    window: torch.Tensor,
    weights: torch.Tensor,
    search: NearestNeighbourSearch,
    alpha: float,
    layout: PatchLayout,
    patch_size: int,
    valid_keys: torch.Tensor | None = None,
) -> torch.Tensor:
    """One PNN step: replace every patch of ``queries`` (B, 3, h, w) by the value patch of
    its best key, then fold the patches back into images.

    ``keys`` is the ``(m, 3 p^2)`` patch matrix; ``values`` holds the value patches in the
    same order, in place (:class:`~dropgan.patches.PatchTable`). Overlapping patches are
    averaged with the ``window`` weights; ``weights`` is
    :func:`~dropgan.patches.fold_weights` of the query size, computed once per level.

    Examples
    --------
    >>> from dropgan.search import ExactSearch
    >>> x, win = torch.rand(1, 3, 12, 12), gaussian_window(5, 2.0)
    >>> y = pnn_step(x, extract_patches(x, 5)[0], PatchTable.of([x[0]], 5), win,
    ...              fold_weights((12, 12), 5, win), ExactSearch(), math.inf,
    ...              PatchLayout((8, 8), ((8, 8),)), 5)
    >>> torch.allclose(x, y, atol=1e-6)
    True
    """
    size = tuple(queries.shape[-2:])
    idx = search.search(extract_patches(queries, patch_size), keys, alpha, layout, valid_keys)
    return torch.stack([fold_indexed(values, i, size, patch_size, window, weights) for i in idx])


def _level_patches(
    sources: Sequence[Source], n: int, patch_size: int, size_of: int | None = None
) -> torch.Tensor:
    """Patches of every source at level n, concatenated; with ``size_of``, of level ``size_of``
    upscaled to level n's size (blurry keys)."""
    out = []
    for s in sources:
        img = s.levels[n] if size_of is None else resize(s.levels[size_of], s.levels[n].shape[-2:])
        out.append(extract_patches(img[None], patch_size)[0])
    return torch.cat(out)


def _valid_keys(sources: Sequence[Source], n: int, patch_size: int) -> torch.Tensor | None:
    if all(s.masks is None for s in sources):
        return None
    parts = []
    for s in sources:
        h, w = s.levels[n].shape[-2:]
        mask = s.masks[n] if s.masks is not None else torch.zeros(h, w, dtype=torch.bool)
        parts.append(valid_patches(mask.to(s.levels[n].device), patch_size))
    valid = torch.cat(parts)
    if not valid.any():
        raise InputError("the mask covers every patch of the source; nothing is left to copy")
    return valid


def _step_cost(search: NearestNeighbourSearch, layout: PatchLayout, batch: int) -> float:
    """Rough time of one PNN step in microseconds on one core, so that the progress bar's
    rate predicts the time left: the search's, plus extracting and folding the patches
    (about 1.3 us per query patch) and a fixed 1.5 ms per step (measured at 512 px)."""
    return search.cost(layout, batch) + 1.3 * batch * layout.query_count + 1500


def synthesize(
    sources: Sequence[Source],
    initial: torch.Tensor,
    out_sizes: Sequence[tuple[int, int]],
    params: GPNNParams,
    search: NearestNeighbourSearch,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Refine ``initial`` coarse to fine into images with the patches of ``sources``.

    Parameters
    ----------
    sources : sequence of Source
        Each with N + 1 levels, finest first; keys and values come from all of them.
    initial : Tensor, (B, 3, h, w)
        The initial guess at the coarsest level (resized to ``out_sizes[-1]`` if needed).
    out_sizes : sequence of (h, w)
        Output size at each of the N + 1 levels, finest first.
    params : GPNNParams
    search : NearestNeighbourSearch
        A fresh backend for this run.
    progress : Progress, optional
        Told of every PNN step, weighted by its estimated time
        (:meth:`~dropgan.search.NearestNeighbourSearch.cost`); its callback may raise to
        cancel the run between two steps.

    Returns
    -------
    Tensor, (B, 3, H, W), values in [0, 1]
    """
    progress = progress or Progress()
    depth = len(out_sizes) - 1
    p = params.patch_size
    window = gaussian_window(p, params.blend_sigma).to(initial.device)
    key_shapes = [
        tuple(grid_shape(tuple(s.levels[n].shape[-2:]), p) for s in sources)
        for n in range(depth + 1)
    ]
    steps = [params.coarsest_iters if n == depth else params.iters for n in range(depth + 1)]
    layouts = [PatchLayout(grid_shape(out_sizes[n], p), key_shapes[n]) for n in range(depth + 1)]
    work = [_step_cost(search, layout, len(initial)) for layout in layouts]
    progress.begin(sum(w * t for w, t in zip(work, steps, strict=True)))
    y = initial
    for n in range(depth, -1, -1):
        stage = f"level {depth - n + 1}/{depth + 1}"
        y = resize(y, out_sizes[n])
        values = PatchTable.of([s.levels[n] for s in sources], p)
        weights = fold_weights(out_sizes[n], p, window)
        valid = _valid_keys(sources, n, p)
        keys = _level_patches(sources, n, p, size_of=None if n == depth else n + 1)
        for t in range(steps[n]):
            y = pnn_step(
                y, keys, values, window, weights, search, params.alpha, layouts[n], p, valid
            )
            if t == 0 and n != depth and steps[n] > 1 and params.keys == "sharp":
                # blurry keys serve the blurry first query only; then K = V
                keys = _level_patches(sources, n, p)
            progress.advance(work[n], stage)
    return y.clamp(0.0, 1.0)


class GPNN(Engine):
    """GPNN as an engine: every task, from the task's initial guess (random generation:
    the source's coarsest level), with its search backend chosen per device."""

    name = "gpnn"
    summary = "patch nearest neighbours (Drop the GAN), no training"
    params_type = GPNNParams
    tasks = frozenset({"generate", "retarget", "analogy", "inpaint", "collage", "edit"})
    #: The paper's recipe per task where it differs from generation's (paper §4, the
    #: authors' code): a small alpha where nothing of the source may be lost, r = 0.8 and
    #: 10 steps at the coarsest level for retargeting and collage.
    task_defaults = {
        "retarget": {"alpha": 5e-3, "ratio": 0.8, "coarsest_iters": 10},
        "collage": {"alpha": 5e-3, "ratio": 0.8, "coarsest_iters": 10},
        "analogy": {"alpha": 5e-3},
    }

    def resolve(self, params: GPNNParams, device: torch.device) -> GPNNParams:
        return replace(params, nn=params.nn or default_backend(device))

    def synthesize(self, problem: Problem, params: GPNNParams, run: Run) -> torch.Tensor:
        params = self.resolve(params, run.device)
        options = {"seed": run.seed, "memory_budget": params.memory_budget}
        search = make_backend(params.nn, **options)
        start = problem.sources[0].levels[-1] if problem.initial is None else problem.initial
        start = resize(start[None].to(run.device), problem.out_sizes[-1])
        if problem.noise is not None:
            start = start + problem.noise.to(start)
        sources = [_on(s, run.device) for s in problem.sources]
        return synthesize(sources, start, problem.out_sizes, params, search, run.progress)[0]


def _on(source: Source, device: torch.device) -> Source:
    masks = None if source.masks is None else [m.to(device) for m in source.masks]
    return Source([lvl.to(device) for lvl in source.levels], masks)
