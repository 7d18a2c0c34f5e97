"""GPNN: generative patch nearest neighbours (Granot et al., "Drop the GAN", CVPR 2022).

The engine knows nothing of tasks: it receives source pyramids, an initial guess at the
coarsest level and the output size at every level, and refines the guess coarse to fine with
PNN steps. It knows nothing of search either: a :class:`~dropgan.search.NearestNeighbourSearch`
answers every nearest-neighbour question.

Two recipes (``recipe``). Checked against the authors' code, WeizmannVision/DropTheGAN at
2e11285: ``gpnn.py`` (``gpnn``, ``pnn``, ``make_pyramid``, the distance), ``fold.py`` (the
fold weights), ``resize_right.py`` (the resize), ``applications.py`` and ``main.py`` (the
per-task settings).

* ``"authors"`` reproduces that code. Keys at a finer level are the coarser source level
  upscaled (``keys="blurred"``) for all T steps of the level, as in the paper (§2.2); the
  distance is ``torch.cdist(q, k) ** 2 / d``, the mean squared error; overlapping patches are
  averaged with Gaussian weights of standard deviation 1.7 on a patch spanning [-1, 1], i.e.
  ``1.7 (p - 1) / 2`` = 5.1 px for p = 7 (``fold2d(reduce="weighted_mean", std=1.7)``);
  level n is ``ceil(H r^n)`` high, resized from level n - 1 (not from the full image) with
  ResizeRight's antialiased cubic (:func:`~dropgan.pyramid.resize_right`), which also
  upscales the keys and the output between levels; the depth is fixed per task (9
  downscalings for generation, 8 with r = 0.8 for retargeting, 5 for analogy, editing and
  inpainting: :data:`AUTHORS_TASKS`).
* ``"dropgan"`` (default) is ours. Keys: the first step of a finer level matches the
  blurry upscaled query against the blurry keys, the later steps match the now sharp output
  against the sharp source (K = V, ``keys="sharp"``). Fold weights: 7 px. Every level is
  resized from the full image with torch's antialiased bicubic (the same kernel; the sizes'
  ratio maps coordinates and a cut kernel is renormalised at the borders), and the depth
  follows the task's rule (:mod:`dropgan.pyramid`).

``keys`` and ``blend_sigma`` default to the recipe's and may be set on their own, e.g.
``recipe="authors", keys="sharp"`` to measure our key scheme alone. With either recipe the
noise is drawn per pixel and channel (``torch.randn_like`` in their ``applications.py``)
by the task, and the search backend is the user's choice: the authors' code searches
exactly (``nn="exact"``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields

import torch

from ..errors import InputError
from ..heap import fix_mmap_threshold
from ..params import (
    MAX_ITERS,
    check_count,
    field_help,
    finite_positive,
    is_int,
    is_real,
    parse_bytes,
)
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
from ..pyramid import authors_level_sizes, authors_pyramid, resize, resize_right
from ..search import BACKENDS, NearestNeighbourSearch, PatchLayout, default_backend, make_backend
from .base import Engine, Problem, Run, Source

__all__ = [
    "AUTHORS_TASKS",
    "GPNN",
    "AuthorsTaskParams",
    "GPNNParams",
    "authors_blend_sigma",
    "pnn_step",
    "synthesize",
]


#: The key schemes of a finer level's steps after the first (see :class:`GPNNParams`).
KEY_SCHEMES = ("sharp", "blurred")
#: ``"dropgan"``: ours; ``"authors"``: the GPNN authors' code (see the module notes).
RECIPES = ("dropgan", "authors")
#: Our fold weights' standard deviation, px.
DROPGAN_BLEND_SIGMA = 7.0

#: Per task, what the authors' code runs (``main.py`` defaults, which call ``applications.py``
#: with 10 steps per level): pyramid ratio, alpha, steps at the coarsest level and the number
#: of downscalings. Retargeting: their ``main.py`` (their ``applications.retargeting`` alone
#: defaults to alpha 1e-3 and 9 levels); collage is not in their code and takes
#: retargeting's; inpainting: ``applications.conditional_inpainting`` (their ``main.py``
#: passes the mask to ``applications.editing`` as if it were the edited image).
AUTHORS_TASKS: dict[str, dict[str, float | int]] = {
    "generate": {"ratio": 0.75, "alpha": math.inf, "coarsest_iters": 1, "levels": 9},
    "retarget": {"ratio": 0.8, "alpha": 5e-3, "coarsest_iters": 10, "levels": 8},
    "collage": {"ratio": 0.8, "alpha": 5e-3, "coarsest_iters": 10, "levels": 8},
    "analogy": {"ratio": 0.75, "alpha": 5e-3, "coarsest_iters": 1, "levels": 5},
    "edit": {"ratio": 0.75, "alpha": math.inf, "coarsest_iters": 1, "levels": 5},
    "inpaint": {"ratio": 0.75, "alpha": math.inf, "coarsest_iters": 1, "levels": 5},
}


def authors_blend_sigma(patch_size: int) -> float:
    """The authors' fold weights as a standard deviation in pixels: ``fold2d`` in their
    ``fold.py`` weighs a patch's pixels by a Gaussian of std 1.7 over ``linspace(-1, 1, p)``,
    i.e. ``1.7 (p - 1) / 2`` px.

    Examples
    --------
    >>> round(authors_blend_sigma(7), 3)
    5.1
    """
    return 1.7 * (patch_size - 1) / 2


@dataclass(frozen=True)
class GPNNParams:
    """The method's parameters, with the defaults for random generation.

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
    recipe : {"dropgan", "authors"}
        Ours (default) or the authors' code's: key scheme, fold weights, pyramid, resize and,
        through :class:`GPNN`, per-task level count, ratio, alpha and coarsest steps (see
        the module notes and :data:`AUTHORS_TASKS`).
    keys : {"sharp", "blurred"} or None
        Keys of the steps after the first at a finer level: the sharp source level (ours)
        or the coarser level upscaled, as in the first step (the paper's and the authors'
        code). None: the recipe's (dropgan: sharp, authors: blurred).
    blend_sigma : float or None
        Standard deviation, in pixels, of the Gaussian weights that average overlapping
        patches; ``math.inf`` for uniform weights. None: the recipe's (dropgan: 7.0;
        authors: :func:`authors_blend_sigma`, 5.1 for p = 7); both are wide, nearly
        uniform.
    nn : str or None
        Search backend (:data:`dropgan.search.BACKENDS`); None for the device's default:
        exact search on a GPU, PatchMatch on a CPU.
    memory_budget : int or None
        Bytes for the exact search's distance tiles; None for 1 GiB. Given, it also fixes
        the C library's mmap threshold (:func:`dropgan.heap.fix_mmap_threshold`), so that
        freed temporaries leave the process: a 1024 x 768 generation with PatchMatch then
        peaks at 1.09 GiB.

    Examples
    --------
    >>> GPNNParams().keys, GPNNParams().blend_sigma
    ('sharp', 7.0)
    >>> p = GPNNParams(recipe="authors")
    >>> p.keys, round(p.blend_sigma, 3)
    ('blurred', 5.1)
    >>> GPNNParams(recipe="authors", keys="sharp").keys  # one ingredient changed
    'sharp'
    """

    patch_size: int = field(default=7, metadata=field_help("patch side p, odd"))
    ratio: float = field(default=0.75, metadata=field_help("pyramid downscaling factor r"))
    alpha: float = field(
        default=math.inf, metadata=field_help("completeness knob; inf = plain MSE")
    )
    iters: int = field(default=10, metadata=field_help("PNN steps per level"))
    coarsest_iters: int = field(
        default=1, metadata=field_help("PNN steps at the coarsest level; 0 keeps the initial guess")
    )
    recipe: str = field(
        default="dropgan",
        metadata={
            **field_help(
                "dropgan (ours) or authors (the DropTheGAN code: blurred keys, its pyramid, "
                "resize, fold weights and level count)"
            ),
            "choices": RECIPES,
        },
    )
    keys: str | None = field(
        default=None,
        metadata={
            **field_help(
                "keys after a level's first step: sharp (ours) or blurred (the paper's and "
                "the authors')"
            ),
            "default_text": "the recipe's: sharp for dropgan, blurred for authors",
        },
    )
    blend_sigma: float | None = field(
        default=None,
        metadata={
            **field_help("Gaussian weight of overlapping patches, px; inf for uniform"),
            "default_text": "the recipe's: 7 for dropgan, 5.1 for authors",
        },
    )
    nn: str | None = field(
        default=None,
        metadata={
            **field_help(f"nearest-neighbour backend: {', '.join(BACKENDS)}"),
            "default_text": "exact on a GPU, patchmatch on a CPU",
        },
    )
    memory_budget: int | None = field(
        default=None,
        metadata={
            **field_help(
                "bytes for exact search tiles, e.g. 512M; given, freed memory also leaves the "
                "process at once"
            ),
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
        if self.recipe not in RECIPES:
            raise InputError(f"recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")
        authors = self.recipe == "authors"
        if self.keys is None:  # the recipe's; stored resolved, so metadata records it
            object.__setattr__(self, "keys", "blurred" if authors else "sharp")
        if self.keys not in KEY_SCHEMES:
            raise InputError(f"keys must be one of {', '.join(KEY_SCHEMES)}, got {self.keys!r}")
        if self.blend_sigma is None:
            sigma = authors_blend_sigma(p) if authors else DROPGAN_BLEND_SIGMA
            object.__setattr__(self, "blend_sigma", sigma)
        finite_positive("blend sigma", self.blend_sigma, allow_inf=True)
        if self.nn is not None and self.nn not in BACKENDS:
            raise InputError(
                f"unknown nearest-neighbour backend {self.nn!r} (choose from {', '.join(BACKENDS)})"
            )
        if self.memory_budget is not None:
            budget = parse_bytes(self.memory_budget)
            if budget < 1 << 20:
                raise InputError(f"memory budget must be at least 1 MiB, got {budget} bytes")
            object.__setattr__(self, "memory_budget", budget)


@dataclass(frozen=True)
class AuthorsTaskParams(GPNNParams):
    """:class:`GPNNParams` of the authors' recipe for one task, as :meth:`GPNN.params` makes
    them: the authors' values for the task (:data:`AUTHORS_TASKS`) under the user's, plus
    the number of downscalings their code uses for it, which :meth:`GPNN.depth` returns."""

    authors_levels: int = field(
        default=9, metadata=field_help("downscalings N of the authors' code for this task")
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_count("authors_levels", self.authors_levels, 0, MAX_ITERS)


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
    if search.reads_rows:
        rows = [PatchTable.of([q], patch_size) for q in queries]
    else:
        rows = extract_patches(queries, patch_size)
    idx = search.search(rows, keys, alpha, layout, valid_keys)
    return torch.stack([fold_indexed(values, i, size, patch_size, window, weights) for i in idx])


def _blurry_keys(
    sources: Sequence[Source],
    n: int,
    patch_size: int,
    upscale: Callable[[torch.Tensor, Sequence[int]], torch.Tensor],
) -> torch.Tensor:
    """The contiguous patch matrix of every source's level n + 1 upscaled by ``upscale`` to
    level n's size, concatenated: the keys as blurry as the upscaled output."""
    images = [upscale(s.levels[n + 1], s.levels[n].shape[-2:]) for s in sources]
    return PatchTable.of(images, patch_size).matrix()


