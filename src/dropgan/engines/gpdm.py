"""GPDM: generative patch distribution matching (Elnekave & Weiss, ECCV 2022).

Coarse to fine, every level of the output is optimised with Adam to minimise the sliced
Wasserstein distance (SWD) between its ``p x p`` patches and the source's patches at that
level: the patches of both images are projected on random unit vectors (a convolution with
the vectors as filters), the two sets of projections are sorted, and the loss is the mean
difference of the sorted values, absolute (``power=1``: the paper's Algorithm 1 and the
authors' code, whose ``PatchSWDLoss`` in ``patch_swd.py`` defaults to ``l2=False``, which
their ``main.py`` keeps) or squared (``power=2``: our fast schedule). The projections are
drawn afresh every step (``reset_projections=True``). The output of a level, upscaled, is
the next level's starting point.

What the authors' code does, checked in ariel415el/GPDM at 27a5bf4 (``GPDM.py``,
``patch_swd.py``, ``utils.py``, ``main.py``), where we differ:

* Units: images are in [0, 1] here, in [-1, 1] there, so their learning rate 0.01
  (``main.py``) is ``lr=0.005`` here: Adam's steps are in pixel units and a constant factor
  on the loss does not change them. (Their ``tests/reproduce_paper_table.py`` uses 0.05.)
* Noise: their ``noise_sigma`` 1.5 (``main.py``; 0.75 in ``tests/reproduce_paper_table.py``)
  is drawn per pixel and channel (``torch.randn_like``) on mid-grey *at the full image
  size*, and the first level's antialiased resize averages it down: at a 19 x 25 coarsest
  level from 188 x 250 its standard deviation is about 0.05 in [0, 1] units (measured).
  Here the task's ``sigma`` (0.75 by default) is added at the coarsest level itself, about
  fifteen times stronger there.
* Patch counts that differ (an output of another size than the source): their
  ``duplicate_to_match_lengths`` (``patch_swd.py``) repeats the smaller set of projections
  whole as often as it fits, then adds random entries of it (``torch.randperm``); here each
  output patch is compared with the source's quantile at its rank, interpolated
  (:func:`resample_sorted`): the same comparison of quantiles, without the random draw.
* Pyramid: their levels are ``int(h * 0.85)`` repeated from the full height until at most
  ``coarse_dim`` = 21 (``get_pyramid_scales`` in ``utils.py``), each the source resized from
  full size by torchvision's ``Resize(antialias=True)``, bilinear, which also upscales the
  output between levels; ours are ``ceil(H * 0.85**n)`` (:func:`gpdm_depth`), resized with
  antialiased bicubic.

Two schedules (:data:`SCHEDULES`). ``schedule="authors"``, the default, is the authors'
code's: 300 steps at every level, 64 projections, absolute differences; about 145 s of one
core for a 250 px SIGD16 sample, most of it sorting. ``schedule="fast"`` takes a seventh of
that (21 s): 32 projections, a learning rate four times higher, squared differences, a level
ends when its loss plateaus (:func:`plateaued`), and every level may spend about the work
of ``finest_steps`` finest-level steps (:func:`level_steps`), so that cheap coarse levels,
where the layout forms, run long and the expensive fine levels short; its samples are less
coherent (docs/results.md). ``benchmarks/bench_keys.py`` measures both on SIGD16.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..params import MAX_ITERS, check_count, field_help, finite_positive, is_real, schedule_help
from ..progress import Progress, ProgressLike, as_progress
from ..pyramid import check_fits, depth_for_coarsest, level_sizes, pyramid, resize
from .base import Engine, Problem, Run

__all__ = [
    "GPDM",
    "GPDMParams",
    "match_pyramid",
    "argsort_last",
    "gpdm",
    "level_steps",
    "match_level",
    "matched_targets",
    "patch_swd",
    "plateaued",
    "project_patches",
    "SCHEDULES",
    "random_projections",
    "resample_sorted",
    "sort_last",
]


def random_projections(
    count: int,
    patch_size: int = 7,
    channels: int = 3,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``count`` random unit vectors of ``channels * p * p`` values, shaped as convolution
    filters ``(count, channels, p, p)``.

    Directions are uniform on the sphere (normalised Gaussian vectors).

    Examples
    --------
    >>> w = random_projections(4, 7, generator=torch.Generator().manual_seed(0))
    >>> tuple(w.shape), torch.allclose(w.flatten(1).norm(dim=1), torch.ones(4))
    ((4, 3, 7, 7), True)
    """
    w = torch.randn(count, channels * patch_size * patch_size, generator=generator)
    w = w / w.norm(dim=1, keepdim=True)
    return w.reshape(count, channels, patch_size, patch_size).to(device)


