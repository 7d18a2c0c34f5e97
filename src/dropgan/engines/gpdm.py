"""GPDM: generative patch distribution matching (Elnekave & Weiss, ECCV 2022).

Coarse to fine, every level of the output is optimised with Adam to minimise the sliced
Wasserstein distance (SWD) between its ``p x p`` patches and the source's patches at that
level: the patches of both images are projected on random unit vectors (a convolution with
the vectors as filters), the two sets of projections are sorted, and the loss is the mean
absolute difference of the sorted values. The projections are drawn afresh every step. The
output of a level, upscaled, is the next level's starting point.

Units: images are in [0, 1]. The authors work in [-1, 1], so their learning rate 0.01 and
noise sigma 1.5 are ``lr=0.005`` and ``sigma=0.75`` here; the optimisation is the same, since
Adam's steps are in pixel units and a constant factor on the loss does not change them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..errors import InputError
from ..pyramid import check_fits, depth_for_coarsest, level_sizes, resize

__all__ = [
    "argsort_last",
    "gpdm",
    "match_level",
    "matched_targets",
    "patch_swd",
    "plateaued",
    "project_patches",
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
    keys = bits ^ ((bits >> 31) & 0x7FFFFFFF)
    packed = (keys.astype(np.int64) << 32) | np.arange(a.shape[-1], dtype=np.int64)
    packed.sort(axis=-1)
    return torch.from_numpy(packed & 0xFFFFFFFF)


def sort_last(values: torch.Tensor) -> torch.Tensor:
    """``values`` sorted along the last dimension (numpy's faster sort on the CPU).

    Examples
    --------
    >>> sort_last(torch.tensor([[0.5, -2.0, 0.0]])).tolist()
    [[-2.0, 0.0, 0.5]]
    """
    if values.device.type != "cpu" or values.dtype != torch.float32:
        return torch.sort(values.detach(), dim=-1).values
    return torch.from_numpy(np.sort(values.detach().numpy(), axis=-1))


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

    Then ``|ranked - matched|`` summed equals ``|sort(ranked) - sort(reference)|`` summed, so
    the sliced Wasserstein loss needs no differentiable sort: its gradient is the sign of
    ``ranked - matched``, scattered back in place. No gradient flows through this function.

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

    Returns
    -------
    Tensor, (B,)
        For each sample, the mean over projections and patches of the absolute difference
        between its sorted projections and the source's. When the patch counts differ, the
        source's sorted projections are resampled to the output's count, so every output
        patch is compared with the source's quantile at its own rank.

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
    return (ranked - target).abs().mean(dim=(1, 2))


def plateaued(losses: Sequence[float], window: int, tol: float) -> bool:
    """The early-stopping rule: true when, at a multiple of ``window`` steps, the mean loss
    of the last ``window`` steps is less than a fraction ``tol`` below the mean of the
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


def match_level(
    image: torch.Tensor,
    source: torch.Tensor,
    *,
    steps: int = 300,
    lr: float = 0.005,
    projections: int = 64,
    patch_size: int = 7,
    window: int = 20,
    tol: float = 0.0,
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
    ...                           lr=0.05, projections=8, generator=g)
    >>> tuple(out.shape), len(losses), losses[-1] < losses[0]
    ((2, 3, 12, 12), 30, True)
    """
    y = image.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([y], lr=lr)
    losses: list[float] = []
    for _ in range(steps):
        w = random_projections(projections, patch_size, y.shape[1], generator=generator)
        loss = patch_swd(y, source, w)
        optimiser.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimiser.step()
        losses.append(float(loss.detach().mean()))
        if on_step is not None:
            on_step(losses[-1])
        if plateaued(losses, window, tol):
            break
    return y.detach().clamp_(0, 1), losses


def _initial_guess(
    init: torch.Tensor | None,
    n: int,
    size: tuple[int, int],
    sigma: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    if init is None:
        # mid-grey; the noise is one value per pixel shared by the channels, as the authors do
        base = torch.full((n, 3, *size), 0.5)
        noise = torch.randn(n, 1, *size, generator=generator)
    else:
        batch = init if init.ndim == 4 else init[None]
        if batch.ndim != 4 or batch.shape[1] != 3 or batch.shape[0] not in (1, n):
            raise InputError(
                f"init must be (3, h, w) or (1 or {n}, 3, h, w), got {tuple(init.shape)}"
            )
        base = resize(batch.float(), size).expand(n, -1, -1, -1).clone()
        noise = torch.randn(n, 3, *size, generator=generator)
    return base + sigma * noise if sigma > 0 else base


def gpdm(
    source: torch.Tensor,
    out_size: tuple[int, int] | None = None,
    n: int = 1,
    init: torch.Tensor | None = None,
    *,
    patch_size: int = 7,
    projections: int = 64,
    ratio: float = 0.85,
    coarsest: int = 21,
    lr: float = 0.005,
    steps: int = 300,
    sigma: float | None = None,
    window: int = 20,
    tol: float = 0.0,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Synthesise ``n`` images whose patch distribution matches ``source``'s (GPDM).

    Parameters
    ----------
    source : Tensor, (3, H, W)
        Values in [0, 1].
    out_size : (h, w), optional
        Output size; the source's by default. Any size: larger for texture synthesis,
        another aspect ratio for retargeting.
    n : int
        Number of samples, optimised together as one batch.
    init : Tensor, (3, h, w) or (1 or n, 3, h, w), optional
        Initial guess, resized to the coarsest output level: the source resized to
        ``out_size`` for retargeting, a content image for style transfer. ``None`` starts
        from mid-grey plus noise (random generation).
    patch_size, projections : int
        Patch side and random projections per step.
    ratio, coarsest : float, int
        Pyramid factor, and the smaller side of the source's coarsest level (at most
        ``coarsest`` px). Levels where the output or source would be smaller than a
        patch are skipped.
    lr : float
        Adam's learning rate, in [0, 1] pixel units.
    steps : int
        Most steps per level.
    sigma : float, optional
        Standard deviation of the noise added to the initial guess (the diversity knob);
        by default 0.75 without ``init`` and 0 with it.
    window, tol : int, float
        Early stopping per level (:func:`plateaued`); ``tol=0`` runs every level ``steps``
        steps, as the authors do.
    generator : torch.Generator, optional
        Source of the noise and the projections; the same generator state gives the same
        output. ``None`` uses torch's global generator.
    progress : bool
        Show a tqdm progress bar on stderr.

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
    if source.ndim != 3 or source.shape[0] != 3:
        raise InputError(f"source must be a (3, H, W) image, got {tuple(source.shape)}")
    if n < 1:
        raise InputError(f"n must be at least 1, got {n}")
    src_size = (int(source.shape[1]), int(source.shape[2]))
    size = src_size if out_size is None else (int(out_size[0]), int(out_size[1]))
    check_fits(src_size, patch_size, "source")
    check_fits(size, patch_size, "output")
    depth = depth_for_coarsest(src_size, ratio, coarsest)
    src_sizes = level_sizes(src_size, ratio, depth)
    out_sizes = level_sizes(size, ratio, depth)
    levels = [
        lvl
        for lvl in range(depth, -1, -1)
        if min(src_sizes[lvl]) >= patch_size and min(out_sizes[lvl]) >= patch_size
    ]
    if sigma is None:
        sigma = 0.75 if init is None else 0.0
    source = source.float()
    y = _initial_guess(init, n, out_sizes[levels[0]], sigma, generator).to(source.device)

    bar = tqdm(
        total=len(levels) * steps, disable=not progress, file=sys.stderr, desc="gpdm", unit="step"
    )
    with bar:
        for i, lvl in enumerate(levels):
            bar.set_description(f"gpdm level {i + 1}/{len(levels)}")
            y, losses = match_level(
                resize(y, out_sizes[lvl]),
                resize(source, src_sizes[lvl]),
                steps=steps,
                lr=lr,
                projections=projections,
                patch_size=patch_size,
                window=window,
                tol=tol,
                generator=generator,
                on_step=lambda loss: (bar.update(1), bar.set_postfix(loss=f"{loss:.4f}")),
            )
            bar.update(steps - len(losses))
    return y