def _upscaler(params: GPNNParams) -> Callable[[torch.Tensor, Sequence[int]], torch.Tensor]:
    """How the recipe resizes from one level to the next finer one."""
    if params.recipe == "authors":  # resize_right with the nominal factor 1 / r, as theirs
        return functools.partial(resize_right, scale=1.0 / params.ratio)
    return resize


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
        With ``recipe="authors"`` the blurry keys and the output between levels are
        upscaled with :func:`~dropgan.pyramid.resize_right`; the sources should then be
        :func:`~dropgan.pyramid.authors_pyramid`'s (:class:`GPNN` builds them so).
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
    upscale = _upscaler(params)
    y = resize(initial, out_sizes[depth])
    for n in range(depth, -1, -1):
        stage = f"level {depth - n + 1}/{depth + 1}"
        if n != depth:
            y = upscale(y, out_sizes[n])
        values = PatchTable.of([s.levels[n] for s in sources], p)
        weights = fold_weights(out_sizes[n], p, window)
        valid = _valid_keys(sources, n, p)
        keys = None  # the last level's keys go before this level's are made
        keys = values.matrix() if n == depth else _blurry_keys(sources, n, p, upscale)
        for t in range(steps[n]):
            y = pnn_step(
                y, keys, values, window, weights, search, params.alpha, layouts[n], p, valid
            )
            if t == 0 and n != depth and steps[n] > 1 and params.keys == "sharp":
                # ours: blurry keys serve the blurry first query only; then K = V
                keys = None
                keys = values.matrix()
            progress.advance(work[n], stage)
    return y.clamp(0.0, 1.0)