def project_patches(images: torch.Tensor, projections: torch.Tensor) -> torch.Tensor:
    """Projections of every stride-1 patch of ``(B, C, H, W)`` images on each of the
    ``(K, C, p, p)`` vectors, as ``(B, K, n)`` with the patches in row-major order.

    A convolution computes all the dot products without unfolding the patches.

    Examples
    --------
    >>> project_patches(torch.rand(2, 3, 10, 12), random_projections(5, 7)).shape
    torch.Size([2, 5, 24])
    """
    return F.conv2d(images, projections).flatten(2)


def argsort_last(values: torch.Tensor) -> torch.Tensor:
    """Indices that sort ``values`` along the last dimension, ties in index order.

    On the CPU, sorting is most of the cost of a GPDM step, and ``torch.argsort`` is several
    times slower there than numpy's vectorised sorts. For float32 the values are mapped to
    integers with the same order, packed with their indices into int64 keys and sorted by
    numpy as plain integers: the permutation for less than numpy's own ``argsort`` costs.

    Examples
    --------
    >>> argsort_last(torch.tensor([[0.5, -2.0, 0.0, -0.5]])).tolist()
    [[1, 3, 2, 0]]
    """
    if values.device.type != "cpu" or values.dtype != torch.float32:
        return torch.argsort(values.detach(), dim=-1, stable=True)
    a = values.detach().contiguous().numpy()
    bits = a.view(np.int32)
    # flip the magnitude bits of negative floats: signed integer order = float order
    packed = (bits ^ ((bits >> 31) & 0x7FFFFFFF)).astype(np.int64)
    packed <<= 32  # in place from here on: these arrays are the size of the whole batch
    packed |= np.arange(a.shape[-1], dtype=np.int64)
    _sort_rows_in_place(packed)
    packed &= 0xFFFFFFFF
    return torch.from_numpy(packed)


def sort_last(values: torch.Tensor) -> torch.Tensor:
    """``values`` sorted along the last dimension (numpy's faster sort on the CPU).

    Examples
    --------
    >>> sort_last(torch.tensor([[0.5, -2.0, 0.0]])).tolist()
    [[-2.0, 0.0, 0.5]]
    """
    if values.device.type != "cpu" or values.dtype != torch.float32:
        return torch.sort(values.detach(), dim=-1).values
    out = values.detach().numpy().copy()
    _sort_rows_in_place(out)
    return torch.from_numpy(out)


def _sort_rows_in_place(a: np.ndarray) -> None:
    """Sort ``a`` along its last axis in place, its rows split over torch's thread count:
    numpy sorts on one core, but releases the GIL while it does."""
    rows = a.reshape(-1, a.shape[-1])  # a view: a is contiguous
    parts = min(torch.get_num_threads(), len(rows))
    if parts <= 1:
        rows.sort(axis=-1)
        return
    list(_pool(parts).map(lambda part: part.sort(axis=-1), np.array_split(rows, parts)))


@functools.cache
def _pool(workers: int) -> ThreadPoolExecutor:
    """One pool per size, kept: a GPDM run sorts thousands of times."""
    return ThreadPoolExecutor(workers)


