"""Editing and reshuffling: blend a rough edit of an image seamlessly into it (GPNN paper §4,
"Image Editing")."""

from __future__ import annotations

import math

import torch

from ..errors import InputError
from ..image import ImageLike, read_image
from .common import guided_synthesis, region_depth, resolve_device, search_backend, split_params

__all__ = ["DEFAULTS", "EDIT_THRESHOLD", "REGION_PATCHES", "edit", "edited_pixels"]

#: GPNN parameters of editing: plain MSE, since completeness is not wanted (an edit may
#: remove something; paper and authors' code: alpha = inf).
DEFAULTS: dict[str, object] = {"alpha": math.inf}

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
    sigma: float = 0.0,
    levels: int | None = None,
    nn: str | None = None,
    device: str | torch.device | None = None,
    memory_budget: int | None = None,
    progress: bool = False,
    **params: object,
) -> list[torch.Tensor]:
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
        Seed of the noise and of any randomised search.
    sigma : float
        Standard deviation of Gaussian noise added to the initial guess at the coarsest
        level, per pixel and channel, on [0, 1] values. Default 0 (no noise).
    levels : int, optional
        Number of downscalings N; by default the largest edited region (pixels that differ,
        :func:`edited_pixels`) is about 1.5 patches at the coarsest level
        (:data:`REGION_PATCHES`, :func:`~dropgan.tasks.common.region_depth`; the paper says
        about one patch, which undoes the edit).
    nn : str, optional
        Search backend: ``"exact"``, or the default for the device.
    device : str, optional
        ``"cpu"``, ``"cuda"``; CUDA when available by default.
    memory_budget : int, optional
        Bytes for the exact search's distance tiles (default 1 GiB).
    progress : bool
        Show a progress bar on stderr.
    **params
        GPNN parameters (:class:`~dropgan.engines.gpnn.GPNNParams`). Defaults for this task:
        ``alpha`` inf (paper and authors' code); ``ratio`` 0.75, ``patch_size`` 7,
        ``iters`` 10, ``coarsest_iters`` 1, ``blend_sigma`` 7 as for generation (the
        authors' code).

    Returns
    -------
    list of Tensor
        ``n`` images, each ``(3, H, W)`` with values in [0, 1].

    Examples
    --------
    >>> import dropgan
    >>> x = torch.rand(3, 24, 32); y = x.clone(); y[:, 4:10, 4:10] = 0.0
    >>> [tuple(o.shape) for o in dropgan.edit(x, y, levels=1, iters=1, nn="exact")]
    [(3, 24, 32)]
    """
    if not isinstance(n, int) or n < 1:
        raise InputError(f"number of variants must be at least 1, got {n}")
    if not sigma >= 0:
        raise InputError(f"sigma must be >= 0, got {sigma}")
    gp = split_params(params, **DEFAULTS)
    dev = resolve_device(device)
    x = read_image(original, "original").to(dev)
    e = read_image(edited, "edited").to(dev)
    if x.shape != e.shape:
        raise InputError(
            f"the edited image is {e.shape[2]}x{e.shape[1]} px but the original "
            f"{x.shape[2]}x{x.shape[1]} px; they must be the same size"
        )
    changed = edited_pixels(x, e)
    if not changed.any():
        raise InputError("the edited image does not differ from the original: nothing to blend")
    if levels is None:
        levels = region_depth(changed.cpu(), gp.ratio, gp.patch_size, REGION_PATCHES)
    search = search_backend(nn, dev, seed, memory_budget)
    guess = e[None].expand(n, -1, -1, -1)
    y = guided_synthesis([x], guess, levels, gp, search, sigma=sigma, seed=seed, progress=progress)
    return list(y.cpu())