class GPNN(Engine):
    """GPNN as an engine: every task, from the task's initial guess (random generation:
    the source's coarsest level), with its search backend chosen per device; with
    ``recipe="authors"``, the authors' per-task settings, depth, level sizes and pyramid."""

    name = "gpnn"
    summary = "patch nearest neighbours (Drop the GAN), no training"
    params_type = GPNNParams
    tasks = frozenset(
        {
            "generate",
            "retarget",
            "analogy",
            "inpaint",
            "collage",
            "edit",
            "superres",
            "denoise",
            "harmonize",
            "paint2image",
            "animate",
        }
    )
    #: Our recipe per task where it differs from generation's (paper §4, the authors'
    #: ``main.py``): a small alpha where nothing of the source may be lost, r = 0.8 and
    #: 10 steps at the coarsest level for retargeting and collage; for the restoration
    #: tasks (ours, measured in docs/restoration.md) one step of 5x5 patches per x1.25 step
    #: of super-resolution against blurry keys, 3x3 patches for denoising, the naive
    #: composite kept at the coarsest level of harmonization.
    task_defaults = {
        "retarget": {"alpha": 5e-3, "ratio": 0.8, "coarsest_iters": 10},
        "collage": {"alpha": 5e-3, "ratio": 0.8, "coarsest_iters": 10},
        "analogy": {"alpha": 5e-3},
        "superres": {
            "patch_size": 5,
            "ratio": 0.8,
            "iters": 1,
            "coarsest_iters": 0,
            "keys": "blurred",
        },
        "denoise": {"patch_size": 3},
        "harmonize": {"coarsest_iters": 0},
        "paint2image": {"alpha": 5e-3},
    }

    def params(self, task: str, options: Mapping[str, object]) -> GPNNParams:
        """As :meth:`Engine.params`; with ``recipe="authors"``, the user's options over the
        authors' values for ``task`` (:data:`AUTHORS_TASKS`), as :class:`AuthorsTaskParams`.

        Examples
        --------
        >>> p = GPNN().params("inpaint", {"recipe": "authors"})
        >>> p.keys, p.authors_levels
        ('blurred', 5)
        """
        params = super().params(task, options)
        if params.recipe != "authors":
            return params
        if task not in AUTHORS_TASKS:
            raise InputError(f"the GPNN authors' code has no {task}; use the dropgan recipe")
        authors = dict(AUTHORS_TASKS[task])
        levels = authors.pop("levels")
        given = {k: v for k, v in options.items() if v is not None}
        return AuthorsTaskParams(**{**authors, **given, "authors_levels": levels})

    def depth(
        self,
        params: GPNNParams,
        source_sizes: Sequence[Sequence[int]],
        out_size: Sequence[int],
        task_rule: Callable[[float, int], int],
    ) -> int:
        """The task's rule (dropgan); the authors' fixed count for the task (authors), made
        smaller only where the coarsest level of a source or of the output would not hold a
        patch (their code would fail there)."""
        if params.recipe != "authors":
            return task_rule(params.ratio, params.patch_size)
        depth = getattr(params, "authors_levels", AUTHORS_TASKS["generate"]["levels"])
        sizes = [*source_sizes, out_size]
        while depth > 0 and any(
            min(authors_level_sizes(s, params.ratio, depth)[-1]) < params.patch_size for s in sizes
        ):
            depth -= 1
        return int(depth)

    def level_sizes(
        self, params: GPNNParams, size: Sequence[int], depth: int
    ) -> list[tuple[int, int]]:
        if params.recipe == "authors":
            return authors_level_sizes(size, params.ratio, depth)
        return super().level_sizes(params, size, depth)

    def resolve(self, params: GPNNParams, device: torch.device) -> GPNNParams:
        """The backend filled in; and plain :class:`GPNNParams` (the depth is decided by
        now), so that an output's metadata holds only parameters the API takes back."""
        names = [f.name for f in fields(GPNNParams)]
        values = {name: getattr(params, name) for name in names}
        return GPNNParams(**{**values, "nn": params.nn or default_backend(device)})

    def synthesize(self, problem: Problem, params: GPNNParams, run: Run) -> torch.Tensor:
        params = self.resolve(params, run.device)
        if params.memory_budget is not None:
            fix_mmap_threshold()
        options = {"seed": run.seed, "memory_budget": params.memory_budget}
        search = make_backend(params.nn, **options)
        sources = [_on(s, run.device) for s in problem.sources]
        initial = None if problem.initial is None else problem.initial[None].to(run.device)
        if params.recipe == "authors":
            # their make_pyramid: each level from the one above, by ResizeRight
            sources = [_authors_source(s, params.ratio) for s in sources]
            if initial is not None and tuple(initial.shape[-2:]) == problem.out_sizes[0]:
                initial = authors_pyramid(initial, problem.out_sizes, params.ratio)[-1]
        start = sources[0].levels[-1][None] if initial is None else initial
        start = resize(start, problem.out_sizes[-1])
        if problem.noise is not None:
            start = start + problem.noise.to(start)
        return synthesize(sources, start, problem.out_sizes, params, search, run.progress)[0]


def _authors_source(source: Source, ratio: float) -> Source:
    sizes = [tuple(level.shape[-2:]) for level in source.levels]
    return Source(authors_pyramid(source.levels[0], sizes, ratio), source.masks)


def _on(source: Source, device: torch.device) -> Source:
    masks = None if source.masks is None else [m.to(device) for m in source.masks]
    return Source([lvl.to(device) for lvl in source.levels], masks)