def resample_sorted(values: torch.Tensor, n: int) -> torch.Tensor:
    """Resample sorted values along the last dimension to ``n`` values: the empirical
    quantile function, linearly interpolated, at the ``n`` quantiles ``(i + 0.5) / n``.

    This is how two sorted sets of different sizes are compared; it is differentiable.

    Examples
    --------
    >>> resample_sorted(torch.tensor([0.0, 1.0]), 4).tolist()
    [0.0, 0.25, 0.75, 1.0]
    """
    m = values.shape[-1]
    if m == n:
        return values
    pos = ((torch.arange(n, dtype=torch.float64) + 0.5) * (m / n) - 0.5).clamp(0, m - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=m - 1)
    frac = (pos - lo).to(values.dtype).to(values.device)
    lo, hi = lo.to(values.device), hi.to(values.device)
    return values.index_select(-1, lo) * (1 - frac) + values.index_select(-1, hi) * frac


def matched_targets(ranked: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """For every value of ``ranked`` ``(B, K, n)``, the value of the same rank in
    ``reference`` ``(K, m)``: the reference's quantile at that rank, from its sorted values
    resampled to ``n`` (:func:`resample_sorted`) when ``m != n``.

    Then a loss on ``ranked - matched`` equals the same loss on ``sort(ranked) -
    sort(reference)``, value and gradient, without a differentiable sort: each value is
    pulled towards its match in place. No gradient flows through this function.

    Examples
    --------
    >>> matched_targets(torch.tensor([[[0.3, 0.1, 0.2]]]), torch.tensor([[5.0, 4.0, 6.0]]))
    tensor([[[6., 4., 5.]]])
    """
    with torch.no_grad():
        order = argsort_last(ranked).to(ranked.device)
        target = resample_sorted(sort_last(reference), ranked.shape[-1]).to(ranked.device)
        return torch.empty_like(ranked).scatter_(-1, order, target.expand_as(ranked))


def patch_swd(
    output: torch.Tensor,
    source: torch.Tensor,
    projections: int | torch.Tensor = 64,
    *,
    patch_size: int = 7,
    power: int = 2,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sliced Wasserstein distance between the patches of each output and the source's.

    Parameters
    ----------
    output : Tensor, (B, 3, h, w)
        Differentiable.
    source : Tensor, (3, H, W)
        Constant (no gradient flows to it).
    projections : int or Tensor (K, 3, p, p)
        The projection vectors, or how many random ones to draw (then ``patch_size`` and
        ``generator`` apply). One set serves the whole batch.
    power : {1, 2}
        Absolute or squared differences.

    Returns
    -------
    Tensor, (B,)
        For each sample, the mean over projections and patches of the absolute (or
        squared) difference between its sorted projections and the source's. When the
        patch counts differ, the source's sorted projections are resampled to the output's
        count, so every output patch is compared with the source's quantile at its rank.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.rand(3, 16, 16, generator=g)
    >>> float(patch_swd(x[None], x, 8, generator=g)) < 1e-6
    True
    """
    w = projections
    if not isinstance(w, torch.Tensor):
        w = random_projections(w, patch_size, source.shape[0], generator=generator)
    w = w.to(output)
    ranked = project_patches(output, w)
    target = matched_targets(ranked, project_patches(source[None].to(output), w)[0])
    diff = ranked - target
    return (diff.abs() if power == 1 else diff.square()).mean(dim=(1, 2))


def plateaued(losses: Sequence[float], window: int, tol: float) -> bool:
    """The early-stopping rule: true when, at a multiple of ``window`` steps, the mean loss
    of the last ``window`` steps is at most a fraction ``tol`` below the mean of the
    ``window`` steps before.

    Window means, because the loss of a single step is noisy (fresh random projections every
    step); ``tol <= 0`` never stops.

    Examples
    --------
    >>> plateaued([4, 4, 2, 2], 2, 0.05), plateaued([4, 4, 3.9, 3.9], 2, 0.05)
    (False, True)
    """
    t = len(losses)
    if tol <= 0 or t < 2 * window or t % window:
        return False
    before = sum(losses[t - 2 * window : t - window])
    last = sum(losses[t - window :])
    return before - last <= tol * before


def level_steps(sizes: Sequence[Sequence[int]], steps: int, finest_steps: int) -> list[int]:
    """Most steps for each level of ``sizes`` (output sizes, finest first): ``steps``, and
    unless ``finest_steps`` is 0, no more than the work of that many steps at the finest
    level (a step costs about its pixel count), so that coarse levels may run long and fine
    ones short.

    Examples
    --------
    >>> level_steps([(180, 250), (90, 125), (45, 63)], 300, 60)
    [60, 240, 300]
    >>> level_steps([(180, 250), (90, 125)], 300, 0)
    [300, 300]
    """
    if finest_steps == 0:
        return [steps] * len(sizes)
    finest = math.prod(sizes[0])
    return [max(1, min(steps, finest_steps * finest // math.prod(s))) for s in sizes]


def match_level(
    image: torch.Tensor,
    source: torch.Tensor,
    *,
    steps: int = 300,
    lr: float = 0.02,
    projections: int = 32,
    patch_size: int = 7,
    window: int = 20,
    tol: float = 0.05,
    power: int = 2,
    generator: torch.Generator | None = None,
    on_step: Callable[[float], None] | None = None,
) -> tuple[torch.Tensor, list[float]]:
    """Optimise ``(B, 3, h, w)`` images with Adam to match the patch distribution of a
    ``(3, H, W)`` source: one level of GPDM.

    Every step draws ``projections`` random directions, shared by the batch; each sample's
    loss is its own :func:`patch_swd` to the source, and the gradient of their sum leaves
    the samples independent. The level ends after ``steps`` steps or earlier by
    :func:`plateaued` with ``window`` and ``tol``. Returns the result clamped to [0, 1] and
    the batch-mean loss of every step taken; ``on_step`` gets each step's loss.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> src = torch.rand(3, 16, 16, generator=g)
    >>> out, losses = match_level(torch.rand(2, 3, 12, 12, generator=g), src, steps=30,
    ...                           tol=0, projections=8, generator=g)
    >>> tuple(out.shape), len(losses), losses[-1] < losses[0]
    ((2, 3, 12, 12), 30, True)
    """
    y = image.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([y], lr=lr)
    losses: list[float] = []
    for _ in range(steps):
        w = random_projections(projections, patch_size, y.shape[1], generator=generator)
        loss = patch_swd(y, source, w, power=power)
        optimiser.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimiser.step()
        losses.append(float(loss.detach().mean()))
        if on_step is not None:
            on_step(losses[-1])
        if plateaued(losses, window, tol):
            break
    return y.detach().clamp_(0, 1), losses


#: The schedules and the values they give to the fields left ``None``. ``authors`` is the
#: authors' code (``main.py`` and ``GPDM.py`` of ariel415el/GPDM): 300 steps at every level,
#: 64 projections, their learning rate (0.01 in [-1, 1] units) and their absolute
#: differences (``PatchSWDLoss(l2=False)`` in ``patch_swd.py``); their noise and pyramid
#: differ from ours (see the module notes). ``fast`` is ours: a seventh of the time.
SCHEDULES: dict[str, dict[str, float | int]] = {
    "authors": {"projections": 64, "lr": 0.005, "finest_steps": 0, "tol": 0.0, "power": 1},
    "fast": {"projections": 32, "lr": 0.02, "finest_steps": 50, "tol": 0.05, "power": 2},
}


@dataclass(frozen=True)
class GPDMParams:
    """GPDM's parameters. Fields left ``None`` take the value of ``schedule``
    (:data:`SCHEDULES`), stored resolved; a field given explicitly wins over the schedule.

    Attributes
    ----------
    schedule : {"authors", "fast"}
        The authors' schedule (the default) or ours, about seven times faster (module notes).
    patch_size : int
        Patch side (the authors': 7).
    projections : int
        Random projections per step (authors: 64; fast: 32).
    ratio : float
        Pyramid factor (the authors': 0.85).
    coarsest : int
        Smaller side of the source's coarsest level, at most, in pixels (the authors'
        ``coarse_dim``: 21, a height).
    lr : float
        Adam's learning rate, in [0, 1] pixel units (authors: 0.005; fast: 0.02).
    steps : int
        Most steps per level (the authors': 300).
    finest_steps : int
        Work budget per level in finest-level steps (:func:`level_steps`); 0 for none
        (authors: 0; fast: 50).
    window, tol : int, float
        Early stopping per level (:func:`plateaued`); ``tol=0`` runs every level to its
        budget (authors: 0; fast: 0.05).
    power : {1, 2}
        Absolute (1: the paper and the authors' code) or squared (2: fast) differences.

    Examples
    --------
    >>> p = GPDMParams()
    >>> p.projections, p.lr, p.tol, p.power
    (64, 0.005, 0.0, 1)
    >>> GPDMParams(schedule="fast", projections=48).projections
    48
    """

    schedule: str = field(
        default="authors",
        metadata={
            **field_help(
                "authors: their code's (300 steps at every level, 64 projections); fast: "
                "ours, about seven times faster (32 projections, early stop, a work budget)"
            ),
            "choices": tuple(SCHEDULES),
        },
    )
    patch_size: int = field(default=7, metadata=field_help("patch side p, odd"))
    projections: int | None = field(
        default=None, metadata=schedule_help("random projections per step (authors: 64; fast: 32)")
    )
    ratio: float = field(default=0.85, metadata=field_help("pyramid downscaling factor"))
    coarsest: int = field(default=21, metadata=field_help("smaller side of the coarsest level, px"))
    lr: float | None = field(
        default=None,
        metadata=schedule_help(
            "Adam learning rate, [0, 1] pixel units (authors: 0.005; fast: 0.02)"
        ),
    )
    steps: int = field(default=300, metadata=field_help("most Adam steps per level"))
    finest_steps: int | None = field(
        default=None,
        metadata=schedule_help(
            "work budget per level, in steps at the finest level; 0 for none (authors: 0; fast: 50)"
        ),
    )
    window: int = field(default=20, metadata=field_help("steps per plateau window"))
    tol: float | None = field(
        default=None,
        metadata=schedule_help(
            "stop a level when the loss of the last window fell by less than this fraction; "
            "0 runs every level to its budget (authors: 0; fast: 0.05)"
        ),
    )
    power: int | None = field(
        default=None,
        metadata=schedule_help("1: absolute differences (authors), 2: squared (fast)"),
    )

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise InputError(
                f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}"
            )
        for name, value in SCHEDULES[self.schedule].items():
            if getattr(self, name) is None:  # stored resolved, so metadata records it
                object.__setattr__(self, name, value)
        check_count("patch size", self.patch_size, 3)
        check_count("projections", self.projections, 1, 4096)
        check_count("coarsest", self.coarsest, 1)
        check_count("steps", self.steps, 1, MAX_ITERS)
        check_count("finest_steps", self.finest_steps, 0, MAX_ITERS)
        check_count("window", self.window, 1, MAX_ITERS)
        finite_positive("lr", self.lr)
        if not (is_real(self.ratio) and 0 < self.ratio < 1):
            raise InputError(f"ratio must be between 0 and 1, got {self.ratio!r}")
        if not (is_real(self.tol) and 0 <= self.tol < 1):
            raise InputError(f"tol must be in [0, 1) (0: no early stop), got {self.tol!r}")
        if self.power not in (1, 2):
            raise InputError(f"power must be 1 or 2, got {self.power!r}")


def gpdm_depth(params: GPDMParams, source_size: Sequence[int], out_size: Sequence[int]) -> int:
    """Pyramid depth of GPDM: the source's coarsest smaller side at most ``coarsest`` px, and
    no deeper than the output holds a patch at the coarsest level.

    The authors' rule (``get_pyramid_scales`` in their ``utils.py``) truncates ``h * 0.85``
    at every level instead, which shrinks faster: for a 188 px high image it stops after 13
    downscalings at 19 px, this one after 14 at 20 px.

    Examples
    --------
    >>> gpdm_depth(GPDMParams(), (188, 250), (188, 250))
    14
    """
    depth = depth_for_coarsest(source_size, params.ratio, params.coarsest)
    while depth > 0 and min(level_sizes(out_size, params.ratio, depth)[-1]) < params.patch_size:
        depth -= 1
    return depth


def match_pyramid(
    levels: Sequence[torch.Tensor],
    out_sizes: Sequence[Sequence[int]],
    initial: torch.Tensor,
    params: GPDMParams,
    *,
    generator: torch.Generator | None = None,
    progress: Progress | None = None,
    on_level: Callable[[int, list[float]], None] | None = None,
) -> torch.Tensor:
    """GPDM coarse to fine: ``initial`` ``(B, 3, h, w)`` is resized to the coarsest output
    level and matched there to the coarsest source level, then upscaled and matched at each
    finer level.

    Parameters
    ----------
    levels : sequence of Tensor (3, H, W)
        The source pyramid, finest first.
    out_sizes : sequence of (h, w)
        The output's size at each level, finest first.
    initial : Tensor, (B, 3, h, w)
        The starting images.
    params : GPDMParams
    generator : torch.Generator, optional
        Source of the projections.
    progress : Progress, optional
        Told of every optimiser step, weighted by its pixel count; its callback may raise to
        cancel the run.
    on_level : callable, optional
        Called after each level with its number (0 = coarsest) and the batch-mean loss of
        each step it took: for logging and diagnostics.

    Returns
    -------
    Tensor, (B, 3, h, w), values in [0, 1]
    """
    progress = progress or Progress()
    depth = len(out_sizes) - 1
    plan = level_steps(out_sizes, params.steps, params.finest_steps)
    # a step costs about the output's pixel count: weighting by it makes the estimate of the
    # time left meaningful (an upper bound, as levels may stop early)
    work = [math.prod(size) for size in out_sizes]
    progress.begin(sum(p * w for p, w in zip(plan, work, strict=True)))
    y = initial
    for i, lvl in enumerate(range(depth, -1, -1)):
        stage = f"level {i + 1}/{depth + 1}"

        def tick(loss: float, px: int = work[lvl], stage: str = stage) -> None:
            progress.advance(px, stage)

        y, losses = match_level(
            resize(y, tuple(out_sizes[lvl])),
            levels[lvl],
            steps=plan[lvl],
            lr=params.lr,
            projections=params.projections,
            patch_size=params.patch_size,
            window=params.window,
            tol=params.tol,
            power=params.power,
            generator=generator,
            on_step=tick,
        )
        progress.advance((plan[lvl] - len(losses)) * work[lvl], stage)
        if on_level is not None:
            on_level(i, losses)
    return y


def gpdm(
    source: torch.Tensor,
    out_size: Sequence[int] | None = None,
    n: int = 1,
    init: torch.Tensor | None = None,
    *,
    sigma: float | None = None,
    generator: torch.Generator | None = None,
    progress: ProgressLike = False,
    on_level: Callable[[int, list[float]], None] | None = None,
    **params: object,
) -> torch.Tensor:
    """Synthesise ``n`` images whose patch distribution matches ``source``'s (GPDM), as one
    batch: the engine on its own, for experiments (tasks use :class:`GPDM`).

    Parameters
    ----------
    source : Tensor, (3, H, W)
        Values in [0, 1].
    out_size : (h, w), optional
        Output size; the source's by default.
    n : int
        Number of samples, optimised together as one batch.
    init : Tensor, (3, h, w) or (1 or n, 3, h, w), optional
        Initial guess, resized to the coarsest output level: the source resized to
        ``out_size`` for retargeting, a content image for style transfer. ``None`` starts
        from mid-grey plus noise (random generation).
    sigma : float, optional
        Standard deviation of the Gaussian noise added to the initial guess, per pixel and
        channel (the diversity knob); by default 0.75 without ``init`` and 0 with it.
    generator : torch.Generator, optional
        Source of the noise and the projections.
    progress : bool or callable
        A bar on stderr, or a callable taking :class:`~dropgan.progress.ProgressEvent`.
    on_level : callable, optional
        See :func:`match_pyramid`.
    **params
        :class:`GPDMParams` fields.

    Returns
    -------
    Tensor, (n, 3, h, w)
        Values in [0, 1].

    Examples
    --------
    >>> src = torch.rand(3, 24, 32, generator=torch.Generator().manual_seed(0))
    >>> out = gpdm(src, (24, 40), n=2, coarsest=14, steps=10, projections=8,
    ...            generator=torch.Generator().manual_seed(1))
    >>> tuple(out.shape), 0 <= float(out.min()) <= float(out.max()) <= 1
    ((2, 3, 24, 40), True)
    """
    gp = GPDMParams(**params)
    if source.ndim != 3 or source.shape[0] != 3:
        raise InputError(f"source must be a (3, H, W) image, got {tuple(source.shape)}")
    n = check_count("n", n)
    src_size = (int(source.shape[1]), int(source.shape[2]))
    size = src_size if out_size is None else (int(out_size[0]), int(out_size[1]))
    check_fits(src_size, gp.patch_size, "source")
    check_fits(size, gp.patch_size, "output")
    depth = gpdm_depth(gp, src_size, size)
    levels = pyramid(source.float(), level_sizes(src_size, gp.ratio, depth))
    out_sizes = level_sizes(size, gp.ratio, depth)
    if sigma is None:
        sigma = 0.75 if init is None else 0.0
    y = _initial_guess(init, n, out_sizes[-1], sigma, generator).to(source.device)
    run = as_progress(progress)
    out = match_pyramid(
        levels, out_sizes, y, gp, generator=generator, progress=run, on_level=on_level
    )
    run.finish()
    return out


def _initial_guess(
    init: torch.Tensor | None,
    n: int,
    size: tuple[int, int],
    sigma: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    if init is None:
        base = torch.full((n, 3, *size), 0.5)  # mid-grey: the authors' zeros in [-1, 1]
    else:
        batch = init if init.ndim == 4 else init[None]
        if batch.ndim != 4 or batch.shape[1] != 3 or batch.shape[0] not in (1, n):
            raise InputError(
                f"init must be (3, h, w) or (1 or {n}, 3, h, w), got {tuple(init.shape)}"
            )
        base = resize(batch.float(), size).expand(n, -1, -1, -1).clone()
    if sigma <= 0:
        return base
    return base + sigma * torch.randn(n, 3, *size, generator=generator)


class GPDM(Engine):
    """GPDM as an engine: random generation (from mid-grey plus the task's noise) and
    retargeting (from the task's initial guess), on the task's pyramid with GPDM's depth."""

    name = "gpdm"
    summary = "patch-distribution matching (sliced Wasserstein), no training"
    params_type = GPDMParams
    tasks = frozenset({"generate", "retarget", "animate"})
    #: an animation's every frame is a whole run
    task_defaults = {"animate": {"schedule": "fast"}}

    def depth(
        self,
        params: GPDMParams,
        source_sizes: Sequence[Sequence[int]],
        out_size: Sequence[int],
        task_rule: Callable[[float, int], int],
    ) -> int:
        return gpdm_depth(params, source_sizes[0], out_size)

    def synthesize(self, problem: Problem, params: GPDMParams, run: Run) -> torch.Tensor:
        size = problem.out_sizes[-1]
        if problem.initial is None:
            start = torch.full((1, 3, *size), 0.5)
        else:
            start = resize(problem.initial[None].float(), size)
        if problem.noise is not None:
            start = start + problem.noise
        levels = [lvl.to(run.device) for lvl in problem.sources[0].levels]
        out = match_pyramid(
            levels,
            problem.out_sizes,
            start.to(run.device),
            params,
            generator=run.generator(),
            progress=run.progress,
        )
        return out[0]
