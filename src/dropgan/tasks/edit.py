"""Editing and reshuffling: blend a rough edit of an image seamlessly into it (GPNN paper §4,
"Image Editing")."""

from __future__ import annotations

from dataclasses import replace

import torch

from ..errors import InputError
from ..image import ImageLike, read_image
from ..progress import ProgressLike, as_progress
from ..result import Result
from .common import (
    check_sigma,
    input_record,
    make_plan,
    make_result,
    region_depth,
    run_samples,
)

__all__ = ["EDIT_THRESHOLD", "REGION_PATCHES", "edit", "edited_pixels"]

#: Size of the largest edited region at the coarsest level, in patches, of the default depth.
#: The paper says about one; but a region of one patch there is redrawn from its
#: surroundings and the edit is undone, while 1.5 keeps it and still blends it in, and gives
#: the authors' 5 levels for their own example (blocks of about 42 px in a 250 x 168 image).
REGION_PATCHES = 1.5

#: A pixel is edited when a channel differs by more than this (on [0, 1] values): about 13
#: grey levels of 255, above the noise of a lossy re-save.
EDIT_THRESHOLD = 0.05


def edited_pixels(original: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
    """Where ``edited`` differs from ``original`` (both ``(3, H, W)``), as an ``(H, W)``
    boolean mask (see :data:`EDIT_THRESHOLD`).

    Examples
    --------
    >>> x = torch.zeros(3, 4, 4); y = x.clone(); y[0, 1, 2] = 1.0
    >>> edited_pixels(x, y).nonzero().tolist()
    [[1, 2]]
    """
    return (edited - original).abs().amax(dim=0) > EDIT_THRESHOLD


def edit(
    original: ImageLike,
    edited: ImageLike,
    n: int = 1,
    *,
    seed: int = 0,
    start: int = 0,
    sigma: float = 0.0,
    levels: int | None = None,
    engine: str = "gpnn",
    device: str | torch.device | None = None,
    progress: ProgressLike = False,
    **params: object,
) -> Result:
    """Blend a naive edit (objects moved, added, removed) into the image.

    The source is the unedited ``original``; the initial guess is ``edited`` downscaled by
    r^N, so GPNN redraws the edited region and its surroundings coherently with the
    original's patches. Noise added at the coarsest level gives several variants.

    Parameters
    ----------
    original : path, PIL.Image, ndarray or Tensor
        The image before the edit: the source of every patch.
    edited : path, PIL.Image, ndarray or Tensor
        The naively edited image, the same size.
    n : int
        Number of variants.
    seed : int
        Seed of the run; variant ``i`` uses a seed derived from it and ``i`` alone.
    start : int
        Index of the first variant.
    sigma : float
        Standard deviation of Gaussian noise added to the initial guess at the coarsest
        level, per pixel and channel, on [0, 1] values. Default 0 (no noise).
    levels : int, optional
        Number of downscalings N; by default the largest edited region (pixels that differ,
        :func:`edited_pixels`) is about 1.5 patches at the coarsest level
        (:data:`REGION_PATCHES`, :func:`~dropgan.tasks.common.region_depth`; the paper says
        about one patch, which undoes the edit).
    engine : str
        A registered engine that does this task (GPNN by default); ``**params`` are its
        parameters.
    device : str, optional
        ``"cpu"``, ``"cuda"``; CUDA when available by default.
    progress : bool or callable
        A bar on stderr, or a callable receiving :class:`~dropgan.progress.ProgressEvent`;
        an exception it raises cancels the run.
    **params
        The engine's parameters. GPNN's defaults for this task: ``alpha`` inf, since
        completeness is not wanted, an edit may remove something (paper and authors'
        code); the others as for generation.

    Returns
    -------
    Result
        ``n`` images, each ``(3, H, W)`` with values in [0, 1], and their metadata.

    Examples
    --------
    >>> import dropgan
    >>> x = torch.rand(3, 24, 32); y = x.clone(); y[:, 4:10, 4:10] = 0.0
    >>> [tuple(o.shape) for o in dropgan.edit(x, y, levels=1, iters=1, nn="exact")]
    [(3, 24, 32)]
    """
    root = as_progress(progress)
    sigma = check_sigma(sigma)
    plan = make_plan("edit", engine, params, device, levels)
    x = read_image(original, "original")
    e = read_image(edited, "edited")
    if x.shape != e.shape:
        raise InputError(
            f"the edited image is {e.shape[2]}x{e.shape[1]} px but the original "
            f"{x.shape[2]}x{x.shape[1]} px; they must be the same size"
        )
    changed = edited_pixels(x, e)
    if not changed.any():
        raise InputError("the edited image does not differ from the original: nothing to blend")
    size = tuple(x.shape[-2:])
    depth = plan.depth([size], size, lambda r, p: region_depth(changed, r, p, REGION_PATCHES))
    problem = plan.problem([x.to(plan.device)], size, depth, initial=e.to(plan.device))

    def one(seed: int, progress) -> torch.Tensor:
        noise = plan.noise(problem.out_sizes[-1], sigma, seed)
        return plan.run(replace(problem, noise=noise), seed, progress)

    images, own = run_samples(n, seed, start, root, one)
    return make_result(
        plan,
        images,
        own,
        root,
        seed=seed,
        depth=depth,
        inputs=[input_record(original, x, "original"), input_record(edited, e, "edited")],
        options={"sigma": sigma},
    )
